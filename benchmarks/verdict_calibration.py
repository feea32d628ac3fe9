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

from ssgan.analysis import failures, stats

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


def verdicts(d: np.ndarray, signflip: bool = False, fail_b=None, fail_t=None) -> np.ndarray:
    """The rule on a batch (sims, family, n) of log ratios, claim "lower FID" (d < 0): the
    Holm-adjusted t-test, and "holds" only where the robustness test (failures.robust_p on the
    scores of failures.scores: a failed run its arm's worst, both failed a tie) agrees and the
    treatment failed no more often than the baseline over the family (failures.excess)."""
    n = d.shape[-1]
    p, fav = stats.claim_test(d, "superiority", "<")
    if signflip:
        p = stats.sign_flip_p(d)
    v = failures.settle(stats.decide(stats.holm(p), fav, n), robust(d, fail_b, fail_t))
    if fail_t is not None:  # failures.excess over the family: the treatment failed more often
        worse = fail_t.sum(axis=(-2, -1)) > fail_b.sum(axis=(-2, -1))
        v = np.where(worse[..., None] & (v == "holds"), "inconclusive", v)
    return v


def robust(d, fail_b=None, fail_t=None) -> np.ndarray:
    """failures.scores vectorised: -d, a treatment failure -big, a baseline failure +big."""
    fb = np.zeros(d.shape, bool) if fail_b is None else fail_b
    ft = np.zeros(d.shape, bool) if fail_t is None else fail_t
    z = np.where(ft & fb, 0.0, np.where(ft, -np.inf, np.where(fb, np.inf, -d)))
    return failures.robust_p(z)


# Collapse mixture (issue: GANs fail by occasional bad seeds): a bad run is collapsed (flagged
# by failures.failed, yet it has an FID), BAD = log 2 worse than its pair; the treatment's good
# seeds are better by q BAD / (1 - q), so the mean effect is exactly zero. "treatment": only the
# treatment has bad seeds (share q); "both": each arm independently (mean zero by symmetry).
BAD = math.log(2.0)
MIXTURES = (("treatment", 0.1), ("treatment", 0.2), ("both", 0.1), ("both", 0.2))
MIX_COLUMNS = ["bad_in", "bad_share", "family", "n", "sims", "false_holds", "false_holds_ttest"]
MIX_COLUMNS += ["p_no_failure"]


def mixture(ns=NS, families=FAMILIES, sims=20000, seed=0) -> list[dict]:
    """False-"holds" rate (share of families where any row holds) under each collapse mixture:
    with the rule (false_holds) and with the t-test alone, failures ignored (false_holds_ttest)."""
    rows = []
    for i, (where, q) in enumerate(MIXTURES):
        for m in families:
            for n in ns:
                rng = np.random.default_rng([seed, 100 + i, m, n])
                e = rng.standard_normal((sims, m, n)) * SD
                ft = rng.random((sims, m, n)) < q
                if where == "treatment":
                    fb = np.zeros_like(ft)
                    d = e + np.where(ft, BAD, -q * BAD / (1 - q))
                else:
                    fb = rng.random((sims, m, n)) < q
                    d = e + BAD * (ft.astype(float) - fb)
                new = verdicts(d, fail_b=fb, fail_t=ft)
                p, fav = stats.claim_test(d, "superiority", "<")
                old = stats.decide(stats.holm(p), fav, n)
                rows.append(
                    dict(
                        bad_in=where,
                        bad_share=q,
                        family=m,
                        n=n,
                        sims=sims,
                        false_holds=float(np.mean((new == "holds").any(axis=-1))),
                        false_holds_ttest=float(np.mean((old == "holds").any(axis=-1))),
                        p_no_failure=(1 - q) ** (m * n) if where == "treatment" else math.nan,
                    )
                )
    return rows


def mixture_markdown(rows) -> str:
    out = [
        "",
        f"Collapse mixture (a bad run collapsed, log ratio +log 2, flagged failed; mean effect "
        f"exactly zero; sd {SD}; {rows[0]['sims']} families per row): share of families where "
        "any row holds, with the rule and with the t-test alone (failures ignored).",
        "",
        "P(no bad seed) = (1 - q)^(family x n): with none drawn the data are a real effect's, so no "
        "rule's false-holds rate can go below it x its power there.",
        "",
        "| bad seeds in | share | family | n | false holds (rule) | t-test alone | P(no bad seed) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['bad_in']} | {r['bad_share']:.0%} | {r['family']} | {r['n']} | "
            f"{100 * r['false_holds']:.2f}% | {100 * r['false_holds_ttest']:.2f}% | "
            f"{r['p_no_failure']:.3f} |"
        )
    return "\n".join(out) + "\n"


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
    mix = mixture(sims=a.sims, seed=a.seed)
    with open(a.out / "verdict_calibration_mixture.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, MIX_COLUMNS)
        w.writeheader()
        w.writerows(mix)
    text = markdown(rows) + mixture_markdown(mix)
    (a.out / "verdict_calibration.md").write_text(text)
    print(text)
    print(f"{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
