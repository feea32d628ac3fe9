"""Datasets registry: name -> resolution, channels, splits, a loader and how to obtain it.

A loader returns either a uint8 tensor N x C x H x W (decoded once, held in memory and on the
training device) or a torch ``Dataset`` of uint8 C x H x W tensors (streamed; LSUN).
``load_images`` brings either to the registered (or configured) resolution and channels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ssgan import config as C


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


DATASETS: dict[str, DatasetInfo] = {}
# What the last load_images call noticed about the files (e.g. small images upscaled or
# skipped); reset by each call, read by prepare-data into its record.
notes: dict = {}


def register_dataset(
    name: str, resolution: int, channels: int, splits: tuple[str, ...], obtain: str
):
    def deco(fn):
        DATASETS[name] = DatasetInfo(name, resolution, channels, splits, fn, obtain)
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


class _Resized(torch.utils.data.Dataset):
    def __init__(self, base, resolution, channels):
        self.base, self.resolution, self.channels = base, resolution, channels

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        return resize_uint8(self.base[i][None], self.resolution, self.channels)[0]


def train_split(cfg: dict) -> str:
    return cfg["data"]["split"] or DATASETS[cfg["dataset"]].splits[0]


def load_images(cfg: dict, split: str | None = None):
    """The dataset of a run config as uint8 images at its resolution (tensor or Dataset)."""
    info = DATASETS[cfg["dataset"]]
    split = split or train_split(cfg)
    if split not in info.splits:
        raise C.ConfigError(
            f"dataset '{info.name}' has no split {split!r}; it has: {', '.join(info.splits)}"
        )
    notes.clear()
    data = info.loader(C.data_root(cfg), split, cfg)
    n_max = cfg["data"]["max_images"]
    if n_max is not None and len(data) > n_max:
        data = (
            data[:n_max]
            if isinstance(data, torch.Tensor)
            else torch.utils.data.Subset(data, range(n_max))
        )
    res, ch = resolution_of(cfg), channels_of(cfg)
    if isinstance(data, torch.Tensor):
        return resize_uint8(data, res, ch)
    return _Resized(data, res, ch)
