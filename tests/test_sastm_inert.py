"""An inert treatment is visible: a Self-Sparse GAN run whose SASTM outputs never reach
runs.INERT_ZERO_FRAC exact zeros is flagged in runs.csv and in the claims table."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ssgan import config as C
from ssgan.analysis import claims as CL
from ssgan.analysis import runs as R
from ssgan.training.loop import train
from tests.test_claims import COMP, fid_pairs_table, probes_for_claims

QUICK = Path(__file__).parents[1] / "config" / "quick.yaml"


def test_sastm_inertness_threshold():
    rows = lambda *v: R.pd.DataFrame({"output_zero_frac": v})  # noqa: E731
    assert R.sastm_inertness(rows(0.0, 0.0, R.INERT_ZERO_FRAC / 2)) == (R.INERT_ZERO_FRAC / 2, True)
    assert R.sastm_inertness(rows(0.0, R.INERT_ZERO_FRAC)) == (R.INERT_ZERO_FRAC, False)
    top, flag = R.sastm_inertness(R.pd.DataFrame())  # WGAN-GP: no SASTM rows
    assert math.isnan(top) and flag is None


def test_open_init_quick_run_is_flagged_and_the_default_is_not(tmp_path):
    """config/quick.yaml's sizes (width 16, batch 32), 40 of its 160 iterations (time; with
    the open init no coefficient is zero at 160 either: benchmarks/results/dead_gates.md's
    200-iteration quick runs): the open init is the
    identity and stays below the threshold; the default (the paper's form, PyTorch's init)
    zeroes more than half of Y, closed and dead gates together."""
    quick = C.load_yaml(QUICK)
    short = {
        "train": {"iterations": 40, "checkpoint_every": 20, "sample_every": 40},
        "fid": {"checkpoints": []},
    }
    tables = {}
    for name, sastm in (("open", {"init": "open"}), ("default", {})):
        cfg = C.resolve(
            "mnist",
            "ssgan",
            0,
            quick,
            {**short, "probe": {"every": 20}, **({"sastm": sastm} if sastm else {})},
        )
        assert train(cfg, tmp_path / name / "runs" / "mnist" / "ssgan" / "seed0") == 0
        tables[name] = R.runs_table(tmp_path / name).iloc[0]
    inert, default = tables["open"], tables["default"]
    assert inert["status"] == default["status"] == "completed"
    assert bool(inert["sastm_inert"]) is True and inert["sastm_zero_max"] == 0.0
    assert R.INERT_NOTE in inert["note"]
    assert bool(default["sastm_inert"]) is False and default["sastm_zero_max"] > 0.5
    assert R.INERT_NOTE not in (default["note"] or "")


def test_claims_rows_of_an_inert_treatment_carry_the_note():
    probes = probes_for_claims()
    sp = probes["sparsity"]
    sp.loc[sp["dataset"] == "mnist", "output_zero_frac"] = 0.0  # inert on MNIST only
    datasets = {COMP.name: ["mnist", "cifar10"]}
    table = CL.claims_table([COMP], datasets, fid_pairs_table(), probes, lambda m: m, 50, 0)
    assert list(table.columns) == CL.CLAIM_COLUMNS
    mnist, cifar = table[table["dataset"] == "mnist"], table[table["dataset"] == "cifar10"]
    assert (mnist["sastm_inert"] == 1.0).all() and (cifar["sastm_inert"] == 0.0).all()
    assert mnist["note"].str.contains(R.INERT_NOTE, regex=False).all()
    assert not cifar["note"].fillna("").str.contains(R.INERT_NOTE, regex=False).any()


@pytest.mark.parametrize("treatment", ["stu_gan"])
def test_a_treatment_without_sastm_has_no_inert_share(treatment):
    probes = probes_for_claims()
    comp = CL.dataclasses.replace(COMP, treatment=treatment)
    assert math.isnan(CL.inert_share(probes, comp, "mnist"))
