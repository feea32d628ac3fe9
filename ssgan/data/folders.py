"""Image-folder datasets: ``image_folder`` (any folder, e.g. the paper's Sketch set),
mini-ImageNet, CelebA-HQ, LSUN bedrooms (exported images or torchvision's LMDB layout),
and the torchvision layouts of CIFAR-10 and STL-10.

Folders are searched recursively for image files in sorted order (deterministic); an
unreadable image (a decompression bomb included) is an error naming the file. 16-bit images
are scaled to 8 bits (x / 257), not clipped. An image whose shorter side is below the
resolution follows ``data.small_images`` (upscale | skip | error); the counts go into
``registry.notes`` and prepare-data's record.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from ssgan.data.registry import DATASETS, DataError, missing, notes, register_dataset

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"}


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTS and p.is_file())


def _to_8bit(img):
    """16-bit (and 32-bit integer) grey images -> mode L, scaled by 1/257 rather than clipped."""
    from PIL import Image

    if img.mode.startswith("I;16") or img.mode == "I":
        arr = np.asarray(img, dtype=np.float64)
        return Image.fromarray((arr / 257.0).round().clip(0, 255).astype(np.uint8), mode="L")
    return img


def decode(path: Path, channels: int, resolution: int, small: str = "upscale"):
    """One image file -> (uint8 C x res x res (center crop to square, Lanczos resize), whether
    it was smaller than ``resolution``); (None, True) for a small one when ``small`` is "skip"."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            w, h = img.size
            if min(w, h) < resolution:
                if small == "error":
                    raise DataError(
                        f"image {path} is {w}x{h}, smaller than the training resolution "
                        f"{resolution} (config key data.small_images: upscale | skip | error)"
                    )
                if small == "skip":
                    return None, True
            img = _to_8bit(img).convert("L" if channels == 1 else "RGB")
            s = min(w, h)
            img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
            img = img.resize((resolution, resolution), Image.LANCZOS)
            arr = np.asarray(img, dtype=np.uint8)
    except DataError:
        raise
    except Image.DecompressionBombError as err:
        raise DataError(f"cannot read image {path}: decompression bomb refused ({err})") from None
    except Exception as err:  # noqa: BLE001 - any decoder failure names the file
        raise DataError(f"cannot read image {path}: {type(err).__name__}: {err}") from None
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return torch.from_numpy(arr.copy()), min(w, h) < resolution


def load_folder(
    folder: Path,
    channels: int,
    resolution: int,
    max_images: int | None = None,
    small: str = "upscale",
) -> torch.Tensor:
    files = list_images(folder)
    if not files:
        raise DataError(f"no image files ({', '.join(sorted(IMAGE_EXTS))}) under {folder}")
    out, counts = [], {"upscaled": 0, "skipped": 0}
    for path in files:
        if max_images is not None and len(out) >= max_images:
            break
        x, was_small = decode(path, channels, resolution, small)
        if was_small:
            counts["skipped" if x is None else "upscaled"] += 1
        if x is not None:
            out.append(x)
    notes["small_images"] = {"policy": small, "resolution": resolution, **counts}
    if counts["upscaled"] or counts["skipped"]:
        print(
            f"{folder}: {counts['upscaled']} images upscaled and {counts['skipped']} skipped, "
            f"being smaller than {resolution}px (data.small_images: {small})",
            file=sys.stderr,
        )
    if not out:
        raise DataError(f"every image under {folder} is smaller than {resolution}px (skipped)")
    return torch.stack(out)


def _folder_loader(default_subdir: str | None):
    def load(root: Path, split: str, cfg: dict) -> torch.Tensor:
        from ssgan.data.registry import channels_of, resolution_of

        info = DATASETS[cfg["dataset"]]
        base = cfg["data"]["path"] or default_subdir
        if base is None:
            raise DataError(
                f"dataset '{info.name}' needs config key data.path: the folder of images"
            )
        folder = Path(base).expanduser()
        folder = folder if folder.is_absolute() else root / folder
        if (folder / split).is_dir():  # <folder>/<split>/... when the folder has splits
            folder = folder / split
        if not folder.is_dir() or not list_images(folder):
            raise missing(
                info,
                root if not Path(base).is_absolute() else Path("/"),
                [
                    str(folder.relative_to(root) if folder.is_relative_to(root) else folder)
                    + "/**/*.png|jpg (image files)"
                ],
            )
        return load_folder(
            folder,
            channels_of(cfg),
            resolution_of(cfg),
            cfg["data"]["max_images"],
            cfg["data"]["small_images"],
        )

    return load


register_dataset(
    "image_folder",
    64,
    3,
    ("train", "test", "val"),
    obtain="any folder of images (the paper's Sketch set is not public); set data.path to it. "
    "A folder with train/ (and test/) subfolders provides those splits.",
)(_folder_loader(None))

register_dataset(
    "mini_imagenet",
    64,
    3,
    ("train", "val", "test"),
    obtain="mini-ImageNet (Vinyals et al. 2016; Ravi & Larochelle split) as image files in "
    "mini_imagenet/{train,val,test}/<class>/*.jpg",
)(_folder_loader("mini_imagenet"))

register_dataset(
    "celeba_hq",
    64,
    3,
    ("train", "val"),
    obtain="CelebA-HQ (Karras et al. 2018) as image files, e.g. the 256x256 release of "
    "StarGAN v2 (celeba_hq/{train,val}/...)",
)(_folder_loader("celeba_hq"))


def _lsun(root: Path, split: str, cfg: dict):
    """LSUN bedrooms: torchvision's LMDB layout (streamed) or a folder of exported images."""
    lmdb_dir = root / "lsun" / f"bedroom_{split}_lmdb"
    if lmdb_dir.is_dir():
        try:
            from torchvision.datasets import LSUN
        except ImportError as err:  # pragma: no cover
            raise DataError(f"LSUN needs torchvision's LSUN dataset: {err}") from None
        try:
            base = LSUN(str(root / "lsun"), classes=[f"bedroom_{split}"])
        except ImportError:
            raise DataError(
                "reading LSUN's LMDB files needs the package 'lmdb' (pip install lmdb)"
            ) from None
        return _PILDataset(base)
    folder = root / "lsun_bedroom" / split
    if folder.is_dir() and list_images(folder):
        from ssgan.data.registry import channels_of, resolution_of

        return load_folder(
            folder,
            channels_of(cfg),
            resolution_of(cfg),
            cfg["data"]["max_images"],
            cfg["data"]["small_images"],
        )
    raise missing(
        DATASETS["lsun_bedroom"],
        root,
        [f"lsun/bedroom_{split}_lmdb/ (data.mdb, lock.mdb)", f"lsun_bedroom/{split}/*.jpg"],
    )


class _PILDataset(torch.utils.data.Dataset):
    def __init__(self, base):
        self.base = base

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        img = self.base[i][0].convert("RGB")
        return torch.from_numpy(np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).copy())


register_dataset(
    "lsun_bedroom",
    64,
    3,
    ("train", "val"),
    obtain="LSUN bedrooms (Yu et al. 2015) via https://github.com/fyu/lsun (LMDB) into "
    "lsun/bedroom_train_lmdb, or exported images in lsun_bedroom/train/",
)(_lsun)


def _torchvision(kind: str):
    def load(root: Path, split: str, cfg: dict) -> torch.Tensor:
        from torchvision import datasets

        info = DATASETS[cfg["dataset"]]
        try:
            if kind == "cifar10":
                ds = datasets.CIFAR10(
                    str(root), train=(split == "train"), download=cfg["data"]["download"]
                )
                return torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
            ds = datasets.STL10(str(root), split=split, download=cfg["data"]["download"])
            return torch.from_numpy(ds.data)
        except RuntimeError as err:
            if "not found" not in str(err).lower() and "corrupted" not in str(err).lower():
                raise
            expected = (
                ["cifar-10-batches-py/data_batch_1 ... data_batch_5, test_batch, batches.meta"]
                if kind == "cifar10"
                else [
                    "stl10_binary/unlabeled_X.bin, train_X.bin, train_y.bin, test_X.bin, test_y.bin"
                ]
            )
            raise missing(info, root, expected) from None

    return load


register_dataset(
    "cifar10",
    32,
    3,
    ("train", "test"),
    obtain="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz extracted under the data root "
    "(or data.download: true on a machine with internet access)",
)(_torchvision("cifar10"))

register_dataset(
    "stl10",
    48,
    3,
    ("unlabeled", "train", "test", "train+unlabeled"),
    obtain="https://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz extracted under the data "
    "root (or data.download: true); images are resized 96 -> 48",
)(_torchvision("stl10"))
