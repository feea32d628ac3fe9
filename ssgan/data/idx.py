"""MNIST and Fashion-MNIST from their original idx files (gzipped or not).

Looked up under the data root as ``<root>/<folder>/<file>[.gz]`` (the layout of
SSGAN_DATA_ROOT) or torchvision's ``<root>/<MNIST|FashionMNIST>/raw/<file>[.gz]``.
The header is checked against the file size, so a truncated file is an error naming it.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch

from ssgan.data.registry import (
    DATASETS,
    DataError,
    data_root,
    missing,
    notes,
    register_dataset,
)

FILES = {"train": "train-images-idx3-ubyte", "test": "t10k-images-idx3-ubyte"}
LABEL_FILES = {"train": "train-labels-idx1-ubyte", "test": "t10k-labels-idx1-ubyte"}
FOLDERS = {"mnist": ("mnist", "MNIST"), "fashion_mnist": ("fashion-mnist", "FashionMNIST")}


def read_idx_images(path: Path) -> torch.Tensor:
    """An idx3 image file -> uint8 tensor N x 1 x H x W."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DataError(f"cannot read {path}: {err} (truncated or corrupt download?)") from None
    if len(raw) < 16 or raw[:4] != b"\x00\x00\x08\x03":
        raise DataError(f"{path} is not an idx3 ubyte image file (bad header)")
    n, h, w = (int.from_bytes(raw[i : i + 4], "big") for i in (4, 8, 12))
    expected = 16 + n * h * w
    if len(raw) != expected:
        raise DataError(
            f"{path} is truncated or corrupt: header says {n} images of {h}x{w} "
            f"({expected} bytes), the file holds {len(raw)} bytes"
        )
    arr = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, 1, h, w)
    return torch.from_numpy(arr.copy())


def read_idx_labels(path: Path) -> torch.Tensor:
    """An idx1 label file -> int64 tensor N."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DataError(f"cannot read {path}: {err} (truncated or corrupt download?)") from None
    if len(raw) < 8 or raw[:4] != b"\x00\x00\x08\x01":
        raise DataError(f"{path} is not an idx1 ubyte label file (bad header)")
    n = int.from_bytes(raw[4:8], "big")
    if len(raw) != 8 + n:
        raise DataError(
            f"{path} is truncated or corrupt: header says {n} labels, the file holds "
            f"{len(raw) - 8} bytes of labels"
        )
    return torch.from_numpy(np.frombuffer(raw, dtype=np.uint8, offset=8).astype(np.int64))


def _find(root: Path, folders: tuple[str, ...], name: str) -> Path | None:
    for f in folders:
        for sub in ("", "raw"):
            for ext in (".gz", ""):
                if (root / f / sub / (name + ext)).is_file():
                    return root / f / sub / (name + ext)
    return None


def load_labels(cfg: dict, split: str) -> torch.Tensor:
    """Class labels (0-9) of an MNIST / Fashion-MNIST split, in the order of its images."""
    folders, name = FOLDERS[cfg["dataset"]], LABEL_FILES[split]
    root = data_root(cfg)
    path = _find(root, folders, name)
    if path is None:
        info = DATASETS[cfg["dataset"]]
        raise missing(info, root, [f"{folders[0]}/{name}.gz  (or {folders[1]}/raw/{name})"])
    return read_idx_labels(path)


def _loader(folders: tuple[str, ...]):
    def load(root: Path, split: str, cfg: dict) -> torch.Tensor:
        name = FILES[split]
        path = _find(root, folders, name)
        if path is not None:
            notes["source_files"] = [str(path)]
            return read_idx_images(path)
        info = DATASETS[cfg["dataset"]]
        if cfg["data"]["download"]:
            return _download(info.name, root, split)
        raise missing(info, root, [f"{folders[0]}/{name}.gz  (or {folders[1]}/raw/{name})"])

    return load


def _present(folders: tuple[str, ...]):
    return lambda root, split, cfg: _find(root, folders, FILES[split]) is not None


def _download(name: str, root: Path, split: str) -> torch.Tensor:
    from torchvision import datasets

    cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    ds = cls(str(root), train=(split == "train"), download=True)
    return ds.data[:, None].clone()


register_dataset(
    "mnist",
    32,
    1,
    ("train", "test"),
    obtain="the four idx files from https://yann.lecun.com/exdb/mnist/ (or set data.download: true "
    "on a machine with internet access)",
    present=_present(FOLDERS["mnist"]),
)(_loader(FOLDERS["mnist"]))

register_dataset(
    "fashion_mnist",
    32,
    1,
    ("train", "test"),
    obtain="the idx files from https://github.com/zalandoresearch/fashion-mnist (or Debian's "
    "package dataset-fashion-mnist, or data.download: true)",
    present=_present(FOLDERS["fashion_mnist"]),
)(_loader(FOLDERS["fashion_mnist"]))
