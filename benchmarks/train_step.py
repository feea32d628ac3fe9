"""Generator iterations per second of each method (one iteration = n_critic critic steps + one
generator step, batch 64 by default) at widths 32/64 and resolutions 32/64 on this device.

    python benchmarks/train_step.py [--iters 20] [--device auto] [--methods wgan_gp,ssgan]
        [--repeats 1] [--out benchmarks/train_step.csv]

Writes one CSV row per (method, width, resolution) and prints each method's overhead ratio
(seconds per iteration / wgan_gp's). Targets: SASTM (ssgan) <= 1.15 at width 64; STU-GAN's
masked iteration between explorations (stu_gan) <= 1.10; its exploration step is timed
separately (``explore_sec``: one prune-and-regrow of G and D, paid once per stu.update_every),
and so is its masking (``mask_sec_per_iter``: W <- W * M after the n_critic critic steps and
the generator step of one iteration, the only extra work between explorations).
With ``--repeats R`` the methods are timed in R interleaved rounds and the median is kept (a
shared machine's load then hits every method alike).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import statistics
import time
from pathlib import Path

import torch

from ssgan import config as C
from ssgan import provenance
from ssgan.methods import get_method
from ssgan.methods.base import Models
from ssgan.train import resolve_device


def seconds_per_iteration(
    method: str, width: int, resolution: int, device, iters: int, warmup: int, batch: int
) -> float:
    cfg = C.resolve(
        "image_folder",
        method,
        0,
        overrides={
            "model": {"width": width},
            "train": {"batch_size": batch},
            "data": {"resolution": resolution},  # the per-resolution defaults of this resolution
        },
    )
    torch.manual_seed(0)
    m = get_method(method, cfg)
    G, D = m.build_generator(resolution, 3).to(device), m.build_critic(resolution, 3).to(device)
    models = Models(G, D, *m.optimizers(G, D))
    data = torch.rand(8, batch, 3, resolution, resolution, device=device) * 2 - 1
    counter = itertools.count()
    next_batch = lambda: data[next(counter) % 8]  # noqa: E731
    gen = torch.Generator(device).manual_seed(0)
    for i in range(1, warmup + 1):  # iterations 1.. (stu_gan explores at 1000, not here)
        m.train_iteration(models, next_batch, gen, i)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    for i in range(warmup + 1, warmup + iters + 1):
        m.train_iteration(models, next_batch, gen, i)
    sync()
    spi = (time.perf_counter() - t0) / iters
    explore = mask = float("nan")
    if hasattr(m, "sparse"):  # STU-GAN's extra work per iteration: masking after every step
        t0 = time.perf_counter()
        for _ in range(50):
            for _ in range(cfg["train"]["n_critic"]):
                m.sparse["D"].apply()
            m.sparse["G"].apply()
        sync()
        mask = (time.perf_counter() - t0) / 50
    if hasattr(m, "explore"):  # one exploration step (STU-GAN), after a generator step
        t0 = time.perf_counter()
        m.explore(models, warmup + iters)
        sync()
        explore = time.perf_counter() - t0
    return spi, explore, mask


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--device", default="auto")
    p.add_argument("--widths", default="32,64")
    p.add_argument("--resolutions", default="32,64")
    p.add_argument("--methods", default="wgan_gp,ssgan")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--out", default=str(Path(__file__).with_name("train_step.csv")))
    a = p.parse_args()
    methods = a.methods.split(",")
    if "wgan_gp" not in methods:
        methods.insert(0, "wgan_gp")  # the reference of every ratio
    device = resolve_device(a.device)
    info = provenance.device_info(device)
    rows = []
    for width in map(int, a.widths.split(",")):
        for res in map(int, a.resolutions.split(",")):
            times = {meth: [] for meth in methods}
            for _ in range(a.repeats):
                for meth in methods:
                    times[meth].append(
                        seconds_per_iteration(meth, width, res, device, a.iters, a.warmup, a.batch)
                    )
            spi = {meth: statistics.median(t[0] for t in ts) for meth, ts in times.items()}
            explore = {meth: statistics.median(t[1] for t in ts) for meth, ts in times.items()}
            mask = {meth: statistics.median(t[2] for t in ts) for meth, ts in times.items()}
            for meth, s in spi.items():
                rows.append(
                    {
                        "device": info["device_name"],
                        "method": meth,
                        "width": width,
                        "resolution": res,
                        "batch": a.batch,
                        "n_critic": 5,
                        "iters": a.iters,
                        "sec_per_iter": round(s, 5),
                        "iters_per_sec": round(1 / s, 3),
                        "overhead_vs_wgan_gp": round(s / spi["wgan_gp"], 4),
                        "explore_sec": round(explore[meth], 5),
                        "mask_sec_per_iter": round(mask[meth], 6),
                        "repeats": a.repeats,
                        "torch": torch.__version__,
                        "threads": torch.get_num_threads(),
                    }
                )
            print(
                f"width {width:3d} res {res}: "
                + ", ".join(
                    f"{meth} {1 / s:7.2f} it/s (x{s / spi['wgan_gp']:.3f})"
                    for meth, s in spi.items()
                )
                + "".join(
                    f"; {meth} exploration {e:.3f} s"
                    for meth, e in explore.items()
                    if e == e  # not NaN
                ),
                flush=True,
            )
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    with open(a.out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
