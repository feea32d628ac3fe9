"""Probes on hand-set weights (known values) and the dead SASTM gates at initialisation."""

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
