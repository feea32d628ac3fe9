"""ssgan.stats against hand-computed values."""

import math

import numpy as np
import pytest
from scipy import stats as st

from ssgan import stats

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
    assert stats.in_range(float("nan")) is None


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
    d = [-0.3, -0.1, -0.2, 0.05, -0.4]
    assert stats.wilcoxon_p(d) == pytest.approx(st.wilcoxon(d).pvalue)
    assert stats.wilcoxon_p(d) == pytest.approx(
        4 / 32
    )  # exact: W+ = 1, P(W+ <= 1) = 2/32, two-sided 4/32
    assert math.isnan(stats.wilcoxon_p(d[:4]))


def test_in_range_and_verdicts():
    assert stats.in_range(0.15) is True and stats.in_range(0.30) is False
    assert stats.in_range(0.0476) is True and stats.in_range(0.2184) is True
    assert stats.verdict(-0.2, -0.1, "<") == "holds"
    assert stats.verdict(0.1, 0.2, "<") == "does not hold"
    assert stats.verdict(-0.1, 0.2, "<") == "inconclusive"
    assert stats.verdict(0.1, 0.2, ">") == "holds"
    assert stats.verdict(-0.2, -0.1, ">") == "does not hold"
    assert stats.verdict(float("nan"), float("nan"), ">") == "inconclusive"
