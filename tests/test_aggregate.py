"""ssgan aggregate on the synthetic results folder (tests/synthetic_results.py) with a known answer."""

import hashlib
import json
import math
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from ssgan import config as C
from ssgan.analysis import aggregate as agg
from ssgan.analysis import runs as R
from ssgan.cli import main
from tests.synthetic_results import write_synthetic

SS = "ssgan vs wgan_gp"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = write_synthetic(tmp_path_factory.mktemp("results"))
    assert main(["aggregate", "--results", str(root), "--bootstrap", "2000", "--seed", "3"]) == 0
    return root


def table(results, name):
    return pd.read_csv(results / "tables" / name)


def row(df, **kw):
    sel = df
    for k, v in kw.items():
        sel = sel[sel[k] == v]
    assert len(sel) == 1, kw
    return sel.iloc[0]


def test_all_tables_written(results):
    for name in agg.TABLES:
        assert (results / "tables" / name).stat().st_size > 0, name


def test_runs_table(results):
    runs = table(results, "runs.csv")
    assert list(runs.columns) == R.RUN_COLUMNS
    assert len(runs) == 47
    assert runs["status"].value_counts().to_dict() == {
        "completed": 43,
        "running": 1,
        "diverged": 1,
        "failed": 1,
        "mismatch": 1,
    }
    assert list(runs["dataset"].unique()) == ["mnist", "fashion_mnist", "cifar10"]  # paper order
    assert list(runs.loc[runs["dataset"] == "fashion_mnist", "method"].unique()) == [
        "wgan_gp",
        "ssgan",
        "ssgan_sigmoid",
    ]
    v = row(runs, dataset="fashion_mnist", method="ssgan_sigmoid", seed=0)
    assert v["method_kind"] == "ssgan"
    r = row(runs, dataset="mnist", method="wgan_gp", seed=2)
    assert (r["status"], r["fid"], r["n_fake"], r["n_real"], r["split"], r["iteration"]) == (
        "completed",
        40.0,
        500,
        1000,
        "train",
        200,
    )
    assert (r["params_generator"], r["params_sastm"], r["git_commit"], r["device_name"]) == (
        1000,
        0,
        "abc123",
        "Synthetic CPU",
    )
    assert r["weights_sha256"] == "f" * 64 and r["run_dir"] == "runs/mnist/wgan_gp/seed2"
    assert r["method_kind"] == "wgan_gp" and len(r["protocol_id"]) == 12
    d = row(runs, dataset="mnist", method="ssgan", seed=3)
    assert (d["status"], d["fid_status"], d["diverged_at"]) == ("diverged", "skipped", 101)
    assert math.isnan(d["fid"]) and "diverged" in d["note"]
    run = row(runs, dataset="mnist", method="wgan_gp", seed=4)
    assert (run["status"], run["fid_status"], run["iteration"], run["iterations"]) == (
        "running",
        "missing",
        100,
        200,
    )
    f = row(runs, dataset="cifar10", method="ssgan", seed=6)
    assert f["status"] == "failed" and f["note"] == "no run.json (1 files)"


def test_record_of_another_run_is_a_mismatch_not_a_second_row(results):
    runs = table(results, "runs.csv")
    cell = runs[(runs["dataset"] == "mnist") & (runs["method"] == "stu_gan")]
    assert sorted(cell["seed"]) == [0, 7]  # one row per folder, the folder names the run
    m = row(runs, dataset="mnist", method="stu_gan", seed=7)
    assert m["status"] == "mismatch"
    assert m["note"] == "run.json is for mnist/stu_gan/seed0, the folder for mnist/stu_gan/seed7"
    assert row(runs, dataset="mnist", method="stu_gan", seed=0)["status"] == "completed"
    board = table(results, "leaderboard.csv")
    assert row(board, dataset="mnist", method="stu_gan")["n"] == 1  # the copy is not counted


def test_fids_of_another_protocol_are_reported_apart(results):
    runs = table(results, "runs.csv")
    o = row(runs, dataset="cifar10", method="wgan_gp", seed=5)
    main_id = row(runs, dataset="cifar10", method="wgan_gp", seed=0)["protocol_id"]
    assert o["fid_status"] == "other protocol" and o["protocol_id"] != main_id
    assert f"differs from the dataset's {main_id}" in o["note"]
    c = row(table(results, "relative_fid_reduction.csv"), comparison=SS, dataset="cifar10")
    assert c["baseline_n"] == 5 and c["protocol_id"] == main_id  # seed 5 is not averaged
    assert "seed 5: ssgan missing, wgan_gp FID other protocol" in c["dropped"]


def test_fid_pairs(results):
    p = table(results, "fid_pairs.csv")
    ss = p[p["comparison"] == SS]
    assert ss.groupby("dataset", sort=False)["seed"].apply(list).to_dict() == {
        "mnist": [0, 1, 2],
        "fashion_mnist": list(range(8)),
        "cifar10": [0, 1, 2, 3, 4],
    }
    assert ss.loc[ss["dataset"] == "mnist", "r"].tolist() == pytest.approx([0.10, 0.10, 0.25])
    assert list(dict.fromkeys(p["comparison"])) == [
        SS,
        "ssgan_sigmoid vs wgan_gp",
        "stu_gan vs wgan_gp",
    ]
    v = p[p["comparison"] == "ssgan_sigmoid vs wgan_gp"]
    assert set(v["dataset"]) == {"fashion_mnist"} and (v["log_ratio"] > 0).all()


def test_relative_reduction(results):
    red = table(results, "relative_fid_reduction.csv")
    assert list(zip(red["comparison"], red["dataset"])) == [
        (SS, "mnist"),
        (SS, "fashion_mnist"),
        (SS, "cifar10"),
        ("ssgan_sigmoid vs wgan_gp", "fashion_mnist"),  # the variant ran on one dataset only
        ("stu_gan vs wgan_gp", "mnist"),
    ]
    m, c = row(red, comparison=SS, dataset="mnist"), row(red, comparison=SS, dataset="cifar10")
    assert (m["n_pairs"], m["baseline_n"], m["treatment_n"]) == (3, 4, 3)
    assert m["baseline_fid_mean"] == pytest.approx(21.5)
    assert m["treatment_fid_mean"] == pytest.approx(19.0)
    assert m["r_mean"] == pytest.approx(0.15) and m["r_std"] == pytest.approx(math.sqrt(0.0075))
    # r takes the values .10, .10, .25: P(all three draws .10) = 8/27 and P(all .25) = 1/27 both
    # exceed 2.5%, so the percentile CI is exactly [min, max]
    assert (m["r_ci_low"], m["r_ci_high"]) == (pytest.approx(0.10), pytest.approx(0.25))
    assert m["dropped"] == "seed 3: ssgan diverged; seed 4: ssgan missing, wgan_gp running"
    # the mean r (15%) lies in the published range, its 3-pair interval does not: undetermined
    assert m["n_dropped"] == 2 and pd.isna(m["in_published_range"])
    assert math.isnan(m["p_wilcoxon"]) and m["note"].startswith("n = 3 < 5 pairs")
    # the t interval of the log ratios, mapped to r: 1 - exp(mean(d) -+ t sd / sqrt 3)
    d = np.log([0.9, 0.9, 0.75])
    half = st.t.ppf(0.975, 2) * d.std(ddof=1) / math.sqrt(3)
    assert (m["r_t_ci_low"], m["r_t_ci_high"]) == (
        pytest.approx(1 - math.exp(d.mean() + half)),
        pytest.approx(1 - math.exp(d.mean() - half)),
    )
    assert (c["n_pairs"], c["baseline_n"], c["treatment_n"]) == (5, 5, 5)
    assert c["r_mean"] == pytest.approx(0.002)
    assert c["dropped"] == (
        "seed 5: ssgan missing, wgan_gp FID other protocol; seed 6: ssgan failed, wgan_gp missing"
    )
    assert bool(c["in_published_range"]) is False
    assert c["r_ci_low"] < c["r_mean"] < c["r_ci_high"]
    # t-tests on d = log(FID_ssgan / FID_wgan_gp) against scipy, Holm over the three datasets
    fb_f = [30.0 + s for s in range(8)]
    ft_f = [f * (1 - 0.20 - 0.01 * (s % 3 - 1)) for s, f in enumerate(fb_f)]
    p = {}
    for ds, fb, ft in [
        ("mnist", [10, 20, 40], [9, 18, 30]),
        ("fashion_mnist", fb_f, ft_f),
        ("cifar10", [50, 40, 60, 45, 55], [48.5, 40.8, 59.4, 45.45, 55.0]),
    ]:
        ref = st.ttest_1samp(np.log(np.array(ft) / np.array(fb)), 0.0)
        r = row(red, comparison=SS, dataset=ds)
        assert (r["t_stat"], r["p_ttest"], r["df"]) == (
            pytest.approx(ref.statistic),
            pytest.approx(ref.pvalue),
            len(fb) - 1,
        )
        p[ds] = ref.pvalue
    ss = red[red["comparison"] == SS]
    del p["mnist"]  # 3 pairs < MIN_N: not tested, so Holm runs over the other 2 datasets
    order = sorted(p, key=p.get)
    holm = dict(
        zip(order, np.maximum.accumulate([min(1, (2 - i) * p[k]) for i, k in enumerate(order)]))
    )
    assert math.isnan(row(ss, dataset="mnist")["p_ttest_holm"])
    assert ss["p_ttest_holm"].tolist()[1:] == pytest.approx([holm[k] for k in ss["dataset"][1:]])
    d = np.log(np.array([48.5, 40.8, 59.4, 45.45, 55.0]) / np.array([50, 40, 60, 45, 55]))
    assert math.isnan(c["p_wilcoxon"])  # n = 5 < 6: 2/2^5 = 0.0625 could never reject
    f = row(red, comparison=SS, dataset="fashion_mnist")
    assert f["p_wilcoxon"] == pytest.approx(st.wilcoxon(np.log(np.array(ft_f) / fb_f)).pvalue)
    assert c["p_perm"] == pytest.approx(
        np.mean([abs((s * d).sum()) >= abs(d.sum()) - 1e-12 for s in signs(5)])
    )


def signs(n):
    return [np.array([1 - 2 * ((k >> i) & 1) for i in range(n)]) for k in range(2**n)]


def test_verdicts_follow_the_rule(results):
    red = table(results, "relative_fid_reduction.csv")
    got = {
        (r.comparison, r.dataset): (r.p_perm, r.p_perm_holm, r.verdict) for r in red.itertuples()
    }
    # all 3 mnist log ratios < 0: p = 2/2^3, but 3 pairs < MIN_N: not tested, so Holm runs over
    # fashion (all 8 < 0: 2/2^8) and cifar10 only
    assert got[SS, "mnist"][0] == pytest.approx(0.25) and math.isnan(got[SS, "mnist"][1])
    assert got[SS, "mnist"][2] == "inconclusive"
    # the t-test and the sign test would hold, but ssgan diverged once on mnist and wgan_gp
    # never: a method that failed more often than its baseline gets no "holds" (failures.py)
    assert got[SS, "fashion_mnist"] == (
        pytest.approx(2 / 256),
        pytest.approx(2 * 2 / 256),
        "inconclusive",
    )
    m = row(red, comparison=SS, dataset="mnist")
    assert (m["failed_treatment"], m["failed_baseline"]) == ("1/4", "0/5")
    assert got[SS, "cifar10"][2] == "inconclusive"
    # the variant is worse than WGAN-GP on its one dataset (no Holm factor)
    assert got["ssgan_sigmoid vs wgan_gp", "fashion_mnist"] == (
        pytest.approx(2 / 256),
        pytest.approx(2 / 256),
        "does not hold",
    )
    assert got["stu_gan vs wgan_gp", "mnist"][2] == "inconclusive"  # one pair
    assert (red["rule"] == red["rule"].iloc[0]).all() and "Holm" in red["rule"].iloc[0]


def test_leaderboard(results):
    board = table(results, "leaderboard.csv")
    f = board[board["dataset"] == "fashion_mnist"]
    assert f["method"].tolist() == ["ssgan", "wgan_gp", "ssgan_sigmoid"]  # by mean FID
    assert f["rank"].tolist() == [1, 2, 3] and f["n"].tolist() == [8, 8, 8]
    assert f["fid_mean"].tolist() == pytest.approx([26.84, 33.5, 36.89])
    s, w = row(f, method="ssgan"), row(f, method="wgan_gp")
    assert (s["baseline"], s["verdict"], s["n_pairs"]) == ("wgan_gp", "inconclusive", 8)
    assert (s["failed"], s["fail_rate"]) == ("0/8", 0.0)  # its failure is on mnist
    assert s["r_mean"] == pytest.approx(0.19875)
    assert pd.isna(w["baseline"]) and pd.isna(w["r_mean"])  # only a baseline
    assert row(f, method="ssgan_sigmoid")["method_kind"] == "ssgan"
    assert list(dict.fromkeys(board["dataset"])) == ["mnist", "fashion_mnist", "cifar10"]


def test_claims(results):
    cl = table(results, "claims.csv")
    ss = cl[cl["comparison"] == SS]
    verdicts = {(r.claim, r.dataset): r.verdict for r in ss.itertuples()}
    assert verdicts == {
        ("C0", "mnist"): "inconclusive",  # n = 3 can never be conclusive
        ("C0", "fashion_mnist"): "inconclusive",  # ssgan diverged once on mnist: no "holds"
        ("C0", "cifar10"): "inconclusive",
        ("C1", "mnist"): "inconclusive",  # older folder: no gradient probe
        ("C1", "fashion_mnist"): "inconclusive",
        # a constant difference over 5 seeds: the t-test decides at n = 5 (the sign-flip test,
        # whose p is >= 1/16 there, could not)
        ("C1", "cifar10"): "does not hold",
        ("C2", "mnist"): "inconclusive",
        ("C2", "fashion_mnist"): "inconclusive",
        ("C2", "cifar10"): "inconclusive",
        ("C3", "mnist"): "inconclusive",
        ("C3", "fashion_mnist"): "inconclusive",
        ("C3", "cifar10"): "inconclusive",
        ("M1", "mnist"): "manipulation check",  # reported, never judged
        ("M1", "fashion_mnist"): "manipulation check",
        ("M1", "cifar10"): "manipulation check",
    }
    c1 = row(cl, comparison=SS, claim="C1", dataset="fashion_mnist")
    # every deconvolution; the final iteration, not iteration 100
    assert c1["layers"] == "deconv1 deconv2 deconv3" and c1["probe"] == "probe_gradients.csv"
    assert (c1["value_baseline"], c1["value_treatment"], c1["n"]) == (
        pytest.approx(0.05),
        pytest.approx(0.30 + 0.01 * 3.5),
        8,
    )
    assert c1["p_perm"] == pytest.approx(2 / 256) and c1["ci_low"] > 0
    # the arms start equal: judged, not decided by construction
    assert c1["by_construction"] == False and c1["it0_diff_mean"] == 0  # noqa: E712
    m1 = row(cl, comparison=SS, claim="M1", dataset="fashion_mnist")
    # block1, block2 only (block0 .90 excluded); apart at iteration 0: flagged, never judged
    assert m1["layers"] == "block1 block2" and m1["probe"] == "probe_feature_sparsity.csv"
    assert m1["by_construction"] == True and m1["family"] == "not judged"  # noqa: E712
    assert m1["it0_diff_mean"] == pytest.approx((1 - 0.635) - (1 - 0.4175))
    # Self-Sparse-GAN-only columns: described, never compared with a constant
    assert (
        m1["sastm_output_zero_frac"],
        m1["sastm_channel_dead_frac"],
        m1["sastm_spatial_dead_frac"],
    ) == (0.5, 0.25, 0.125)
    old = row(cl, comparison=SS, claim="M1", dataset="mnist")
    assert (
        old["n"] == 0
        and "no probe_feature_sparsity.csv values for wgan_gp and ssgan" in old["note"]
    )
    assert old["sastm_output_zero_frac"] == pytest.approx(0.41)  # (sastm1 + sastm2)/2 over seeds
    assert math.isnan(old["sastm_channel_dead_frac"])  # no dead-gate columns in older runs
    c2 = row(cl, comparison=SS, claim="C2", dataset="cifar10")  # deconv3 excluded
    assert (c2["value_baseline"], c2["value_treatment"], c2["diff_mean"]) == (
        pytest.approx(0.5),
        pytest.approx(0.3),
        pytest.approx(-0.2),
    )
    assert c2["layers"] == "deconv1 deconv2" and c2["note"].startswith("n = 5: the smallest")
    assert (
        "no probe_gradients.csv values"
        in row(cl, comparison=SS, claim="C2", dataset="mnist")["note"]
    )
    c3 = row(cl, comparison=SS, claim="C3", dataset="mnist")  # output deconv3 excluded
    assert (c3["value_baseline"], c3["value_treatment"], c3["n"]) == (
        pytest.approx(0.51),
        pytest.approx(0.41),
        3,
    )
    assert c3["layers"] == "deconv1 deconv2"
    c0 = row(cl, comparison=SS, claim="C0", dataset="mnist")
    assert c0["diff_mean"] == pytest.approx(np.log([0.9, 0.9, 0.75]).mean())
    assert c0["value_baseline"] == pytest.approx(70 / 3)
    # C0 is primary; C1-C3 are secondary, one Holm family over claims x datasets with >= 5
    # pairs: C1, C2, C3 on fashion_mnist (8) and on cifar10 (5); on mnist C1, C2 have no values,
    # C3 3 pairs; M1 is in no family. The two smallest sign-flip p (C1, C2 on fashion, all 8 the
    # same sign: 2/256) are multiplied by 6 (the tie keeps the first factor)
    c2f = row(cl, comparison=SS, claim="C2", dataset="fashion_mnist")
    assert c2f["family"] == "secondary: Holm over 6 rows" and c2f["primary"] == False  # noqa: E712
    assert c2f["p_perm_holm"] == pytest.approx(6 * 2 / 256)
    assert c2f["p_holm"] < 1e-10 and c2f["verdict"] == "inconclusive"  # failures.excess
    assert row(cl, comparison=SS, claim="C0", dataset="fashion_mnist")["family"] == (
        "primary: Holm over 2 rows"
    )
    # claims follow the treatment's registered method: STU-GAN has only the FID claim
    assert set(cl.loc[cl["treatment"] == "stu_gan", "claim"]) == {"C0"}
    assert set(cl.loc[cl["treatment"] == "ssgan_sigmoid", "claim"]) == {
        "C0",
        "C1",
        "C2",
        "C3",
        "M1",
    }


def test_probe_tables(results):
    sp = table(results, "sparsity.csv")
    assert set(sp["method"]) == {"ssgan", "ssgan_sigmoid"} and list(sp.columns[:4]) == R.ID
    assert "channel_dead_frac" in sp.columns
    ws = table(results, "weight_signs.csv")
    assert set(ws["method"]) == {"wgan_gp", "ssgan", "stu_gan"} | {"ssgan_sigmoid"}
    fs = table(results, "feature_sparsity.csv")
    assert set(fs["dataset"]) == {"fashion_mnist"} and set(fs["layer"]) == {
        "block0",
        "block1",
        "block2",
    }
    wh = table(results, "weight_hist.csv")
    assert set(wh["stage"]) == {"start", "end"}
    assert set(table(results, "fid_curves.csv")["dataset"]) == {"mnist"}
    assert set(table(results, "dead_units.csv")["layer"]) == {"bn0", "bn1", "bn2"}


def test_paper_table(results):
    md = (results / "tables" / "paper_table.md").read_text()
    assert (
        "| MNIST | 21.50 ± 13.00 (n=4) | 19.00 ± 10.54 (n=3) | 15.00% ± 8.66% (n=3) | "
        "[-10.00%, 34.79%] | – | inconclusive (n < 5: no verdict possible) |" in md
    )  # 3 pairs: not tested (no p), and the cell says why
    assert "| Fashion-MNIST |" in md and "| 1.85e-10 | inconclusive |" in md  # failures.excess
    assert "| 0.816 | inconclusive |" in md  # CIFAR-10: 5 pairs, tested, no effect
    assert "| CIFAR-10 |" in md and md.count("4.76%–21.84% ᵃ") == 3
    assert "ssgan_sigmoid" not in md  # the paper's comparison only
    assert "WGAN-GP FID | Self-Sparse GAN FID" in md and "n_fake=500, n_real=1000" in md
    assert "MNIST seed 3: Self-Sparse GAN diverged" in md
    tex = (results / "tables" / "paper_table.tex").read_text()
    assert "\\begin{tabular}{lrrrrrrr}" in tex and "15.00\\% $\\pm$ 8.66\\% (n=3)" in tex
    assert "CIFAR-10 &" in tex and "4.76\\%--21.84\\%" in tex


def test_bootstrap_reproducible(results, tmp_path):
    agg.aggregate(results, tmp_path / "a", n_boot=2000, seed=3)
    for name in ("relative_fid_reduction.csv", "claims.csv", "leaderboard.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (results / "tables" / name).read_bytes()


def test_one_comparison_from_the_command_line_and_tiny_n(results, tmp_path):
    f = agg.aggregate(
        results, tmp_path, n_boot=500, seed=0, baseline="wgan_gp", treatment="stu_gan"
    )
    red = f["relative_fid_reduction"].set_index("dataset")
    assert list(red.index) == ["mnist"] and set(red["comparison"]) == {"stu_gan vs wgan_gp"}
    assert red.loc["mnist", "n_pairs"] == 1 and red.loc["mnist", "r_mean"] == pytest.approx(-0.2)
    assert math.isnan(red.loc["mnist", "r_std"]) and math.isnan(red.loc["mnist", "p_ttest"])
    assert "1 complete pair" in red.loc["mnist", "note"]
    assert set(f["claims"]["verdict"]) == {"inconclusive"}
    assert (
        "not among this results folder's comparisons" in (tmp_path / "paper_table.md").read_text()
    )


def test_comparisons_from_the_suite_config(results, tmp_path):
    suite = {
        "comparisons": [
            {"baseline": "ssgan", "treatment": "ssgan_sigmoid", "claims": ["C0", "C2"]},
        ]
    }
    f = agg.aggregate(results, tmp_path, n_boot=200, suite=suite)
    red = f["relative_fid_reduction"]
    assert list(red["comparison"]) == ["ssgan_sigmoid vs ssgan"]
    assert red["verdict"].tolist() == ["does not hold"]  # r = 1 - 1.1/0.8 < 0 on every seed
    assert set(f["claims"]["claim"]) == {"C0", "C2"}


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(n_boot=0), "--bootstrap must be at least 1"),
        (dict(baseline="ssgan", treatment="ssgan"), "baseline and treatment are the same"),
        (dict(baseline="sngan", treatment="ssgan"), "baseline 'sngan' has no runs"),
        (dict(treatment="sr_gan"), "treatment 'sr_gan' has no runs"),
        (
            dict(
                suite={
                    "comparisons": [{"baseline": "wgan_gp", "treatment": "ssgan", "claims": ["C9"]}]
                }
            ),
            "unknown claim(s) C9",
        ),
    ],
)
def test_bad_comparisons_are_clear_errors(results, tmp_path, kw, message):
    with pytest.raises(R.AnalysisError, match=re.escape(message)):
        agg.aggregate(results, tmp_path, **kw)


def test_suite_comparisons_are_refused_in_the_words_of_the_config_check(results, tmp_path):
    """`ssgan aggregate --config` refuses a comparison naming a label outside `methods` before
    reading any pair, with the workflow's message (ssgan.config.check_comparisons)."""
    suite = {
        "methods": ["wgan_gp", "ssgan"],
        "comparisons": [{"baseline": "wgan_gp", "treatment": "ssgan_sigmoid"}],
    }
    message = (
        "comparison 'ssgan_sigmoid vs wgan_gp': treatment 'ssgan_sigmoid' is not in the "
        "config's 'methods'; it has: wgan_gp, ssgan"
    )
    with pytest.raises(R.AnalysisError, match="^" + re.escape(message) + "$"):
        agg.aggregate(results, tmp_path, n_boot=2, suite=suite)
    with pytest.raises(C.ConfigError, match="^" + re.escape(message) + "$"):
        C.check_comparisons(suite)


def test_pairs_differ_only_in_the_method(tmp_path):
    """A pair whose runs differ beyond the method (here 500 vs 12 iterations) is dropped with a
    note naming the key; the methods' own sections (sastm), the FID section's extra measurements
    (its protocol is paired by protocol id) and seeds do not split pairs."""
    root = write_synthetic(tmp_path / "r", probes=False, curves=False, samples=False)
    for run in root.glob("runs/mnist/*/seed*"):
        rec = json.loads((run / "run.json").read_text())
        if rec["method"] not in ("wgan_gp", "ssgan"):
            continue
        cfg = C.resolve("mnist", rec["method"], rec["seed"])
        if rec["method"] == "ssgan" and rec["seed"] == 0:
            cfg["train"]["iterations"] = 500
        if rec["method"] == "ssgan" and rec["seed"] == 1:  # measured more, trained the same
            cfg["fid"].update(checkpoints=[80], compare_bn_modes=["batch"], manifold=False)
        (run / "run.json").write_text(json.dumps({**rec, "config": cfg}))
    f = agg.aggregate(root, tmp_path / "t", n_boot=200)
    pairs = f["fid_pairs"]
    mnist = pairs[(pairs["comparison"] == "ssgan vs wgan_gp") & (pairs["dataset"] == "mnist")]
    before = write_synthetic(tmp_path / "plain", probes=False, curves=False, samples=False)
    plain = agg.aggregate(before, tmp_path / "t2", n_boot=200)["fid_pairs"]
    expected = set(
        plain[(plain["comparison"] == "ssgan vs wgan_gp") & (plain["dataset"] == "mnist")].seed
    )
    assert {0, 1} <= expected and set(mnist["seed"]) == expected - {0}
    red = f["relative_fid_reduction"]
    cell = red[(red["comparison"] == "ssgan vs wgan_gp") & (red["dataset"] == "mnist")].iloc[0]
    assert "seed 0: config differs beyond the method (train.iterations: 200000 -> 500)" in (
        cell.dropped
    )
    assert cell.n_pairs == len(expected) - 1
    assert "recipe" not in pd.read_csv(tmp_path / "t" / "runs.csv").columns


def test_tables_side_by_side_say_when_recipes_differ(tmp_path):
    """Self-Sparse GAN at 500 iterations on MNIST against WGAN-GP at the default: no pair, and
    the leaderboard and the paper table, which still print both means, say why they are not
    like for like; a seed trained longer among the others is named too. Same recipes: no note."""
    root = write_synthetic(tmp_path / "r", probes=False, curves=False, samples=False)
    for path in root.glob("runs/*/*/seed*/run.json"):
        run, rec = path.parent, json.loads(path.read_text())
        if rec.get("method") in ("wgan_gp", "ssgan") and rec.get("status") == "completed":
            cfg = C.resolve(rec["dataset"], rec["method"], rec["seed"])
            if rec["method"] == "ssgan" and rec["dataset"] == "mnist":
                cfg["train"]["iterations"] = 500
            if rec["method"] == "wgan_gp" and rec["dataset"] == "cifar10" and rec["seed"] == 0:
                cfg["train"]["n_critic"] = 2
            (run / "run.json").write_text(json.dumps({**rec, "config": cfg}))
    f = agg.aggregate(root, tmp_path / "t", n_boot=50)
    lb = f["leaderboard"].set_index(["dataset", "method"])
    assert lb.loc[("mnist", "ssgan"), "recipe_note"] == (
        "recipes differ from wgan_gp: train.iterations 500 vs 200000"
    )
    assert lb.loc[("mnist", "wgan_gp"), "recipe_note"] == ""
    assert lb.loc[("cifar10", "wgan_gp"), "recipe_note"] == (
        "recipes differ between its runs: train.n_critic 2 vs 5"
    )
    assert lb.loc[("cifar10", "ssgan"), "recipe_note"] == (
        "recipes differ from wgan_gp: train.n_critic 5 vs 2"
    )
    assert "recipe_note" in pd.read_csv(tmp_path / "t" / "leaderboard.csv").columns
    md = (tmp_path / "t" / "paper_table.md").read_text()
    assert (
        "Recipes differ, so the FID means side by side are not like for like: MNIST: "
        "Self-Sparse GAN (paper form) recipes differ from wgan_gp: train.iterations 500 vs 200000; "
        "CIFAR-10: Self-Sparse GAN (paper form) recipes differ from wgan_gp: train.n_critic 5 vs 2."
        in md
    )
    assert "train.iterations 500 vs 200000" in (tmp_path / "t" / "paper_table.tex").read_text()
    same = write_synthetic(tmp_path / "same", probes=False, curves=False, samples=False)
    g = agg.aggregate(same, tmp_path / "t2", n_boot=50)
    assert set(g["leaderboard"]["recipe_note"]) == {""}
    assert "Recipes differ" not in (tmp_path / "t2" / "paper_table.md").read_text()


def test_tables_hold_exactly_the_runs_the_config_names(results, tmp_path):
    """A method removed from the suite (stu_gan) and a seed outside it (mnist seed 3) leave
    every table and are listed in runs_outside_config.csv instead."""
    suite = {"datasets": {"mnist": {}, "cifar10": {}}, "methods": ["wgan_gp", "ssgan"]}
    suite["seeds"] = [0, 1, 2]
    f = agg.aggregate(results, tmp_path, n_boot=50, suite=suite)
    cells = set(zip(f["runs"].dataset, f["runs"].method, f["runs"].seed))
    assert cells == {
        (d, m, s) for d in ("mnist", "cifar10") for m in ("wgan_gp", "ssgan") for s in (0, 1, 2)
    }
    outside = pd.read_csv(tmp_path / "runs_outside_config.csv")
    assert ("mnist", "stu_gan", 0) in set(zip(outside.dataset, outside.method, outside.seed))
    assert ("mnist", "wgan_gp", 3) in set(zip(outside.dataset, outside.method, outside.seed))
    assert len(outside) + len(f["runs"]) == len(table(results, "runs.csv"))
    assert set(f["fid_pairs"]["seed"]) <= {0, 1, 2} and "stu_gan" not in set(
        f["claims"].get("comparison", pd.Series(dtype=str)).str.cat(sep=" ").split()
    )
    assert "runs not in the config's grid" in agg.summary(f)
    assert len(table(results, "runs_outside_config.csv")) == 0  # no suite: every run is in


def test_fid_of_an_earlier_state_of_the_run_is_marked_stale(tmp_path):
    """A fid.json skipped while the run was running, or evaluated from another generator.pt,
    is 'stale' with a rerun hint and enters no pair; one of the current generator stays ok."""
    from ssgan import io

    root = write_synthetic(tmp_path / "r", probes=False, curves=False, samples=False)
    runs = root / "runs" / "cifar10" / "ssgan"
    skipped = {"status": "skipped", "reason": "run status is 'running', not 'completed'"}
    (runs / "seed0" / "fid.json").write_text(json.dumps({**skipped, "run_status": "running"}))
    for seed, weights in ((1, b"now"), (2, b"then")):
        (runs / f"seed{seed}" / "generator.pt").write_bytes(b"now")
        rec = json.loads((runs / f"seed{seed}" / "fid.json").read_text())
        digest = hashlib.sha256(weights).hexdigest()
        (runs / f"seed{seed}" / "fid.json").write_text(
            json.dumps({**rec, "generator_sha256": digest})
        )
    assert io.sha256_file(runs / "seed1" / "generator.pt") == hashlib.sha256(b"now").hexdigest()
    f = agg.aggregate(root, tmp_path / "t", n_boot=50)
    r = f["runs"].set_index(["dataset", "method", "seed"])
    assert r.loc[("cifar10", "ssgan", 0), "fid_status"] == "stale"
    assert r.loc[("cifar10", "ssgan", 1), "fid_status"] == "ok"
    assert r.loc[("cifar10", "ssgan", 2), "fid_status"] == "stale"
    assert (
        f"fid.json is stale (written while the run was running): rerun ssgan fid --run "
        f"{runs / 'seed0'}" in r.loc[("cifar10", "ssgan", 0), "note"]
    )
    assert "fid.json is stale (for another generator.pt)" in r.loc[("cifar10", "ssgan", 2), "note"]
    pairs = f["fid_pairs"]
    assert set(pairs[pairs["dataset"] == "cifar10"]["seed"]) == {1, 3, 4}


@pytest.mark.parametrize(
    "field,value,why",
    [
        ("fid", -5.0, "FID -5 is negative"),
        ("fid", "inf", "FID inf is not a finite number"),
        ("fid", None, "FID None is not a finite number"),
        ("kid_mean", "-inf", "KID -inf is not a finite number"),
        ("kid_mean", -0.5, "KID -0.5 is negative beyond its std 0.001"),
    ],
)
def test_fid_json_with_an_impossible_number_is_invalid_never_paired(tmp_path, field, value, why):
    """An "ok" fid.json with a negative or non-finite FID (a squared distance), or a KID that is
    not finite or negative beyond its noise, is a recorded error: status 'invalid', named in
    the run's note and the dropped seeds, never paired or averaged. A KID slightly below 0
    (within 3 stds: the unbiased estimate of near-equal distributions) stays ok."""
    root = write_synthetic(tmp_path / "r", probes=False, curves=False, samples=False)
    runs = root / "runs" / "cifar10" / "ssgan"
    for seed, changes in ((0, {field: value, "kid_std": 0.001}), (1, {"kid_mean": -0.002})):
        path = runs / f"seed{seed}" / "fid.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "kid_std": 0.001, **changes}))
    f = agg.aggregate(root, tmp_path / "t", n_boot=50)
    r = f["runs"].set_index(["dataset", "method", "seed"])
    bad, fine = r.loc[("cifar10", "ssgan", 0)], r.loc[("cifar10", "ssgan", 1)]
    assert (bad["fid_status"], fine["fid_status"]) == ("invalid", "ok")
    assert pd.isna(bad["protocol_id"])
    assert f"fid.json is invalid ({why}): rerun ssgan fid --run {runs / 'seed0'}" in bad["note"]
    pairs = f["fid_pairs"]
    assert set(pairs[pairs["dataset"] == "cifar10"]["seed"]) == {1, 2, 3, 4}
    red = f["relative_fid_reduction"].set_index(["comparison", "dataset"]).loc[(SS, "cifar10")]
    assert "seed 0: ssgan FID invalid" in red["dropped"]
    assert red["treatment_n"] == 4  # the invalid run is in no mean either
    lb = f["leaderboard"].set_index(["dataset", "method"]).loc[("cifar10", "ssgan")]
    assert lb["n"] == 4


def test_fid_staleness_of_a_run_directory(tmp_path):
    run = tmp_path / "seed0"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"status": "completed", "iteration": 12}))
    (run / "fid.json").write_text(json.dumps({"status": "skipped", "run_status": "running"}))
    assert R.fid_staleness(run) == "written while the run was running"
    (run / "fid.json").write_text(json.dumps({"status": "ok", "fid": 3.0, "iteration": 8}))
    assert R.fid_staleness(run) == "for iteration 8, run ended at 12"
    (run / "fid.json").write_text(json.dumps({"status": "ok", "fid": 3.0, "iteration": 12}))
    assert R.fid_staleness(run) == ""


def test_cli_errors_exit_2(results, tmp_path, capsys):
    assert main(["aggregate", "--results", str(tmp_path / "nope")]) == 2
    assert main(["aggregate", "--results", str(tmp_path)]) == 2
    assert "no run directories" in capsys.readouterr().err
    args = ["aggregate", "--results", str(results), "--out", str(tmp_path / "t")]
    assert main([*args, "--bootstrap", "0"]) == 2
    assert main([*args, "--baseline", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "--bootstrap must be at least 1" in err and "baseline 'nosuch' has no runs" in err
    assert "Traceback" not in err


BAD_PUBLISHED = {
    "yaml error": ("paper: [x\n", "not valid YAML at line 2, column 1"),
    "not a mapping": ("- a\n- b\n", "must be a mapping with 'paper', 'source' and 'entries'"),
    "entries not a list": ("paper: x\nsource: y\nentries: 3\n", "'entries' must be a list"),
    "fid not a number": (
        "paper: x\nsource: y\nentries:\n  - {dataset: mnist, what: w, match: {}, protocol: p,"
        " fid: 'low', selection: best}\n",
        "entries[0]: 'fid' must be a non-negative number, got 'low'",
    ),
    "match not a mapping": (
        "paper: x\nsource: y\nentries:\n  - {dataset: mnist, what: w, match: ssgan,"
        " protocol: p, fid: 3.1, selection: best}\n",
        "entries[0]: 'match' must be a mapping",
    ),
}


@pytest.mark.parametrize("case", list(BAD_PUBLISHED))
def test_a_bad_published_values_file_is_skipped_with_a_note(tmp_path, capsys, monkeypatch, case):
    """A broken file in ssgan/published/ is named (path, field) on the terminal and in
    published.md, and left out; every table is still written, the other papers' rows too."""
    from ssgan import published

    folder = tmp_path / "published"
    shutil.copytree(published.HERE, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    text, why = BAD_PUBLISHED[case]
    (folder / "broken.yaml").write_text(text)
    monkeypatch.setattr(published, "HERE", folder)
    published.registry.cache_clear()
    try:
        root = write_synthetic(tmp_path / "r", probes=False, curves=False, samples=False)
        out = tmp_path / "t"
        code = main(["aggregate", "--results", str(root), "--out", str(out), "--bootstrap", "50"])
        err = capsys.readouterr().err
    finally:
        published.registry.cache_clear()
    note = f"{folder / 'broken.yaml'}: {why}"
    assert code == 0 and "Traceback" not in err
    assert f"ssgan aggregate: {note}" in err and err.count("broken.yaml") == 1, err
    assert all((out / name).stat().st_size > 0 for name in agg.TABLES)
    md = (out / "published.md").read_text()
    assert f"Skipped: {note}" in md and "the file is skipped" in md
    assert "4.76%-21.84%" in md  # the valid papers' rows are still there


def test_a_skipped_paper_range_is_undefined_not_a_crash(tmp_path, monkeypatch):
    from ssgan import published

    (tmp_path / "qian2021.yaml").write_text("paper: x\nsource: y\n")
    monkeypatch.setattr(published, "HERE", tmp_path)
    published.registry.cache_clear()
    try:
        assert all(map(math.isnan, published.reduction_range("qian2021")))
        assert published.skipped() == [
            f"{tmp_path / 'qian2021.yaml'}: missing 'entries': the file is skipped"
        ]
    finally:
        published.registry.cache_clear()


def test_list_form_results_folder_aggregates_as_before(tmp_path):
    """A folder of one pair (list-form methods, records without method_kind or protocol_id)."""
    root = write_synthetic(tmp_path / "r", probes=False, curves=False, samples=False)
    for run in root.glob("runs/*/*/seed*"):
        if run.parent.name not in ("wgan_gp", "ssgan") or run.parent.parent.name != "mnist":
            shutil.rmtree(run)
        elif (run / "run.json").is_file():
            rec = json.loads((run / "run.json").read_text())
            del rec["method_kind"]
            (run / "run.json").write_text(json.dumps(rec))
    f = agg.aggregate(root, tmp_path / "t", n_boot=2000, seed=3)
    red = f["relative_fid_reduction"]
    assert list(red["comparison"]) == [SS] and red["r_mean"].tolist() == pytest.approx([0.15])
    assert (red["r_ci_low"].iloc[0], red["r_ci_high"].iloc[0]) == (
        pytest.approx(0.10),
        pytest.approx(0.25),
    )
    assert set(f["runs"]["method_kind"]) == {"wgan_gp", "ssgan"}


def test_broken_inputs(results, tmp_path):
    root = tmp_path / "r"
    shutil.copytree(results / "runs", root / "runs")
    (root / "runs/mnist/ssgan/seed0/fid.json").unlink()  # completed, never evaluated
    (root / "runs/mnist/ssgan/seed1/fid.json").write_text("{not json")  # corrupt
    (root / "runs/mnist/wgan_gp/seed2/probe_weights.csv").write_text("")  # empty probe file
    fid = json.loads((root / "runs/mnist/wgan_gp/seed0/fid.json").read_text())
    (root / "runs/mnist/wgan_gp/seed0/fid.json").write_text(json.dumps({**fid, "fid": "inf"}))
    fid = json.loads((root / "runs/cifar10/wgan_gp/seed0/fid.json").read_text())
    (root / "runs/cifar10/wgan_gp/seed0/fid.json").write_text(json.dumps({**fid, "iteration": 100}))
    f = agg.aggregate(root, n_boot=200)
    runs = f["runs"].set_index(["dataset", "method", "seed"])
    assert runs.loc[("mnist", "ssgan", 0), "fid_status"] == "missing"
    assert runs.loc[("mnist", "ssgan", 1), "fid_status"] == "unreadable"
    red = f["relative_fid_reduction"]
    red = red[red["comparison"] == SS].set_index("dataset")
    assert red.loc["mnist", "n_pairs"] == 1  # only seed 2 is left
    assert red.loc["mnist", "dropped"].startswith(
        "seed 0: ssgan no FID, wgan_gp FID invalid; seed 1: ssgan FID unreadable; seed 3: ssgan diverged"
    )
    assert red.loc["cifar10", "dropped"].startswith("seed 0: wgan_gp FID stale;")
    assert "iteration 100" in runs.loc[("cifar10", "wgan_gp", 0), "note"]


def test_display_names(monkeypatch):
    assert [
        R.dataset_name(x)
        for x in (
            "fashion_mnist",
            "cifar10",
            "stl10",
            "mini_imagenet",
            "celeba_hq",
            "lsun_bedroom",
            "my_sketches",
        )
    ] == [
        "Fashion-MNIST",
        "CIFAR-10",
        "STL-10",
        "mini-ImageNet",
        "CelebA-HQ",
        "LSUN bedroom",
        "my_sketches",
    ]
    monkeypatch.setattr(R, "SASTM_FORMS", {})  # no runs read: the registered names
    assert R.method_name("ssgan") == "Self-Sparse GAN" and R.method_name("new_gan") == "new_gan"
    # runs with SASTM name the form from their options (runs.csv sastm_form), not the label
    R.remember_variants(
        pd.DataFrame(
            {
                "method": ["ssgan", "ssgan_x", "wgan_gp"],
                "method_kind": ["ssgan", "ssgan", "wgan_gp"],
                "sastm_form": ["paper form", "balanced, after BN", ""],
            }
        )
    )
    assert R.method_name("ssgan") == "Self-Sparse GAN (paper form)"
    assert R.method_name("ssgan_x") == "Self-Sparse GAN · balanced, after BN (suite variant)"
    assert R.method_name("wgan_gp") == "WGAN-GP"


def test_bn_mode_table_reads_both_modes_of_each_run(tmp_path):
    write_synthetic(tmp_path)
    assert main(["aggregate", "--results", str(tmp_path), "--bootstrap", "50"]) == 0
    t = pd.read_csv(tmp_path / "tables" / "fid_bn_modes.csv")
    assert list(zip(t["dataset"], t["method"])) == [
        ("fashion_mnist", "wgan_gp"),
        ("fashion_mnist", "ssgan"),
    ]  # mnist and cifar10 (older records) and the variant were evaluated in one mode only
    assert t["n"].tolist() == [8, 8]
    assert t["ratio_batch_eval"].tolist() == pytest.approx([1.1, 1.25])
    assert t["ratio_ci_low"].tolist() == pytest.approx([1.1, 1.25])  # no spread across seeds
    assert t["fid_eval_mean"].tolist() == pytest.approx([33.5, 33.5 * 0.8], rel=0.01)
    runs = pd.read_csv(tmp_path / "tables" / "runs.csv")
    fm = runs[(runs["dataset"] == "fashion_mnist") & (runs["method"] == "ssgan")]
    assert (fm["fid_batch"] / fm["fid_eval"]).tolist() == pytest.approx([1.25] * 8)
    assert set(runs["bn_mode"].dropna()) == {"eval"}
