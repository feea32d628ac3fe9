"""Tables of benchmarks/train_step.py's CSVs and the GPU-hours of a suite config from them.

    python benchmarks/train_step.py --table [--config config/config.yaml] [--results DIR]

``gpu_hours``: every (dataset, method, seed) run of the suite (``ssgan.config.grid``) takes
its resolved ``train.iterations`` / the measured aggregate it/s of its (method, width,
resolution, batch) at the chosen mode, precision, determinism and runs_per_gpu (k runs sharing
a device: each run's device time is iterations / (k x per-copy it/s) = iterations / aggregate).
With seed batches (``seed_batch`` K rows, ``ssgan train --seeds``), a cell's seeds are split
into batches of measured sizes and a batch of K costs K x iterations / its aggregate it/s.
Runs without a measured row are counted as "not measured", never guessed. MNIST is measured
(1 channel); the suite's 3-channel datasets differ only in the first and last convolution.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

from ssgan import config as C
from ssgan.data import resolution_of

COLUMNS = [
    "device", "device_name", "torch", "cuda", "mode", "precision", "deterministic", "method",
    "width", "resolution", "batch", "n_critic", "iters", "sec_per_iter", "iters_per_sec",
    "overhead_vs_wgan_gp", "speedup_vs_user_loop", "runs_per_gpu", "copy", "seed_batch",
    "batch_mode",
    "aggregate_iters_per_sec", "explore_sec", "mask_sec_per_iter", "repeats", "threads",
    "commit", "data", "note",
]  # fmt: skip
# A measured setting: rows with the same key replace each other in a device's CSV.
KEY = ["mode", "precision", "deterministic", "method", "width", "resolution", "batch"]
KEY += ["runs_per_gpu", "copy", "seed_batch", "batch_mode"]
# The setting the estimate uses when a CSV has it (the best of each device is printed too).
ESTIMATE = {"mode": "graph", "precision": "fp32", "deterministic": "true", "runs_per_gpu": "1"}


def read(paths) -> dict[str, list[dict]]:
    """Rows of each train_step CSV (other CSVs in the folder are skipped), by file stem."""
    out = {}
    for path in paths:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            if not {"aggregate_iters_per_sec", "runs_per_gpu"} <= set(reader.fieldnames or []):
                continue
            out[Path(path).stem] = list(reader)
    return out


def suite_runs(config: str | Path) -> list[dict]:
    """(dataset, method label, registered method, width, resolution, batch, iterations) of
    every run of a suite config."""
    suite = C.load_yaml(str(config))
    runs = []
    for dataset, label, seed in C.grid(suite):
        cfg = C.resolve(dataset, label, seed, suite)
        runs.append(
            {
                "dataset": dataset,
                "label": label,
                "method": cfg["method"],
                "width": cfg["model"]["width"],
                "resolution": resolution_of(cfg),
                "batch": cfg["train"]["batch_size"],
                "iterations": cfg["train"]["iterations"],
            }
        )
    return runs


def rates(rows: list[dict], setting: dict, max_seed_batch: int = 1) -> dict[tuple, dict]:
    """(method, width, resolution, batch) -> {K: aggregate it/s} of the rows matching ``setting``
    whose seed batch K (1: a run alone) is at most ``max_seed_batch``."""
    out: dict[tuple, dict] = defaultdict(dict)
    for r in rows:
        size = int(r.get("seed_batch") or 1)
        if size > max_seed_batch or not r["aggregate_iters_per_sec"]:
            continue
        if all(str(r[k]) == str(v) for k, v in setting.items()):
            key = (r["method"], int(r["width"]), int(r["resolution"]), int(r["batch"]))
            rate = float(r["aggregate_iters_per_sec"])  # stacked or lockstep: the faster
            out[key][size] = max(rate, out[key].get(size, 0.0))
    return dict(out)


def batches(seeds: int, measured: dict[int, float]) -> list[int] | None:
    """A cell's seeds split into seed batches of measured sizes, largest first (11 seeds with
    K 1, 2, 4, 8 measured: 8 + 2 + 1); None if some seeds fit no measured size."""
    out, left = [], seeds
    while left > 0:
        fit = [k for k in measured if k <= left]
        if not fit:
            return None
        out.append(max(fit))
        left -= out[-1]
    return out


def gpu_hours(runs: list[dict], rate: dict[tuple, dict]) -> dict:
    """Device hours per (method, width, resolution, batch) group and in total. Each cell's
    seeds train in batches of measured sizes (``batches``); a batch of K seeds costs
    K x iterations / its aggregate it/s. Groups where some cell has no measured batch size are
    listed under ``not_measured`` and left out of the total."""
    cells: dict[tuple, list[dict]] = defaultdict(list)
    for r in runs:
        cells[(r["dataset"], r["label"])].append(r)
    groups: dict[tuple, dict] = defaultdict(lambda: {"runs": 0, "iterations": 0, "seconds": 0.0})
    for cell in cells.values():
        r = cell[0]
        key = (r["method"], r["width"], r["resolution"], r["batch"])
        g = groups[key]
        g["runs"] += len(cell)
        g["iterations"] += sum(c["iterations"] for c in cell)
        split = batches(len(cell), rate.get(key, {}))
        if split is None or g["seconds"] is None:
            g["seconds"] = None
            continue
        g["seconds"] += sum(k * r["iterations"] / rate[key][k] for k in split)
        g.setdefault("seed_batches", set()).update(split)
    out = {"groups": {}, "total": 0.0, "not_measured": []}
    for key, g in sorted(groups.items()):
        hours = g["seconds"] / 3600 if g["seconds"] else None
        it_s = g["iterations"] / g["seconds"] if g["seconds"] else None
        sizes = sorted(g.get("seed_batches", ()), reverse=True) if hours else []
        out["groups"][key] = {
            "runs": g["runs"],
            "iterations": g["iterations"],
            "iters_per_sec": it_s,
            "seed_batches": sizes,
            "hours": hours,
        }
        if hours is None:
            out["not_measured"].append(key)
        else:
            out["total"] += hours
    return out


def table(rows: list[dict]) -> list[str]:
    cols = ["mode", "precision", "deterministic", "method", "width", "resolution", "batch"]
    cols += [
        "runs_per_gpu",
        "seed_batch",
        "batch_mode",
        "iters_per_sec",
        "aggregate_iters_per_sec",
        "overhead_vs_wgan_gp",
    ]
    cols += ["speedup_vs_user_loop", "note"]
    seen, lines = set(), ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        if int(r["runs_per_gpu"] or 1) > 1:  # one line per packed setting: the first copy's
            key = tuple(r[k] for k in cols[:8])
            if key in seen:
                continue
            seen.add(key)
        lines.append("| " + " | ".join(str(r[c]) for c in cols) + " |")
    return lines


def estimate_lines(rows: list[dict], config, name: str) -> list[str]:
    runs = suite_runs(config)
    lines = []
    most = max(
        (int(r.get("seed_batch") or 1) for r in rows if r["aggregate_iters_per_sec"]), default=1
    )
    tried = [(ESTIMATE, 1), (ESTIMATE, most), ({**ESTIMATE, "mode": "eager"}, 1)]
    for setting, k in tried[:1] + tried[1 : 2 if most > 1 else 1] + tried[2:]:
        est = gpu_hours(runs, rates(rows, setting, k))
        what = ", ".join(f"{key} {v}" for key, v in setting.items())
        what += f", seed batches up to {k}" if k > 1 else ", each run alone"
        lines += [
            "",
            f"{name} hours for `{config}` ({len(runs)} runs) at {what}:",
            "",
            "| method | width | resolution | batch | runs | iterations | seed batches | it/s | hours |",
            "|---|---:|---:|---:|---:|---:|---|---:|---:|",
        ]
        for (meth, w, res, b), g in est["groups"].items():
            it_s = f"{g['iters_per_sec']:.2f}" if g["iters_per_sec"] else "not measured"
            hours = f"{g['hours']:.1f}" if g["hours"] is not None else "not measured"
            sizes = "+".join(map(str, g["seed_batches"])) or "-"
            lines.append(
                f"| {meth} | {w} | {res} | {b} | {g['runs']} | {g['iterations']} | {sizes} | "
                f"{it_s} | {hours} |"
            )
        missing = f" (+ {len(est['not_measured'])} groups not measured)" * bool(est["not_measured"])
        lines.append(f"| total | | | | | | | | {est['total']:.1f}{missing} |")
    return lines


def report(paths, config) -> str:
    out = []
    for stem, rows in read(paths).items():
        if not rows:
            continue
        r0 = rows[0]
        cuda = f", CUDA {r0['cuda']}" if r0["cuda"] and r0["device"] != "cpu" else ""
        out += [f"### {r0['device_name']} ({stem}.csv; torch {r0['torch']}{cuda})", ""]
        out += table(rows)
        name = "H100" if "h100" in stem else f"{r0['device_name']} ({stem})"
        out += estimate_lines(rows, config, name) + [""]
    return "\n".join(out)
