"""Statistics for paired-seed comparisons (docs/analysis.md has the full recipe and the verdict
rule with a worked example; benchmarks/verdict_calibration.py measures the rule's error rates).

Paired seeds: seed s gives both methods the same data order and evaluation latents, so
the unit of analysis is the per-seed pair. Every function takes plain sequences, never
crashes on short inputs, and returns NaN where a quantity is undefined (n < 2).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats as st

from ssgan import published

# relative FID decrease, Qian et al. 2021 (abstract): the published-values registry
PUBLISHED_RANGE = published.reduction_range("qian2021")
# The exact two-sided signed-rank p is >= 2/2^n: 0.0625 at n = 5, 0.03125 at n = 6; below 6
# pairs it can never reach 0.05 whatever the data, so it is not reported.
WILCOXON_MIN_N = 6
ALPHA = 0.05  # verdict level (Holm-adjusted)
# No verdict below MIN_N pairs. From the calibration (docs/analysis.md, "Calibration"): the
# smallest n at which the paper's largest reduction (20%) is detected with >= 80% power over
# the smallest family a grid has (3 datasets) at log-ratio sd 0.08 (n = 4: 71.0%, n = 5: 92.7%:
# power.power's noncentral t without its MIN_N cut-off); below it "inconclusive" is the expected
# outcome even for a large effect, and a rare verdict would rest on an interval with 2 or 3
# degrees of freedom.
MIN_N = 5
KINDS = ("superiority", "non-inferiority", "equivalence")
MONTE_CARLO = 2**16  # sign-flip test: random sign vectors where 2^n exceeds this
EXACT_MAX_N = 16  # 2^16 = MONTE_CARLO: up to here scipy enumerates all 2^n sign vectors
RULE = (
    f"n >= {MIN_N} pairs and the Holm-adjusted paired t-test p < 0.05 (the 95% Student-t "
    "interval excludes the claim's bound): holds on the claimed side, does not hold on the "
    "other; else inconclusive; holds also needs the one-sided exact sign-test p < 0.05 "
    "on the paired outcomes with a failed run (diverged or collapsed) ranked as its arm's worst "
    "(both failed: a tie), and a treatment that failed no more often than its baseline over the "
    "comparison's datasets (ssgan/analysis/failures.py)"
)
# the rule before the paired t-test decided; kept as the robustness column (perm_verdict)
PERM_RULE = "95% t interval excludes the bound and the Holm-adjusted sign-flip p < 0.05"
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
    """Holm step-down adjustment over the finite p-values of the last axis (NaN stays NaN); a
    batch (..., m) is adjusted row by row (the calibration uses that).

    Sorted p_(1) <= ... <= p_(m): p~_(i) = max_{j<=i} min(1, (m - j + 1) p_(j)).
    statsmodels' multipletests(method="holm") computes the same, but statsmodels is not a
    dependency, and it takes one family at a time, not a batch.
    """
    p = np.asarray(pvals if isinstance(pvals, np.ndarray) else list(pvals), dtype=float)
    finite = np.isfinite(p)
    m = finite.sum(axis=-1, keepdims=True)
    key = np.where(finite, p, np.inf)  # undefined p sort last and are never counted
    order = np.argsort(key, axis=-1, kind="stable")
    with np.errstate(invalid="ignore"):
        scaled = np.minimum(1.0, (m - np.arange(p.shape[-1])) * np.take_along_axis(key, order, -1))
    out = np.empty_like(p)
    np.put_along_axis(out, order, np.maximum.accumulate(scaled, axis=-1), axis=-1)
    return np.where(finite, out, NAN)


def bootstrap_ci(x, n_boot: int = 10000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean (scipy.stats.bootstrap, method "percentile"): resample
    the n values with replacement n_boot times (numpy default_rng(seed)), take the (1-level)/2
    and (1+level)/2 quantiles of the resampled means. (NaN, NaN) for n < 2."""
    x = as_array(x)
    if len(x) < 2 or n_boot < 1:
        return NAN, NAN
    with warnings.catch_warnings():  # n_boot = 1: scipy's standard error (unused) is 0/0
        warnings.simplefilter("ignore", RuntimeWarning)
        res = st.bootstrap(
            (x,),
            np.mean,
            n_resamples=n_boot,
            confidence_level=level,
            method="percentile",
            rng=np.random.default_rng(seed),
            vectorized=True,
        )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def t_ci(x, level: float = 0.95) -> tuple[float, float]:
    """Student-t CI of the mean: mean +- t_{(1+level)/2, n-1} * sd / sqrt(n)
    (scipy.stats.ttest_1samp(...).confidence_interval); NaN for n < 2."""
    x = as_array(x)
    if len(x) < 2:
        return NAN, NAN
    with warnings.catch_warnings():  # equal values: scipy warns of precision loss, the CI is fine
        warnings.simplefilter("ignore", RuntimeWarning)
        ci = st.ttest_1samp(x, 0.0).confidence_interval(level)
    return float(ci.low), float(ci.high)


def log_t_ci(x, level: float = 0.95) -> tuple[float, float]:
    """The Student-t CI of the mean of log x, back-transformed: an interval of the geometric
    mean of a positive quantity (FID), inside (0, inf) however few and spread the values (the
    plain t interval of the mean reached below 0 over 3 seeds); NaN for n < 2 or any x <= 0."""
    x = as_array(x)
    if len(x) < 2 or (x <= 0).any():
        return NAN, NAN
    lo, hi = t_ci(np.log(x), level)
    return float(np.exp(lo)), float(np.exp(hi))


def gmean(x) -> float:
    """Geometric mean (NaN when empty or any value <= 0)."""
    x = as_array(x)
    return float(np.exp(np.log(x).mean())) if len(x) and (x > 0).all() else NAN


def _sum(a, axis=-1):
    return a.sum(axis=axis)


def sign_flip_p(d, seed: int = 0) -> np.ndarray | float:
    """Two-sided paired permutation (sign-flip) p of mean(d) = 0, over the last axis of ``d``
    (scipy.stats.permutation_test on one sample, permutation_type "samples": each sign flipped).

    Under H0 each difference is as likely +d_s as -d_s; p = share of sign vectors e (all 2^n
    for n <= EXACT_MAX_N = 16, else MONTE_CARLO random ones from default_rng(seed), p counting
    the observed one: (k + 1) / (MONTE_CARLO + 1)) with |sum e_s d_s| >= |sum d_s| (scipy's
    2 x the smaller one-sided p; the same here, the null distribution being symmetric). The
    smallest p is 2/2^n (0.25 at n = 3, 0.0625 at n = 5, 0.031 at n = 6). NaN for n < 2 or when
    every d_s is 0. ``d`` may be a batch (..., n): one p per row (the calibration uses that)."""
    d = np.asarray(d, dtype=float)
    n = d.shape[-1]
    if n < 2:
        return np.full(d.shape[:-1], NAN)[()] if d.ndim > 1 else NAN
    res = st.permutation_test(
        (d,),
        _sum,
        permutation_type="samples",
        vectorized=True,
        n_resamples=MONTE_CARLO,  # scipy enumerates exactly when 2^n <= this (n <= EXACT_MAX_N)
        rng=np.random.default_rng(seed),
        axis=-1,
        batch=max(1, 2**22 // d.size),  # sign vectors per step: memory ~ 32 MiB x 8, not 2^n x d
    )
    p = np.where(np.all(d == 0, axis=-1), NAN, res.pvalue)
    return float(p) if p.ndim == 0 else p


def in_range(low: float, high: float, lo_hi: tuple[float, float] = PUBLISHED_RANGE):
    """Is the interval [low, high] of a reduction in the published range? True when it lies
    inside, False when it lies wholly outside, None when it straddles an end or is undefined
    (the data cannot say). A point value is in_range(v, v)."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return None
    if lo_hi[0] <= low and high <= lo_hi[1]:
        return True
    return False if high < lo_hi[0] or low > lo_hi[1] else None


# ---------------------------------------------------------------- the verdict (vectorised)


def t_pvalue(x, bound: float = 0.0):
    """Two-sided one-sample t-test p of mean(x) = bound over the last axis (a batch gives one p
    per row): t = (mean - bound) / (sd / sqrt(n)), df = n - 1. Without spread (every value
    equal, where sd is rounding noise) p = 0, or NaN when the values equal the bound; NaN for
    n < 2. Equals ttest_zero's p at bound 0."""
    x = np.asarray(x, dtype=float)
    n = x.shape[-1]
    if n < 2:
        return np.full(x.shape[:-1], NAN)[()]
    dev = x.mean(axis=-1) - bound
    flat = np.all(x == x[..., :1], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = dev / (x.std(axis=-1, ddof=1) / math.sqrt(n))
    p = np.where(flat, np.where(dev == 0, NAN, 0.0), 2 * st.t.sf(np.abs(t), n - 1))
    return p[()]


def claim_test(x, kind: str = "superiority", direction: str = "<", margin: float = 0.0):
    """The primary test of one claim on paired differences x (last axis): (p, favourable).

    ``direction`` is the claimed sign of the difference ('<': the treatment is lower, e.g. FID);
    ``margin`` (> 0) is in the difference's units. p is two-sided, so p < 0.05 iff the 95% t
    interval excludes the bound, and ``favourable`` says on which side the mean lies:
    - superiority: bound 0; favourable iff the mean is on the claimed side;
    - non-inferiority: bound = the margin on the unclaimed side (treatment worse by the margin);
      favourable iff the mean is better than that;
    - equivalence: bounds -margin and +margin; inside, p = the larger of the two tests' p
      (both must reject: the interval lies within the margins) and favourable; outside, p of
      the nearer bound and not favourable (the interval lies beyond it).
    """
    x = np.asarray(x, dtype=float)
    mean = x.mean(axis=-1) if x.shape[-1] else np.full(x.shape[:-1], NAN)
    fav = favourable(mean, kind, direction, margin)
    if kind == "superiority":
        return t_pvalue(x, 0.0), fav
    if kind == "non-inferiority":
        return t_pvalue(x, margin if direction == "<" else -margin), fav
    p_hi, p_lo = t_pvalue(x, margin), t_pvalue(x, -margin)
    p = np.where(np.abs(mean) < margin, np.fmax(p_hi, p_lo), np.where(mean >= margin, p_hi, p_lo))
    return p[()], fav


def favourable(mean, kind: str = "superiority", direction: str = "<", margin: float = 0.0):
    """Is the mean difference on the claim's side of its bound (claim_test)? NaN gives False."""
    if kind not in KINDS:
        raise ValueError(f"claim kind {kind!r}: one of {', '.join(KINDS)}")
    if direction not in ("<", ">"):
        raise ValueError(f"claim direction {direction!r}: '<' or '>'")
    if kind != "superiority" and not margin > 0:
        raise ValueError(f"a {kind} claim needs a margin > 0, got {margin}")
    mean = np.asarray(mean, dtype=float)
    sign = -1.0 if direction == "<" else 1.0  # the claimed sign of the difference
    if kind == "superiority":
        out = sign * mean > 0
    elif kind == "non-inferiority":
        out = sign * mean + margin > 0  # better than "worse by the margin"
    else:
        out = np.abs(mean) < margin
    return out[()]


def decide(p_adjusted, favourable, n):
    """The verdict of every claim, FID included (vectorised): **holds** iff n >= MIN_N and the
    (Holm-adjusted) p < ALPHA on the favourable side, **does not hold** iff the same on the other
    side, **inconclusive** otherwise (p undefined included)."""
    p = np.asarray(p_adjusted, dtype=float)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(p) & (p < ALPHA) & (np.asarray(n) >= MIN_N)
    out = np.where(ok, np.where(favourable, "holds", "does not hold"), "inconclusive")
    return str(out) if out.ndim == 0 else out
