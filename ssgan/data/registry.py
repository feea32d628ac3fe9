"""Datasets registry: name -> resolution, channels, splits, a loader and how to obtain it.

A loader returns either a uint8 tensor N x C x H x W (arrays stored as such: idx files, the
CIFAR-10 pickles, the STL-10 binaries) or an ``ImageSource``: encoded images (files in a folder,
LSUN's LMDB) decoded one by one on demand. ``load_images`` brings either to the registered (or
configured) resolution and channels, all in memory; ``ssgan.data.prepared`` does the same in
chunks, in parallel, into the memory-mapped array that training and FID read.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ssgan.errors import ConfigError


class DataError(RuntimeError):
    """Missing or unreadable data; the message names the files and how to obtain them."""


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    resolution: int
    channels: int
    splits: tuple[str, ...]
    loader: Callable[[Path, str, dict], torch.Tensor | torch.utils.data.Dataset]
    obtain: str  # how a user gets the files
    # (root, split, cfg) -> whether the files are there, without reading them (None: unknown)
    present: Callable[[Path, str, dict], bool] | None = None


DATASETS: dict[str, DatasetInfo] = {}
# What the last load_images call noticed about the files (e.g. small images upscaled or
# skipped); reset by each call, read by prepare-data into its record.
notes: dict = {}


def register_dataset(
    name: str,
    resolution: int,
    channels: int,
    splits: tuple[str, ...],
    obtain: str,
    present: Callable[[Path, str, dict], bool] | None = None,
):
    """Register a dataset loader under ``name``. A name taken by another module's dataset is
    refused (a plugin cannot replace ``mnist``); the same module registering it again replaces
    its own."""

    def deco(fn):
        taken = DATASETS.get(name)
        if taken is not None and taken.loader.__module__ != fn.__module__:
            raise ConfigError(
                f"dataset name {name!r} is already registered by {taken.loader.__module__}; "
                f"{fn.__module__} must register its dataset under another name"
            )
        DATASETS[name] = DatasetInfo(name, resolution, channels, splits, fn, obtain, present)
        return fn

    return deco


def missing(info: DatasetInfo, root: Path, expected: list[str]) -> DataError:
    lines = "\n".join(f"  {root / e}" for e in expected)
    return DataError(
        f"dataset '{info.name}' not found under data root {root}.\n"
        f"Expected:\n{lines}\nHow to obtain it: {info.obtain}\n"
        f"Set the data root with config key data.root or the environment variable "
        f"SSGAN_DATA_ROOT."
    )


def data_root(cfg: dict) -> Path:
    root = cfg["data"]["root"] or os.environ.get("SSGAN_DATA_ROOT") or "data"
    return Path(root).expanduser()


def resolution_of(cfg: dict) -> int:
    return cfg["data"]["resolution"] or DATASETS[cfg["dataset"]].resolution


def channels_of(cfg: dict) -> int:
    return cfg["data"]["channels"] or DATASETS[cfg["dataset"]].channels


def resize_uint8(
    images: torch.Tensor, resolution: int, channels: int, chunk: int = 2048
) -> torch.Tensor:
    """N x C x H x W uint8 -> N x channels x res x res uint8 (center crop to square, antialiased resize)."""
    if images.shape[1] != channels:
        images = images.repeat(1, 3, 1, 1) if channels == 3 else _to_gray(images)
    h, w = images.shape[-2:]
    if h != w:
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        images = images[:, :, top : top + s, left : left + s]
    if images.shape[-1] == resolution:
        return images.contiguous()
    out = torch.empty(images.shape[0], channels, resolution, resolution, dtype=torch.uint8)
    for i in range(0, images.shape[0], chunk):
        x = images[i : i + chunk].float()
        x = torch.nn.functional.interpolate(
            x, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False
        )
        out[i : i + chunk] = x.round().clamp(0, 255).to(torch.uint8)
    return out


def _to_gray(images: torch.Tensor) -> torch.Tensor:
    w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (images.float() * w).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)


class ImageSource:
    """Encoded images, decoded on demand at one resolution and channel count. Picklable without
    open handles, so prepare-data's worker processes decode chunks of it. A subclass gives
    ``__len__``, ``decode(i)`` -> (uint8 C x res x res, or None for a small image skipped by
    ``data.small_images``; whether it was smaller than the resolution) and ``fingerprint()``:
    what identifies the source without decoding it (file names, sizes, modification times)."""

    policy: str = "upscale"  # data.small_images
    channels: int = 0
    resolution: int = 0
    where: str = ""  # for messages

    def decode_range(self, lo: int, hi: int) -> tuple[np.ndarray, dict]:
        """Images lo..hi-1 (skipped ones left out) as n x C x res x res uint8, and the counts of
        upscaled and skipped small images."""
        out, counts = [], {"upscaled": 0, "skipped": 0}
        for i in range(lo, hi):
            x, was_small = self.decode(i)
            if was_small:
                counts["skipped" if x is None else "upscaled"] += 1
            if x is not None:
                out.append(x.numpy())
        empty = np.empty((0, self.channels, self.resolution, self.resolution), np.uint8)
        return (np.stack(out) if out else empty), counts

    def decode_all(self, max_images: int | None = None) -> torch.Tensor:
        """Every image (the first ``max_images`` kept ones) in order, decoded in this process."""
        out, counts = [], {"upscaled": 0, "skipped": 0}
        for i in range(len(self)):
            if max_images is not None and len(out) >= max_images:
                break
            x, c = self.decode_range(i, i + 1)
            out += list(x)
            counts = {k: counts[k] + c[k] for k in counts}
        report_small(self, counts)
        if not out:
            raise DataError(
                f"every image under {self.where} is smaller than {self.resolution}px (skipped)"
            )
        return torch.from_numpy(np.stack(out))


def report_small(source: ImageSource, counts: dict) -> None:
    """Record (``notes``) and report the small images of a source that were upscaled or skipped."""
    notes["small_images"] = {"policy": source.policy, "resolution": source.resolution, **counts}
    if counts["upscaled"] or counts["skipped"]:
        print(
            f"{source.where}: {counts['upscaled']} images upscaled and {counts['skipped']} "
            f"skipped, being smaller than {source.resolution}px (data.small_images: "
            f"{source.policy})",
            file=sys.stderr,
        )


def train_split(cfg: dict) -> str:
    return cfg["data"]["split"] or DATASETS[cfg["dataset"]].splits[0]


def absent(cfg: dict) -> str | None:
    """Why the training split's files of a resolved run config are not there (a line naming
    the dataset, the data root and how to obtain them), or None: present, to be downloaded
    (``data.download``), or a dataset that cannot tell without reading its files."""
    info = DATASETS[cfg["dataset"]]
    if info.present is None or cfg["data"]["download"]:
        return None
    root, split = data_root(cfg), train_split(cfg)
    if info.present(root, split, cfg):
        return None
    label = cfg.get("label") or info.name
    name = label if label == info.name else f"{label} ({info.name})"
    return f"{name}: split {split} not under {root}; {info.obtain}"


def load_source(cfg: dict, split: str | None = None) -> torch.Tensor | ImageSource:
    """What the dataset's loader returns for a split: a uint8 tensor at the files' own size
    (``data.max_images`` applied) or an ``ImageSource``."""
    info = DATASETS[cfg["dataset"]]
    split = split or train_split(cfg)
    if split not in info.splits:
        raise ConfigError(
            f"dataset '{info.name}' has no split {split!r}; it has: {', '.join(info.splits)}"
        )
    notes.clear()
    data = info.loader(data_root(cfg), split, cfg)
    n_max = cfg["data"]["max_images"]
    if isinstance(data, torch.Tensor) and n_max is not None:
        data = data[:n_max]
    return data


def load_images(cfg: dict, split: str | None = None) -> torch.Tensor:
    """The dataset of a run config as uint8 images at its resolution, all decoded in memory
    (the reference that prepared arrays equal, bitwise)."""
    data = load_source(cfg, split)
    if isinstance(data, ImageSource):
        return data.decode_all(cfg["data"]["max_images"])
    return resize_uint8(data, resolution_of(cfg), channels_of(cfg))
