"""One GPU per local job. On a machine with several visible GPUs, a job whose device is ``auto``
or ``cuda`` (no index) takes a free *slot* and runs on that slot's GPU: a training takes one slot,
an FID or real-statistics job every slot of one GPU (a whole GPU). A GPU has
``SSGAN_RUNS_PER_GPU`` slots (the workflow sets it from ``resources.train.runs_per_gpu``; 1 by
default), so that many trainings share it.

A slot is an exclusive ``flock`` on a lock file, ``<lock dir>/<host>-gpu<g>-slot<k>.lock``, held
for the life of the process: the kernel releases it when the process ends, killed or crashed
included, so a dead job never keeps a GPU. The lock dir is ``$SSGAN_GPU_LOCK_DIR``, else
``~/.cache/ssgan/gpu-slots`` (the host name keeps machines sharing a home folder apart). With
one visible GPU (a SLURM job sees only its own) or an explicit ``cuda:N`` nothing is locked.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import torch

from ssgan import io
from ssgan.errors import ConfigError
from ssgan.training.runtime import resolve_device

_HELD: list = []  # open lock files: the slots this process holds until it exits
# The training slot this process took and its lock files: the runs of a seed batch trained one
# after another in one process (ssgan/training/seed_batch.py) reuse it instead of taking more.
_TRAINING: tuple[dict, list] | None = None
POLL_SECONDS = 2.0


def lock_dir() -> Path:
    env = os.environ.get("SSGAN_GPU_LOCK_DIR")
    return Path(env) if env else Path.home() / ".cache" / "ssgan" / "gpu-slots"


def runs_per_gpu() -> int:
    raw = os.environ.get("SSGAN_RUNS_PER_GPU", "1")
    if not raw.strip().isdigit() or int(raw) < 1:
        raise ConfigError(
            f"environment variable SSGAN_RUNS_PER_GPU must be a positive integer (trainings "
            f"per GPU; the workflow sets it from resources.train.runs_per_gpu), got {raw!r}"
        )
    return int(raw)


def usable_lock_dir() -> Path:
    """``lock_dir()``, created if need be; a folder that cannot hold lock files is one line."""
    folder = lock_dir()
    probe = folder / f".probe-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.touch()
        probe.unlink()
    except OSError as err:
        source = "SSGAN_GPU_LOCK_DIR" if os.environ.get("SSGAN_GPU_LOCK_DIR") else "default"
        raise ConfigError(
            f"GPU slot lock folder {folder} ({source}) is not a writable folder: "
            f"{type(err).__name__}: {err.strerror or err}; set SSGAN_GPU_LOCK_DIR to one"
        ) from None
    return folder


def _take(gpus: int, per_gpu: int, whole: bool, folder: Path) -> dict | None:
    """Lock one free slot (or every slot of one GPU with ``whole``), GPUs filled evenly; None
    when nothing is free now."""
    host = socket.gethostname().split(".")[0]
    name = lambda g, k: folder / f"{host}-gpu{g}-slot{k}.lock"  # noqa: E731
    order = (
        [(g, None) for g in range(gpus)]
        if whole
        else [(g, k) for k in range(per_gpu) for g in range(gpus)]
    )
    for g, k in order:
        ks = range(per_gpu) if k is None else [k]
        held = []
        for slot in ks:
            if (f := io.try_hold_lock(name(g, slot))) is None:
                break
            held.append(f)
        if len(held) == len(ks):
            _HELD.extend(held)
            return {"gpu": g, "slots": list(ks), "of": per_gpu, "lock_dir": str(folder)}
        for f in held:
            f.close()  # closing releases the lock
    return None


def claim(
    name: str, whole: bool = False, gpus: int | None = None
) -> tuple[torch.device, dict | None]:
    """(device to run on, the slot taken or None). ``gpus``: the visible GPU count (tests fake it;
    default torch.cuda.device_count()). Waits, saying so once, while every slot is taken."""
    global _TRAINING
    gpus = torch.cuda.device_count() if gpus is None else gpus
    if name not in ("auto", "cuda") or gpus <= 1:
        return resolve_device(name), None
    if not whole and _TRAINING is not None and not any(f.closed for f in _TRAINING[1]):
        return torch.device("cuda", _TRAINING[0]["gpu"]), _TRAINING[0]
    per_gpu, said = runs_per_gpu(), False
    folder = usable_lock_dir()
    while (slot := _take(gpus, per_gpu, whole, folder)) is None:
        if not said:
            need = f"all {per_gpu} slots of a GPU" if whole else "a GPU slot"
            print(f"waiting for {need} (locks in {folder})", file=sys.stderr, flush=True)
            said = True
        time.sleep(POLL_SECONDS)
    if not whole:
        _TRAINING = (slot, _HELD[-len(slot["slots"]) :])
    return torch.device("cuda", slot["gpu"]), slot
