"""The ResNet SN-GAN family (ssgan/models/resnet.py): the reference's parameter counts, shapes,
Xavier initialisation per layer seed, SASTM placement, and every method's hold on its layers
(STU-GAN's masks, spectral normalisation, SR-GAN's compensation, the probes)."""

import math

import pytest
import torch
from torch import nn

from ssgan import config as C
from ssgan.errors import ConfigError
from ssgan.methods import METHODS, get_method
from ssgan.methods.sparse_masks import SparseMasks, masked_weights
from ssgan.models import SASTM, ResNetCritic, ResNetGenerator, count_parameters
from ssgan.probes import generator_convolutions, spectral, weight_rows

TINY_RESNET = ["model.arch=resnet", "model.resnet_g_width=16", "model.resnet_d_width=8"]
SASTM_OPTS = {"gate": "relu", "branches": "both", "reduction": 4, "recombination": "product"}


def cfg_for(method: str, *over: str, dataset: str = "mnist") -> dict:
    return C.resolve(dataset, method, 0, overrides=C.parse_overrides([*TINY_RESNET, *over]))


def kernels(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters() if p.dim() == 4)


def test_parameter_counts_equal_the_reference():
    """32 px RGB, widths 256 (G) and 128 (D): the counts of the reference code, by layer kind."""
    G, D = ResNetGenerator(32, 3, 256, 128), ResNetCritic(32, 3, 128)
    assert count_parameters(G) == 4_276_739
    assert kernels(G) == 3_742_464
    assert sum(p.numel() for p in G.fc.parameters()) == 528_384
    assert count_parameters(D) == 1_053_824
    assert kernels(D) == 1_052_416
    assert D.fc.bias is None
    # the config defaults are the reference widths
    cfg = C.resolve("cifar10", "sn_gan", 0, overrides={"model": {"arch": "resnet"}})
    method = get_method("sn_gan", cfg)
    assert count_parameters(method.build_generator(32, 3)) == 4_276_739
    assert count_parameters(method.build_critic(32, 3)) == 1_053_824


@pytest.mark.parametrize("res,ch", [(32, 1), (32, 3), (48, 3)])
def test_shapes_and_range(res, ch):
    torch.manual_seed(0)
    G, D = ResNetGenerator(res, ch, 16, 8), ResNetCritic(res, ch, 8)
    x = G(torch.randn(5, 8))
    assert x.shape == (5, ch, res, res) and x.min() >= -1 and x.max() <= 1
    assert D(x).shape == (5,)
    assert G.fc.out_features == 16 * (res // 8) ** 2  # base 4 at 32 px, 6 at 48 px


def test_resolutions_outside_the_family_are_refused():
    with pytest.raises(ValueError, match=r"resolutions \[32, 48\], got 64"):
        ResNetGenerator(64, 3, 16, 8)
    with pytest.raises(ConfigError, match="resnet, which has 32 and 48 px networks; .* 64"):
        cfg_for("wgan_gp", "data.resolution=64")
    with pytest.raises(ConfigError, match="'model.critic_norm' must be none with model.arch"):
        cfg_for("wgan_gp", "model.critic_norm=layernorm")
    with pytest.raises(ConfigError, match="'model.arch' must be one of"):
        cfg_for("wgan_gp", "model.arch=vgg")


def test_xavier_uniform_per_layer_from_the_layer_seed():
    """Every kernel lies within its Xavier-uniform bound (gain sqrt(2) on the residual paths, 1
    for shortcuts, linear layers, output conv) with the uniform's standard deviation; a rebuild
    with the same seed is equal, another seed differs."""
    method = get_method("wgan_gp", cfg_for("wgan_gp", "model.resnet_g_width=64"))
    G, D = method.build_networks(32, 1, init_seed=7)
    seen = 0
    for net in (G, D):
        for name, m in net.named_modules():
            if not isinstance(m, (nn.Conv2d, nn.Linear)):
                continue
            w = m.weight.detach()
            fan_in, fan_out = w.shape[1] * w[0, 0].numel(), w.shape[0] * w[0, 0].numel()
            gain = 1.0 if ("shortcut" in name or name in ("fc", "out.0")) else math.sqrt(2)
            bound = gain * math.sqrt(6 / (fan_in + fan_out))
            assert float(w.abs().max()) <= bound + 1e-7, name
            if w.numel() > 500:  # the std of U(-a, a) is a / sqrt(3)
                assert abs(float(w.std()) / (bound / math.sqrt(3)) - 1) < 0.15, name
            seen += 1
    assert seen == 1 + 3 * 3 + 1 + 3 + 3 + 2 + 2 + 1
    G2, D2 = method.build_networks(32, 1, init_seed=7)
    G3, _ = method.build_networks(32, 1, init_seed=8)
    assert all(torch.equal(a, b) for a, b in zip(G.state_dict().values(), G2.state_dict().values()))
    assert all(torch.equal(a, b) for a, b in zip(D.state_dict().values(), D2.state_dict().values()))
    assert not torch.equal(G.fc.weight, G3.fc.weight)


def test_shared_layers_start_equal_across_methods():
    """Self-Sparse GAN's G adds SASTMs: every layer it shares with WGAN-GP's starts equal; the
    spectrally normalised critic's raw weights equal WGAN-GP's critic's."""
    nets = {
        name: get_method(name, cfg_for(name)).build_networks(32, 1, init_seed=3)
        for name in ("wgan_gp", "ssgan", "sn_gan")
    }
    base_G, base_D = nets["wgan_gp"]
    sparse_G = dict(nets["ssgan"][0].state_dict())
    for key, value in base_G.state_dict().items():
        assert torch.equal(sparse_G[key], value), key
    sn_D = dict(nets["sn_gan"][1].state_dict())
    for key, value in base_D.state_dict().items():
        parts = key.rsplit(".", 1)
        raw = f"{parts[0]}.parametrizations.{parts[1]}.original"
        assert torch.equal(sn_D.get(raw, sn_D.get(key)), value), key


@pytest.mark.parametrize("place,position", [("conv1", "before_bn"), ("conv1", "after_bn")])
def test_sastm_after_each_upsampling_convolution(place, position):
    opts = {**SASTM_OPTS, "position": position, "resnet_after": place}
    G = ResNetGenerator(32, 3, 16, 8, sastm=opts)
    order = []
    hooks = [
        m.register_forward_hook(lambda m, *_: order.append(type(m).__name__))
        for name, m in G.named_modules()
        if isinstance(m, (SASTM, nn.BatchNorm2d)) or name.endswith("conv1")
    ]
    G(torch.randn(2, 8))
    for h in hooks:
        h.remove()
    inner = ["SASTM", "BatchNorm2d"] if position == "before_bn" else ["BatchNorm2d", "SASTM"]
    block = ["BatchNorm2d", "XavierConv2d", *inner]
    assert order == block * 3 + ["BatchNorm2d"]


def test_sastm_on_block_outputs_and_the_output():
    G = ResNetGenerator(32, 3, 16, 8, sastm={**SASTM_OPTS, "resnet_after": "block", "on_output": 1})
    assert [n for n, m in G.named_modules() if isinstance(m, SASTM)] == [
        "blocks.0.sastm_out",
        "blocks.1.sastm_out",
        "blocks.2.sastm_out",
        "out.1",
    ]
    cfg = cfg_for("ssgan", "sastm.resnet_after=block")
    assert (
        sum(isinstance(m, SASTM) for m in get_method("ssgan", cfg).build_generator(32, 1).modules())
        == 3
    )
    with pytest.raises(ConfigError, match="'sastm.resnet_after' must be one of"):
        cfg_for("ssgan", "sastm.resnet_after=conv2")


def test_stu_gan_masks_every_kernel_including_shortcuts_and_under_spectral_norm():
    cfg = cfg_for("stu_gan", "stu.density_d=0.5")
    method = get_method("stu_gan", cfg)
    G, D = method.build_networks(32, 1, init_seed=0)
    method.optimizers(G, D)
    for net, key in ((G, "G"), (D, "D")):
        names = set(method.sparse[key].masks)
        assert names == {n for n, p in net.named_parameters() if p.dim() == 4}
        assert any("shortcut" in n for n in names)
        for name, w in masked_weights(net).items():
            mask = method.sparse[key].masks[name]
            assert torch.all(w.detach()[mask == 0] == 0), name
        density = sum(int(m.sum()) for m in method.sparse[key].masks.values()) / kernels(net)
        assert abs(density - {"G": 0.1, "D": 0.5}[key]) < 0.01, (key, density)
    # a spectrally normalised critic: the masks sit on the raw stored weights
    sn = get_method("sn_gan", cfg_for("sn_gan"))
    _, D_sn = sn.build_networks(32, 1, init_seed=0)
    masks = SparseMasks(D_sn, 0.5, 0, "D")
    assert set(masks.masks) == {
        n for n, p in D_sn.named_parameters() if n.endswith("weight.original") and p.dim() == 4
    }
    for name, w in masks.weights.items():
        assert torch.all(w.detach()[masks.masks[name] == 0] == 0)
    assert 0.45 < sum(int(m.sum()) for m in masks.masks.values()) / kernels(D_sn) < 0.55


def test_spectral_norm_and_compensation_reach_every_critic_convolution():
    cfg = cfg_for("sr_gan")
    method = get_method("sr_gan", cfg)
    _, D = method.build_networks(32, 1, init_seed=0)
    convs = spectral.critic_convolutions(D)
    assert len(convs) == 2 + 1 + 2 + 1 + 2 + 2  # 8 3x3 and 2 1x1 shortcuts
    layers = [m for m in D.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert all("weight" in m.parametrizations for m in layers)  # SN on all of them
    method.compensate(type("M", (), {"D": D})())
    for _, conv in convs:
        s, s1 = spectral.normalised_spectrum(spectral.raw_weight(conv))
        assert abs(s1 - 1) < 1e-5 and torch.all(s[: s.numel() // 2] > 1 - 1e-5)
    rows, summary = spectral.spectrum_rows(D, 0)
    assert [r["layer"] for r in summary] == [f"conv{i}" for i in range(1, 11)]


def test_probes_read_the_resnet_generator():
    G = get_method("ssgan", cfg_for("ssgan")).build_generator(32, 1)
    names = [n for n, _ in generator_convolutions(G)]
    assert names == [f"conv{i}" for i in range(1, 11)]  # 3 per block, then the output conv
    rows = weight_rows(G, 0)
    assert [r["layer"] for r in rows] == names and all(0 < r["neg_frac"] < 1 for r in rows)


def test_run_hash_keeps_dcgan_runs_and_tells_resnet_apart():
    dcgan = C.resolve("mnist", "wgan_gp", 0)
    resnet = C.resolve("mnist", "wgan_gp", 0, overrides={"model": {"arch": "resnet"}})
    assert "arch" not in C.hash_relevant(dcgan)["model"]
    assert "resnet_g_width" not in C.hash_relevant(dcgan)["model"]
    assert C.config_hash(dcgan) != C.config_hash(resnet)
    wider = C.resolve(
        "mnist", "wgan_gp", 0, overrides={"model": {"arch": "resnet", "resnet_g_width": 64}}
    )
    assert C.config_hash(wider) != C.config_hash(resnet)


def test_model_width_is_without_effect_on_the_resnet_hash_and_noted():
    """The ResNet reads model.resnet_g_width / resnet_d_width, never model.width: a ResNet run
    is hashed at the default width whatever it says (the hash of ResNet runs at the default,
    every shipped config, is the one they had), and the setting is a recorded note."""
    from ssgan.training.runtime import without_effect

    def cfg(arch, width):
        return C.resolve("mnist", "wgan_gp", 0, overrides={"model": {"arch": arch, "width": width}})

    pinned = "fed629bc5046b16585a366a6d0eeccd15bfc8541d0929cb21ebc8e1eb63120df"
    assert C.config_hash(cfg("resnet", 64)) == C.config_hash(cfg("resnet", 8)) == pinned
    assert C.config_hash(cfg("dcgan", 64)) != C.config_hash(cfg("dcgan", 8))
    G8, G64 = (get_method("wgan_gp", cfg("resnet", w)).build_generator(32, 1) for w in (8, 64))
    assert count_parameters(G8) == count_parameters(G64)
    assert without_effect(cfg("resnet", 8), torch.device("cpu")) == [
        "model.width (8) has no effect with model.arch resnet, whose widths are "
        "model.resnet_g_width (256) and model.resnet_d_width (128): the run is hashed as with "
        "the default 64"
    ]
    assert without_effect(cfg("resnet", 64), torch.device("cpu")) == []
    assert without_effect(cfg("dcgan", 8), torch.device("cpu")) == []


def test_every_method_builds_the_resnet():
    for name in METHODS:
        G, D = get_method(name, cfg_for(name)).build_networks(32, 1, init_seed=0)
        assert isinstance(G, ResNetGenerator) and isinstance(D, ResNetCritic)
