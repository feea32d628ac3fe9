"""Atomic file output: write to a temporary file in the same folder, fsync, rename.

A reader never sees a half-written file and a crash never leaves one behind under the
final name (rename is atomic on POSIX within a filesystem).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def file_lock(path: str | os.PathLike):
    """An exclusive advisory lock (fcntl) on ``path``; only avoids duplicated work, since
    every write is an atomic rename anyway."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        try:
            import fcntl

            fcntl.flock(fh, fcntl.LOCK_EX)
        except (ImportError, OSError):  # no fcntl (Windows) or no locks on this filesystem
            pass
        yield


def try_hold_lock(path: str | os.PathLike):
    """Take an exclusive advisory lock on ``path`` without waiting and keep it: the open file is
    returned (close it to release; the kernel releases it when the process ends, killed or
    crashed included), or None when another process holds it. The file holds the holder's pid,
    for a person looking at who has it."""
    import fcntl  # POSIX only, like the slots that use it

    fh = open(path, "a+")  # noqa: SIM115  (held open for the life of the lock)
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return fh


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path next to ``path``; renamed onto ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are meant to be shared
        os.replace(tmp, path)
        with contextlib.suppress(OSError):  # make the rename itself durable
            dfd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
    finally:
        tmp.unlink(missing_ok=True)


def move(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Move a file or directory (e.g. a superseded run): one atomic rename within a
    filesystem; across filesystems a copy under a temporary name, renamed, then the source
    removed, so ``dst`` never holds a partial copy."""
    src, dst = Path(src), Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(src, dst)
    except OSError as err:
        if err.errno != errno.EXDEV:  # another filesystem
            raise
        tmp = dst.with_name(f".{dst.name}.tmp")
        shutil.copytree(src, tmp) if src.is_dir() else shutil.copy2(src, tmp)
        os.rename(tmp, dst)
        shutil.rmtree(src) if src.is_dir() else src.unlink()


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def torch_bytes(obj) -> bytes:
    """``torch.save(obj)`` into memory. Saved to a path, the archive's inner folder is named
    after the (random) temporary file, so two identical runs' weight files differed byte for
    byte; saved to a buffer it is always ``archive``, and equal tensors give equal bytes."""
    import io as _io

    import torch

    buf = _io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def save_torch(obj, path: str | os.PathLike) -> None:
    """``torch.save`` with reproducible bytes (``torch_bytes``), written atomically."""
    write_bytes(path, torch_bytes(obj))


def _jsonable(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: str | os.PathLike, data: dict) -> None:
    write_text(path, json.dumps(_jsonable(data), indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> dict:
    with open(path) as fh:
        return json.load(fh)


def write_csv(path: str | os.PathLike, rows: list[dict], columns: list[str]) -> None:
    """A CSV of ``rows`` (dicts) with a fixed column order, written atomically."""
    import csv

    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="raise")
            writer.writeheader()
            writer.writerows(rows)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
