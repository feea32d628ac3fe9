"""CPU training speed of two checkouts of the package, interleaved on the same machine.

    python benchmarks/cpu_before_after.py --old /path/to/old/checkout --new . \
        [--methods wgan_gp,ssgan] [--widths 16,32] [--rounds 3] [--iterations 40] \
        [--out benchmarks/results/cpu_before_after.md]

Each measurement is one ``ssgan train`` (MNIST, res 32, batch 64, n_critic 5, CPU) run in a
fresh interpreter with ``PYTHONPATH`` set to the checkout; its seconds per generator iteration
are read from train_log.csv (``seconds`` is the run's wall time at each log row): from the row of
iteration ``--skip`` to the last one, so start-up, data preparation and the iteration-0 probes
are left out. Rounds alternate old, new, old, new, ... for each (method, width), so a shared
machine's changing load hits both alike; the median over rounds is reported.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def seconds_per_iter(tree: Path, method: str, width: int, iterations: int, skip: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        args = [
            f"model.width={width}",
            f"train.iterations={iterations}",
            "train.batch_size=64",
            "train.n_critic=5",
            "train.device=cpu",
            "train.log_every=5",
            f"train.checkpoint_every={iterations}",
            f"train.sample_every={iterations}",
            f"probe.every={iterations}",
        ]
        cmd = [sys.executable, "-m", "ssgan.cli", "train", "--dataset", "mnist"]
        cmd += ["--method", method, "--seed", "0", "--out", str(out), *args]
        env = {**os.environ, "PYTHONPATH": str(tree)}
        subprocess.run(cmd, cwd=tree, env=env, check=True, capture_output=True, text=True)
        with open(out / "train_log.csv", newline="") as fh:
            rows = {int(r["iteration"]): float(r["seconds"]) for r in csv.DictReader(fh)}
    return (rows[iterations] - rows[skip]) / (iterations - skip)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--old", required=True)
    p.add_argument("--new", default=".")
    p.add_argument("--methods", default="wgan_gp,ssgan")
    p.add_argument("--widths", default="16,32")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--iterations", type=int, default=40)
    p.add_argument("--skip", type=int, default=10)
    p.add_argument("--out", default="benchmarks/results/cpu_before_after.md")
    a = p.parse_args()
    trees = {"old": Path(a.old).resolve(), "new": Path(a.new).resolve()}
    commits = {
        k: subprocess.run(
            ["git", "-C", str(t), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        for k, t in trees.items()
    }
    lines = []
    for width in map(int, a.widths.split(",")):
        for method in a.methods.split(","):
            times: dict[str, list[float]] = {"old": [], "new": []}
            loads = []
            for r in range(a.rounds):
                for which in ("old", "new"):
                    loads.append(os.getloadavg()[0])
                    s = seconds_per_iter(trees[which], method, width, a.iterations, a.skip)
                    times[which].append(s)
                    print(f"width {width} {method} round {r} {which}: {s:.4f} s/it", flush=True)
            old, new = (statistics.median(times[k]) for k in ("old", "new"))
            lines.append(
                f"| {method} | {width} | {old:.4f} | {new:.4f} | {new / old:.3f} | "
                + " / ".join(f"{x:.3f}" for x in times["old"])
                + " | "
                + " / ".join(f"{x:.3f}" for x in times["new"])
                + f" | {min(loads):.1f}-{max(loads):.1f} |"
            )
    head = [
        "# CPU training speed before and after the training step (ssgan/training/step.py)",
        "",
        f"`python benchmarks/cpu_before_after.py --old <checkout of {commits['old']}> --new . "
        f"--methods {a.methods} --widths {a.widths} --rounds {a.rounds} "
        f"--iterations {a.iterations} --skip {a.skip}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"Old: `{commits['old']}` (before the step refactor); new: `{commits['new']}`. Each value "
        f"is one `ssgan train --dataset mnist` on the CPU (res 32, batch 64, n_critic 5, "
        f"`OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}`, torch threads as the "
        f"package sets them), seconds per generator iteration from train_log.csv between "
        f"iterations {a.skip} and {a.iterations}; rounds interleaved old, new, old, new, ...; "
        f"the median is kept. Load: the 1-minute load average when each run started.",
        "",
        "| method | width | old s/it (median) | new s/it (median) | new / old | old runs | "
        "new runs | load |",
        "|---|---:|---:|---:|---:|---|---|---|",
    ]
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text("\n".join(head + lines) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
