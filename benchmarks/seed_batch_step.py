"""Seed-iterations per second of the batched trainer (ssgan/training/batch.py): K seeds of one
cell stacked into one vmapped network, against the lone run's step.

    python benchmarks/seed_batch_step.py [--seed-batch 1,2,4] [--methods wgan_gp,ssgan]
        [--width 16] [--resolution 32] [--batch 64] [--iters 10] [--warmup 2]
        [--device auto] [--out benchmarks/results/seed_batch_stacked_<device>.csv]

Each row: ``seed_batch`` K (0: the lone run's ``run.step``, eager, for comparison), the
setting, ``iters_per_sec`` (batched iterations per second, each one generator iteration of
every seed) and ``aggregate_iters_per_sec`` = K x that (seed-iterations per second). Built as
``ssgan train --seeds`` builds them (``SeedRun.build``, ``Stack``: real MNIST under
``$SSGAN_DATA_ROOT``); logging, probes, samples and checkpoints are not timed; the first
``--warmup`` iterations are not timed; ``torch.cuda.synchronize`` brackets the timed ones.
"""

from __future__ import annotations

import argparse
import csv
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from ssgan import config as C
from ssgan.training import batch

HERE = Path(__file__).resolve().parent


def cfg_of(a, method: str, seed: int) -> dict:
    over = {
        "model": {"width": a.width},
        "data": {"resolution": a.resolution},
        "train": {"batch_size": a.batch, "device": a.device, "cuda_graph": False},
    }
    return C.resolve("mnist", method, seed, overrides=over)


def measure(a, method: str, k: int) -> float:
    """Seconds per (batched) iteration: K seeds stacked, or (k 0) the lone run's step."""
    with tempfile.TemporaryDirectory() as tmp:
        runs = [batch.SeedRun(cfg_of(a, method, s), Path(tmp) / str(s)) for s in range(max(k, 1))]
        for r in runs:
            r.build()
        stack = batch.Stack(runs) if k > 0 else None

        def step(i: int) -> None:
            stack.iteration() if stack is not None else runs[0].step(i)

        sync = torch.cuda.synchronize if runs[0].device.type == "cuda" else (lambda: None)
        for i in range(1, a.warmup + 1):
            step(i)
        sync()
        t0 = time.perf_counter()
        for i in range(a.warmup + 1, a.warmup + a.iters + 1):
            step(i)
        sync()
        return (time.perf_counter() - t0) / a.iters


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed-batch", default="1,2,4")
    p.add_argument("--methods", default="wgan_gp,ssgan")
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    ks = [0, *[int(k) for k in a.seed_batch.split(",")]]
    device = batch.SeedRun(cfg_of(a, "wgan_gp", 0), "unused").device
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    rows = []
    for method in a.methods.split(","):
        for k in ks:
            spi = measure(a, method, k)
            rows.append({
                "device": name, "cpu": platform.processor() or platform.machine(),
                "torch": torch.__version__, "threads": torch.get_num_threads(), "method": method,
                "width": a.width, "resolution": a.resolution, "batch": a.batch,
                "seed_batch": k, "mode": "lone run.step" if k == 0 else "stacked (vmap)",
                "iters_per_sec": round(1 / spi, 3),
                "aggregate_iters_per_sec": round(max(k, 1) / spi, 3),
            })  # fmt: skip
            print(rows[-1], file=sys.stderr, flush=True)
    slug = name.lower().replace(" ", "-")
    out = Path(a.out or HERE / "results" / f"seed_batch_stacked_{slug}.csv")
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(out)


if __name__ == "__main__":
    main()
