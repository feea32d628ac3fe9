"""Calibration of the verdict rule (docs/analysis.md, "Calibration"): how often it gives a false
verdict when there is no effect, and how often a true reduction is found, at the grids' seed
counts and family sizes.

    python benchmarks/verdict_calibration.py [--sims 20000] [--seed 0]

Per setting (n paired seeds 3..12, a Holm family of m = 1, 3 or 7 datasets, seed noise normal
or Student t with 3 df scaled to the same sd), ``sims`` families of m rows of n per-seed log FID
ratios d = log(1 - r) + sd * noise (sd 0.08) are drawn (numpy default_rng(seed)) and judged by
the package's own rule, vectorised over the families: ``stats.claim_test`` (the paired t-test),
``stats.holm`` across the m rows, ``stats.decide`` (no verdict below stats.MIN_N). Columns:
false_verdict (r = 0: the share of families with any verdict, holds or does not hold; Holm
controls this familywise rate), power_05/10/20 (true reductions of 5%, 10%, 20% in every row: the
share of rows that hold), and power_signflip_10 (the former rule, sign-flip p, at r = 10%, on the first 1000 families).
Writes benchmarks/results/verdict_calibration.{csv,md}.
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from pathlib import Path

import numpy as np

from ssgan.analysis import stats

OUT = Path(__file__).parent / "results"
SD = 0.08
NS = tuple(range(3, 13))
FAMILIES = (1, 3, 7)
NOISES = ("normal", "t3")
EFFECTS = (0.05, 0.10, 0.20)
COLUMNS = ["noise", "family", "n", "sims", "false_verdict", "false_verdict_se"]
COLUMNS += [f"power_{round(100 * r):02d}" for r in EFFECTS] + ["power_signflip_10"]


def noise(rng, kind: str, size) -> np.ndarray:
    """Unit-sd seed noise: standard normal, or t with 3 df divided by its sd sqrt(3)."""
    if kind == "normal":
        return rng.standard_normal(size)
    return rng.standard_t(3, size) / math.sqrt(3.0)


def verdicts(d: np.ndarray, signflip: bool = False) -> np.ndarray:
    """The rule on a batch (sims, family, n) of log ratios, claim "lower FID" (d < 0)."""
    n = d.shape[-1]
    p, fav = stats.claim_test(d, "superiority", "<")
    if signflip:
        p = stats.sign_flip_p(d)
    return stats.decide(stats.holm(p), fav, n)


def calibrate(ns=NS, families=FAMILIES, noises=NOISES, sims=20000, seed=0) -> list[dict]:
    rows = []
    for kind in noises:
        for m in families:
            for n in ns:
                rng = np.random.default_rng([seed, NOISES.index(kind), m, n])
                e = noise(rng, kind, (sims, m, n)) * SD
                null = verdicts(e)
                false = float(np.mean((null != "inconclusive").any(axis=-1)))
                row = dict(noise=kind, family=m, n=n, sims=sims, false_verdict=false)
                row["false_verdict_se"] = math.sqrt(max(false * (1 - false), 1e-12) / sims)
                for r in EFFECTS:
                    row[f"power_{round(100 * r):02d}"] = float(
                        np.mean(verdicts(e + math.log(1 - r)) == "holds")
                    )
                sf = verdicts(e[: min(sims, 1000)] + math.log(0.9), signflip=True)  # memory: 2^n
                row["power_signflip_10"] = float(np.mean(sf == "holds"))
                rows.append(row)
    return rows


def markdown(rows) -> str:
    head = (
        "| noise | family | n | false verdict | power 5% | power 10% | power 20% | sign-flip 10% |"
    )
    out = [
        f"Verdict rule calibration (log-ratio sd {SD}; {rows[0]['sims']} simulated families per "
        f"row; no verdict below n = {stats.MIN_N}). False verdict: share of families with any "
        "verdict when there is no effect; power: share of rows that hold at a true reduction.",
        "",
        head,
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['noise']} | {r['family']} | {r['n']} | {100 * r['false_verdict']:.2f}% | "
            f"{100 * r['power_05']:.1f}% | {100 * r['power_10']:.1f}% | "
            f"{100 * r['power_20']:.1f}% | {100 * r['power_signflip_10']:.1f}% |"
        )
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    t0 = time.perf_counter()
    rows = calibrate(sims=a.sims, seed=a.seed)
    a.out.mkdir(parents=True, exist_ok=True)
    with open(a.out / "verdict_calibration.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, COLUMNS)
        w.writeheader()
        w.writerows(rows)
    (a.out / "verdict_calibration.md").write_text(markdown(rows))
    print(markdown(rows))
    print(f"{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
