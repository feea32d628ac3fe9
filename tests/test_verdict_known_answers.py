"""The verdict rule on synthetic results folders with a known answer, through ``ssgan
aggregate`` (tests/synthetic_results.write_fid_grid): a consistent 20% reduction over 5 seeds
on each of 3 datasets holds on each; no effect, or 3 seeds, is inconclusive."""

from __future__ import annotations

import pandas as pd
import pytest

from ssgan.analysis import stats
from ssgan.cli import main
from tests.synthetic_results import write_fid_grid

THREE = ("mnist", "fashion_mnist", "cifar10")


def verdicts(tmp_path, reduction, seeds, **kw) -> pd.DataFrame:
    root = write_fid_grid(tmp_path, reduction, seeds, **kw)
    assert main(["aggregate", "--results", str(root), "--bootstrap", "200"]) == 0
    return pd.read_csv(root / "tables" / "relative_fid_reduction.csv").set_index("dataset")


def test_consistent_20_percent_over_5_seeds_holds_on_each_of_3_datasets(tmp_path):
    red = verdicts(tmp_path, dict.fromkeys(THREE, 0.20), seeds=5)
    assert red["verdict"].to_dict() == dict.fromkeys(THREE, "holds")
    assert (red["n_pairs"] == 5).all() and (red["p_ttest_holm"] < stats.ALPHA).all()
    # the sign-flip test cannot go below 2/2^5 = 1/16 at n = 5: it disagrees, and says so
    assert red["p_perm"].tolist() == pytest.approx([1 / 16] * 3)
    assert (red["perm_verdict"] == "inconclusive").all()
    assert red["tests_disagree"].all()
    assert red["r_mean"].tolist() == pytest.approx([0.20] * 3, abs=1e-9)
    assert (red["min_detectable_r"] < 0.20).all()  # this sd resolves far less than 20%


def test_no_effect_over_8_seeds_is_inconclusive(tmp_path):
    red = verdicts(tmp_path, dict.fromkeys(THREE, 0.0), seeds=8)
    assert red["verdict"].to_dict() == dict.fromkeys(THREE, "inconclusive")
    assert (red["p_ttest_holm"] > 0.5).all()  # tested, nothing found
    assert not red["tests_disagree"].any()


def test_3_seeds_are_inconclusive_even_for_a_large_consistent_effect(tmp_path):
    red = verdicts(tmp_path, dict.fromkeys(THREE, 0.30), seeds=3, jitter=0.001)
    assert red["p_ttest"].max() < 1e-3  # the t-test alone would "decide" at n = 3
    assert red["verdict"].to_dict() == dict.fromkeys(THREE, "inconclusive")
    assert red["p_ttest_holm"].isna().all()  # below MIN_N: not tested
    assert red["note"].str.startswith("n = 3 < 5 pairs: too few for a verdict").all()


def test_a_worse_treatment_does_not_hold(tmp_path):
    red = verdicts(tmp_path, {"mnist": -0.20}, seeds=6)
    assert red.loc["mnist", "verdict"] == "does not hold"
