"""Probes on hand-set weights (known values) and the dead SASTM gates at initialisation."""

import dataclasses

import pytest
import torch
from torch import nn

from ssgan import config as C
from ssgan import probes
from ssgan.methods import get_method
from ssgan.models import SASTM, Generator
from ssgan.training import seeds
from tests.test_models import SASTM_OPTS


def test_zero_and_dead_fractions_of_known_tensors():
    # a: 3 samples x 4 channels; channel 0 is zero for every sample (dead), channel 1 only for
    # two samples (sparse, not dead).
    a = torch.tensor([[0.0, 0.0, 1.0, 2.0], [0.0, 0.0, 3.0, 1.0], [0.0, 5.0, 1.0, 1.0]])
    a = a[:, :, None, None]
    assert probes.zero_frac(a) == pytest.approx(5 / 12) and probes.dead_frac(a) == 0.25
    s = torch.ones(3, 1, 2, 2)
    s[:, 0, 0, 0] = 0  # position (0, 0) dead
    s[1, 0, 1, 1] = 0  # position (1, 1) zero in one sample only
    assert probes.dead_frac(s) == 0.25 and probes.zero_frac(s) == pytest.approx(4 / 12)
    assert probes.zero_frac(None) == "" and probes.dead_frac(None) == ""


def _hand_set(G: Generator, negative: dict[str, int]) -> None:
    """BatchNorm gamma 0 and beta -1 for the first ``negative[bn]`` features, +1 for the rest:
    the post-ReLU map after that BatchNorm is then exactly 0 on those features."""
    for name, bn in probes.named_layers(G, nn.BatchNorm2d):
        with torch.no_grad():
            bn.weight.zero_()
            bn.bias.fill_(1.0)
            bn.bias[: negative[name]] = -1.0


@pytest.mark.parametrize("sastm", [None, {**SASTM_OPTS, "init": "default"}])
def test_feature_sparsity_reads_the_maps_fed_to_each_deconvolution(sastm):
    # 32 px, W = 8: fc -> 32 x 4 x 4 (bn0 has 512 features), deconv1 -> 16, deconv2 -> 8 channels.
    torch.manual_seed(0)
    G = Generator(32, 1, width=8, z_dim=16, sastm=sastm)
    _hand_set(G, {"bn0": 128, "bn1": 12, "bn2": 2})
    _, _, feats = probes.activation_rows(G, torch.randn(10, 16), 7)
    # Contract: block0 feeds deconv1, block{i} is the output of hidden block i.
    assert feats == [
        {"iteration": 7, "layer": "block0", "zero_frac": 0.25},
        {"iteration": 7, "layer": "block1", "zero_frac": 0.75},
        {"iteration": 7, "layer": "block2", "zero_frac": 0.25},
    ]


def test_dead_gate_fractions_on_hand_set_sastm_weights():
    torch.manual_seed(0)
    G = Generator(32, 1, width=8, z_dim=16, sastm={**SASTM_OPTS, "init": "default"})
    (_, s1), (_, s2) = probes.named_layers(G, SASTM)
    with torch.no_grad():
        # sastm1 (16 channels): W2 = 0, bias -1 on 4 channels -> a = 0 there for every sample.
        s1.fc2.weight.zero_()
        s1.fc2.bias.fill_(2.0)
        s1.fc2.bias[:4] = -1.0
        # its spatial gate: weight 0, bias -1 -> s = 0 everywhere (all positions dead).
        s1.spatial.weight.zero_()
        s1.spatial.bias.fill_(-1.0)
        # sastm2: everything open.
        for last in (s2.fc2, s2.spatial):
            last.weight.zero_()
            last.bias.fill_(1.0)
    sparsity, _, _ = probes.activation_rows(G, torch.randn(10, 16), 3)
    first, second = sparsity
    assert (first["channel_dead_frac"], first["channel_zero_frac"]) == (0.25, 0.25)
    assert (first["spatial_dead_frac"], first["spatial_zero_frac"]) == (1.0, 1.0)
    assert first["output_zero_frac"] == 1.0
    assert {k: second[k] for k in probes.SPARSITY_COLUMNS[2:]} == dict.fromkeys(
        probes.SPARSITY_COLUMNS[2:], 0.0
    )
    # a branch that is absent gives empty cells
    G = Generator(32, 1, width=8, z_dim=16, sastm={**SASTM_OPTS, "branches": "channel"})
    sparsity, _, _ = probes.activation_rows(G, torch.randn(10, 16), 0)
    assert all(r["spatial_dead_frac"] == "" and r["channel_dead_frac"] == 0.0 for r in sparsity)


def _generator_at_init(dataset: str, init: str, seed: int) -> tuple[nn.Module, torch.Tensor]:
    """The generator exactly as training builds it (per-layer seeds) and a probe batch of 64."""
    cfg = C.resolve(
        dataset, "ssgan", seed, overrides={"model": {"width": 16}, "sastm": {"init": init}}
    )
    res = 32 if dataset == "cifar10" else 64
    G, _ = get_method("ssgan", cfg).build_networks(res, 3, seeds.stream_seed(seed, "init"))
    z = torch.randn(
        64, 128, generator=torch.Generator().manual_seed(seeds.stream_seed(seed, "probe"))
    )
    return G, z


@pytest.mark.parametrize("dataset", ["cifar10", "celeba_hq"])  # 32 px and 64 px generators
def test_open_init_has_no_dead_gate_and_default_init_has_many(dataset):
    for seed in (0, 1, 2):
        G, z = _generator_at_init(dataset, "open", seed)
        sparsity, _, _ = probes.activation_rows(G, z, 0)
        assert len(sparsity) == (2 if dataset == "cifar10" else 3)
        for r in sparsity:
            assert r["channel_dead_frac"] == 0 and r["spatial_dead_frac"] == 0
            assert r["channel_zero_frac"] == 0 and r["spatial_zero_frac"] == 0
        G, z = _generator_at_init(dataset, "default", seed)
        sparsity, _, _ = probes.activation_rows(G, z, 0)
        # PyTorch's init: a large share of every SASTM's channel gates is dead from the start
        assert all(r["channel_dead_frac"] > 0.2 for r in sparsity), sparsity


def test_dead_channels_are_channels_nonpositive_for_every_sample_and_position():
    # 2 samples x 3 channels x 2 positions: channel 0 <= 0 everywhere (dead), channel 1 has one
    # positive entry (sparse, not dead), channel 2 is exactly 0 everywhere (dead: ReLU passes 0).
    out = torch.tensor(
        [[[-1.0, -2.0], [-1.0, 3.0], [0.0, 0.0]], [[-0.5, 0.0], [-1.0, -1.0], [0.0, 0.0]]]
    )
    assert probes.dead_channel_frac(out) == pytest.approx(2 / 3, abs=1e-7)
    assert probes.dead_channel_frac(out[:, :, :, None]) == pytest.approx(
        2 / 3, abs=1e-7
    )  # 4-D maps as well
    assert probes.dead_channel_frac(-torch.ones(4, 5)) == 1.0  # BatchNorm1d output (N x C)
    assert probes.dead_channel_frac(torch.ones(4, 5)) == 0.0


def test_dead_channels_read_batchnorm_output_not_its_zero_fraction():
    """gamma 0 makes BN output beta on every entry: beta -1 on the first k channels -> k dead
    channels. A second set of channels with gamma 1, beta 0 is about half negative: it adds to
    dead_frac but not to dead_channel_frac, so the two columns differ."""
    torch.manual_seed(0)
    G = Generator(32, 1, width=8, z_dim=16)
    for (_, bn), k in zip(probes.named_layers(G, nn.BatchNorm2d), (128, 4, 2)):
        with torch.no_grad():
            half = bn.num_features // 2
            bn.weight[:half] = 0.0
            bn.bias[:half] = 1.0
            bn.bias[:k] = -1.0
    _, dead, _ = probes.activation_rows(G, torch.randn(10, 16), 5)
    assert [r["layer"] for r in dead] == ["bn0", "bn1", "bn2"]
    assert [r["dead_channel_frac"] for r in dead] == [0.25, 0.25, 0.25]
    for r in dead:
        assert 0.25 + 0.15 < r["dead_frac"] < 0.25 + 0.35  # plus about half of the other half


def _per_layer_final(run, claim) -> list[float]:
    """A claim's per-layer values at the last probe of one run, in layer order."""
    import pandas as pd

    from ssgan.analysis.runs import PROBES

    df = pd.read_csv(run / PROBES[claim.table][0])
    last = df[df["iteration"] == df["iteration"].max()].set_index("layer")
    return [float(last.loc[layer, claim.column]) for layer in claim.layers(list(last.index))]


def test_claims_of_a_comparison_measure_different_things_on_trained_runs(tmp_path):
    """Trained runs (WGAN-GP, Self-Sparse GAN in the paper's form, the balanced/after-BN
    variant, SR-GAN): no two judged probe claims of a comparison give the same value at any of
    their layers. The manipulation check M1 (zeros of the maps fed to the deconvolutions) is
    C2's number in WGAN-GP, where a unit lacks gradient exactly where its ReLU is closed: that
    is why M1 is no claim; in Self-Sparse GAN SASTM's gates make them differ."""
    from ssgan.analysis import claims as CL
    from ssgan.analysis.runs import PROBES
    from ssgan.training.loop import train
    from tests.test_train import tiny_cfg

    runs = {
        "wgan_gp": tiny_cfg("wgan_gp"),
        "ssgan": tiny_cfg("ssgan", **{"model.width": 16}),  # at width 8 most gates are dead
        "ssgan_balanced": tiny_cfg(
            "ssgan", **{"sastm.init": "balanced", "sastm.position": "after_bn"}
        ),
        "sr_gan": tiny_cfg("sr_gan", **{"sr.every": 2}),
    }
    for name, cfg in runs.items():
        assert train(cfg, tmp_path / name) == 0
    for kind, names in CL.CLAIM_SETS.items():
        judged = [c for c in names if CL.CLAIMS[c].table in PROBES and not CL.CLAIMS[c].check]
        for run in (tmp_path / r for r in runs if r.startswith(kind) or r == "wgan_gp"):
            values = [_per_layer_final(run, CL.CLAIMS[c]) for c in judged]
            assert all(values), (run, values)
            for i in range(len(values)):
                for j in range(i + 1, len(values)):
                    pairs = list(zip(values[i], values[j]))
                    assert pairs and all(a != b for a, b in pairs), (run.name, judged, values)
    m1, c2 = CL.CLAIMS["M1"], CL.CLAIMS["C2"]
    assert _per_layer_final(tmp_path / "wgan_gp", m1) == _per_layer_final(tmp_path / "wgan_gp", c2)
    for name in ("ssgan", "ssgan_balanced"):
        assert _per_layer_final(tmp_path / name, m1) != _per_layer_final(tmp_path / name, c2)
    # the old dead-unit reading (post-BN <= 0, dead_frac) is M1's number wherever SASTM (if
    # any) acts before BatchNorm
    old = dataclasses.replace(m1, table="dead_units", column="dead_frac", layers=CL.hidden_bn)
    for name in ("wgan_gp", "ssgan"):
        assert _per_layer_final(tmp_path / name, old) == _per_layer_final(tmp_path / name, m1)
