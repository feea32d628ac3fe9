"""Declared hypotheses through ``ssgan aggregate --config``: a non-inferiority claim with its
margin, mode-collapse claims read from runs.csv as a comparison's primary claim, the primary
and secondary Holm families, seeds a variant's slice leaves out by design, and the quick
config's "pipeline check, not evidence"."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import yaml

from ssgan.analysis import claims as CL
from ssgan.analysis.aggregate import PIPELINE_CHECK
from ssgan.cli import main
from tests.synthetic_results import write_fid_grid

THREE = ("mnist", "fashion_mnist", "cifar10")


def aggregate(root, suite: dict):
    cfg = root / "suite.yaml"
    cfg.write_text(yaml.safe_dump(suite))
    assert (
        main(["aggregate", "--results", str(root), "--bootstrap", "100", "--config", str(cfg)]) == 0
    )
    return (pd.read_csv(root / "tables" / f"{t}.csv") for t in ("relative_fid_reduction", "claims"))


def test_non_inferiority_holds_for_equal_fid_and_fails_for_a_15_percent_loss(tmp_path):
    """N0: FID at most 10% above the baseline. Equal FIDs (r = 0): non-inferior although C0
    (superiority) cannot hold; 15% worse: beyond the margin, does not hold."""
    root = write_fid_grid(tmp_path, {"mnist": 0.0, "cifar10": -0.15}, seeds=6, jitter=0.01)
    suite = {"comparisons": [{"baseline": "wgan_gp", "treatment": "ssgan", "claims": ["N0", "C0"]}]}
    _, cl = aggregate(root, suite)
    v = {(r.claim, r.dataset): r.verdict for r in cl.itertuples()}
    assert v == {
        ("N0", "mnist"): "holds",
        ("N0", "cifar10"): "does not hold",
        ("C0", "mnist"): "inconclusive",
        ("C0", "cifar10"): "does not hold",
    }
    n0 = cl[cl["claim"] == "N0"].iloc[0]
    assert (n0["kind"], n0["margin"], bool(n0["primary"])) == (
        "non-inferiority",
        pytest.approx(math.log(1.1)),
        True,
    )
    assert n0["ci_high"] < math.log(1.1)  # the interval lies below the margin
    assert set(cl.loc[cl["claim"] == "C0", "family"]) == {"secondary: Holm over 2 rows"}


def test_mode_collapse_as_the_primary_claim_fid_secondary(tmp_path):
    """SR-GAN vs SN-GAN: recall (MC1) primary; the treatment's recall is higher on every seed."""
    recall = lambda d, m, s: {"recall": 0.40 + 0.01 * s + (0.10 if m == "sr_gan" else 0.0)}  # noqa: E731
    root = write_fid_grid(
        tmp_path, dict.fromkeys(THREE, 0.0), 6, methods=("sn_gan", "sr_gan"), extra=recall
    )
    comp = {"baseline": "sn_gan", "treatment": "sr_gan", "claims": ["MC1", "MC2", "C0"]}
    _, cl = aggregate(root, {"comparisons": [{**comp, "primary": "MC1"}]})
    mc1 = cl[cl["claim"] == "MC1"]
    assert mc1["primary"].all() and (mc1["verdict"] == "holds").all()
    assert mc1["diff_mean"].tolist() == pytest.approx([0.10] * 3)
    assert set(mc1["family"]) == {"primary: Holm over 3 rows"} and set(mc1["probe"]) == {"runs.csv"}
    mc2 = cl[cl["claim"] == "MC2"]  # no coverage recorded: no values, said so
    assert (mc2["n"] == 0).all() and mc2["note"].str.contains("no runs.csv values").all()
    c0 = cl[cl["claim"] == "C0"]
    assert not c0["primary"].any() and (c0["verdict"] == "inconclusive").all()
    # the registered set for sr_gan puts MC1 first
    assert CL.CLAIM_SETS["sr_gan"][0] == "MC1"


def test_primary_must_be_among_the_claims(tmp_path, capsys):
    root = write_fid_grid(tmp_path, {"mnist": 0.1}, seeds=5)
    cfg = tmp_path / "bad.yaml"
    comp = {"baseline": "wgan_gp", "treatment": "ssgan", "claims": ["C0"], "primary": "N0"}
    cfg.write_text(yaml.safe_dump({"comparisons": [comp]}))
    assert main(["aggregate", "--results", str(root), "--config", str(cfg)]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("comparison 'ssgan vs wgan_gp': primary claim N0 is not among its claims (C0)")
    )


def test_a_seed_outside_a_variants_slice_is_not_missing_and_the_quick_grid_is_a_check(tmp_path):
    root = write_fid_grid(tmp_path, {"mnist": 0.2}, seeds=6)
    (root / "runs" / "mnist" / "ssgan" / "seed5").rename(root / "gone")  # a run that never came
    suite = {
        "datasets": {"mnist": {}},
        "seeds": list(range(7)),
        "methods": {"wgan_gp": {}, "ssgan": {"seeds": [0, 1, 2, 3, 4, 5]}},
        "pipeline_check": True,
    }
    wgan6 = write_fid_grid(tmp_path / "w", {"mnist": 0.0}, seeds=7) / "runs/mnist/wgan_gp/seed6"
    wgan6.rename(root / "runs" / "mnist" / "wgan_gp" / "seed6")  # the baseline's 7th seed
    red, cl = aggregate(root, suite)
    r = red.iloc[0]
    assert r["dropped"] == "seed 5: ssgan missing; seed 6: ssgan not in this slice"
    assert r["n_dropped"] == 1  # the slice never asked for seed 6
    assert r["note"].startswith(PIPELINE_CHECK) and cl["note"].str.startswith(PIPELINE_CHECK).all()
    md = (root / "tables" / "paper_table.md").read_text()
    assert md.startswith(f"**{PIPELINE_CHECK}.**")
    del suite["pipeline_check"]
    red, _ = aggregate(root, suite)
    assert not red["note"].fillna("").str.contains("pipeline check").any()
