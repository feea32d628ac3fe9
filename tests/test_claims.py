"""Known answers for the claims table's parts (ssgan/analysis/claims.py): which layers each
claim averages, the final probe values per completed run, the paired row of a probe claim
(values, differences, notes), the Self-Sparse-GAN-only columns beside the manipulation check
M1, and claims decided at iteration 0 (ssgan/analysis/construction.py)."""

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
    assert CL.deconvs(LAYERS) == ["deconv1", "deconv2", "deconv3"]
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
    claim = CL.CLAIMS["M1"]
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
    rows = [("mnist", "wgan_gp", s, 0.1 * s, "deconv1") for s in range(3)]
    r = CL.probe_row(claim, COMP, "mnist", fv_table(rows), n_boot=50, seed=0)
    assert r["n"] == 0 and math.isnan(r["value_baseline"]) and math.isnan(r["diff_mean"])
    assert r["note"] == (
        "no probe_gradients.csv values for ssgan (runs without this probe, e.g. written before "
        "it existed, or not completed)"
    )
    r = CL.probe_row(claim, COMP, "mnist", fv_table([]), n_boot=50, seed=0)
    assert r["note"].startswith("no probe_gradients.csv values for wgan_gp and ssgan (")
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


def probes_for_claims(at0: dict | None = None) -> dict:
    """Final probes of 8 seeds per method (the smallest sign-flip p, 2/2^8, passes Holm over
    two datasets) on mnist (C1: more zero weight gradients, C2: fewer zero-gradient units, C3:
    fewer negative weights, M1: sparser maps) and on cifar10 (the same zero-gradient units; C3
    the other way). ``at0``: claim -> (baseline, treatment[, noise]) values at an iteration-0
    probe, the treatment's plus noise x (-1, 1, 0, ...) over seeds (no iteration 0 otherwise)."""
    feature, grads, signs, sparsity = [], [], [], []
    at0 = at0 or {}
    for dataset in ("mnist", "cifar10"):
        for method in ("wgan_gp", "ssgan"):
            for s in range(8):
                ss = method == "ssgan"
                base = dict(dataset=dataset, method=method, seed=s, status="completed", iteration=9)
                wobble = 0.01 * ((s * 5) % 3)
                noise = ((5 * s) % 3 - 1) * ss
                first = lambda c, noise=noise, ss=ss: at0[c][ss] + (at0[c] + (0,))[2] * noise  # noqa: E731
                for layer in ("block0", "block1", "block2"):
                    feature.append(base | dict(layer=layer, zero_frac=0.3 + 0.2 * ss + wobble))
                    if "M1" in at0:
                        feature.append(base | dict(layer=layer, iteration=0, zero_frac=first("M1")))
                for layer in ("deconv1", "deconv2", "deconv3"):
                    unit = 0.4 + (
                        wobble * (1 - 2 * ss) + 0.0013 * s**2 * ss - 0.1 * ss
                        if dataset == "mnist"
                        else 0.0
                    )
                    weight = 0.3 + 0.2 * ss + wobble
                    grads.append(
                        base
                        | dict(layer=layer, weight_grad_zero_frac=weight, unit_grad_zero_frac=unit)
                    )
                    if "C1" in at0 or "C2" in at0:
                        grads.append(
                            base
                            | dict(
                                layer=layer,
                                iteration=0,
                                weight_grad_zero_frac=first("C1") if "C1" in at0 else weight,
                                unit_grad_zero_frac=first("C2") if "C2" in at0 else unit,
                            )
                        )
                    sign = 1 if dataset == "mnist" else -1
                    signs.append(base | dict(layer=layer, neg_frac=0.5 - 0.05 * ss * sign + wobble))
                    if "C3" in at0:
                        signs.append(base | dict(layer=layer, iteration=0, neg_frac=first("C3")))
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
        gradients=pd.DataFrame(grads),
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
        (c, d) for c in ("C0", "C1", "C2", "C3", "M1") for d in ("mnist", "cifar10")
    ]
    assert set(table["comparison"]) == {COMP.name} and set(table["rule"]) == {stats.RULE}
    assert (set(table["baseline"]), set(table["treatment"])) == ({"wgan_gp"}, {"ssgan"})
    assert list(table["dataset_name"][:2]) == ["MNIST", "CIFAR-10"]
    by = table.set_index(["claim", "dataset"])
    assert by.loc[("C2", "mnist"), "direction"] == "ssgan - wgan_gp < 0"
    assert by.loc[("C1", "mnist"), "direction"] == "ssgan - wgan_gp > 0"
    assert by.loc[("C1", "mnist"), "description"] == CL.CLAIMS["C1"].text
    # C0 is primary (Holm over its 2 datasets); C1-C3 are secondary, corrected together (6 rows);
    # the manipulation check M1 is in no family and gets no verdict
    assert table.loc[table["primary"], "claim"].unique().tolist() == ["C0"]
    assert table.loc[table["primary"], "n"].tolist() == [3, 3]  # too few: not tested
    assert table.loc[table["primary"], "p_holm"].isna().all()
    check = table[table["claim"] == "M1"]
    assert set(check["verdict"]) == set(check["perm_verdict"]) == {"manipulation check"}
    assert set(check["family"]) == {"not judged"} and check["p_holm"].isna().all()
    assert (check["n"] == 8).all() and check["by_construction"].isna().all()  # no iteration 0
    judged = table[table["claim"] != "M1"]
    for block in (judged[judged["primary"]], judged[~judged["primary"]]):
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
    # the smallest sign-flip p times the number of secondary rows with a p (C2 on cifar10: every
    # difference 0, no p)
    m = judged.loc[~judged["primary"], "p_perm"].notna().sum()
    assert m == 5 and by.loc[("C1", "mnist"), "p_perm_holm"] == pytest.approx(m * 2 / 2**8)
    assert set(table["kind"]) == {"superiority"} and set(table["margin"]) == {0.0}
    assert by.loc[("C1", "mnist"), "diff_mean"] == pytest.approx(0.2)
    assert by.loc[("C1", "mnist"), "layers"] == "deconv1 deconv2 deconv3"
    assert by.loc[("C2", "mnist"), "layers"] == "deconv1 deconv2"
    assert by.loc[("C3", "mnist"), "layers"] == "deconv1 deconv2"
    assert by.loc[("M1", "mnist"), "layers"] == "block1 block2"
    verdicts = by["verdict"].to_dict()
    assert verdicts[("C1", "mnist")] == verdicts[("C1", "cifar10")] == "holds"
    assert verdicts[("C2", "mnist")] == "holds" and verdicts[("C3", "mnist")] == "holds"
    assert verdicts[("C2", "cifar10")] == "inconclusive"
    assert verdicts[("C3", "cifar10")] == "does not hold"  # more negative weights there
    assert verdicts[("C0", "mnist")] == "inconclusive"  # 3 pairs: no verdict possible
    assert by.loc[("C0", "cifar10"), "diff_mean"] == pytest.approx(
        np.mean(np.log(1.1 * (1 + 0.01 * np.arange(3))))
    )
    m1 = by.loc[("M1", "mnist")]
    assert m1["sastm_output_zero_frac"] == pytest.approx(0.6)
    assert m1["sastm_channel_dead_frac"] == pytest.approx(0.35)
    assert m1["sastm_spatial_dead_frac"] == 0.0
    others = table[table["claim"] != "M1"]
    assert others[list(CL.SASTM_ONLY)].isna().all().all()
    default = CL.claims_table([COMP], datasets, pairs, probes, kind_of=lambda m: m)
    c1 = default.set_index(["claim", "dataset"]).loc[("C2", "mnist")]  # n_boot 10000, seed 0
    fv = CL.final_values(probes["gradients"], "unit_grad_zero_frac", CL.hidden_deconv)
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


def test_a_claim_decided_at_iteration_0_gets_no_verdict():
    """C1's arms differ at iteration 0 far beyond their seed noise: ``by construction``, out of
    the Holm family (3 rows with a p instead of 5). C3's start identical (d0 = 0): judged,
    "holds" on mnist. C2's differ at iteration 0 by noise only (d0 = 0 +- 0.01): judged.
    M1 differs at iteration 0: flagged, and still a manipulation check, never a verdict."""
    at0 = {"C1": (0.1, 0.6, 0.01), "C2": (0.4, 0.4, 0.01), "C3": (0.5, 0.5), "M1": (0.5, 0.87)}
    probes = probes_for_claims(at0)
    datasets = {COMP.name: ["mnist", "cifar10"]}
    table = CL.claims_table([COMP], datasets, fid_pairs_table(), probes, lambda m: m, 100, 1)
    by = table.set_index(["claim", "dataset"])
    for d in ("mnist", "cifar10"):
        c1 = by.loc[("C1", d)]
        assert c1["by_construction"] is True and c1["it0_n"] == 8
        assert c1["verdict"] == c1["perm_verdict"] == "by construction"
        assert c1["family"] == "not judged" and math.isnan(c1["p_holm"])
        assert c1["it0_diff_mean"] == pytest.approx(0.5) and c1["it0_ci_low"] > 0
        assert c1["note"].startswith("the arms differ before training (iteration 0: ssgan - ")
        assert c1["diff_mean"] == pytest.approx(0.2)  # the final difference is still reported
        # what training added: the final minus the iteration-0 difference, per seed (descriptive)
        assert c1["training_diff_mean"] == pytest.approx(0.2 - 0.5)
        assert c1["training_ci_low"] < -0.3 < c1["training_ci_high"]
        c3 = by.loc[("C3", d)]
        assert c3["by_construction"] is False and (c3["it0_ci_low"], c3["it0_ci_high"]) == (0, 0)
        c2 = by.loc[("C2", d)]
        assert c2["by_construction"] is False and c2["it0_ci_low"] < 0 < c2["it0_ci_high"]
        m1 = by.loc[("M1", d)]
        assert m1["by_construction"] is True and m1["verdict"] == "manipulation check"
    assert by.loc[("C3", "mnist"), "verdict"] == "holds"
    assert by.loc[("C3", "cifar10"), "verdict"] == "does not hold"
    assert by.loc[("C3", "mnist"), "training_diff_mean"] == pytest.approx(-0.05)  # d0 = 0
    assert by.loc[("C0", "mnist"), ["training_diff_mean", "it0_diff_mean"]].isna().all()
    assert by.loc[("C2", "mnist"), "verdict"] == "holds"
    secondary = table[~table["primary"] & (table["family"] != "not judged")]
    assert set(secondary["claim"]) == {"C2", "C3"}
    assert set(secondary["family"]) == {"secondary: Holm over 3 rows"}  # C2 cifar10: no p
    assert secondary["p_holm"].tolist() == pytest.approx(
        list(stats.holm(secondary["p_ttest"])), nan_ok=True
    )
    # C1 without the iteration-0 gap is judged again: the flag alone removed its verdict
    same = CL.claims_table(
        [COMP],
        datasets,
        fid_pairs_table(),
        probes_for_claims({**at0, "C1": (0.3, 0.3)}),
        lambda m: m,
        100,
        1,
    ).set_index(["claim", "dataset"])
    assert same.loc[("C1", "mnist"), "verdict"] == "holds"
    assert same.loc[("C1", "mnist"), "by_construction"] is False


def test_iteration0_columns_without_enough_pairs():
    from ssgan.analysis import construction

    values = pd.DataFrame(
        [("mnist", "wgan_gp", 0, 0.1), ("mnist", "ssgan", 0, 0.9), ("mnist", "ssgan", 1, 0.8)],
        columns=["dataset", "method", "seed", "value"],
    )
    one = construction.iteration0(values, COMP, "mnist")
    assert one["it0_n"] == 1 and one["by_construction"] is None  # one pair: no seed noise
    assert one["it0_diff_mean"] == pytest.approx(0.8) and math.isnan(one["it0_ci_low"])
    none = construction.iteration0(None, COMP, "mnist")  # FID and runs.csv claims
    assert none["it0_n"] == 0 and none["by_construction"] is None
