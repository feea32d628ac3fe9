"""Power of the verdict rule and the seeds it needs (``ssgan plan``; docs/analysis.md, "How many
seeds").

The primary test is the two-sided paired t-test of the per-seed log FID ratios d_s, adjusted by
Holm over a family of m rows. Its power at a true mean log ratio delta is the noncentral t
probability with df = n - 1, noncentrality |delta| / sd * sqrt(n), at the level ALPHA / m:
Holm's first step, so a lower bound on Holm's power (every other step tests at a larger
level). benchmarks/verdict_calibration.py measures the rule itself by simulation.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize
from scipy import stats as st

from ssgan.analysis.stats import ALPHA, MIN_N

TARGET_POWER = 0.8
PLAN_REDUCTIONS = (0.0476, 0.10, 0.20)  # the paper's smallest reduction, 10%, 20%
ASSUMED_SD = 0.08  # seed-to-seed sd of log(FID_t / FID_b) assumed where none is measured
MAX_SEEDS = 1000


def power(reduction: float, sd: float, n: int, family: int = 1) -> float:
    """P(the rule's test rejects at ALPHA / family) for a true relative reduction (mean log
    ratio log(1 - reduction)), per-seed sd of the log ratio, n pairs; NaN for n < 2 or sd <= 0.
    The rule gives no verdict below MIN_N pairs: power 0 there."""
    if n < 2 or not sd > 0 or not np.isfinite(sd):
        return math.nan
    if n < MIN_N:
        return 0.0
    df, ncp = n - 1, abs(math.log1p(-reduction)) / sd * math.sqrt(n)
    crit = st.t.ppf(1 - ALPHA / family / 2, df)
    p = st.nct.sf(crit, df, ncp) + st.nct.cdf(-crit, df, ncp)
    return 1.0 if not np.isfinite(p) else float(min(p, 1.0))  # nct is NaN only far in the tail


def min_detectable(sd: float, n: int, family: int = 1, target: float = TARGET_POWER) -> float:
    """The smallest relative FID reduction detected with probability >= target at n pairs;
    NaN where it is undefined (n < MIN_N: no verdict at all; sd unknown)."""
    if n < MIN_N or not sd > 0 or not np.isfinite(sd):
        return math.nan
    f = lambda r: power(r, sd, n, family) - target  # noqa: E731
    hi = 1 - 1e-9
    if f(hi) < 0:
        return math.nan
    return float(optimize.brentq(f, 1e-9, hi, xtol=1e-7))


def seeds_needed(reduction: float, sd: float, family: int = 1, target=TARGET_POWER) -> float:
    """The smallest n >= MIN_N with power >= target (NaN without an sd, or beyond MAX_SEEDS)."""
    if not sd > 0 or not np.isfinite(sd):
        return math.nan
    for n in range(MIN_N, MAX_SEEDS + 1):
        if power(reduction, sd, n, family) >= target:
            return n
    return math.nan
