"""ssgan.analysis.stats against hand-computed values, and the verdict rule by simulation."""

import math
import warnings

import numpy as np
import pytest
from scipy import stats as st

from ssgan.analysis import stats

B, T = [10.0, 20.0, 40.0], [9.0, 18.0, 30.0]  # r = .10, .10, .25


def test_relative_reduction_mean_std():
    r = stats.relative_reduction(B, T)
    assert r == pytest.approx([0.10, 0.10, 0.25])
    mean, std, n = stats.mean_std(r)
    # mean = .45 / 3; var = (.05^2 + .05^2 + .10^2) / (3 - 1) = .0075
    assert (mean, std, n) == (pytest.approx(0.15), pytest.approx(math.sqrt(0.0075)), 3)


def test_short_inputs_give_nan_not_errors():
    assert math.isnan(stats.mean_std([])[0]) and stats.mean_std([])[2] == 0
    mean, std, n = stats.mean_std([0.2])
    assert mean == 0.2 and math.isnan(std) and n == 1
    for x in ([], [0.1]):
        t, p, df = stats.ttest_zero(x)
        assert math.isnan(t) and math.isnan(p)
        assert all(map(math.isnan, stats.bootstrap_ci(x, 100, 0)))
        assert all(map(math.isnan, stats.t_ci(x)))
        assert math.isnan(stats.wilcoxon_p(x))
    assert stats.in_range(float("nan"), 0.1) is None


def test_ttest_on_log_ratios_by_hand():
    d = stats.log_ratio(B, T)
    assert d == pytest.approx([math.log(0.9), math.log(0.9), math.log(0.75)])
    m = sum(d) / 3
    sd = math.sqrt(sum((x - m) ** 2 for x in d) / 2)
    t_hand = m / (sd / math.sqrt(3))
    p_hand = 1 - abs(t_hand) / math.sqrt(
        2 + t_hand**2
    )  # two-sided p of Student t with 2 df (closed form)
    t, p, df = stats.ttest_zero(d)
    assert (t, p, df) == (pytest.approx(t_hand), pytest.approx(p_hand), 2)
    ref = st.ttest_1samp(d, 0.0)
    assert (t, p) == (pytest.approx(ref.statistic), pytest.approx(ref.pvalue))


def test_ttest_zero_variance():
    assert stats.ttest_zero([-0.1, -0.1, -0.1])[:2] == (-math.inf, 0.0)
    assert all(map(math.isnan, stats.ttest_zero([0.0, 0.0])[:2]))


def test_holm_known_vector():
    # sorted: .005*4=.02, .01*3=.03, .03*2=.06, .04*1=.04 -> running max .02 .03 .06 .06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    out = stats.holm([float("nan"), 0.01, 0.04])  # NaN ignored: m = 2
    assert math.isnan(out[0]) and out[1:] == pytest.approx([0.02, 0.04])
    assert stats.holm([]).size == 0


def test_bootstrap_ci_reproducible_and_contains_mean():
    x = np.array([0.10, 0.10, 0.25, 0.05, 0.20])
    a, b = stats.bootstrap_ci(x, 2000, seed=7), stats.bootstrap_ci(x, 2000, seed=7)
    assert a == b
    assert a != stats.bootstrap_ci(x, 2000, seed=8)
    assert x.min() <= a[0] < x.mean() < a[1] <= x.max()
    assert stats.bootstrap_ci([0.1, 0.1, 0.1], 500, 0) == pytest.approx((0.1, 0.1))


def test_t_ci_by_hand():
    lo, hi = stats.t_ci([1.0, 2.0, 3.0])  # mean 2, sd 1, t_{.975,2} = 4.302653
    assert (lo, hi) == (
        pytest.approx(2 - 4.302653 / math.sqrt(3)),
        pytest.approx(2 + 4.302653 / math.sqrt(3)),
    )


def test_wilcoxon_only_from_min_n():
    d = [-0.3, -0.1, -0.2, 0.05, -0.4, -0.5]
    assert stats.WILCOXON_MIN_N == 6
    assert stats.wilcoxon_p(d) == pytest.approx(st.wilcoxon(d).pvalue)
    # exact: W+ = 1, P(W+ <= 1) = 2/64, two-sided 4/64
    assert stats.wilcoxon_p(d) == pytest.approx(4 / 64)
    assert stats.wilcoxon_p([-1, -2, -3, -4, -5, -6]) == pytest.approx(2 / 64)  # < .05 possible
    # at n = 5 the smallest two-sided p is 2/2^5 = 0.0625: never reported
    assert st.wilcoxon([-1, -2, -3, -4, -5]).pvalue == pytest.approx(0.0625)
    assert math.isnan(stats.wilcoxon_p(d[:5]))


def test_sign_flip_p_exact_by_hand():
    # d = (-1, -2, 3): sums over the 8 sign vectors: |+-1 +-2 +-3| = 0,6,2,4,4,2,6,0 ->
    # |observed| = 0: every vector is as extreme, p = 1
    assert stats.sign_flip_p([-1.0, -2.0, 3.0]) == 1.0
    # d = (-1, -2, -4): |sum| = 7 reached only by all-minus and all-plus: p = 2/8
    assert stats.sign_flip_p([-1.0, -2.0, -4.0]) == 0.25
    # d = (-1, -2, -4, 0.5): |sum| = 6.5; larger or equal: (-,-,-,-) 7.5, (-,-,-,+) 6.5 and mirrors
    assert stats.sign_flip_p([-1.0, -2.0, -4.0, 0.5]) == 4 / 16
    assert stats.sign_flip_p([-0.1] * 6) == pytest.approx(2 / 64)
    assert math.isnan(stats.sign_flip_p([0.3])) and math.isnan(stats.sign_flip_p([0.0, 0.0]))
    batch = stats.sign_flip_p(np.array([[-1.0, -2.0, -4.0], [-1.0, -2.0, 3.0]]))
    assert batch.tolist() == [0.25, 1.0]
    # n = 14 <= EXACT_MAX_N: every sign vector, whatever the seed
    d = np.r_[np.full(13, -0.1), 0.05]
    p = stats.sign_flip_p(d, seed=1)
    assert p == stats.sign_flip_p(d, seed=1) and 0 < p < 0.01


def test_decide_rule():
    assert stats.decide(0.01, True, 5) == "holds"
    assert stats.decide(0.01, False, 5) == "does not hold"
    assert stats.decide(0.06, True, 5) == "inconclusive"  # p too large
    assert stats.decide(0.01, True, stats.MIN_N - 1) == "inconclusive"  # too few pairs
    assert stats.decide(float("nan"), True, 8) == "inconclusive"
    batch = stats.decide(np.array([0.01, 0.01, 0.2]), np.array([True, False, True]), 6)
    assert batch.tolist() == ["holds", "does not hold", "inconclusive"]


def test_claim_test_kinds_bounds_and_sides():
    x = np.array([-0.12, -0.10, -0.08, -0.11, -0.09])  # mean -0.1, sd 0.0158
    p, fav = stats.claim_test(x, "superiority", "<")
    assert p == pytest.approx(st.ttest_1samp(x, 0).pvalue) and p == stats.ttest_zero(x)[1]
    assert fav and not stats.claim_test(x, "superiority", ">")[1]
    # non-inferiority of "lower is better" with margin 0.05: bound +0.05, far above the mean
    p, fav = stats.claim_test(x, "non-inferiority", "<", 0.05)
    assert p == pytest.approx(st.ttest_1samp(x, 0.05).pvalue) and fav
    # the same data claimed ">" (higher is better): bound -0.05, the mean is worse than that
    p, fav = stats.claim_test(x, "non-inferiority", ">", 0.05)
    assert p == pytest.approx(st.ttest_1samp(x, -0.05).pvalue) and not fav
    # equivalence within 0.2: both one-sided bounds tested, the larger p counts
    p, fav = stats.claim_test(x, "equivalence", "<", 0.2)
    ps = [st.ttest_1samp(x, b).pvalue for b in (0.2, -0.2)]
    assert p == pytest.approx(max(ps)) and fav
    p, fav = stats.claim_test(x, "equivalence", "<", 0.05)  # outside: the nearer bound's p
    assert p == pytest.approx(st.ttest_1samp(x, -0.05).pvalue) and not fav
    batch, fav = stats.claim_test(np.vstack([x, -x]), "superiority", "<")
    assert batch.tolist() == pytest.approx([p_ := st.ttest_1samp(x, 0).pvalue, p_])
    assert fav.tolist() == [True, False]
    with pytest.raises(ValueError, match="needs a margin > 0"):
        stats.claim_test(x, "non-inferiority", "<")
    with pytest.raises(ValueError, match="claim kind 'better'"):
        stats.claim_test(x, "better", "<")


def test_holm_of_a_batch_is_holm_of_each_row():
    p = np.array([[0.01, 0.04, 0.03], [0.2, np.nan, 0.01], [np.nan, np.nan, np.nan]])
    got = stats.holm(p)
    for row, want in zip(got, p):
        assert row == pytest.approx(stats.holm(list(want)), nan_ok=True)
    assert got[1].tolist() == pytest.approx([0.2, np.nan, 0.02], nan_ok=True)


def test_n3_with_p_0057_is_inconclusive():
    """The first GPU run: 3 seeds, t-test p = 0.057; the percentile bootstrap CI excluded 0
    (close to [min, max]) and the old rule said "does not hold"."""
    d = np.array([0.10, 0.16, 0.13])  # log(FID_ssgan / FID_wgan) per seed, FID higher
    d = d.mean() + (d - d.mean()) * (st.ttest_1samp(d, 0).statistic / 4.0)  # t = 4.0
    assert stats.ttest_zero(d)[1] == pytest.approx(0.057, abs=5e-4)
    lo, hi = stats.bootstrap_ci(d, 10000, 0)
    assert lo > 0  # the bootstrap interval alone would have given a verdict
    t_lo, t_hi = stats.t_ci(d)
    assert t_lo < 0 < t_hi and stats.sign_flip_p(d) == 0.25
    p, fav = stats.claim_test(d, "superiority", "<")
    assert stats.decide(stats.holm([p])[0], fav, len(d)) == "inconclusive"
    # and with p < 0.05 at n = 3 still none: below MIN_N nothing is decided
    assert stats.decide(0.001, False, 3) == "inconclusive"


def simulate(effect: float, n: int = 10, draws: int = 200, sd: float = 0.1, seed: int = 0):
    """Verdicts on ``draws`` synthetic data sets of n per-seed log FID ratios ~ N(log(1 - effect), sd)."""
    d = np.random.default_rng(seed).normal(math.log(1 - effect), sd, size=(draws, n))
    p, fav = stats.claim_test(d, "superiority", "<")  # one p per draw
    return list(stats.decide(p, fav, n))


def test_simulated_20_percent_reduction_holds_in_95_percent_of_draws():
    v = simulate(0.20)
    assert v.count("holds") >= 0.95 * len(v)


def test_no_effect_gives_false_holds_in_at_most_5_percent_of_draws():
    v = simulate(0.0)
    assert v.count("holds") <= 0.05 * len(v)
    assert v.count("holds") > 0  # the test can reject at all (a broken p would give none)


def test_in_range_of_an_interval():
    assert stats.in_range(0.10, 0.15) is True and stats.in_range(0.25, 0.30) is False
    assert stats.in_range(0.0476, 0.2184) is True and stats.in_range(0.15, 0.15) is True
    assert stats.in_range(-0.05, 0.01) is False  # wholly below 4.76%
    assert stats.in_range(0.0, 0.10) is None  # straddles 4.76%: the data cannot say
    assert stats.in_range(0.10, 0.30) is None and stats.in_range(float("nan"), 0.1) is None


def test_inputs_are_read_as_float():
    assert stats.as_array([1, 2]).dtype == np.float64
    assert stats.as_array(["0.5", "1"]).tolist() == [0.5, 1.0]  # numeric text, as from a CSV
    assert stats.sign_flip_p(["-1", "-2", "-4"]) == 0.25


def test_two_values_are_enough():
    """n = 2 is the smallest sample with every quantity defined (the docstrings say NaN below)."""
    assert stats.mean_std([1.0, 3.0]) == (2.0, pytest.approx(math.sqrt(2)), 2)
    lo, hi = stats.t_ci([1.0, 3.0])  # mean 2, sd/sqrt(2) = 1, t_{.975,1} = 12.706205
    assert (lo, hi) == (pytest.approx(2 - 12.706205), pytest.approx(2 + 12.706205))
    ref = st.ttest_1samp([1.0, 3.0], 0.0)
    assert stats.ttest_zero([1.0, 3.0]) == (
        pytest.approx(ref.statistic),
        pytest.approx(ref.pvalue),
        1,
    )
    assert stats.sign_flip_p([-1.0, -2.0]) == 0.5  # |sum| 3 reached by (-,-) and (+,+) of 4
    assert all(map(math.isfinite, stats.bootstrap_ci([1.0, 3.0], 50, 0)))


def test_short_inputs_give_nan_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(stats.mean_std([])[0])
        assert math.isnan(stats.mean_std([0.2])[1])
        assert math.isnan(stats.wilcoxon_p([0.0] * 6))  # all zero: no ranks at all
    assert stats.ttest_zero([])[2] == 0 and stats.ttest_zero([0.1])[2] == 0


def test_ttest_zero_without_spread_keeps_df():
    assert stats.ttest_zero([-0.1, -0.1, -0.1]) == (-math.inf, 0.0, 2)
    assert stats.ttest_zero([0.2, 0.2, 0.2, 0.2]) == (math.inf, 0.0, 3)
    t, p, df = stats.ttest_zero([0.0, 0.0, 0.0])
    assert math.isnan(t) and math.isnan(p) and df == 2


def test_wilcoxon_of_equal_nonzero_differences():
    # all six |d| tied, all positive: scipy's p, not NaN (only all-zero d gives NaN)
    assert stats.wilcoxon_p([1.0] * 6) == pytest.approx(st.wilcoxon([1.0] * 6).pvalue)
    assert stats.wilcoxon_p([1.0] * 6) < 0.05


def test_holm_caps_each_scaled_p_at_one():
    # sorted .6*2 = 1.2 -> 1, .9*1 = .9 -> running max 1, 1
    assert stats.holm([0.6, 0.9]).tolist() == [1.0, 1.0]
    # five values with a tie: .01*5=.05, .01*4=.04, .02*3=.06, .03*2=.06, .5*1=.5
    # running max: .05 .05 .06 .06 .5
    out = stats.holm([0.03, 0.01, 0.5, 0.01, 0.02])
    assert out == pytest.approx([0.06, 0.05, 0.5, 0.05, 0.06])


def _bootstrap_by_hand(x, n_boot, seed, level):
    x = np.asarray(x, dtype=float)
    idx = np.random.default_rng(seed).integers(0, len(x), size=(n_boot, len(x)))
    means = np.sort(x[idx].mean(axis=1))
    return tuple(np.quantile(means, [(1 - level) / 2, (1 + level) / 2]))


def test_bootstrap_ci_is_the_percentile_interval():
    """scipy.stats.bootstrap draws the same resamples as the hand-written loop did (equal to the
    last rounding bit: scipy's quantile sums in another order)."""
    x = [0.10, 0.10, 0.25, 0.05, 0.20, -0.3]
    by_hand = _bootstrap_by_hand(x, 10000, 0, 0.95)
    assert stats.bootstrap_ci(x) == pytest.approx(by_hand, rel=1e-12, abs=1e-15)  # the defaults
    by_hand = _bootstrap_by_hand(x, 999, 3, 0.8)
    assert stats.bootstrap_ci(x, 999, 3, 0.8) == pytest.approx(by_hand, rel=1e-12, abs=1e-15)
    lo_narrow, hi_narrow = stats.bootstrap_ci(x, 2000, 0, 0.5)
    lo, hi = stats.bootstrap_ci(x, 2000, 0, 0.95)
    assert lo < lo_narrow < hi_narrow < hi
    # a single resample: both ends are its mean
    one = stats.bootstrap_ci(x, 1, 5)
    idx = np.random.default_rng(5).integers(0, 6, size=(1, 6))
    assert one == pytest.approx((np.mean(np.asarray(x)[idx]),) * 2)
    assert all(map(math.isnan, stats.bootstrap_ci(x, 0, 5)))


def test_sign_flip_p_shapes_and_types():
    assert type(stats.sign_flip_p([-1.0, -2.0, -4.0])) is float
    assert type(stats.sign_flip_p([0.3])) is float
    for shape in [(3, 1), (2, 3, 1)]:
        p = stats.sign_flip_p(np.ones(shape))
        assert p.shape == shape[:-1] and p.dtype == float and np.isnan(p).all()
    # an all-zero row is NaN, the others keep their p
    p = stats.sign_flip_p(np.array([[0.0, 0.0, 0.0], [-1.0, -2.0, -4.0]]))
    assert math.isnan(p[0]) and p[1] == 0.25


def _exact_sign_flip(d):
    n = len(d)
    signs = 1 - 2 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1)
    return np.mean(np.abs(signs @ d) >= abs(d.sum()) * (1 - 1e-12))


def test_sign_flip_p_exact_up_to_16_then_monte_carlo():
    # n = 16, all equal: only the all-minus and all-plus vectors reach |sum|: 2/65536 exactly
    assert stats.sign_flip_p([-1.0] * 16) == 2 / 2**16 and stats.EXACT_MAX_N == 16
    d13 = np.r_[np.full(7, -0.1), np.full(6, 0.08)]
    assert stats.sign_flip_p(d13, seed=0) == stats.sign_flip_p(d13, seed=1) == _exact_sign_flip(d13)
    # n = 17: Monte Carlo with default_rng(seed), seed 0 by default, (k + 1) / (B + 1)
    d = np.r_[np.full(9, -0.1), np.full(8, 0.08)]
    p0 = stats.sign_flip_p(d)
    assert p0 == stats.sign_flip_p(d, seed=0) != stats.sign_flip_p(d, seed=1)
    exact = _exact_sign_flip(d)
    se = math.sqrt(exact * (1 - exact) / stats.MONTE_CARLO)
    assert abs(p0 - exact) < 4 * se and p0 != exact
    k = round(p0 * (stats.MONTE_CARLO + 1)) - 1  # an integer count of random sign vectors
    assert p0 == pytest.approx((k + 1) / (stats.MONTE_CARLO + 1))


def test_decide_at_the_boundaries():
    assert stats.decide(stats.ALPHA, True, 9) == "inconclusive"  # p = ALPHA is not < ALPHA
    assert stats.decide(0.0499, True, 9) == "holds"
    assert stats.decide(0.0499, True, stats.MIN_N) == "holds"
    # a t-test p just below 0.05 is an interval just excluding 0
    x = np.array([-0.2, -0.05, -0.1, 0.02, -0.12])
    p, _ = stats.claim_test(x)
    lo, hi = stats.t_ci(x)
    assert (p < 0.05) == (hi < 0)
