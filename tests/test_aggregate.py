"""ssgan aggregate on the synthetic results folder (tests/synthetic_results.py) with a known answer."""

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from ssgan import aggregate as agg
from ssgan.cli import main
from tests.synthetic_results import write_synthetic


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
    assert list(runs.columns) == agg.RUN_COLUMNS
    assert len(runs) == 22
    assert runs["status"].value_counts().to_dict() == {
        "completed": 19,
        "running": 1,
        "diverged": 1,
        "failed": 1,
    }
    assert list(runs["dataset"].unique()) == ["mnist", "cifar10"]  # the paper's order
    assert list(runs.loc[runs["dataset"] == "mnist", "method"].unique()) == [
        "wgan_gp",
        "ssgan",
        "stu_gan",
    ]
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


def test_fid_pairs(results):
    p = table(results, "fid_pairs.csv")
    assert p.groupby("dataset", sort=False)["seed"].apply(list).to_dict() == {
        "mnist": [0, 1, 2],
        "cifar10": [0, 1, 2, 3, 4],
    }
    assert p.loc[p["dataset"] == "mnist", "r"].tolist() == pytest.approx([0.10, 0.10, 0.25])


def test_relative_reduction(results):
    red = table(results, "relative_fid_reduction.csv")
    assert red["dataset"].tolist() == ["mnist", "cifar10"]
    m, c = row(red, dataset="mnist"), row(red, dataset="cifar10")
    assert (m["n_pairs"], m["baseline_n"], m["treatment_n"]) == (3, 4, 3)
    assert m["baseline_fid_mean"] == pytest.approx(21.5) and m[
        "treatment_fid_mean"
    ] == pytest.approx(19.0)
    assert m["r_mean"] == pytest.approx(0.15) and m["r_std"] == pytest.approx(math.sqrt(0.0075))
    # r takes the values .10, .10, .25: P(all three draws .10) = 8/27 and P(all .25) = 1/27 both
    # exceed 2.5%, so the percentile CI is exactly [min, max]
    assert (m["r_ci_low"], m["r_ci_high"]) == (pytest.approx(0.10), pytest.approx(0.25))
    assert m["dropped"] == "seed 3: ssgan diverged; seed 4: ssgan missing, wgan_gp running"
    assert m["n_dropped"] == 2 and bool(m["in_published_range"]) is True
    assert math.isnan(m["p_wilcoxon"]) and "Wilcoxon" in m["note"]
    assert (c["n_pairs"], c["baseline_n"], c["treatment_n"]) == (5, 6, 5)
    assert c["r_mean"] == pytest.approx(0.002)
    assert c["dropped"] == "seed 5: ssgan missing; seed 6: ssgan failed, wgan_gp missing"
    assert bool(c["in_published_range"]) is False
    assert c["r_ci_low"] < c["r_mean"] < c["r_ci_high"]
    # tests on d = log(FID_ssgan / FID_wgan_gp) against scipy, and Holm over the two datasets
    p = {}
    for d, fb, ft in [
        ("mnist", [10, 20, 40], [9, 18, 30]),
        ("cifar10", [50, 40, 60, 45, 55], [48.5, 40.8, 59.4, 45.45, 55.0]),
    ]:
        ref = st.ttest_1samp(np.log(np.array(ft) / np.array(fb)), 0.0)
        r = row(red, dataset=d)
        assert (r["t_stat"], r["p_ttest"], r["df"]) == (
            pytest.approx(ref.statistic),
            pytest.approx(ref.pvalue),
            len(fb) - 1,
        )
        p[d] = ref.pvalue
    lo, hi = sorted(p.values())
    holm = {k: min(1, 2 * lo) if v == lo else max(min(1, 2 * lo), hi) for k, v in p.items()}
    assert red["p_ttest_holm"].tolist() == pytest.approx([holm["mnist"], holm["cifar10"]])
    d = np.log(np.array([48.5, 40.8, 59.4, 45.45, 55.0]) / np.array([50, 40, 60, 45, 55]))
    assert c["p_wilcoxon"] == pytest.approx(st.wilcoxon(d).pvalue)


def test_claims(results):
    cl = table(results, "claims.csv")
    verdicts = {(r.claim, r.dataset): r.verdict for r in cl.itertuples()}
    assert verdicts == {
        ("C0", "mnist"): "holds",
        ("C0", "cifar10"): "inconclusive",
        ("C1", "mnist"): "holds",
        ("C1", "cifar10"): "does not hold",
        ("C2", "mnist"): "does not hold",
        ("C2", "cifar10"): "holds",
        ("C3", "mnist"): "holds",
        ("C3", "cifar10"): "inconclusive",
    }
    c1 = row(cl, claim="C1", dataset="mnist")  # (sastm1 + sastm2)/2 = .40 + .01 s over seeds 0-2
    assert (c1["n"], c1["value_treatment"], c1["value_baseline"]) == (3, pytest.approx(0.41), 0.0)
    assert c1["layers"] == "sastm1 sastm2" and "one-sample" in c1["note"]
    c2 = row(cl, claim="C2", dataset="mnist")  # bn0 excluded
    assert (c2["value_baseline"], c2["value_treatment"], c2["diff_mean"]) == (
        pytest.approx(0.5),
        pytest.approx(0.6),
        pytest.approx(0.1),
    )
    assert c2["layers"] == "bn1 bn2"
    c3 = row(cl, claim="C3", dataset="mnist")  # output deconv3 excluded
    assert (c3["value_baseline"], c3["value_treatment"], c3["n"]) == (
        pytest.approx(0.51),
        pytest.approx(0.41),
        3,
    )
    assert c3["layers"] == "deconv1 deconv2"
    c0 = row(cl, claim="C0", dataset="mnist")
    assert c0["diff_mean"] == pytest.approx(-0.15) and c0["value_baseline"] == pytest.approx(70 / 3)


def test_probe_tables(results):
    sp = table(results, "sparsity.csv")
    assert set(sp["method"]) == {"ssgan"} and list(sp.columns[:4]) == agg.ID
    ws = table(results, "weight_signs.csv")
    assert set(ws["method"]) == {"wgan_gp", "ssgan", "stu_gan"}
    assert len(ws) == 3 * (
        19 * 3 + 2 * 2
    )  # 3 layers x (19 completed runs x 3 probes + 2 short runs x 2)
    wh = table(results, "weight_hist.csv")
    assert set(wh["stage"]) == {"start", "end"}
    assert set(table(results, "fid_curves.csv")["dataset"]) == {"mnist"}
    assert set(table(results, "dead_units.csv")["layer"]) == {"bn0", "bn1", "bn2"}


def test_paper_table(results):
    md = (results / "tables" / "paper_table.md").read_text()
    assert (
        "| MNIST | 21.50 ± 13.00 (n=4) | 19.00 ± 10.54 (n=3) | 15.00% ± 8.66% (n=3) | [10.00%, 25.00%] |"
        in md
    )
    assert "| CIFAR-10 |" in md and md.count("4.76%–21.84% ᵃ") == 2
    assert "WGAN-GP FID | Self-Sparse GAN FID" in md and "n_fake=500, n_real=1000" in md
    assert "MNIST seed 3: Self-Sparse GAN diverged" in md
    tex = (results / "tables" / "paper_table.tex").read_text()
    assert "\\begin{tabular}{lrrrrrr}" in tex and "15.00\\% $\\pm$ 8.66\\% (n=3)" in tex
    assert "CIFAR-10 &" in tex and "4.76\\%--21.84\\%" in tex


def test_bootstrap_reproducible(results, tmp_path):
    agg.aggregate(results, tmp_path / "a", n_boot=2000, seed=3)
    assert (tmp_path / "a" / "relative_fid_reduction.csv").read_bytes() == (
        results / "tables" / "relative_fid_reduction.csv"
    ).read_bytes()
    assert (tmp_path / "a" / "claims.csv").read_bytes() == (
        results / "tables" / "claims.csv"
    ).read_bytes()


def test_other_method_pair_and_tiny_n(results, tmp_path):
    f = agg.aggregate(
        results, tmp_path, n_boot=500, seed=0, baseline="wgan_gp", treatment="stu_gan"
    )
    red = f["relative_fid_reduction"].set_index("dataset")
    assert red.loc["mnist", "n_pairs"] == 1 and red.loc["mnist", "r_mean"] == pytest.approx(-0.2)
    assert math.isnan(red.loc["mnist", "r_std"]) and math.isnan(red.loc["mnist", "p_ttest"])
    assert "1 complete pair" in red.loc["mnist", "note"]
    assert red.loc["cifar10", "n_pairs"] == 0 and "no complete pairs" in red.loc["cifar10", "note"]
    assert set(f["claims"]["verdict"]) == {"inconclusive"}
    assert (tmp_path / "paper_table.md").read_text().count("STU-GAN FID") == 1


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
    red = f["relative_fid_reduction"].set_index("dataset")
    assert red.loc["mnist", "n_pairs"] == 1  # only seed 2 is left
    assert red.loc["mnist", "dropped"].startswith(
        "seed 0: ssgan no FID, wgan_gp FID non-finite; seed 1: ssgan FID unreadable; seed 3: ssgan diverged"
    )
    assert red.loc["cifar10", "dropped"].startswith(
        "seed 0: wgan_gp FID stale;"
    )  # fid.json of an older generator
    assert "iteration 100" in runs.loc[("cifar10", "wgan_gp", 0), "note"]


def test_cli_errors(tmp_path, capsys):
    assert main(["aggregate", "--results", str(tmp_path / "nope")]) == 2
    assert main(["aggregate", "--results", str(tmp_path)]) == 2
    assert "no run directories" in capsys.readouterr().err


def test_display_names():
    assert [
        agg.dataset_name(x)
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
    assert agg.method_name("ssgan") == "Self-Sparse GAN" and agg.method_name("new_gan") == "new_gan"
