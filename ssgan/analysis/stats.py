"""Statistics for paired-seed comparisons (docs/analysis.md has the full recipe and the verdict
rule with a worked example).

Paired seeds: seed s gives both methods the same data order and evaluation latents, so
the unit of analysis is the per-seed pair. Every function takes plain sequences, never
crashes on short inputs, and returns NaN where a quantity is undefined (n < 2).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as st

PUBLISHED_RANGE = (0.0476, 0.2184)  # relative FID decrease, Qian et al. 2021 (abstract)
# The exact two-sided signed-rank p is >= 2/2^n: 0.0625 at n = 5, 0.03125 at n = 6; below 6
# pairs it can never reach 0.05 whatever the data, so it is not reported.
WILCOXON_MIN_N = 6
ALPHA = 0.05  # verdict level (Holm-adjusted)
EXACT_MAX_N = 12  # sign-flip test: all 2^n sign vectors up to here, else MONTE_CARLO random ones
MONTE_CARLO = 2**16
RULE = (
    "holds / does not hold iff the 95% Student-t interval of the paired difference excludes 0 "
    "and the Holm-adjusted sign-flip p < 0.05; else inconclusive"
)
NAN = float("nan")


def as_array(x) -> np.ndarray:
    return np.asarray(list(x), dtype=float)


def mean_std(x) -> tuple[float, float, int]:
    """(mean, sample std with ddof=1, n); std is NaN for n < 2, both NaN for n = 0."""
    x = as_array(x)
    n = len(x)
    mean = float(x.mean()) if n else NAN
    std = float(x.std(ddof=1)) if n >= 2 else NAN
    return mean, std, n


def relative_reduction(fid_base, fid_treat) -> np.ndarray:
    """r_s = 1 - FID_treat,s / FID_base,s  (= (FID_base - FID_treat) / FID_base, PAPER.md)."""
    return 1.0 - as_array(fid_treat) / as_array(fid_base)


def log_ratio(fid_base, fid_treat) -> np.ndarray:
    """d_s = log(FID_treat,s / FID_base,s); d < 0 means the treatment has the lower FID."""
    return np.log(as_array(fid_treat) / as_array(fid_base))


def ttest_zero(d) -> tuple[float, float, int]:
    """Two-sided one-sample t-test of mean(d) = 0: (t, p, df).

    t = mean(d) / (sd(d) / sqrt(n)), df = n - 1, p = 2 * P(T_df > |t|).
    """
    d = as_array(d)
    n = len(d)
    if n < 2:
        return NAN, NAN, max(n - 1, 0)
    if np.all(d == d[0]):  # no spread (sd would be rounding noise): t = +-inf (p = 0) or 0/0
        return (NAN, NAN, n - 1) if d[0] == 0 else (math.copysign(math.inf, d[0]), 0.0, n - 1)
    mean, sd = d.mean(), d.std(ddof=1)
    t = mean / (sd / math.sqrt(n))
    return float(t), float(2 * st.t.sf(abs(t), n - 1)), n - 1


def wilcoxon_p(d, min_n: int = WILCOXON_MIN_N) -> float:
    """Two-sided Wilcoxon signed-rank p of d (scipy's default: exact for small n); NaN below min_n."""
    d = as_array(d)
    if len(d) < min_n or np.all(d == 0):
        return NAN
    return float(st.wilcoxon(d, alternative="two-sided").pvalue)


def holm(pvals) -> np.ndarray:
    """Holm step-down adjustment over the finite p-values (NaN stays NaN).

    Sorted p_(1) <= ... <= p_(m): p~_(i) = max_{j<=i} min(1, (m - j + 1) p_(j)).
    """
    p = as_array(pvals)
    out = np.full_like(p, NAN)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def bootstrap_ci(x, n_boot: int = 10000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean: resample the n values with replacement n_boot
    times (numpy default_rng(seed)), take the (1-level)/2 and (1+level)/2 quantiles of the
    resampled means. (NaN, NaN) for n < 2."""
    x = as_array(x)
    n = len(x)
    if n < 2 or n_boot < 1:
        return NAN, NAN
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def t_ci(x, level: float = 0.95) -> tuple[float, float]:
    """Student-t CI of the mean: mean +- t_{(1+level)/2, n-1} * sd / sqrt(n); NaN for n < 2."""
    mean, sd, n = mean_std(x)
    if n < 2:
        return NAN, NAN
    half = st.t.ppf((1 + level) / 2, n - 1) * sd / math.sqrt(n)
    return mean - half, mean + half


def sign_flip_p(d, seed: int = 0) -> np.ndarray | float:
    """Two-sided paired permutation (sign-flip) p of mean(d) = 0, over the last axis of ``d``.

    Under H0 each difference is as likely +d_s as -d_s; p = share of sign vectors e (all 2^n
    for n <= EXACT_MAX_N, else MONTE_CARLO random ones from default_rng(seed), plus the
    observed one) with |sum e_s d_s| >= |sum d_s|. The smallest p is 2/2^n (0.25 at n = 3,
    0.0625 at n = 5, 0.031 at n = 6). NaN for n < 2 or when every d_s is 0. ``d`` may be a
    batch (..., n): one p per row (the simulation tests use that)."""
    d = np.asarray(d, dtype=float)
    n = d.shape[-1]
    if n < 2:
        return np.full(d.shape[:-1], NAN)[()] if d.ndim > 1 else NAN
    if n <= EXACT_MAX_N:
        signs = 1 - 2 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1)
    else:
        rng = np.random.default_rng(seed)
        signs = np.vstack([np.ones(n), rng.choice([-1.0, 1.0], size=(MONTE_CARLO, n))])
    obs = np.abs(d.sum(axis=-1))
    flipped = np.abs(d @ signs.T)
    p = (flipped >= obs[..., None] * (1 - 1e-12) - 1e-15).mean(axis=-1)
    p = np.where(np.all(d == 0, axis=-1), NAN, p)
    return float(p) if p.ndim == 0 else p


def verdict(ci_low: float, ci_high: float, p_adjusted: float, direction: str) -> str:
    """The one verdict rule for every claim (docs/analysis.md): a claim "difference < 0"
    (direction '<') or "> 0" ('>') **holds** iff the CI of the difference excludes 0 on the
    claimed side *and* the (Holm-adjusted) p < ALPHA; **does not hold** iff the CI excludes 0
    on the other side and p < ALPHA; **inconclusive** otherwise (CI or p undefined too)."""
    if not (np.isfinite(ci_low) and np.isfinite(ci_high) and np.isfinite(p_adjusted)):
        return "inconclusive"
    if p_adjusted >= ALPHA:
        return "inconclusive"
    below, above = ci_high < 0, ci_low > 0
    if (direction == "<" and below) or (direction == ">" and above):
        return "holds"
    if below or above:
        return "does not hold"
    return "inconclusive"


def in_range(value: float, lo_hi: tuple[float, float] = PUBLISHED_RANGE):
    """True/False, or None when value is NaN."""
    return None if not np.isfinite(value) else bool(lo_hi[0] <= value <= lo_hi[1])
