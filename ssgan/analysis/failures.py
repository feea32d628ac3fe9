"""Failed runs count against the method that failed (docs/analysis.md, "Failures").

A run **failed** when it diverged (``status`` "diverged": a non-finite loss stopped it) or its
final generator collapsed: recall below ``COLLAPSE_RECALL`` or fewer than
``COLLAPSE_CLASS_SHARE`` of the dataset's classes covered (``classes_covered``,
ssgan/metrics/classifier.py). A diverged run has no FID and no final probes, so the paired
t-test never sees it: dropping its pair would censor in the failing arm's favour. Hence:

- each arm's failure rate (failed / runs) stands beside every verdict (claims.csv, leaderboard);
- the **robustness test**: a one-sided exact sign test of the paired outcomes in which a failed
  run is its arm's worst outcome (the pair counts against the arm that failed; both failed: a
  tie, dropped). A claim **holds** only when the Holm-adjusted t-test and this
  test (one-sided p < ``stats.ALPHA``) both say so,
- and only when the treatment failed no more often than its baseline over all the comparison's
  datasets (``excess``): a method's failure propensity is its own, not a dataset's.

``benchmarks/verdict_calibration.py`` measures the rule under a collapse mixture (bad seeds,
mean effect zero). Where no bad seed happens to be drawn the data are those of a real effect, so
no rule can push the false-"holds" rate below P(no failure in the comparison's runs) x power:
with one dataset that stays above 5% (the results file gives the numbers).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as st

from ssgan.analysis import stats
from ssgan.metrics.classifier import CLASSES

COLLAPSE_RECALL = 0.1  # recall (Kynkäänniemi et al. 2019) below this: the run collapsed
COLLAPSE_CLASS_SHARE = 0.5  # classes_covered below this share of the classes: collapsed
FAILED_STATUS = ("diverged",)
FAIL_COLUMNS = ["failed_baseline", "failed_treatment", "fail_rate_baseline", "fail_rate_treatment"]
ROBUST_COLUMNS = ["p_robust"]


def failed(runs: pd.DataFrame) -> pd.Series:
    """Per run: diverged, or collapsed (recall < COLLAPSE_RECALL, or classes_covered below
    COLLAPSE_CLASS_SHARE x CLASSES). Unknown measures (blank) never count as a collapse."""
    num = lambda c: pd.to_numeric(runs.get(c, pd.Series(math.nan, runs.index)), errors="coerce")  # noqa: E731
    with np.errstate(invalid="ignore"):
        collapsed = (num("recall") < COLLAPSE_RECALL) | (
            num("classes_covered") < COLLAPSE_CLASS_SHARE * CLASSES
        )
    return runs["status"].isin(FAILED_STATUS) | collapsed.fillna(False)


def arm_failures(runs: pd.DataFrame | None, method: str, dataset: str) -> pd.Series:
    """Failed flag per seed of one arm's runs (empty without a runs table)."""
    if runs is None or runs.empty:
        return pd.Series(dtype=bool)
    sub = runs[(runs["dataset"] == dataset) & (runs["method"] == method)]
    return pd.Series(failed(sub).to_numpy(bool), index=sub["seed"].to_numpy())


def failure_columns(runs, comp, dataset) -> dict:
    """'k/n' failed runs and the failure rate of each arm (NaN rate without runs)."""
    out = {}
    for arm, m in (("baseline", comp.baseline), ("treatment", comp.treatment)):
        f = arm_failures(runs, m, dataset)
        out[f"failed_{arm}"] = f"{int(f.sum())}/{len(f)}"
        out[f"fail_rate_{arm}"] = float(f.mean()) if len(f) else math.nan
    return out


def scores(diff: pd.Series, fail_b: pd.Series, fail_t: pd.Series, sign: float) -> np.ndarray:
    """Per seed the favourable score sign x d (d: treatment - baseline, shifted to the claim's
    bound by the caller); a failed run replaces its pair's score by the worst for its arm (a
    magnitude above every other score); both failed: 0 (a tie, dropped by the test)."""
    seeds = diff.index.union(fail_b[fail_b].index).union(fail_t[fail_t].index)
    z = (sign * diff).reindex(seeds)
    fb = fail_b.reindex(seeds, fill_value=False).to_numpy(bool)
    ft = fail_t.reindex(seeds, fill_value=False).to_numpy(bool)
    z = z.to_numpy(float)
    big = (np.nanmax(np.abs(z)) if np.isfinite(z).any() else 0.0) + 1.0
    z = np.where(ft & fb, 0.0, np.where(ft, -big, np.where(fb, big, z)))
    return z[np.isfinite(z)]


def robust_p(z):
    """One-sided exact sign test that the scores lean to the favourable side (> 0): with k of
    the n non-zero scores favourable, p = P(Binomial(n, 1/2) >= k) (zeros, the ties, dropped;
    NaN without a non-zero score). Over the last axis: a batch gives one p per row (the
    calibration uses that). The smallest p is 2^-n (0.031 at n = 5)."""
    z = np.asarray(z, dtype=float)
    n = (z != 0).sum(axis=-1)
    k = (z > 0).sum(axis=-1)
    p = np.where(n > 0, st.binom.sf(k - 1, n, 0.5), math.nan)
    return float(p) if p.ndim == 0 else p


def bound_and_sign(claim) -> tuple[float, float]:
    """The bound the differences are measured from (the null's) and the claimed sign."""
    sign = -1.0 if claim.direction == "<" else 1.0
    if claim.kind == "non-inferiority":
        return (claim.margin if claim.direction == "<" else -claim.margin), sign
    return 0.0, sign


def robust_row(diff: pd.Series, runs, comp, dataset, claim=None) -> dict:
    """The failure columns and the robustness p of one claims row; ``diff`` is the per-seed
    paired difference (treatment - baseline) of the pairs with both values. Equivalence:
    the larger p of the two one-sided tests inside the margins. Without a claim: lower FID
    (superiority, '<', on the log ratios)."""
    fb = arm_failures(runs, comp.baseline, dataset)
    ft = arm_failures(runs, comp.treatment, dataset)
    if claim is None:
        p = robust_p(scores(diff, fb, ft, -1.0))
    elif claim.kind == "equivalence":
        p = max(
            robust_p(scores(diff - claim.margin, fb, ft, -1.0)),
            robust_p(scores(diff + claim.margin, fb, ft, 1.0)),
        )
    else:
        bound, sign = bound_and_sign(claim)
        p = robust_p(scores(diff - bound, fb, ft, sign))
    return dict(failure_columns(runs, comp, dataset), p_robust=p)


def excess(rows) -> bool:
    """Did the treatment fail more often than the baseline over a comparison's datasets? ``rows``:
    dicts (or a DataFrame's records) with failed_baseline / failed_treatment 'k/n', one per
    dataset (repeats of a dataset are counted once)."""
    seen, kb, kt = set(), 0, 0
    for r in rows:
        key = r.get("dataset")
        if key in seen:
            continue
        seen.add(key)
        kb += int(str(r.get("failed_baseline") or "0/0").split("/")[0])
        kt += int(str(r.get("failed_treatment") or "0/0").split("/")[0])
    return kt > kb


def settle(verdict, p_robust, excess_failures: bool = False):
    """The final verdict: "holds" needs the robustness test too (p_robust < ALPHA) and a
    treatment that failed no more often than its baseline over the comparison (``excess``);
    otherwise it becomes "inconclusive". Vectorised."""
    v = np.asarray(verdict, dtype=object)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(np.asarray(p_robust, float)) & (np.asarray(p_robust, float) < stats.ALPHA)
    ok = ok & (not excess_failures)
    out = np.where((v == "holds") & ~ok, "inconclusive", v)
    return str(out) if out.ndim == 0 else out
