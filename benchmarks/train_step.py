"""Generator iterations per second of training as it runs, in every execution mode, against the
eager loop a user would write (benchmarks/user_loop.py).

    python benchmarks/train_step.py [--device auto] [--mode eager,graph] [--precision fp32]
        [--methods wgan_gp,ssgan] [--widths 64] [--resolutions 32,64] [--batch 64]
        [--iters 50] [--warmup 10] [--repeats 1] [--deterministic true] [--runs-per-gpu 1]
        [--max-images N] [--user-workers 4] [--out benchmarks/results/<device>.csv]
    python benchmarks/train_step.py --table [--config config/config.yaml]   # README tables

One iteration is what ``ssgan train`` runs per generator iteration: ``Run(cfg, tmp).build()``
(the real MNIST files under ``$SSGAN_DATA_ROOT``, prepared at the resolution, batches from the
run's ``BatchStream``) and then ``run.step(i)``: the step's input buffers filled from the
stream, the method's ``n_critic`` critic steps and generator step, eagerly (``--mode eager``:
``train.cuda_graph=false``) or replayed as one CUDA graph (``graph``: ``train.cuda_graph=true``;
on a CPU those rows say ``skipped: needs CUDA``), under ``train.precision``. Logging, probes,
samples and checkpoints are not timed. The first ``--warmup`` iterations (more than
``GRAPH_WARMUP`` + 1, so a graph's capture is excluded) are not timed; ``torch.cuda.synchronize``
brackets the timed ones. ``--repeats R``: R interleaved rounds (every setting once per round,
the user loop included), the median is kept.

``--runs-per-gpu k1,k2``: for each k > 1 and each setting, k copies of this script
(``--_worker``) train at once on the same device; each builds and warms up, then all start
timing together; each copy's it/s is a row, ``aggregate_iters_per_sec`` is their sum.

``--seed-batch 1,2,4,8,16``: for each K > 1, seeds 0..K-1 of the setting trained as one seed
batch in this process, as ``ssgan train --seeds`` trains them (``--batch-mode auto``): stacked
into one vmapped network (ssgan/training/stacked.py: ``Stack`` and ``StackedStep``, one CUDA
graph per batched iteration in ``graph`` mode) where the stacked trainer takes the config, else
in lockstep (ssgan/training/batch.py: each seed's own step in turn); ``--batch-mode lockstep``
times the lockstep executor for every config. The ``batch_mode`` column says which ran
(``lone`` for K 1). ``sec_per_iter`` is one iteration of the whole batch, ``iters_per_sec`` each
seed's rate and ``aggregate_iters_per_sec`` seed-iterations per second (K / sec_per_iter).

Columns: ``overhead_vs_wgan_gp`` = wgan_gp's aggregate it/s / this row's, same mode, precision,
determinism, width, resolution, batch and runs_per_gpu; ``speedup_vs_user_loop`` = this row's
aggregate it/s / the user loop's it/s at the same width, resolution and batch (the user loop
runs alone, with PyTorch's default numerics); STU-GAN's ``explore_sec`` (one prune-and-regrow,
once per ``stu.update_every``) and ``mask_sec_per_iter`` (W <- W * M after each step of one
iteration). Rows go to ``benchmarks/results/<device>.csv`` (``cpu.csv``, ``nvidia-h100-80gb-
hbm3.csv``, ...): rows of the settings measured now replace the file's rows of the same
settings (same mode, precision, determinism, method, width, resolution, batch, runs_per_gpu
and copy); the others are kept.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import summarise
import torch
import user_loop

from ssgan import config as C
from ssgan import provenance
from ssgan.training import stacked
from ssgan.training.loop import Run
from ssgan.training.runtime import resolve_device
from ssgan.training.step import GRAPH_WARMUP

HERE = Path(__file__).resolve().parent
COLUMNS = summarise.COLUMNS
KEY = summarise.KEY
# PyTorch's own fp32 modes, before any run sets them: the user loop runs under these.
TORCH_DEFAULT_FP32 = (
    torch.backends.cuda.matmul.fp32_precision,
    torch.backends.cudnn.conv.fp32_precision,
)


def run_config(s: dict) -> dict:
    """The run config of a setting: ``ssgan train``'s for MNIST at this width and resolution."""
    data = {"resolution": s["resolution"], "max_images": s["max_images"]}
    return C.resolve(
        "mnist",
        s["method"],
        0,
        overrides={
            "model": {"width": s["width"]},
            "data": data,
            "train": {
                "batch_size": s["batch"],
                "device": s["device"],
                "precision": s["precision"],
                "cuda_graph": s["mode"] == "graph",
                "deterministic": s["deterministic"],
            },
        },
    )


def batch_mode(s: dict, cfg: dict) -> str:
    """How a setting's seeds train: ``lone`` (K 1), ``stacked`` or ``lockstep``."""
    if s.get("seed_batch", 1) == 1:
        return "lone"
    if s.get("batch_mode", "auto") == "lockstep" or stacked.refusal(cfg) is not None:
        return "lockstep"
    return "stacked"


def measure(s: dict, before_timing=None) -> dict:
    """Seconds per iteration through ``run.step`` (and STU-GAN's extra columns) of setting ``s``.
    ``before_timing``: called after the warm-up (the packed copies' common start)."""
    # What a fresh training process starts from (an earlier setting in this process set them).
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.benchmark = False
    cfg = run_config(s)
    how = batch_mode(s, cfg)
    with tempfile.TemporaryDirectory() as tmp:
        kind = stacked.SeedRun if how == "stacked" else Run
        batch = []  # the seed batch: one run per seed
        for seed in range(s.get("seed_batch", 1)):
            batch.append(kind({**cfg, "seed": seed}, Path(tmp) / f"seed{seed}"))
            batch[-1].build()
        run, device = batch[0], batch[0].device
        if how == "stacked":  # one vmapped network, its iteration one graph in graph mode
            steps = [stacked.StackedStep(stacked.Stack(batch), device, s["mode"] == "graph")]
        else:  # each seed's own step in turn (lockstep), or the run alone
            steps = [r.step for r in batch]
        sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        for i in range(1, s["warmup"] + 1):  # graph: eager warm-up and the capture
            for step in steps:
                step(i)
        sync()
        if before_timing is not None:
            before_timing()
        t0 = time.perf_counter()
        for i in range(s["warmup"] + 1, s["warmup"] + s["iters"] + 1):
            for step in steps:
                step(i)
        sync()
        captures = sum(getattr(step, "captures", 0) for step in steps)
        spi = (time.perf_counter() - t0) / s["iters"]
        method, m, last = run.method, run.m, s["warmup"] + s["iters"]
        explore = mask = float("nan")
        if hasattr(method, "sparse"):  # STU-GAN: masking after every step of an iteration
            t0 = time.perf_counter()
            for _ in range(50):
                for _ in range(cfg["train"]["n_critic"]):
                    method.sparse["D"].apply()
                method.sparse["G"].apply()
            sync()
            mask = (time.perf_counter() - t0) / 50
        if hasattr(method, "explore"):  # one exploration (prune and regrow), after a G step
            t0 = time.perf_counter()
            method.explore(m, last)
            sync()
            explore = time.perf_counter() - t0
    out = {"sec": spi, "explore": explore, "mask": mask, "n_critic": cfg["train"]["n_critic"]}
    return {**out, "captures": captures}


def seconds_per_iteration(method, width, resolution, device, iters, warmup, batch) -> float:
    """Eager fp32 seconds per iteration through the training step (benchmarks/spectral_cost.py)."""
    s = dict(method=method, width=width, resolution=resolution, device=str(device), iters=iters)
    s.update(warmup=warmup, batch=batch, mode="eager", precision="fp32", deterministic=False)
    return measure({**s, "max_images": None})["sec"]


def measure_user_loop(s: dict, workers: int) -> dict:
    torch.use_deterministic_algorithms(False)
    torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision = (
        TORCH_DEFAULT_FP32
    )
    root = os.environ.get("SSGAN_DATA_ROOT") or "data"
    sec = user_loop.seconds_per_iteration(
        s["width"], s["resolution"], s["batch"], s["device"], s["iters"], s["warmup"], workers,
        root, s["max_images"],
    )  # fmt: skip
    return {"sec": sec, "explore": float("nan"), "mask": float("nan"), "n_critic": 5}


def packed(specs: list[dict], k: int) -> list[list[float]]:
    """it/s of each of ``k`` copies of each setting, the copies of a setting training at once on
    the same device. Each copy is one process that runs the settings in order (one start-up)."""
    with tempfile.TemporaryDirectory() as sync_dir:
        sync = Path(sync_dir)
        procs = [
            subprocess.Popen(
                [sys.executable, str(Path(__file__)), "--_worker", json.dumps(specs), sync_dir],
                stdout=subprocess.PIPE,
                stderr=open(sync / f"stderr-{c}", "w"),  # noqa: SIM115 (closed with the dir)
                text=True,
            )
            for c in range(k)
        ]
        failed = False
        for i in range(len(specs)):  # every copy built and warmed up: start the timing together
            while len(list(sync.glob(f"ready-{i}-*"))) < k and not failed:
                failed = any(p.poll() for p in procs)  # a copy exited with an error
                time.sleep(0.01)
            if failed:
                for p in procs:
                    p.kill()
                break
            (sync / f"go-{i}").touch()
        outs = [p.communicate()[0] for p in procs]
        errors = [
            (sync / f"stderr-{c}").read_text()
            for c, p in enumerate(procs)
            if p.returncode not in (0, -9)
        ]
        if failed or errors:
            raise RuntimeError(f"a packed copy failed:\n{(errors or [''])[0][-2000:]}")
        results = [json.loads(out.strip().splitlines()[-1]) for out in outs]
    return [[1 / copy[i] for copy in results] for i in range(len(specs))]


def worker(specs: str, sync_dir: str) -> None:
    """One packed copy: for each setting build, warm up, say ready, wait for the common start,
    time; prints the seconds per iteration of each setting as a JSON list."""
    secs = []
    for i, s in enumerate(json.loads(specs)):
        ready, go = Path(sync_dir) / f"ready-{i}-{os.getpid()}", Path(sync_dir) / f"go-{i}"

        def wait_for_start(ready=ready, go=go):
            ready.touch()
            while not go.exists():
                time.sleep(0.005)

        secs.append(measure(s, wait_for_start)["sec"])
    print(json.dumps(secs), flush=True)


def device_slug(device: torch.device, name: str) -> str:
    return "cpu" if device.type == "cpu" else re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def settings(a, width: int, res: int) -> list[dict]:
    base = dict(width=width, resolution=res, batch=a.batch, device=str(a.device_obj))
    base.update(iters=a.iters, warmup=a.warmup, max_images=a.max_images)
    out, seen = [], set()
    for k in a.seed_batch:
        for bm in a.batch_mode if k > 1 else ["auto"]:
            for det in a.deterministic:
                for mode in a.mode:
                    for prec in a.precision:
                        for meth in a.methods:
                            s = {**base, "method": meth, "mode": mode, "precision": prec}
                            s.update(deterministic=det, seed_batch=k, batch_mode=bm)
                            key = (k, det, mode, prec, meth, batch_mode(s, run_config(s)))
                            if key not in seen:  # lockstep asked twice (auto refused): once
                                seen.add(key)
                                out.append(s)
    return out


def measure_all(a) -> list[dict]:
    """Rows of every setting, the user loop's included (ratios not yet filled)."""
    out = []
    cuda = a.device_obj.type == "cuda"
    for width in a.widths:
        for res in a.resolutions:
            todo = [s for s in settings(a, width, res) if cuda or s["mode"] != "graph"]
            user = dict(todo[0] if todo else settings(a, width, res)[0])
            user.update(
                method="user_loop",
                mode="eager",
                precision="default",
                deterministic=False,
                seed_batch=1,
            )
            times: dict[int, list[dict]] = {i: [] for i in range(len(todo) + 1)}
            for r in range(a.repeats):
                for i, s in enumerate(todo):
                    times[i].append(measure(s))
                times[len(todo)].append(measure_user_loop(user, a.user_workers))
                print(f"width {width} res {res}: round {r + 1}/{a.repeats} done", flush=True)
            for i, s in enumerate([*todo, user]):
                med = {k: statistics.median(t[k] for t in times[i]) for k in times[i][0]}
                out.append(row(s, 1 / med["sec"], med, runs_per_gpu=1, copy=0))
            for s in settings(a, width, res):
                if s["mode"] == "graph" and not cuda:
                    out.append(row(s, None, {}, runs_per_gpu=1, copy=0))
            alone = [s for s in todo if s["seed_batch"] == 1]
            for k in (k for k in a.runs_per_gpu if k > 1 and alone):
                for s, rates in zip(alone, packed(alone, k)):
                    for c, rate in enumerate(rates):
                        out.append(row(s, rate, {}, runs_per_gpu=k, copy=c, total=sum(rates)))
                print(f"width {width} res {res}: {k} copies at once done", flush=True)
    return out


def row(s: dict, rate, med: dict, runs_per_gpu: int, copy: int, total=None) -> dict:
    r = {c: "" for c in COLUMNS}
    r.update({k: s[k] for k in ("mode", "precision", "method", "width", "resolution", "batch")})
    r.update(deterministic=str(s["deterministic"]).lower(), runs_per_gpu=runs_per_gpu, copy=copy)
    k = r["seed_batch"] = s.get("seed_batch", 1)
    r["batch_mode"] = batch_mode(s, run_config(s)) if s["method"] != "user_loop" else "lone"
    r.update(iters=s["iters"], n_critic=med.get("n_critic", 5))
    r["data"] = "mnist" if s["max_images"] is None else f"mnist[:{s['max_images']}]"
    if rate is None:
        r["note"] = "skipped: needs CUDA"
        return r
    r.update(sec_per_iter=round(1 / rate, 6), iters_per_sec=round(rate, 3))
    r["aggregate_iters_per_sec"] = round(total if total is not None else rate * k, 3)
    for col, key, nd in (("explore_sec", "explore", 5), ("mask_sec_per_iter", "mask", 6)):
        if med.get(key, float("nan")) == med.get(key, float("nan")):  # not NaN
            r[col] = round(med[key], nd)
    return r


def add_ratios(rows: list[dict]) -> None:
    """overhead_vs_wgan_gp and speedup_vs_user_loop of every measured row (see the docstring)."""
    shape = ("width", "resolution", "batch")
    setting = (*shape, "mode", "precision", "deterministic", "runs_per_gpu", "seed_batch")
    setting += ("batch_mode",)
    ref = {tuple(r[k] for k in setting): r for r in rows if r["method"] == "wgan_gp"}
    user = {tuple(r[k] for k in shape): r for r in rows if r["method"] == "user_loop"}
    for r in rows:
        if r["iters_per_sec"] == "":
            continue
        w = ref.get(tuple(r[k] for k in setting))
        if w is not None and r["method"] != "user_loop":
            r["overhead_vs_wgan_gp"] = round(
                w["aggregate_iters_per_sec"] / r["aggregate_iters_per_sec"], 4
            )
        u = user.get(tuple(r[k] for k in shape))
        if u is not None:
            r["speedup_vs_user_loop"] = round(r["aggregate_iters_per_sec"] / u["iters_per_sec"], 3)


def write(rows: list[dict], path: Path) -> None:
    """Replace the file's rows of the settings measured now; keep the others."""
    new = {tuple(str(r[k]) for k in KEY) for r in rows}
    old = []
    if path.is_file():
        with open(path, newline="") as fh:
            old = [r for r in csv.DictReader(fh) if tuple(r.get(k, "") for k in KEY) not in new]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows([{c: r.get(c, "") for c in COLUMNS} for r in old] + rows)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    csv_list = lambda t: lambda v: [t(x) for x in v.split(",")]  # noqa: E731
    p.add_argument("--device", default="auto")
    p.add_argument("--mode", type=csv_list(str), default=["eager", "graph"])
    p.add_argument("--precision", type=csv_list(str), default=["fp32"])
    p.add_argument("--methods", type=csv_list(str), default=["wgan_gp", "ssgan"])
    p.add_argument("--widths", type=csv_list(int), default=[64])
    p.add_argument("--resolutions", type=csv_list(int), default=[32, 64])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--deterministic", type=csv_list(str), default=["true"])
    p.add_argument("--runs-per-gpu", type=csv_list(int), default=[1])
    p.add_argument("--seed-batch", type=csv_list(int), default=[1], help="seeds per batch")
    p.add_argument(
        "--batch-mode",
        type=csv_list(str),
        default=["auto"],
        help="auto (as ssgan train --seeds: stacked where it takes the config) and/or lockstep",
    )
    p.add_argument("--max-images", type=int, default=None, help="first N MNIST images (tests)")
    p.add_argument("--user-workers", type=int, default=4, help="DataLoader workers, user loop")
    p.add_argument("--out", default=None, help="default: benchmarks/results/<device>.csv")
    p.add_argument("--table", action="store_true", help="print the README tables and exit")
    p.add_argument("--config", default="config/config.yaml", help="suite of the GPU-hours estimate")
    p.add_argument("--results", default=str(HERE / "results"), help="CSVs of --table")
    a = p.parse_args(argv)
    bad = [m for m in a.mode if m not in ("eager", "graph")]
    bad += [x for x in a.precision if x not in ("fp32", "tf32", "bf16")]
    bad += [d for d in a.deterministic if d not in ("true", "false")]
    bad += [b for b in a.batch_mode if b not in ("auto", "lockstep")]
    if bad or "user_loop" in a.methods:
        p.error(f"unknown value(s) {bad or ['user_loop']} (see --help)")
    if "graph" in a.mode and a.warmup <= GRAPH_WARMUP + 1:
        p.error(
            f"--warmup must exceed GRAPH_WARMUP + 1 = {GRAPH_WARMUP + 1}: else the capture is timed"
        )
    if any(k < 1 for k in a.seed_batch):
        p.error(f"--seed-batch values must be >= 1, got {a.seed_batch}")
    if "wgan_gp" not in a.methods:
        a.methods.insert(0, "wgan_gp")  # the reference of overhead_vs_wgan_gp
    a.deterministic = [d == "true" for d in a.deterministic]
    return a


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_worker"]:
        return worker(argv[1], argv[2])
    a = parse_args(argv)
    if a.table:
        print(summarise.report(sorted(Path(a.results).glob("*.csv")), a.config))
        return
    a.device_obj = resolve_device(a.device)
    info = provenance.device_info(a.device_obj)
    rows = measure_all(a)
    add_ratios(rows)
    git = provenance.git_commit()
    commit = (git["commit"] or "")[:12] + ("+dirty" if git["dirty"] else "")
    for r in rows:
        r.update(device=str(a.device_obj), device_name=info["device_name"], torch=torch.__version__)
        r.update(cuda=torch.version.cuda or "", repeats=a.repeats, commit=commit)
        r["threads"] = torch.get_num_threads()
    out = Path(a.out or HERE / "results" / f"{device_slug(a.device_obj, info['device_name'])}.csv")
    write(rows, out)
    for r in rows:
        print(
            f"{r['method']:>9} {r['mode']:>5} {r['precision']:>7} w{r['width']} r{r['resolution']}"
            f" x{r['runs_per_gpu']} K{r['seed_batch']}: {r['iters_per_sec'] or r['note']} it/s"
            f" (aggregate {r['aggregate_iters_per_sec']})"
            f" (vs wgan_gp {r['overhead_vs_wgan_gp']}, vs user loop {r['speedup_vs_user_loop']})"
        )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
