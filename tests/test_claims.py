"""Known answers for the claims table's parts (ssgan/analysis/claims.py): which layers each
claim averages, the final probe values per completed run, the paired row of a probe claim
(values, differences, notes) and the Self-Sparse-GAN-only columns beside C1."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ssgan.analysis import claims as CL
from ssgan.analysis import stats
from ssgan.analysis.runs import ID, PROBES
from ssgan.analysis.tables import Comparison

LAYERS = ["block0", "bn0", "deconv1", "sastm1", "block1", "bn1", "deconv2", "sastm2", "block2"]
LAYERS += ["bn2", "deconv3", "conv1", "conv2", "SASTM3", "xsastm1", "blockx", "bn", "fc"]


def test_layer_selectors():
    assert CL.sastm_layers(LAYERS) == ["sastm1", "sastm2"]
    assert CL.hidden_blocks(LAYERS) == ["block1", "block2"]  # block0 follows the linear layer
    assert CL.hidden_bn(LAYERS) == ["bn1", "bn2"]
    assert CL.hidden_deconv(LAYERS) == ["deconv1", "deconv2"]  # deconv3 makes the image
    assert CL.critic_convs(LAYERS) == ["conv1", "conv2"]
    assert CL.sastm_layers(["block1"]) == [] and CL.hidden_bn(["bn0"]) == []


def probe_table() -> pd.DataFrame:
    """Two iterations of a sparsity-like probe for three runs; one diverged."""
    rows = []
    for method, seed, status, base in (
        ("wgan_gp", 0, "completed", 0.1),
        ("ssgan", 0, "completed", 0.5),
        ("ssgan", 1, "diverged", 0.9),
    ):
        for it in (10, 20):
            for k, layer in enumerate(("block0", "block1", "block2")):
                value = base + 0.01 * k + (0.2 if it == 20 else 0.0)
                if (method, layer, it) == ("ssgan", "block2", 20):
                    value = "n/a"  # not a number: left out of the mean, not an error
                rows.append(
                    dict(
                        dataset="mnist",
                        method=method,
                        seed=seed,
                        status=status,
                        iteration=it,
                        layer=layer,
                        zero_frac=value,
                    )
                )
    return pd.DataFrame(rows)


def test_final_values_last_iteration_of_completed_runs_over_the_selected_layers():
    fv = CL.final_values(probe_table(), "zero_frac", CL.hidden_blocks)
    assert list(fv.columns) == ["dataset", "method", "seed", "value", "layers"]
    assert sorted(zip(fv["method"], fv["seed"])) == [("ssgan", 0), ("wgan_gp", 0)]
    got = fv.set_index("method")
    assert got.loc["wgan_gp", "value"] == pytest.approx(0.3 + (0.01 + 0.02) / 2)
    assert got.loc["ssgan", "value"] == pytest.approx(0.7 + 0.01)  # block2's 'n/a' left out
    assert list(got["layers"]) == ["block1,block2", "block1,block2"]
    assert list(got["dataset"]) == ["mnist", "mnist"]
    none = CL.final_values(probe_table(), "zero_frac", lambda layers: [])
    assert none["value"].isna().all() and list(none["layers"]) == ["", ""]


def test_final_values_of_an_empty_probe_table():
    empty = pd.DataFrame(columns=ID + PROBES["feature_sparsity"][1])  # as runs.gather gives it
    fv = CL.final_values(empty, "zero_frac", CL.hidden_blocks)
    assert fv.empty and list(fv.columns) == ["dataset", "method", "seed", "value", "layers"]


COMP = Comparison(baseline="wgan_gp", treatment="ssgan")


def fv_table(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["dataset", "method", "seed", "value", "layers"])


def paired_rows():
    rows = [("mnist", "wgan_gp", s, v, "block1,block2") for s, v in enumerate([0.2, 0.3, 0.1])]
    rows += [("mnist", "ssgan", s, v, "block1") for s, v in enumerate([0.5, 0.7, 0.2])]
    rows += [("mnist", "wgan_gp", 3, math.nan, ""), ("mnist", "ssgan", 3, 0.9, "")]  # no pair
    rows += [("mnist", "ssgan", 4, 0.8, "block3")]  # treatment only: no pair
    rows += [("fashion_mnist", m, s, 5.0, "blockf") for m in ("wgan_gp", "ssgan") for s in (0, 1)]
    return fv_table(rows)


def test_probe_row_pairs_seeds_with_both_values():
    claim = CL.CLAIMS["C1"]
    r = CL.probe_row(claim, COMP, "mnist", paired_rows(), n_boot=200, seed=0)
    diff = np.array([0.3, 0.4, 0.1])
    assert r["n"] == 3 and r["diff_mean"] == pytest.approx(diff.mean())
    assert r["value_baseline"] == pytest.approx(0.2) and r["value_treatment"] == pytest.approx(
        (0.5 + 0.7 + 0.2) / 3
    )
    lo, hi = stats.t_ci(diff)
    assert (r["ci_low"], r["ci_high"]) == (pytest.approx(lo), pytest.approx(hi))
    assert r["p_perm"] == pytest.approx(stats.sign_flip_p(diff, 0))
    assert r["probe"] == "probe_feature_sparsity.csv"
    assert r["metric"] == "zero_frac (final iteration, mean over layers)"
    assert r["layers"] == "block1 block2 block3"  # every layer averaged in this dataset
    assert r["note"] == CL.few_seeds(3) != ""


def test_probe_row_names_the_method_without_values():
    claim = CL.CLAIMS["C2"]
    rows = [("mnist", "wgan_gp", s, 0.1 * s, "bn1") for s in range(3)]
    r = CL.probe_row(claim, COMP, "mnist", fv_table(rows), n_boot=50, seed=0)
    assert r["n"] == 0 and math.isnan(r["value_baseline"]) and math.isnan(r["diff_mean"])
    assert r["note"] == (
        "no probe_dead_units.csv values for ssgan (runs without this probe, e.g. written before "
        "it existed, or not completed)"
    )
    r = CL.probe_row(claim, COMP, "mnist", fv_table([]), n_boot=50, seed=0)
    assert r["note"].startswith("no probe_dead_units.csv values for wgan_gp and ssgan (")
    assert r["layers"] == ""


def test_probe_row_with_enough_seeds_has_no_note():
    rows = [("mnist", m, s, s + (m == "ssgan"), "") for m in ("wgan_gp", "ssgan") for s in range(6)]
    r = CL.probe_row(CL.CLAIMS["C1"], COMP, "mnist", fv_table(rows), n_boot=50, seed=0)
    assert r["n"] == 6 and r["diff_mean"] == pytest.approx(1.0) and r["note"] == ""


def test_sastm_only_columns_are_the_treatments_final_means():
    rows = []
    for dataset, shift in (("mnist", 0.0), ("fashion_mnist", 0.5)):
        for method, seed, v in (("ssgan", 0, 0.2), ("ssgan", 1, 0.4), ("wgan_gp", 0, 0.9)):
            for layer in ("sastm1", "sastm2", "block1"):
                rows.append(
                    dict(
                        dataset=dataset,
                        method=method,
                        seed=seed,
                        status="completed",
                        iteration=5,
                        layer=layer,
                        channel_dead_frac=v + shift + (0.1 if layer == "sastm2" else 0.0),
                        spatial_dead_frac=math.nan,
                    )
                )
    # output_zero_frac missing (runs written before it existed), spatial all NaN
    out = CL.sastm_only({"sparsity": pd.DataFrame(rows)}, COMP, "mnist")
    assert list(out) == list(CL.SASTM_ONLY)
    assert out["sastm_channel_dead_frac"] == pytest.approx((0.25 + 0.45) / 2)
    assert math.isnan(out["sastm_output_zero_frac"]) and math.isnan(out["sastm_spatial_dead_frac"])
    out = CL.sastm_only({"sparsity": pd.DataFrame(rows)}, COMP, "fashion_mnist")
    assert out["sastm_channel_dead_frac"] == pytest.approx((0.75 + 0.95) / 2)


def test_few_seeds_notes():
    assert CL.few_seeds(0) == "0 seed(s) with both values: interval and test undefined"
    assert CL.few_seeds(1) == "1 seed(s) with both values: interval and test undefined"
    assert CL.few_seeds(2) == "n = 2 < 5 pairs: too few for a verdict (descriptive only)"
    assert CL.few_seeds(4) == "n = 4 < 5 pairs: too few for a verdict (descriptive only)"
    assert CL.few_seeds(5) == (
        "n = 5: the smallest sign-flip p is 2/2^5 = 0.0625; the verdict rests on the t-test alone"
    )
    assert CL.few_seeds(6) == CL.few_seeds(9) == ""


def test_paired_stats_of_known_differences():
    diff = np.array([0.3, -0.1, 0.4, 0.25, 0.05, 0.2, 0.35])
    got = CL.paired_stats(diff, n_boot=300, seed=5)
    assert got["n"] == 7 and got["diff_mean"] == pytest.approx(diff.mean())
    lo, hi = stats.t_ci(diff)
    assert (got["ci_low"], got["ci_high"]) == (pytest.approx(lo), pytest.approx(hi))
    assert got["p_perm"] == pytest.approx(stats.sign_flip_p(diff, 5))
    assert stats.bootstrap_ci(diff, 300, 5) != stats.bootstrap_ci(diff, 300, 0)
    assert (got["bootstrap_ci_low"], got["bootstrap_ci_high"]) == stats.bootstrap_ci(diff, 300, 5)
    mixed = np.array(
        [
            0.3,
            -0.2,
            0.1,
            -0.4,
            0.25,
            0.05,
            -0.1,
            0.2,
            -0.3,
            0.15,
            0.1,
            -0.05,
            0.2,
            -0.1,
            0.1,
            0,
            0.2,
        ]
    )
    assert stats.sign_flip_p(mixed, 5) != stats.sign_flip_p(mixed, 0)  # n > 16: Monte Carlo
    assert CL.paired_stats(mixed, 10, 5)["p_perm"] == stats.sign_flip_p(mixed, 5)
    assert got["p_ttest"] == pytest.approx(stats.ttest_zero(diff)[1])  # C0's kind: superiority
    assert set(got) == {"n", "diff_mean", "ci_low", "ci_high", "p_ttest", "p_perm"} | {
        "bootstrap_ci_low",
        "bootstrap_ci_high",
    }
    # non-inferiority: both tests from the margin on the unclaimed side, not from 0
    ni = CL.paired_stats(diff, 300, 5, CL.Claim("fid", "x", None, "<", "", "non-inferiority", 0.5))
    assert ni["p_ttest"] == pytest.approx(stats.t_pvalue(diff, 0.5))
    assert ni["p_perm"] == stats.sign_flip_p(diff - 0.5, 5) != got["p_perm"]
    ni = CL.paired_stats(diff, 300, 5, CL.Claim("fid", "x", None, ">", "", "non-inferiority", 0.5))
    assert ni["p_perm"] == stats.sign_flip_p(diff + 0.5, 5)


def fid_pairs_table() -> pd.DataFrame:
    rows = []
    for comp, dataset, k in (
        ("ssgan vs wgan_gp", "mnist", 0.8),
        ("ssgan vs wgan_gp", "cifar10", 1.1),
        ("stu_gan vs wgan_gp", "mnist", 0.5),
    ):
        for s in range(3):
            fb = 10.0 + s
            ft = fb * k * (1 + 0.01 * s)
            rows.append(
                dict(
                    comparison=comp,
                    dataset=dataset,
                    seed=s,
                    fid_baseline=fb,
                    fid_treatment=ft,
                    log_ratio=math.log(ft / fb),
                )
            )
    return pd.DataFrame(rows)


def test_fid_row_of_one_comparison_and_dataset():
    r = CL.fid_row(COMP, "mnist", fid_pairs_table(), n_boot=200, seed=2)
    d = np.log(0.8 * (1 + 0.01 * np.arange(3)))
    assert r["n"] == 3 and r["diff_mean"] == pytest.approx(d.mean())
    assert r["p_perm"] == pytest.approx(stats.sign_flip_p(d, 2))
    assert r["value_baseline"] == pytest.approx(11.0)
    assert r["value_treatment"] == pytest.approx(
        np.mean([(10 + s) * 0.8 * (1 + 0.01 * s) for s in range(3)])
    )
    assert (r["probe"], r["layers"], r["note"]) == ("fid.json", "", CL.few_seeds(3))
    assert r["metric"] == (
        "log(FID_treatment / FID_baseline) per seed pair; values: mean FID over the pairs"
    )
    none = CL.fid_row(COMP, "lsun", fid_pairs_table(), n_boot=20, seed=0)
    assert (
        none["n"] == 0
        and math.isnan(none["value_baseline"])
        and math.isnan(none["value_treatment"])
    )
    assert none["note"] == CL.few_seeds(0)


def probes_for_claims() -> dict:
    """Final probes of 8 seeds per method (the smallest sign-flip p, 2/2^8, passes Holm over
    two datasets) on mnist (ssgan sparser, fewer dead units, fewer negative weights) and on
    cifar10 (the same dead units)."""
    feature, dead, signs, sparsity = [], [], [], []
    for dataset in ("mnist", "cifar10"):
        for method in ("wgan_gp", "ssgan"):
            for s in range(8):
                ss = method == "ssgan"
                base = dict(dataset=dataset, method=method, seed=s, status="completed", iteration=9)
                wobble = 0.01 * ((s * 5) % 3)
                for layer in ("block0", "block1", "block2"):
                    feature.append(base | dict(layer=layer, zero_frac=0.3 + 0.2 * ss + wobble))
                for layer in ("bn0", "bn1", "bn2"):
                    value = 0.4 + (
                        wobble * (1 - 2 * ss) + 0.0013 * s**2 * ss - 0.1 * ss
                        if dataset == "mnist"
                        else 0.0
                    )
                    dead.append(base | dict(layer=layer, dead_frac=0.5, dead_channel_frac=value))
                for layer in ("deconv1", "deconv2", "deconv3"):
                    signs.append(base | dict(layer=layer, neg_frac=0.5 - 0.05 * ss + wobble))
                if ss:
                    for layer in ("sastm1", "sastm2"):
                        sparsity.append(
                            base
                            | dict(
                                layer=layer,
                                output_zero_frac=0.6,
                                channel_dead_frac=0.1 * s,
                                spatial_dead_frac=0.0,
                            )
                        )
    return dict(
        feature_sparsity=pd.DataFrame(feature),
        dead_units=pd.DataFrame(dead),
        weight_signs=pd.DataFrame(signs),
        sparsity=pd.DataFrame(sparsity),
    )


def test_claims_table_rows_holm_verdicts_and_sastm_columns():
    probes = probes_for_claims()
    pairs = fid_pairs_table()
    datasets = {COMP.name: ["mnist", "cifar10"]}
    table = CL.claims_table(
        [COMP], datasets, pairs, probes, kind_of=lambda m: m, n_boot=100, seed=1
    )
    assert list(table.columns) == CL.CLAIM_COLUMNS
    assert list(zip(table["claim"], table["dataset"])) == [
        (c, d) for c in ("C0", "C1", "C2", "C3") for d in ("mnist", "cifar10")
    ]
    assert set(table["comparison"]) == {COMP.name} and set(table["rule"]) == {stats.RULE}
    assert (set(table["baseline"]), set(table["treatment"])) == ({"wgan_gp"}, {"ssgan"})
    assert list(table["dataset_name"][:2]) == ["MNIST", "CIFAR-10"]
    by = table.set_index(["claim", "dataset"])
    assert by.loc[("C2", "mnist"), "direction"] == "ssgan - wgan_gp < 0"
    assert by.loc[("C1", "mnist"), "direction"] == "ssgan - wgan_gp > 0"
    assert by.loc[("C1", "mnist"), "description"] == CL.CLAIMS["C1"].text
    # C0 is primary (Holm over its 2 datasets); C1-C3 are secondary, corrected together (6 rows)
    assert table.loc[table["primary"], "claim"].unique().tolist() == ["C0"]
    assert table.loc[table["primary"], "n"].tolist() == [3, 3]  # too few: not tested
    assert table.loc[table["primary"], "p_holm"].isna().all()
    for block in (table[table["primary"]], table[~table["primary"]]):
        tested = block["n"] >= stats.MIN_N
        size = block["p_ttest"].where(tested).notna().sum()
        assert block["p_holm"].tolist() == pytest.approx(
            list(stats.holm(block["p_ttest"].where(tested))), nan_ok=True
        )
        assert block["p_perm_holm"].tolist() == pytest.approx(
            list(stats.holm(block["p_perm"].where(tested))), nan_ok=True
        )
        label = "primary" if block["primary"].all() else "secondary"
        assert set(block["family"]) == {f"{label}: Holm over {size} rows"}
    assert by.loc[("C1", "mnist"), "p_perm"] == pytest.approx(2 / 2**8)  # all 8 the same sign
    # the smallest sign-flip p is multiplied by the secondary family's size
    m = table.loc[~table["primary"], "p_perm"].notna().sum()
    assert m >= 5 and by.loc[("C1", "mnist"), "p_perm_holm"] == pytest.approx(m * 2 / 2**8)
    assert set(table["kind"]) == {"superiority"} and set(table["margin"]) == {0.0}
    assert by.loc[("C1", "mnist"), "diff_mean"] == pytest.approx(0.2)
    assert by.loc[("C1", "mnist"), "layers"] == "block1 block2"
    assert by.loc[("C2", "mnist"), "layers"] == "bn1 bn2"
    assert by.loc[("C3", "mnist"), "layers"] == "deconv1 deconv2"
    verdicts = by["verdict"].to_dict()
    assert verdicts[("C1", "mnist")] == verdicts[("C1", "cifar10")] == "holds"
    assert verdicts[("C2", "mnist")] == "holds" and verdicts[("C3", "mnist")] == "holds"
    assert verdicts[("C2", "cifar10")] == "inconclusive"
    assert verdicts[("C0", "mnist")] == "inconclusive"  # 3 pairs: no verdict possible
    assert by.loc[("C0", "cifar10"), "diff_mean"] == pytest.approx(
        np.mean(np.log(1.1 * (1 + 0.01 * np.arange(3))))
    )
    c1 = by.loc[("C1", "mnist")]
    assert c1["sastm_output_zero_frac"] == pytest.approx(0.6)
    assert c1["sastm_channel_dead_frac"] == pytest.approx(0.35)
    assert c1["sastm_spatial_dead_frac"] == 0.0
    others = table[table["claim"] != "C1"]
    assert others[list(CL.SASTM_ONLY)].isna().all().all()
    default = CL.claims_table([COMP], datasets, pairs, probes, kind_of=lambda m: m)
    c1 = default.set_index(["claim", "dataset"]).loc[("C2", "mnist")]  # n_boot 10000, seed 0
    fv = CL.final_values(probes["dead_units"], "dead_channel_frac", CL.hidden_bn)
    fvm = fv[fv["dataset"] == "mnist"].pivot(index="seed", columns="method", values="value")
    d = (fvm["ssgan"] - fvm["wgan_gp"]).to_numpy()
    assert (c1["bootstrap_ci_low"], c1["bootstrap_ci_high"]) == stats.bootstrap_ci(d, 10000, 0)
    assert stats.bootstrap_ci(d, 10000, 0) != stats.bootstrap_ci(d, 10001, 0)
    assert stats.bootstrap_ci(d, 10000, 0) != stats.bootstrap_ci(d, 10000, 1)
    own = CL.claims_table(
        [Comparison("wgan_gp", "ssgan", ("C3",))], datasets, pairs, probes, lambda m: m, 50, 0
    )
    assert list(own["claim"]) == ["C3", "C3"]
    other = CL.claims_table([COMP], datasets, pairs, probes, lambda m: "stu_gan", 50, 0)
    assert list(other["claim"]) == ["C0", "C0"]  # no claims registered: the default set
