"""``ssgan plan`` and the power formulas behind it (ssgan/analysis/power.py, plan.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from ssgan.analysis import power as P
from ssgan.analysis import stats
from ssgan.analysis.plan import plan_table
from ssgan.cli import main
from ssgan.config.yaml_io import load_yaml
from tests.conftest import REPO
from tests.synthetic_results import write_fid_grid


def test_power_is_the_noncentral_t_of_the_bonferroni_step():
    # by simulation: the two-sided t-test at 0.05/3 on N(log 0.8, 0.08) with n = 5
    rng = np.random.default_rng(0)
    d = rng.normal(math.log(0.8), 0.08, size=(40000, 5))
    p = st.ttest_1samp(d, 0.0, axis=1).pvalue
    assert P.power(0.20, 0.08, 5, 3) == pytest.approx(np.mean(p < 0.05 / 3), abs=0.01)
    assert P.power(0.20, 0.08, stats.MIN_N - 1, 1) == 0.0  # no verdict below MIN_N
    assert math.isnan(P.power(0.1, float("nan"), 8)) and math.isnan(P.power(0.1, 0.08, 1))
    assert P.power(0.10, 0.08, 10, 3) > P.power(0.10, 0.08, 10, 7) > P.power(0.05, 0.08, 10, 7)


def test_min_detectable_and_seeds_needed_invert_each_other():
    mde = P.min_detectable(0.08, 10, 3)
    assert P.power(mde, 0.08, 10, 3) == pytest.approx(0.8, abs=1e-4)
    assert math.isnan(P.min_detectable(0.08, 3, 1))  # below MIN_N: nothing is detectable
    # the grids' seed counts (config/config.yaml: 7 datasets, config/related.yaml: 3)
    assert (P.seeds_needed(0.10, 0.08, 7), P.seeds_needed(0.10, 0.08, 3)) == (11, 10)
    n = P.seeds_needed(0.0476, 0.08, 3)
    assert P.power(0.0476, 0.08, n, 3) >= 0.8 > P.power(0.0476, 0.08, n - 1, 3)
    assert P.seeds_needed(0.20, 0.001, 7) == stats.MIN_N  # never fewer than MIN_N


def test_plan_of_the_grids_at_the_assumed_sd():
    for name, datasets, seeds in (("config.yaml", 7, 11), ("related.yaml", 3, 10)):
        suite = load_yaml(REPO / "config" / name)
        t = plan_table(suite=suite, sd=0.08)
        assert set(t["family"]) == {datasets} and set(t["n"]) == {seeds}, name
        assert (t["min_detectable_r"] <= 0.10).all()  # the grid resolves a 10% reduction
        assert set(t["seeds_for_10pct"]) == {seeds}


def test_plan_from_a_results_folder_measures_the_sd(tmp_path, capsys):
    root = write_fid_grid(tmp_path, {"mnist": 0.2, "cifar10": 0.0}, seeds=6, jitter=0.05)
    assert main(["plan", "--results", str(root), "--out", str(tmp_path / "plan.csv")]) == 0
    out = capsys.readouterr().out
    assert "| ssgan vs wgan_gp | mnist | 6 | 2 |" in out and "measured on 6 pairs" in out
    t = plan_table(results=root)
    e = np.array([-1.0, 0.5, 1.0, -0.5, 0.0, 0.25])
    measured = np.log(1 - 0.2 + 0.05 * e).std(ddof=1)
    # sized from the 90% upper bound: sd sqrt(5 / chi2_{0.10, 5}), 5 df: chi2 quantile 1.610
    sd = measured * math.sqrt(5 / 1.6103)
    assert (t.loc[0, "sd_measured"], t.loc[0, "pairs_measured"]) == (pytest.approx(measured), 6)
    assert t.loc[0, "sd"] == pytest.approx(sd, rel=1e-4) and t.loc[0, "sd"] > measured
    assert t.loc[0, "min_detectable_r"] == pytest.approx(P.min_detectable(sd, 6, 2), rel=1e-3)
    assert (tmp_path / "plan.csv").read_text().startswith("comparison,dataset,n,family,sd")
    # the same folder planned for a 10-seed grid: n from --n
    assert set(plan_table(results=root, n=10)["n"]) == {10}


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "give --results DIR (measured sd) or --sd X (assumed sd)"),
        (["--sd", "0"], "--sd must be > 0, got 0.0"),
        (["--sd", "0.08", "--n", "0"], "--n must be at least 1, got 0"),
    ],
)
def test_plan_bad_input_is_one_line(args, message, capsys):
    assert main(["plan", *args]) == 2
    assert capsys.readouterr().err.strip() == f"ssgan plan: error: {message}"


def test_plan_of_a_file_that_is_not_a_suite_config_is_one_line(tmp_path, capsys):
    run_config = tmp_path / "run.yaml"
    run_config.write_text("train:\n  iterations: 100\n")
    assert main(["plan", "--config", str(run_config), "--sd", "0.1"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err == (
        f"ssgan plan: error: --config {run_config} is not a suite config (it has no "
        "'datasets:'); give the workflow's config, e.g. config/config.yaml\n"
    )
    assert main(["plan", "--config", str(REPO / "config" / "quick.yaml"), "--sd", "0.1"]) == 0


def test_plan_help_prints_percent_signs_once(capsys):
    with pytest.raises(SystemExit):
        main(["plan", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "%%" not in text and "80% power" in text and "4.76%, 10% and 20%" in text
