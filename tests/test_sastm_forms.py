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
