"""Datasets registry (name -> resolution, channels, loader) and the training batch stream."""

from ssgan.data import binaries, folders, idx  # noqa: E402,F401  (registration)
from ssgan.data.registry import (
    DATASETS,
    DataError,
    DatasetInfo,
    ImageSource,
    channels_of,
    data_root,
    load_images,
    register_dataset,
    resolution_of,
    train_split,
)
from ssgan.data.stream import BatchStream  # noqa: E402

# The package's own datasets, before any plugin registers more (ssgan/plugins.py)
BUILT_IN = tuple(sorted(DATASETS))

__all__ = [
    "BUILT_IN",
    "DATASETS",
    "BatchStream",
    "DataError",
    "DatasetInfo",
    "ImageSource",
    "channels_of",
    "data_root",
    "load_images",
    "register_dataset",
    "resolution_of",
    "train_split",
]
