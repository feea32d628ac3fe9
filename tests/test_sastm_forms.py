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
            "output_zero_frac": str(zero),
            "channel_dead_frac": str(dead),
            "spatial_dead_frac": "0.0",
            "relu_zero": str(relu),
            "wgan_relu_zero": str(wgan_relu),
            "gate_grad_ratio": "",
        }
        for it in (0, 50, 100)
    ]


def test_summary_describes_forms_and_selects_none():
    forms = {"sparse": (0.5, 0.0, 0.85, 0.5), "identity": (0.0, 0.0, 0.5, 0.5)}
    rows = [r for f, v in forms.items() for r in _rows(f, *v)]
    fids = {"sparse": 120.0, "identity": 100.0, "wgan_gp": 101.0}
    text = S.summary(rows, fids, ARGS, [])
    assert "qualif" not in text and "criterion" not in text.lower()
    assert "no form is selected" in text and not hasattr(S, "criterion_lines")
    assert "| sparse | sastm1 | 0.500 | 1.00 | 0.0 | 0.0 | 0.5 | 0.850 (0.500) | 0.850 |" in text
    assert "| identity | sastm1 | 0.000 | 0.00 | 0.0 | 0.0 | 0.0 | 0.500 (0.500) | 0.500 |" in text
    assert ">= 20k iterations, >= 3 seeds" in S.__doc__
