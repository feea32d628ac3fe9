"""Data throughput on this machine: batches/s of 64 x 3 x 64 x 64 read by index from a prepared
(memory-mapped) array, page cache warm, and prepare-data's images/s decoding JPEG files.
Writes one CSV row per measurement and a note comparing them with what a graphed training step
consumes (100 generator it/s x (n_critic 5 + 1) batches = 600 batches/s).

    python benchmarks/data_throughput.py --out benchmarks/results/data_throughput.csv
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ssgan import io, provenance
from ssgan.config import resolve
from ssgan.data import BatchStream
from ssgan.data.prepared import prepare
from ssgan.metrics.evaluate import resolve_device

COLUMNS = [
    "measure", "value", "unit", "n", "batch", "workers", "device", "device_name", "cpus", "load_1min",
]  # fmt: skip
NEEDED = 100 * (5 + 1)  # batches/s of a graphed WGAN-GP step at 100 it/s (GUIDE: H100, res 32)


def rate(fn, seconds: float) -> float:
    """Calls of ``fn`` per second over about ``seconds`` (after 20 warm-up calls)."""
    for _ in range(20):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(50):
            fn()
        n += 50
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=20000, help="images in the prepared array")
    p.add_argument("--files", type=int, default=400, help="JPEG files for prepare-data")
    p.add_argument("--seconds", type=float, default=3.0, help="per batch-rate measurement")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="benchmarks/results/data_throughput.csv")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    cpus = os.cpu_count()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # 1. an array of the size of a prepared 64 px set, read from its memory map
        path = tmp / "array.npy"
        with io.atomic_path(path) as t:
            a = np.lib.format.open_memmap(t, mode="w+", dtype=np.uint8, shape=(args.n, 3, 64, 64))
            for i in range(0, args.n, 4096):
                a[i : i + 4096] = np.random.default_rng(i).integers(
                    0, 256, a[i : i + 4096].shape, dtype=np.uint8
                )
            a.flush()
            del a
        mm = np.load(path, mmap_mode="r", allow_pickle=False)
        np.asarray(mm).sum(dtype=np.uint64)  # page cache warm
        s = BatchStream(mm, 64, seed=0, device=device)
        s.next()
        perm = torch.randperm(args.n)
        at = [0]

        def gather():  # the reader thread's work: 64 images by index into the host buffer
            i = at[0] = (at[0] + 64) % (args.n - 64)
            s._gather(perm[i : i + 64], 0)

        rows.append(("read_by_index", rate(gather, args.seconds), "batches/s", args.n, 0))
        rows.append(("stream_next_memmap", rate(s.next, args.seconds), "batches/s", args.n, 0))
        mem = BatchStream(torch.from_numpy(np.array(mm[:4096])), 64, seed=0, device=device)
        rows.append(("stream_next_in_memory", rate(mem.next, args.seconds), "batches/s", 4096, 0))

        # 2. prepare-data: JPEG files (256 x 256, LSUN-like) -> 64 px array
        folder = tmp / "images"
        folder.mkdir()
        rng = np.random.default_rng(0)
        for i in range(args.files):
            img = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)  # smooth, JPEG-like content
            Image.fromarray(img).resize((256, 256), Image.BILINEAR).save(folder / f"{i:05d}.jpg")
        for workers in sorted({0, cpus}):
            cfg = resolve(
                "image_folder",
                "wgan_gp",
                0,
                overrides={
                    "data": {
                        "path": str(folder),
                        "prepared_dir": str(tmp / f"prep{workers}"),
                        "num_workers": workers,
                        "prepare_chunk": 50,
                    }
                },
            )
            t0 = time.perf_counter()
            prepare(cfg)
            rows.append(
                (
                    "prepare_data",
                    args.files / (time.perf_counter() - t0),
                    "images/s",
                    args.files,
                    workers,
                )
            )

    info = provenance.device_info(device)
    load = round(os.getloadavg()[0], 2)  # other processes on the machine lower every rate
    common = {"batch": 64, "device": info["device"], "device_name": info["device_name"]}
    common["load_1min"] = load
    out = [
        {
            "measure": m,
            "value": round(v, 1),
            "unit": u,
            "n": n,
            "workers": w,
            "cpus": cpus,
            **common,
        }
        for m, v, u, n, w in rows
    ]
    io.write_csv(args.out, out, COLUMNS)
    lines = [f"{m:24s} {v:10.1f} {u}  (n={n}, workers={w})" for m, v, u, n, w in rows]
    read = rows[0][1]
    lines.append(
        f"a graphed training step at 100 it/s consumes {NEEDED} batches/s; the reader gives "
        f"{read:.0f} ({read / NEEDED:.1f}x) on {cpus} CPUs ({info['device_name']}), load average "
        f"{load} while measuring"
    )
    print("\n".join(lines))
    io.write_text(Path(args.out).with_suffix(".txt"), "\n".join(lines) + "\n")
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
