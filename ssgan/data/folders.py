"""Image-folder datasets: ``image_folder`` (any folder, e.g. the paper's Sketch set),
mini-ImageNet, CelebA-HQ, LSUN bedrooms (exported images or the LMDB of the LSUN release).

Encoded images (files, LMDB values) are an ``ImageSource``: decoded on demand, one image at
a time, by the same ``decode`` whatever holds the bytes. LMDB records are read in key order
(the order of torchvision's LSUN class and of the LSUN export script).

Folders are searched recursively for image files in sorted order (deterministic); an
unreadable image (a decompression bomb included) is an error naming the file. 16-bit images
are scaled to 8 bits (x / 257), not clipped. An image whose shorter side is below the
resolution follows ``data.small_images`` (upscale | skip | error); the counts go into
``registry.notes`` and prepare-data's record.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import torch

from ssgan.data.registry import (
    DATASETS,
    DataError,
    ImageSource,
    missing,
    register_dataset,
)

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


def decode(src, channels: int, resolution: int, small: str = "upscale", name: str | None = None):
    """One image file (a path, or a binary file object named by ``name`` in errors) -> (uint8
    C x res x res (center crop to square, Lanczos resize), whether it was smaller than
    ``resolution``); (None, True) for a small one when ``small`` is "skip"."""
    from PIL import Image

    path = name or src
    try:
        with Image.open(src) as img:
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


class ImageFiles(ImageSource):
    """The image files under a folder, in sorted order."""

    def __init__(self, folder: Path, channels: int, resolution: int, small: str = "upscale"):
        self.folder, self.files = Path(folder), list_images(Path(folder))
        if not self.files:
            raise DataError(f"no image files ({', '.join(sorted(IMAGE_EXTS))}) under {folder}")
        self.channels, self.resolution, self.policy = channels, resolution, small
        self.where = str(folder)

    def __len__(self) -> int:
        return len(self.files)

    def decode(self, i: int):
        return decode(self.files[i], self.channels, self.resolution, self.policy)

    def fingerprint(self) -> dict:
        h = hashlib.sha256()
        for p in self.files:
            st = p.stat()
            h.update(
                json.dumps([str(p.relative_to(self.folder)), st.st_size, st.st_mtime_ns]).encode()
            )
        return {
            "folder": str(self.folder.resolve()),
            "files": len(self.files),
            "stat_sha256": h.hexdigest(),
        }


def load_folder(
    folder: Path,
    channels: int,
    resolution: int,
    max_images: int | None = None,
    small: str = "upscale",
) -> torch.Tensor:
    return ImageFiles(folder, channels, resolution, small).decode_all(max_images)


def _folder_present(default_subdir: str | None):
    """The folder (or its split subfolder) exists; its images are counted only when read."""

    def present(root: Path, split: str, cfg: dict) -> bool:
        base = cfg["data"]["path"] or default_subdir
        if base is None:
            return False
        folder = Path(base).expanduser()
        return (folder if folder.is_absolute() else root / folder).is_dir()

    return present


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
        given = f"config key 'data.path' of dataset '{info.name}' is {base!r}: {folder}"
        if folder.is_file():
            raise DataError(f"{given} is a file; expected a folder of images")
        if folder.is_dir() and not list_images(folder):
            exts = ", ".join(sorted(IMAGE_EXTS))
            raise DataError(f"{given} holds no image files ({exts}); expected a folder of images")
        if not folder.is_dir() and Path(base).expanduser().is_absolute():
            raise DataError(f"{given} does not exist; expected a folder of images")
        if not folder.is_dir():
            raise missing(
                info,
                root,
                [
                    str(folder.relative_to(root) if folder.is_relative_to(root) else folder)
                    + "/**/*.png|jpg (image files)"
                ],
            )
        return ImageFiles(folder, channels_of(cfg), resolution_of(cfg), cfg["data"]["small_images"])

    return load


register_dataset(
    "image_folder",
    64,
    3,
    ("train", "test", "val"),
    obtain="any folder of images (the paper's Sketch set is not public); set data.path to it. "
    "A folder with train/ (and test/) subfolders provides those splits.",
    present=_folder_present(None),
)(_folder_loader(None))

register_dataset(
    "mini_imagenet",
    64,
    3,
    ("train", "val", "test"),
    obtain="mini-ImageNet (Vinyals et al. 2016; Ravi & Larochelle split) as image files in "
    "mini_imagenet/{train,val,test}/<class>/*.jpg",
    present=_folder_present("mini_imagenet"),
)(_folder_loader("mini_imagenet"))

register_dataset(
    "celeba_hq",
    64,
    3,
    ("train", "val"),
    obtain="CelebA-HQ (Karras et al. 2018) as image files, e.g. the 256x256 release of "
    "StarGAN v2 (celeba_hq/{train,val}/...)",
    present=_folder_present("celeba_hq"),
)(_folder_loader("celeba_hq"))


def _lsun(root: Path, split: str, cfg: dict) -> ImageSource:
    """LSUN bedrooms: the LMDB of the LSUN release or a folder of exported images."""
    from ssgan.data.registry import channels_of, resolution_of

    args = (channels_of(cfg), resolution_of(cfg), cfg["data"]["small_images"])
    lmdb_dir = root / "lsun" / f"bedroom_{split}_lmdb"
    if lmdb_dir.is_dir():
        return LMDBImages(lmdb_dir, *args)
    folder = root / "lsun_bedroom" / split
    if folder.is_dir() and list_images(folder):
        return ImageFiles(folder, *args)
    raise missing(
        DATASETS["lsun_bedroom"],
        root,
        [f"lsun/bedroom_{split}_lmdb/ (data.mdb, lock.mdb)", f"lsun_bedroom/{split}/*.jpg"],
    )


class LMDBImages(ImageSource):
    """Encoded images stored as the values of an LMDB (LSUN's layout), in key order. The
    environment is opened read-only and without locking for each range decoded and closed
    after it (an LMDB must not stay open across the fork of prepare-data's workers)."""

    def __init__(self, path: Path, channels: int, resolution: int, small: str = "upscale"):
        self.path, self._txn = Path(path), None
        self.channels, self.resolution, self.policy = channels, resolution, small
        self.where = str(path)
        env = self._open()
        try:
            with env.begin() as txn:
                self.keys = list(txn.cursor().iternext(keys=True, values=False))
        finally:
            env.close()
        if not self.keys:
            raise DataError(f"the LMDB {path} holds no records")

    def _open(self):
        try:
            import lmdb
        except ImportError:
            raise DataError(
                "reading LSUN's LMDB files needs the package 'lmdb' (pip install lmdb, or the "
                "extra ssgan[lsun])"
            ) from None
        try:
            return lmdb.open(
                str(self.path), readonly=True, lock=False, readahead=False, meminit=False
            )
        except lmdb.Error as err:
            raise DataError(f"cannot open the LMDB {self.path}: {err}") from None

    def __len__(self) -> int:
        return len(self.keys)

    def decode_range(self, lo: int, hi: int):
        env = self._open()
        try:
            with env.begin() as self._txn:
                return super().decode_range(lo, hi)
        finally:
            self._txn = None
            env.close()

    def decode(self, i: int):  # inside decode_range, which holds the transaction
        key = self.keys[i]
        value = self._txn.get(key)
        name = f"{self.path} record {key.decode(errors='replace')}"
        if value is None:
            raise DataError(f"cannot read image {name}: the record is missing")
        return decode(io.BytesIO(value), self.channels, self.resolution, self.policy, name)

    def fingerprint(self) -> dict:
        st = (self.path / "data.mdb").stat()
        return {
            "lmdb": str(self.path.resolve()),
            "records": len(self.keys),
            "data_mdb": [st.st_size, st.st_mtime_ns],
        }


register_dataset(
    "lsun_bedroom",
    64,
    3,
    ("train", "val"),
    obtain="LSUN bedrooms (Yu et al. 2015) via https://github.com/fyu/lsun (LMDB) into "
    "lsun/bedroom_train_lmdb, or exported images in lsun_bedroom/train/",
    present=lambda root, split, cfg: (
        (root / "lsun" / f"bedroom_{split}_lmdb").is_dir()
        or (root / "lsun_bedroom" / split).is_dir()
    ),
)(_lsun)
