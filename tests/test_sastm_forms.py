"""benchmarks/sastm_forms.py's pieces that need no training: the forms it knows and the
gate/deconvolution gradient-norm ratio at initialisation (issue 28's mechanism: before BN, open
gates get almost no gradient)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from ssgan import config as C

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
import sastm_forms as S  # noqa: E402

ARGS = argparse.Namespace(iterations=20, probe_every=10, seed=0, fid_samples=50)


def test_forms_cover_the_ablation_grid_and_the_main_forms():
    grid = C.load_yaml(S.ABLATION)["methods"]
    every = S.forms(["all"])
    assert set(grid) | set(S.MAIN) <= set(every)
    assert list(S.forms(["main"])) == list(S.MAIN)
    assert every["ssgan_open_before_bn"] == ("ssgan", {"init": "open", "position": "before_bn"})
    with pytest.raises(SystemExit, match="unknown forms"):
        S.forms(["ssgan_nope"])


def test_gate_gradients_at_initialisation():
    ratio = {
        f: S.gradient_ratios(S.form_config("ssgan", S.EXTRA[f], ARGS), None, None)
        for f in ("ssgan_open_before_bn", "ssgan_balanced_after_bn", "ssgan_balanced_before_bn")
    }
    assert set(ratio["ssgan_open_before_bn"]) == {"sastm1", "sastm2"}
    # open gates before BN: BN cancels a gate equal for every sample, so little gradient
    assert max(ratio["ssgan_open_before_bn"].values()) < 0.1
    # input-dependent gates are not cancelled, before BN or after
    for form in ("ssgan_balanced_after_bn", "ssgan_balanced_before_bn"):
        assert min(ratio[form].values()) > 0.15, form


def _rows(form, zero, dead, relu, wgan_relu):
    return [
        {
            "form": form,
            "layer": "sastm1",
            "iteration": str(it),
            "channel_zero_frac": str(zero),
            "spatial_zero_frac": "0.0",
            "channel_dead_frac": str(dead),
            "spatial_dead_frac": "0.0",
            "relu_zero": str(relu),
            "wgan_relu_zero": str(wgan_relu),
        }
        for it in (0, 50, 100)
    ]


def test_criterion_separates_the_three_failures():
    forms = {
        "sparse": (0.5, 0.0, 0.85, 0.5),
        "identity": (0.0, 0.0, 0.5, 0.5),  # (1) no zeros
        "narrow": (0.5, 0.45, 0.85, 0.5),  # (1) zeros, but from dead gates; (2) many dead
        "recentred": (0.5, 0.0, 0.52, 0.5),  # (3) the zeros do not reach the ReLU
    }
    rows = [r for f, v in forms.items() for r in _rows(f, *v)]
    lines = S.criterion_lines(rows, [(f, "sastm1") for f in forms])
    verdict = {ln.split(":")[0][2:]: ln.split(": ", 1)[1] for ln in lines if ln.startswith("- ")}
    assert verdict == {
        "sparse": "(1) yes, (2) yes, (3) yes: qualifies",
        "identity": "(1) no, (2) yes, (3) no: does not qualify",
        "narrow": "(1) no, (2) no, (3) yes: does not qualify",
        "recentred": "(1) yes, (2) yes, (3) no: does not qualify",
    }
