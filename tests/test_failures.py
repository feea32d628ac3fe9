"""Failed runs count against the method that failed (ssgan/analysis/failures.py): a diverged or
collapsed run is its arm's worst outcome in the robustness test, and "holds" needs that test."""

import math

import numpy as np
import pandas as pd
import pytest

from ssgan.analysis import failures
from ssgan.analysis import tables as T
from tests.test_tables import SS, paired_runs


def verdict_of(runs):
    red = T.reduction_table(runs, T.fid_pairs(runs, [SS]), [SS], {SS.name: ["mnist"]}, n_boot=50)
    return red.iloc[0]


def test_a_real_effect_without_failures_holds():
    row = verdict_of(paired_runs({"mnist": -0.2}, n=8))
    assert row["verdict"] == "holds"
    assert row["p_robust"] == pytest.approx(2.0**-8)  # every pair favourable: exact 2^-n
    assert row["failed_treatment"] == "0/8" and row["fail_rate_treatment"] == 0.0


def test_a_method_losing_seeds_to_divergence_does_not_hold():
    runs = paired_runs({"mnist": -0.2}, n=8)
    bad = (runs["method"] == "ssgan") & runs["seed"].isin([5, 6, 7])  # 3 of 8 seeds diverged
    runs.loc[bad, ["status", "fid_status", "fid"]] = ("diverged", "missing", math.nan)
    row = verdict_of(runs)
    assert row["n_pairs"] == 5 and row["p_ttest_holm"] < 0.05  # the survivors alone: holds
    assert row["p_robust"] > 0.05 and row["verdict"] == "inconclusive"
    assert row["failed_treatment"] == "3/8" and row["fail_rate_treatment"] == pytest.approx(3 / 8)
    assert T.fail_rate(runs, "mnist", "ssgan") == dict(failed="3/8", fail_rate=3 / 8)
    assert T.fail_rate(runs, "mnist", "wgan_gp") == dict(failed="0/8", fail_rate=0.0)


def test_a_collapsed_run_is_a_failure_and_a_baseline_failure_helps_the_treatment():
    runs = paired_runs({"mnist": -0.2}, n=8)
    runs["recall"], runs["classes_covered"] = 0.5, 10.0
    f = failures.failed(runs)
    assert not f.any()
    runs.loc[(runs["method"] == "ssgan") & (runs["seed"] == 0), "recall"] = 0.05
    runs.loc[(runs["method"] == "ssgan") & (runs["seed"] == 1), "classes_covered"] = 4.0
    runs.loc[(runs["method"] == "wgan_gp") & (runs["seed"] == 1), "classes_covered"] = 3.0
    f = failures.failed(runs)
    assert f.sum() == 3
    # seed 0: treatment collapsed (worst); seed 1: both collapsed (a tie, dropped)
    z = failures.scores(
        pd.Series(np.full(8, -0.2), index=range(8)),
        failures.arm_failures(runs, "wgan_gp", "mnist"),
        failures.arm_failures(runs, "ssgan", "mnist"),
        -1.0,
    )
    assert sorted(z) == pytest.approx([-1.2, 0.0] + [0.2] * 6)
    # the baseline failing where the treatment did not ranks in the treatment's favour
    z = failures.scores(
        pd.Series([0.1, 0.1, 0.1]), pd.Series([True, False, False]), pd.Series([False] * 3), -1.0
    )
    assert list(z) == pytest.approx([1.1, -0.1, -0.1])


def test_settle_only_ever_demotes_holds():
    v = failures.settle(["holds", "holds", "does not hold", "inconclusive"], [0.01, 0.2, 0.9, 0.01])
    assert list(v) == ["holds", "inconclusive", "does not hold", "inconclusive"]
    assert failures.settle("holds", math.nan) == "inconclusive"


def test_more_failures_than_the_baseline_forbid_holds_equal_ones_do_not():
    runs = paired_runs({"mnist": -0.2}, n=8)
    runs["recall"], runs["classes_covered"] = 0.5, 10.0
    runs.loc[(runs["method"] == "ssgan") & (runs["seed"] == 0), "recall"] = 0.05  # collapsed
    row = verdict_of(runs)  # its FID still paired: the t-test and the sign test (7/8) pass
    assert row["p_ttest_holm"] < 0.05 and row["p_robust"] < 0.05
    assert row["verdict"] == "inconclusive"  # 1 failure against 0
    runs.loc[(runs["method"] == "wgan_gp") & (runs["seed"] == 3), "recall"] = 0.05
    row = verdict_of(runs)  # 1 against 1: the baseline's failure also ranks worst for it
    assert row["failed_baseline"] == "1/8" and row["verdict"] == "holds"
