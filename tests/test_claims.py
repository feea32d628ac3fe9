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
    r = CL.probe_row("C1", claim, COMP, "mnist", paired_rows(), n_boot=200, seed=0)
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
    r = CL.probe_row("C2", claim, COMP, "mnist", fv_table(rows), n_boot=50, seed=0)
    assert r["n"] == 0 and math.isnan(r["value_baseline"]) and math.isnan(r["diff_mean"])
    assert r["note"] == (
        "no probe_dead_units.csv values for ssgan (runs without this probe, e.g. written before "
        "it existed, or not completed)"
    )
    r = CL.probe_row("C2", claim, COMP, "mnist", fv_table([]), n_boot=50, seed=0)
    assert r["note"].startswith("no probe_dead_units.csv values for wgan_gp and ssgan (")
    assert r["layers"] == ""


def test_probe_row_with_enough_seeds_has_no_note():
    rows = [("mnist", m, s, s + (m == "ssgan"), "") for m in ("wgan_gp", "ssgan") for s in range(6)]
    r = CL.probe_row("C1", CL.CLAIMS["C1"], COMP, "mnist", fv_table(rows), n_boot=50, seed=0)
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
