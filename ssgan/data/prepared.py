"""Prepared datasets: a split decoded once, at the training resolution, into a memory-mappable
uint8 array N x C x H x W (``.npy``) with a JSON sidecar. Training and FID's real statistics
read it; no run decodes an image that a previous one has decoded.

File: ``<prepared dir>/<dataset>-<split>-<res>px-<key>.npy`` and ``.json`` beside it. The
prepared dir is ``data.prepared_dir`` -> ``$SSGAN_CACHE_DIR/prepared`` ->
``~/.cache/ssgan/prepared``. ``key`` (16 hex digits of a sha256) covers everything the content
depends on: dataset, split, resolution, channels, ``data.max_images``, ``data.small_images``,
the transform, and the source: for an array-backed dataset (idx, CIFAR-10, STL-10) the sha256
of its raw images, for image files and LMDBs their names, sizes and modification times.

Building (``ssgan prepare-data``, or the first run that needs the array): the source is cut
into chunks of ``data.prepare_chunk`` images, decoded by ``data.num_workers`` worker processes
(0: in this process) into chunk files ``<name>.chunks<size>/<i>.npz``, each written
atomically; they survive a kill, so a rerun decodes only the missing ones. The chunks are then
copied in order into the array (written under a temporary name, renamed), the sidecar records
count, shape, the sha256 of the image bytes, the source, the transform and package versions,
and the chunks are removed. The build holds an fcntl lock on ``<name>.lock``: a concurrent call
waits and then finds the finished file. Chunking never changes the bytes of the array.

Opening checks the file's size against its header and the sidecar, and the sha256 of the image
bytes against the sidecar (a sequential read, ~1 s per GB); an array that fails is reported on
stderr and rebuilt, never used.
"""

from __future__ import annotations

import copy
import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ssgan import io
from ssgan.cache import cache_root
from ssgan.data.registry import (
    DataError,
    ImageSource,
    channels_of,
    load_source,
    notes,
    report_small,
    resize_uint8,
    resolution_of,
    train_split,
)
from ssgan.progress import Progress

VERSION = 1  # bump when the layout or a transform changes
TRANSFORMS = {  # what produced the pixels (recorded; part of the key)
    "array": "registry.resize_uint8: gray<->RGB (repeat | BT.601 weights), center crop to "
    "square, antialiased bilinear resize (torch interpolate), round",
    "files": "folders.decode: PIL decode, 16-bit/257, convert L|RGB, center crop to square, "
    "Lanczos resize",
}
HASH_BLOCK = 1 << 26  # bytes per step when hashing a memory-mapped array


@dataclass
class Prepared:
    images: np.ndarray  # read-only memory map, N x C x H x W uint8
    path: Path
    record: dict  # the sidecar
    built: bool  # built by this call (False: an existing, verified array)


def prepared_dir(cfg: dict) -> Path:
    base = cfg["data"]["prepared_dir"]
    if base is None:
        base = cache_root() / "prepared"
    return Path(base).expanduser()


def _sha256_array(a: np.ndarray) -> str:
    """sha256 of the bytes of a C-ordered array, read in blocks (a memory map stays on disk)."""
    h = hashlib.sha256()
    step = max(1, HASH_BLOCK // max(1, a[0].nbytes)) if len(a) else 1
    for i in range(0, len(a), step):
        h.update(np.ascontiguousarray(a[i : i + step]))
    return h.hexdigest()


def _spec(cfg: dict, split: str):
    """(source, the key's fields, the file's path)."""
    source = load_source(cfg, split)
    res, ch = resolution_of(cfg), channels_of(cfg)
    if isinstance(source, torch.Tensor):
        kind, fp = "array", {"shape": list(source.shape), "sha256": _sha256_array(source.numpy())}
        fp["files"] = [Path(f).name for f in notes.get("source_files", [])]
    else:
        kind, fp = "files", source.fingerprint()
    fields = {
        "version": VERSION,
        "dataset": cfg["dataset"],
        "split": split,
        "resolution": res,
        "channels": ch,
        "max_images": cfg["data"]["max_images"],
        "small_images": cfg["data"]["small_images"] if kind == "files" else None,
        "transform": TRANSFORMS[kind],
        "source": fp,
    }
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]
    path = prepared_dir(cfg) / f"{cfg['dataset']}-{split}-{res}px-{digest}.npy"
    return source, fields, path


def _open(path: Path, fields: dict) -> tuple[Prepared | None, str | None]:
    """The verified array at ``path``, or (None, why not); (None, None) when it is absent."""
    if not path.is_file():
        return None, None
    try:
        record = io.read_json(path.with_suffix(".json"))
    except (OSError, ValueError) as err:
        return None, f"no readable sidecar: {type(err).__name__}"
    if not isinstance(record, dict) or record.get("key") != fields:
        return None, "its sidecar describes other data"
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as err:  # a cut file cannot even be mapped
        return None, f"unreadable ({type(err).__name__}: {err})"
    size = path.stat().st_size
    if list(arr.shape) != record["shape"] or size != arr.offset + arr.nbytes:
        return None, f"{size} bytes, shape {list(arr.shape)}; the sidecar says {record['shape']}"
    if size != record["bytes"]:
        return None, f"{size} bytes, the sidecar says {record['bytes']}"
    if _sha256_array(arr) != record["sha256"]:
        return None, "the sha256 of its images differs from the sidecar's"
    return Prepared(arr, path, record, False), None


def prepare(cfg: dict, split: str | None = None) -> Prepared:
    """The prepared array of a split of a run config: opened and verified, else built."""
    split = split or train_split(cfg)
    source, fields, path = _spec(cfg, split)
    got, _ = _open(path, fields)  # not locked: a file being replaced is only ever renamed
    if got is not None:
        return got
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        writable = os.access(path.parent, os.W_OK)
    except OSError:
        writable = False
    if not writable:
        raise DataError(
            f"cannot write prepared arrays to {path.parent}; set config key data.prepared_dir "
            f"or the environment variable SSGAN_CACHE_DIR to a writable folder"
        )
    with io.file_lock(path.with_suffix(".lock")):
        got, why = _open(path, fields)  # another process may have built it meanwhile
        if got is not None:
            return got
        if why:
            print(f"prepared array {path} rejected ({why}); rebuilding it", file=sys.stderr)
        return _build(cfg, source, fields, path)


def training_images(cfg: dict) -> torch.Tensor | np.ndarray:
    """What training streams batches from: the prepared array whole in memory when it is at most
    ``data.in_memory_max_mb``, else its read-only memory map (BatchStream reads it by index)."""
    images = prepare(cfg).images
    if images.nbytes <= cfg["data"]["in_memory_max_mb"] * 2**20:
        return torch.from_numpy(np.array(images))
    return images


def reference(cfg: dict, split: str, n: int) -> Prepared:
    """The array holding FID's reference set, the first ``n`` images of ``split``: the training
    array when it holds them, else an array of the split's first ``n`` images."""
    train_max = cfg["data"]["max_images"]
    if split == train_split(cfg) and (train_max is None or train_max >= n):
        return prepare(cfg, split)
    c = copy.deepcopy(cfg)
    c["data"]["max_images"] = n
    return prepare(c, split)


def reference_images(cfg: dict, split: str, n: int) -> np.ndarray:
    """The first ``n`` images of ``split`` (capped by its size), memory-mapped."""
    return reference(cfg, split, n).images[:n]


# --- building ----------------------------------------------------------------------------
_SOURCE = None  # the source, in a worker process


def _init_worker(source) -> None:
    global _SOURCE
    _SOURCE = source
    torch.set_num_threads(1)


def _write_chunk(source, lo: int, hi: int, res: int, ch: int, path: Path) -> None:
    if isinstance(source, torch.Tensor):
        x, counts = resize_uint8(source[lo:hi], res, ch).numpy(), {"upscaled": 0, "skipped": 0}
    else:
        x, counts = source.decode_range(lo, hi)
    with io.atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, images=x, counts=np.array([len(x), counts["upscaled"], counts["skipped"]]))


def _in_worker(lo: int, hi: int, res: int, ch: int, path: Path) -> None:
    _write_chunk(_SOURCE, lo, hi, res, ch, path)


def _build(cfg: dict, source, fields: dict, path: Path) -> Prepared:
    t0 = time.perf_counter()
    res, ch, size = fields["resolution"], fields["channels"], cfg["data"]["prepare_chunk"]
    n_max = cfg["data"]["max_images"]
    n_src = len(source)
    if n_max is not None and (isinstance(source, torch.Tensor) or source.policy != "skip"):
        n_src = min(n_src, n_max)  # with "skip" the first n_max kept ones are not known yet
    chunk_dir = path.with_name(f"{path.stem}.chunks{size}")
    chunks = [chunk_dir / f"{i:06d}.npz" for i in range(-(-n_src // size))]
    todo = [(i * size, min((i + 1) * size, n_src), res, ch, p) for i, p in enumerate(chunks)]
    todo = [t for t in todo if not t[-1].is_file()]  # a rerun after a kill: only the missing
    progress = Progress(len(chunks), f"prepare {path.name}", "chunk", len(chunks) - len(todo))
    workers = cfg["data"]["num_workers"] if isinstance(source, ImageSource) else 0
    if workers > 0 and len(todo) > 1:
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
        with ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=_init_worker, initargs=(source,)
        ) as pool:
            futures = [pool.submit(_in_worker, *t) for t in todo]
            try:
                for f in as_completed(futures):
                    f.result()  # a worker's DataError (an unreadable image) is raised here
                    progress.update()
            except BaseException:
                pool.shutdown(cancel_futures=True)
                raise
    else:
        for t in todo:
            _write_chunk(source, *t)
            progress.update()
    progress.close()

    totals = np.zeros(3, np.int64)  # kept, upscaled, skipped
    for p in chunks:
        with np.load(p, allow_pickle=False) as z:
            totals += z["counts"]
    n = int(totals[0]) if n_max is None else min(int(totals[0]), n_max)
    if n == 0:
        raise DataError(f"every image of {source.where} is smaller than {res}px (skipped)")
    for stale in path.parent.glob(f".{path.name}.*.tmp"):  # a killed build's (we hold the lock)
        stale.unlink(missing_ok=True)
    h, at = hashlib.sha256(), 0
    with io.atomic_path(path) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, ch, res, res))
        for p in chunks:
            if at >= n:
                break
            with np.load(p, allow_pickle=False) as z:
                x = z["images"][: n - at]
            out[at : at + len(x)] = x
            h.update(np.ascontiguousarray(x))
            at += len(x)
        out.flush()
        del out
    if isinstance(source, ImageSource):
        report_small(source, {"upscaled": int(totals[1]), "skipped": int(totals[2])})
    seconds = time.perf_counter() - t0
    record = {
        "name": path.name,
        "key": fields,
        "count": n,
        "shape": [n, ch, res, res],
        "dtype": "uint8",
        "bytes": path.stat().st_size,
        "sha256": h.hexdigest(),
        "source_files": notes.get("source_files") or fields["source"],
        "small_images": notes.get("small_images"),
        "chunks": len(chunks),
        "workers": workers,
        "seconds": round(seconds, 3),
        "images_per_second": round(n / seconds, 1) if seconds > 0 else None,
        "versions": _versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    io.write_json(path.with_suffix(".json"), record)
    shutil.rmtree(chunk_dir, ignore_errors=True)
    return Prepared(np.load(path, mmap_mode="r", allow_pickle=False), path, record, True)


def _versions() -> dict:
    import PIL

    from ssgan import __version__

    return {
        "ssgan": __version__,
        "numpy": np.__version__,
        "torch": torch.__version__,
        "pillow": PIL.__version__,
    }
