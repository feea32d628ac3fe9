"""Cost of ``train.deterministic`` per method, and the operators that make it.

    python benchmarks/deterministic_cost.py [--methods wgan_gp,ssgan] [--widths 64]
        [--resolutions 32] [--batch 64] [--iters 20] [--warmup 5] [--rounds 2]
        [--device auto] [--cuda-graph false] [--modes deterministic,deterministic_fill]
        [--sastm-spatial conv] [--out benchmarks/results/deterministic_cost_<device>.csv]

Each measurement runs the real training step (``Run(cfg, out).build()`` then ``run.step(i)``,
ssgan/training/loop.py and ssgan/training/step.py) on a folder of random images, in a fresh subprocess per mode:
``use_deterministic_algorithms``, ``CUBLAS_WORKSPACE_CONFIG`` and the cuDNN flags are global to
a process and would leak from one mode into the next. Modes:

- ``nondeterministic``: ``train.deterministic: false`` (the reference of every difference;
  ``CUBLAS_WORKSPACE_CONFIG`` is removed from its environment);
- ``deterministic``: ``train.deterministic: true``, as training sets it up
  (``ssgan.training.runtime.seed_everything``);
- ``deterministic_fill``: the same with PyTorch's ``fill_uninitialized_memory`` left on (its
  default, and what training did before runtime.py switched it off): every ``empty`` is
  filled with NaN, one more kernel per allocation (docs/determinism.md).

A worker times ``--iters`` iterations after ``--warmup`` (CUDA synchronised; iterations per
second), then runs ``--iters`` more under ``torch.profiler.profile`` (CPU and, on CUDA, CUDA
activities). The modes of a configuration run interleaved in ``--rounds`` rounds; it/s is the
median over rounds, operator times the mean. The CSV has, per (method, width, resolution,
mode), one ``summary`` row (it/s of the reference and of the mode, ``cost_pct`` = the relative
increase of seconds per iteration, ``mode_setup``: the switches the mode's worker found set) and one row per operator (``kind`` ``op``: ``key_averages()``
by operator name; on CUDA also ``kernel``: by kernel name): self time per iteration in both
modes and the difference (CPU self time for ``op``, device time for ``kernel``; ``op`` rows also
carry the device time their kernels took), calls per iteration, and ``share_of_diff`` (the
row's difference over the sum of positive differences of its kind), sorted by the difference,
and one ``warning`` row per distinct warning the warm-up iterations raised in that mode (with
``warn_only=True`` an operator without a deterministic CUDA kernel warns and stays
nondeterministic).

``--sastm-spatial conv,matmul`` measures methods with SASTM a second time with the spatial
branch's 1x1 convolution computed as a matmul over channels from the same parameters
(``spatial_as_matmul``, a candidate reformulation: not bitwise equal on CPU, so not in the
package), each variant against its own nondeterministic reference (column ``sastm_spatial``).
On CPU at tiny sizes the script checks the plumbing; the numbers that matter come from a GPU.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
MODES = ("nondeterministic", "deterministic", "deterministic_fill")
REFERENCE = "nondeterministic"
COLUMNS = [
    "device",
    "method",
    "sastm_spatial",
    "width",
    "resolution",
    "batch",
    "n_critic",
    "cuda_graph",
    "mode",
    "kind",
    "name",
    "ref_us_per_iter",
    "mode_us_per_iter",
    "diff_us_per_iter",
    "share_of_diff",
    "ref_device_us_per_iter",
    "mode_device_us_per_iter",
    "ref_calls_per_iter",
    "mode_calls_per_iter",
    "ref_iters_per_sec",
    "mode_iters_per_sec",
    "cost_pct",
    "mode_setup",
    "iters",
    "rounds",
    "torch",
]


def image_folder(root: Path, n: int, resolution: int) -> Path:
    """``n`` random RGB PNGs of ``resolution`` px (data for the run; its content is irrelevant)."""
    from PIL import Image

    folder = root / "images"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        pixels = rng.integers(0, 256, (resolution, resolution, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:04d}.png")
    return folder


def run_config(spec: dict) -> dict:
    from ssgan import config as C

    over = {
        "data": {
            "root": spec["root"],
            "path": spec["images"],
            "prepared_dir": str(Path(spec["root"]) / "prepared"),
            "resolution": spec["resolution"],
        },
        "model": {"width": spec["width"]},
        "train": {
            "batch_size": spec["batch"],
            "device": spec["device"],
            "deterministic": spec["mode"] != REFERENCE,
            "cuda_graph": spec["cuda_graph"],
        },
    }
    if spec["n_critic"]:
        over["train"]["n_critic"] = spec["n_critic"]
    return C.resolve("image_folder", spec["method"], 0, overrides=over)


def profile_table(prof, iters: int, cuda: bool) -> list[dict]:
    """Per operator (and on CUDA per kernel): self microseconds, device microseconds, calls."""
    out = []
    for e in prof.key_averages():
        on_device = e.device_type != torch.autograd.DeviceType.CPU
        if on_device and not cuda:
            continue
        device_us = getattr(e, "self_device_time_total", 0.0) if cuda else 0.0
        out.append(
            {
                "kind": "kernel" if on_device else "op",
                "name": e.key,
                "us": (device_us if on_device else e.self_cpu_time_total) / iters,
                "device_us": device_us / iters,
                "calls": e.count / iters,
            }
        )
    return out


def spatial_as_matmul(G: torch.nn.Module) -> None:
    """SASTM's spatial pre-activation Conv1x1_{C->1}(X) computed as a contraction over channels
    with the same parameters (a candidate reformulation, docs/determinism.md): its weight
    gradient is then a matmul instead of a cuDNN backward-filter kernel. Not bitwise equal to
    the convolution (another summation order); here only to be timed."""
    from ssgan.models import SASTM

    convs = [m.spatial for m in G.modules() if isinstance(m, SASTM) and m.use_spatial]
    if not convs:
        raise SystemExit("--sastm-spatial matmul: the generator has no SASTM spatial branch")
    for conv in convs:

        def forward(x, conv=conv):
            w = conv.weight.flatten(1)  # 1 x C
            return torch.einsum("bchw,oc->bohw", x, w) + conv.bias.view(1, -1, 1, 1)

        conv.forward = forward


def worker(spec: dict) -> dict:
    """One mode of one configuration, in this (fresh) process."""
    from ssgan.training.loop import Run

    cfg = run_config(spec)
    with tempfile.TemporaryDirectory() as tmp:
        run = Run(cfg, Path(tmp) / "run")
        run.build()
        if spec["sastm_spatial"] == "matmul":
            spatial_as_matmul(run.m.G)
        if spec["mode"] == "deterministic_fill":  # PyTorch's default, before any step
            torch.utils.deterministic.fill_uninitialized_memory = True
        cuda = run.device.type == "cuda"
        sync = (lambda: torch.cuda.synchronize(run.device)) if cuda else (lambda: None)
        state = {
            "deterministic": torch.are_deterministic_algorithms_enabled(),
            "fill": torch.utils.deterministic.fill_uninitialized_memory,
            "cublas_workspace": os.environ.get("CUBLAS_WORKSPACE_CONFIG", ""),
        }
        it = 0
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(spec["warmup"]):
                it += 1
                run.step(it)
        sync()
        t0 = time.perf_counter()
        for _ in range(spec["iters"]):
            it += 1
            run.step(it)
        sync()
        seconds = (time.perf_counter() - t0) / spec["iters"]
        acts = [torch.profiler.ProfilerActivity.CPU]
        if cuda:
            acts.append(torch.profiler.ProfilerActivity.CUDA)
        with torch.profiler.profile(activities=acts) as prof:
            for _ in range(spec["iters"]):
                it += 1
                run.step(it)
            sync()
        table = profile_table(prof, spec["iters"], cuda)
    return {
        "sec_per_iter": seconds,
        "state": state,
        "table": table,
        "device": str(run.device),
        "n_critic": cfg["train"]["n_critic"],
        "warnings": sorted({f"{w.category.__name__}: {w.message}" for w in caught}),
    }


def spawn(spec: dict) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    if spec["mode"] == REFERENCE:
        env.pop("CUBLAS_WORKSPACE_CONFIG", None)
    proc = subprocess.run(
        [sys.executable, __file__, "--_worker", json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"worker {spec['method']}/{spec['mode']} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def merge(results: list[dict]) -> dict[tuple, dict]:
    """(kind, name) -> mean over rounds of us, device_us and calls (0 where absent)."""
    keys = {(r["kind"], r["name"]) for res in results for r in res["table"]}
    out = {}
    for key in keys:
        vals = [
            next((r for r in res["table"] if (r["kind"], r["name"]) == key), None)
            for res in results
        ]
        out[key] = {
            f: statistics.fmean(v[f] if v else 0.0 for v in vals)
            for f in ("us", "device_us", "calls")
        }
    return out


def rows_of(base: dict, mode: str, ref: list[dict], got: list[dict]) -> list[dict]:
    ref_its = statistics.median(1 / r["sec_per_iter"] for r in ref)
    mode_its = statistics.median(1 / r["sec_per_iter"] for r in got)
    rows = [
        {
            **base,
            "mode": mode,
            "kind": "summary",
            "name": "iteration",
            "ref_iters_per_sec": round(ref_its, 4),
            "mode_iters_per_sec": round(mode_its, 4),
            "cost_pct": round(100 * (ref_its / mode_its - 1), 2),
            "mode_setup": " ".join(f"{k}={v}" for k, v in got[0]["state"].items()),
        }
    ]
    for text in sorted({w for r in got for w in r["warnings"]}):  # e.g. an operator on
        rows.append({**base, "mode": mode, "kind": "warning", "name": text})  # PyTorch's list
    a, b = merge(ref), merge(got)
    for kind in ("op", "kernel"):
        keys = {k for k in (*a, *b) if k[0] == kind}
        zero = {"us": 0.0, "device_us": 0.0, "calls": 0.0}
        diffs = {k: b.get(k, zero)["us"] - a.get(k, zero)["us"] for k in keys}
        total = sum(d for d in diffs.values() if d > 0) or 1.0
        for k in sorted(keys, key=lambda k: -diffs[k]):
            x, y = a.get(k, zero), b.get(k, zero)
            rows.append(
                {
                    **base,
                    "mode": mode,
                    "kind": kind,
                    "name": k[1],
                    "ref_us_per_iter": round(x["us"], 2),
                    "mode_us_per_iter": round(y["us"], 2),
                    "diff_us_per_iter": round(diffs[k], 2),
                    "share_of_diff": round(diffs[k] / total, 4),
                    "ref_device_us_per_iter": round(x["device_us"], 2),
                    "mode_device_us_per_iter": round(y["device_us"], 2),
                    "ref_calls_per_iter": round(x["calls"], 2),
                    "mode_calls_per_iter": round(y["calls"], 2),
                }
            )
    return rows


def measure(spec: dict, modes: list[str], rounds: int, cuda_graph: str) -> list[dict]:
    """Rows of one configuration: the reference and every mode, interleaved in rounds."""
    got = {m: [] for m in [REFERENCE, *modes]}
    for _ in range(rounds):  # interleaved: a shared machine's load hits every mode alike
        for mode in got:
            got[mode].append(spawn({**spec, "mode": mode}))
    base = dict(
        device=got[REFERENCE][0]["device"],
        method=spec["method"],
        sastm_spatial=spec["sastm_spatial"],
        width=spec["width"],
        resolution=spec["resolution"],
        batch=spec["batch"],
        n_critic=got[REFERENCE][0]["n_critic"],
        cuda_graph=cuda_graph,
        iters=spec["iters"],
        rounds=rounds,
        torch=torch.__version__,
    )
    rows = []
    for mode in modes:
        new = rows_of(base, mode, got[REFERENCE], got[mode])
        rows += new
        s = new[0]
        print(
            f"{spec['method']} ({spec['sastm_spatial']}) width {spec['width']} res "
            f"{spec['resolution']} {mode}: {s['ref_iters_per_sec']:.3f} -> "
            f"{s['mode_iters_per_sec']:.3f} it/s (cost {s['cost_pct']:+.1f}%); "
            f"state {got[mode][0]['state']}",
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--methods", default="wgan_gp,ssgan")
    p.add_argument("--widths", default="64")
    p.add_argument("--resolutions", default="32")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--n-critic", type=int, default=0, help="0: the config's train.n_critic")
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--cuda-graph", default="false", choices=["auto", "true", "false"])
    p.add_argument("--modes", default="deterministic,deterministic_fill")
    p.add_argument(
        "--sastm-spatial",
        default="conv",
        help="conv,matmul: also time SASTM's spatial branch as a matmul (methods with SASTM)",
    )
    p.add_argument("--out", default=None)
    p.add_argument("--_worker", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a._worker is not None:
        print(json.dumps(worker(json.loads(a._worker))))
        return None
    modes = [m for m in a.modes.split(",") if m]
    unknown = [m for m in modes if m not in MODES or m == REFERENCE]
    if unknown:
        raise SystemExit(f"--modes: unknown {unknown}; choose from {list(MODES[1:])}")
    from ssgan.methods import METHODS
    from ssgan.training.runtime import resolve_device

    bad = [v for v in a.sastm_spatial.split(",") if v not in ("conv", "matmul")]
    if bad:
        raise SystemExit(f"--sastm-spatial: unknown {bad}; choose from conv, matmul")

    device = resolve_device(a.device)
    out = Path(a.out or REPO / f"benchmarks/results/deterministic_cost_{device.type}.csv")
    graph = {"auto": "auto", "true": True, "false": False}[a.cuda_graph]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for res in map(int, a.resolutions.split(",")):
            images = image_folder(Path(tmp) / f"data{res}", max(2 * a.batch, 16), res)
            for width in map(int, a.widths.split(",")):
                for method in a.methods.split(","):
                    for spatial in a.sastm_spatial.split(","):
                        if spatial != "conv" and "sastm" in METHODS[method].unused_sections:
                            continue  # no SASTM in this method's generator
                        spec = dict(
                            method=method,
                            width=width,
                            resolution=res,
                            batch=a.batch,
                            n_critic=a.n_critic,
                            iters=a.iters,
                            warmup=a.warmup,
                            device=str(device),
                            cuda_graph=graph,
                            sastm_spatial=spatial,
                            root=str(Path(tmp) / f"data{res}"),
                            images=str(images),
                        )
                        rows += measure(spec, modes, a.rounds, a.cuda_graph)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    main()
