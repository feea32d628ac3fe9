"""An inert treatment is visible: a Self-Sparse GAN run whose SASTM outputs never reach
runs.INERT_ZERO_FRAC exact zeros is flagged in runs.csv and in the claims table."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ssgan.analysis import claims as CL
from ssgan.analysis import runs as R
from tests.test_claims import COMP, fid_pairs_table, probes_for_claims

QUICK = Path(__file__).parents[1] / "config" / "quick.yaml"


def test_sastm_inertness_threshold():
    rows = lambda *v: R.pd.DataFrame({"output_zero_frac": v})  # noqa: E731
    assert R.sastm_inertness(rows(0.0, 0.0, R.INERT_ZERO_FRAC / 2)) == (R.INERT_ZERO_FRAC / 2, True)
    assert R.sastm_inertness(rows(0.0, R.INERT_ZERO_FRAC)) == (R.INERT_ZERO_FRAC, False)
    top, flag = R.sastm_inertness(R.pd.DataFrame())  # WGAN-GP: no SASTM rows
    assert math.isnan(top) and flag is None


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
