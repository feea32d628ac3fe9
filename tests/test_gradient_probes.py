"""The gradient probes of claims C1 and C2 (ssgan/probes/gradients.py): known answers against
explicit per-sample backward passes, both outcomes of each measure on real generators, and
claims decided at iteration 0 on real tiny trainings (ssgan/analysis/construction.py)."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import torch
from torch import nn

from ssgan import probes
from ssgan.models import SASTM, Critic, Generator
from ssgan.probes.gradients import fix_batch_statistics, gradient_rows, weight_grad_zero_share
from tests.test_models import SASTM_OPTS


@pytest.mark.parametrize(
    "conv",
    [nn.ConvTranspose2d(4, 3, 4, 2, 1), nn.Conv2d(4, 3, 3, 1, 1), nn.Conv2d(4, 3, 3, 2, 1)],
)
def test_weight_gradient_zeros_match_per_sample_backward_passes(conv):
    """The structural count equals the exact zeros of each sample's own weight gradient."""
    torch.manual_seed(0)
    x = torch.relu(torch.randn(5, 4, 6, 6) - 0.8)
    x[1, 2] = 0  # a whole input channel of sample 1
    g = torch.randn_like(conv(x)) * (torch.rand_like(conv(x)) > 0.85)
    want = []
    for b in range(len(x)):
        conv.zero_grad()
        (conv(x[b : b + 1]) * g[b : b + 1]).sum().backward()
        want.append(float((conv.weight.grad == 0).float().mean()))
    got = weight_grad_zero_share(conv, x, g).tolist()
    assert got == pytest.approx(want, abs=1e-7) and len(set(want)) > 2


def test_fixed_batch_statistics_keep_the_training_activations():
    torch.manual_seed(0)
    G, z = Generator(32, 1, width=8, z_dim=16), torch.randn(12, 16)
    want = G.train()(z)
    before = G.fc_bn.running_mean.clone()
    Gc = fix_batch_statistics(copy.deepcopy(G), z)
    assert not Gc.training and torch.allclose(Gc(z), want, atol=1e-5)
    assert torch.equal(G.fc_bn.running_mean, before)  # the copy's statistics, not G's


def _rows(G, seed=0):
    torch.manual_seed(seed)
    D = Critic(32, 1, width=8)
    z = torch.randn(32, 16, generator=torch.Generator().manual_seed(1))
    rows = {r["layer"]: r for r in gradient_rows(G, D, z, 0)}
    return rows, z


def test_wgan_gp_units_without_gradient_are_its_closed_relus():
    """In WGAN-GP (deconv -> BN -> ReLU) a deconvolution output unit gets no gradient exactly
    where the ReLU after its BatchNorm is closed: C2 of deconvK equals the zero share of the
    map blockK that the probes record (and the output deconvolution, feeding tanh, has none)."""
    torch.manual_seed(0)
    G = Generator(32, 1, width=8, z_dim=16)
    rows, z = _rows(G)
    _, _, feats = probes.activation_rows(G, z, 0)
    zeros = {f["layer"]: f["zero_frac"] for f in feats}
    for k in (1, 2):
        assert rows[f"deconv{k}"]["unit_grad_zero_frac"] == pytest.approx(zeros[f"block{k}"])
        assert 0.3 < zeros[f"block{k}"] < 0.7
    assert rows["deconv3"]["unit_grad_zero_frac"] == 0.0
    assert all(r["input_zero_channel_frac"] == 0 for r in rows.values())
    assert rows["deconv2"]["weight_grad_zero_frac"] < 0.05  # sparse maps, dense products


def _sastm_generator(**opts) -> Generator:
    torch.manual_seed(0)
    return Generator(32, 1, width=8, z_dim=16, sastm={**SASTM_OPTS, **opts})


def test_each_gradient_measure_comes_out_either_way_on_real_generators():
    """C2: gates open for every input whose last layers have small non-zero weights (not the
    identity of ``init: open``, which passes no gradient through its weight-0 branches) route a
    gradient through the channel branch's pooling to every unit, so far fewer units lack one
    than in WGAN-GP; a
    closed spatial gate cuts every unit behind it, so all of them do. C1: open gates leave the
    next kernel's gradient as dense as WGAN-GP's; closed gates zero the next deconvolution's
    input, and with it every entry of that kernel's gradient."""
    wgan, _ = _rows(Generator(32, 1, width=8, z_dim=16))
    open_G = _sastm_generator(init="open", position="before_bn")
    with torch.no_grad():
        for m in open_G.modules():
            if isinstance(m, SASTM):  # pre-activations 1 +- ~0.01: every gate stays open
                m.fc2.weight.normal_(0.0, 0.01)
                m.spatial.weight.normal_(0.0, 0.01)
    opened, _ = _rows(open_G)
    closed_G = _sastm_generator(init="open", position="before_bn", branches="spatial")
    with torch.no_grad():
        for m in closed_G.modules():
            if isinstance(m, SASTM):
                m.spatial.bias.fill_(-1.0)  # s = relu(-1) = 0 at every position
    closed, _ = _rows(closed_G)
    for k in ("deconv1", "deconv2"):  # C2: fewer / more units without gradient than WGAN-GP
        assert opened[k]["unit_grad_zero_frac"] < 0.05 < 0.3 < wgan[k]["unit_grad_zero_frac"]
        assert closed[k]["unit_grad_zero_frac"] == 1.0
    for k in ("deconv2", "deconv3"):  # C1: input all zero -> every weight-gradient entry zero
        assert closed[k]["input_zero_channel_frac"] == closed[k]["weight_grad_zero_frac"] == 1.0
        assert opened[k]["weight_grad_zero_frac"] < 0.05 and wgan[k]["weight_grad_zero_frac"] < 0.05


def test_claims_decided_at_iteration_0_on_real_tiny_trainings(tmp_path):
    """WGAN-GP, the paper's form and the suite's balanced/after-BN variant, 3 seeds each, 12
    iterations at width 8, through the runs table, the probe tables and the claims table.

    The suite variant's zeros reach the next deconvolution at iteration 0 (M1: ~0.87 against
    WGAN-GP's ~0.5) and so do its zero weight gradients (C1): both flagged ``by construction``.
    C3 compares deconvolution weights that both generators draw from the same per-layer seeds:
    d0 = 0, never flagged. The paper form's iteration-0 gaps are within their seed noise at
    this width and n = 3 (PyTorch's initialisation leaves a seed-dependent set of gates dead),
    so its claims are judged (at width 64 its C1 and C2 gaps are not: docs/analysis.md)."""
    from ssgan.analysis import claims as CL
    from ssgan.analysis import runs as R
    from ssgan.analysis.tables import Comparison
    from ssgan.training.loop import train
    from tests.test_train import tiny_cfg

    forms = {
        "wgan_gp": ("wgan_gp", {}),
        "ssgan": ("ssgan", {}),
        "ssgan_suite": ("ssgan", {"sastm.init": "balanced", "sastm.position": "after_bn"}),
    }
    for label, (method, extra) in forms.items():
        for seed in (0, 1, 2):
            cfg = tiny_cfg(method, seed=seed, **extra)
            cfg["method_label"] = label
            assert train(cfg, tmp_path / "runs" / "mnist" / label / f"seed{seed}") == 0
    runs = R.runs_table(tmp_path)
    assert R.method_name("ssgan") == "Self-Sparse GAN (paper form)"
    assert R.method_name("ssgan_suite") == "Self-Sparse GAN · balanced, after BN (suite variant)"
    tables = {name: R.gather(tmp_path, runs, name) for name in R.PROBES}
    assert sorted(set(tables["gradients"]["iteration"])) == [0, 4, 8, 12]
    comps = [Comparison("wgan_gp", "ssgan"), Comparison("wgan_gp", "ssgan_suite")]
    kinds = dict(zip(runs["method"], runs["method_kind"]))
    no_fid = pd.DataFrame(
        columns=["comparison", "dataset", "seed", "fid_baseline", "fid_treatment", "log_ratio"]
    )
    table = CL.claims_table(
        comps, {c.name: ["mnist"] for c in comps}, no_fid, tables, kinds.get, 50, 0, runs
    )
    by = table.set_index(["treatment", "claim"])
    suite, paper = by.loc["ssgan_suite"], by.loc["ssgan"]
    assert suite.loc["M1", "by_construction"] is True
    assert suite.loc["M1", "it0_treatment"] > 0.8 > 0.6 > suite.loc["M1", "it0_baseline"]
    assert suite.loc["M1", "verdict"] == "manipulation check"
    assert suite.loc["C1", "by_construction"] is True
    assert suite.loc["C1", "verdict"] == "by construction"
    for t in (suite, paper):
        assert t.loc["C3", "by_construction"] is False and t.loc["C3", "it0_diff_mean"] == 0
        assert t.loc["C3", "verdict"] == "inconclusive"  # 3 pairs: judged, below the minimum
    for c in ("C1", "C2", "C3"):
        assert paper.loc[c, "by_construction"] is False and paper.loc[c, "it0_n"] == 3
        assert paper.loc[c, "verdict"] == "inconclusive"
    assert table["by_construction"][table["claim"] == "C0"].isna().all()  # no iteration-0 FID
