"""CIFAR-10 (the python-pickle batches) and STL-10 (the binary files), read from their release
files under the data root.

The readers are the suite's own (torchvision's classes refuse any file whose md5 is not the
release's, so they cannot be tested on small files of the same format); torchvision is used
only to download, with ``data.download: true``. A CIFAR-10 batch is unpickled by a restricted
unpickler that builds nothing but numpy arrays, lists, dicts, bytes and numbers. Sizes are
checked, so a truncated file is an error naming it.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import torch

from ssgan.data.registry import DATASETS, DataError, missing, notes, register_dataset

CIFAR_DIR = "cifar-10-batches-py"
CIFAR_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
STL_DIR = "stl10_binary"
STL_FILES = {
    "unlabeled": ["unlabeled_X.bin"],
    "train": ["train_X.bin"],
    "test": ["test_X.bin"],
    "train+unlabeled": ["train_X.bin", "unlabeled_X.bin"],  # torchvision's order
}
STL_IMAGE = 3 * 96 * 96


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays and plain containers; any other class is refused."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # bytes in a protocol-2 pickle written by Python 3
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused to build {module}.{name}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # numpy 2: numpy.core alias
            return super().find_class(module, name)


def read_cifar_batch(path: Path) -> np.ndarray:
    """One CIFAR-10 python batch -> uint8 N x 3 x 32 x 32 (the file's order)."""
    try:
        with open(path, "rb") as fh:
            batch = _ArraysOnly(fh, encoding="bytes").load()
        data = batch.get(b"data", batch.get("data")) if isinstance(batch, dict) else None
    except Exception as err:  # noqa: BLE001 - a damaged file is named, whatever broke
        raise DataError(f"cannot read {path}: {type(err).__name__}: {err}") from None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise DataError(f"{path} is not a CIFAR-10 python batch (no uint8 'data' array)")
    if data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{path}: rows of {data.shape[1]} bytes, a CIFAR-10 image has 3072")
    return data.reshape(-1, 3, 32, 32)


def read_stl_images(path: Path) -> np.ndarray:
    """One STL-10 ``*_X.bin`` -> uint8 N x 3 x 96 x 96 (stored column-major: transposed)."""
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise DataError(f"cannot read {path}: {err}") from None
    if raw.size == 0 or raw.size % STL_IMAGE:
        raise DataError(
            f"{path} is truncated or corrupt: {raw.size} bytes is not a whole number of "
            f"STL-10 images ({STL_IMAGE} bytes each)"
        )
    return raw.reshape(-1, 3, 96, 96).transpose(0, 1, 3, 2)


def _download(kind: str, root: Path, split: str) -> None:
    from torchvision import datasets

    if kind == "cifar10":
        datasets.CIFAR10(str(root), train=(split == "train"), download=True)
    else:
        datasets.STL10(str(root), split=split, download=True)


def _present(kind: str):
    folder, files = (CIFAR_DIR, CIFAR_FILES) if kind == "cifar10" else (STL_DIR, STL_FILES)
    return lambda root, split, cfg: all((root / folder / f).is_file() for f in files[split])


def _loader(kind: str):
    folder, files, read = (
        (CIFAR_DIR, CIFAR_FILES, read_cifar_batch)
        if kind == "cifar10"
        else (STL_DIR, STL_FILES, read_stl_images)
    )

    def load(root: Path, split: str, cfg: dict) -> torch.Tensor:
        paths = [root / folder / f for f in files[split]]
        if not all(p.is_file() for p in paths) and cfg["data"]["download"]:
            _download(kind, root, split)
        absent = [p for p in paths if not p.is_file()]
        if absent:
            expected = (
                [f"{CIFAR_DIR}/data_batch_1 ... data_batch_5, test_batch, batches.meta"]
                if kind == "cifar10"
                else [f"{STL_DIR}/unlabeled_X.bin, train_X.bin, test_X.bin"]
            )
            raise missing(DATASETS[cfg["dataset"]], root, expected)
        notes["source_files"] = [str(p) for p in paths]
        return torch.from_numpy(np.ascontiguousarray(np.concatenate([read(p) for p in paths])))

    return load


register_dataset(
    "cifar10",
    32,
    3,
    ("train", "test"),
    obtain="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz extracted under the data root "
    "(or data.download: true on a machine with internet access)",
    present=_present("cifar10"),
)(_loader("cifar10"))

register_dataset(
    "stl10",
    48,
    3,
    ("unlabeled", "train", "test", "train+unlabeled"),
    obtain="https://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz extracted under the data "
    "root (or data.download: true); images are resized 96 -> 48",
    present=_present("stl10"),
)(_loader("stl10"))
