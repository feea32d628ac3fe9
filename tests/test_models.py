"""Generator/critic shapes and output range per resolution; SASTM placement; gradient penalty."""

import pytest
import torch
from torch import nn

from ssgan import config as C
from ssgan.methods import get_method
from ssgan.methods.wgan_gp import gradient_penalty
from ssgan.models import SASTM, Critic, Generator, count_parameters

SASTM_OPTS = {
    "gate": "relu",
    "branches": "both",
    "reduction": 4,
    "recombination": "product",
    "position": "before_bn",
    "on_output": False,
}


@pytest.mark.parametrize("res,ch", [(32, 1), (32, 3), (48, 3), (64, 3), (64, 1)])
@pytest.mark.parametrize("sastm", [None, SASTM_OPTS])
def test_shapes_and_range(res, ch, sastm):
    torch.manual_seed(0)
    G, D = Generator(res, ch, width=8, z_dim=16, sastm=sastm), Critic(res, ch, width=8)
    x = G(torch.randn(5, 16))
    assert x.shape == (5, ch, res, res)
    assert x.min() >= -1 and x.max() <= 1
    assert D(x).shape == (5,)


@pytest.mark.parametrize("res,n_hidden", [(32, 2), (48, 2), (64, 3)])
def test_one_sastm_after_every_hidden_deconvolution(res, n_hidden):
    G = Generator(res, 3, width=8, z_dim=16, sastm=SASTM_OPTS)
    seq = [m for m in G.modules() if isinstance(m, (nn.ConvTranspose2d, SASTM, nn.BatchNorm2d))]
    kinds = [type(m).__name__ for m in seq]
    assert kinds == ["ConvTranspose2d", "SASTM", "BatchNorm2d"] * n_hidden + ["ConvTranspose2d"]
    G2 = Generator(
        res, 3, width=8, z_dim=16, sastm={**SASTM_OPTS, "on_output": True, "position": "after_bn"}
    )
    kinds2 = [
        type(m).__name__
        for m in G2.modules()
        if isinstance(m, (nn.ConvTranspose2d, SASTM, nn.BatchNorm2d))
    ]
    assert kinds2 == ["ConvTranspose2d", "BatchNorm2d", "SASTM"] * n_hidden + [
        "ConvTranspose2d",
        "SASTM",
    ]


def test_parameter_counts():
    # Generator 32x32, W=8, z=16: fc 16 -> 32*4*4: 16*512+512 = 8704 (+1024 BN); deconv 32->16:
    # 32*16*16+16 = 8208 (+32 BN); 16->8: 16*8*16+8 = 2056 (+16 BN); out 8->1: 8*1*16+1 = 129.
    G = Generator(32, 1, width=8, z_dim=16)
    assert count_parameters(G) == 8704 + 1024 + 8208 + 32 + 2056 + 16 + 129
    S = Generator(32, 1, width=8, z_dim=16, sastm=SASTM_OPTS)
    # SASTM(16): fc1 16->4 (68), fc2 4->16 (80), conv 16->1 (17) = 165; SASTM(8): 8->2 (18), 2->8 (24), 9 = 51
    assert count_parameters(S) - count_parameters(G) == 165 + 51


def test_gradient_penalty_matches_hand_computation():
    # Linear critic D(x) = <w, x>: the gradient is w everywhere, so GP = (||w|| - 1)^2.
    class Lin(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.tensor([[[[3.0, 0.0], [0.0, 4.0]]]]))

        def forward(self, x):
            return (x * self.w).flatten(1).sum(1)

    real, fake = torch.randn(6, 1, 2, 2), torch.randn(6, 1, 2, 2)
    gp = gradient_penalty(Lin(), real, fake, torch.Generator().manual_seed(0))
    assert gp.item() == pytest.approx((5.0 - 1.0) ** 2)

    # Quadratic critic D(x) = 0.5 ||x||^2: grad = xhat; check against explicit interpolates.
    class Quad(nn.Module):
        def forward(self, x):
            return 0.5 * x.flatten(1).square().sum(1)

    gen = torch.Generator().manual_seed(7)
    gp = gradient_penalty(Quad(), real, fake, gen)
    alpha = torch.rand(6, 1, 1, 1, generator=torch.Generator().manual_seed(7))
    xhat = alpha * real + (1 - alpha) * fake
    expected = ((xhat.flatten(1).norm(dim=1) - 1) ** 2).mean()
    assert gp.item() == pytest.approx(expected.item(), rel=1e-6)


def test_critic_norm_layernorm_as_the_64px_reference():
    D = Critic(64, 3, width=8, norm="layernorm")
    kinds = [type(m).__name__ for m in D.features]
    # no normalisation after the first convolution, LayerNorm over (C, H, W) after the others
    assert kinds == ["Conv2d", "LeakyReLU"] + ["Conv2d", "GroupNorm", "LeakyReLU"] * 3
    assert all(m.num_groups == 1 for m in D.features if isinstance(m, nn.GroupNorm))
    x = torch.randn(4, 3, 64, 64)
    h = D.features[:4](x)  # after the second convolution's LayerNorm (scale 1, shift 0)
    assert torch.allclose(h.mean(dim=(1, 2, 3)), torch.zeros(4), atol=1e-5)
    assert torch.allclose(h.var(dim=(1, 2, 3), unbiased=False), torch.ones(4), atol=1e-3)
    cfg = C.resolve("celeba_hq", "wgan_gp", 0, overrides={"model": {"width": 8}})
    assert any(
        isinstance(m, nn.GroupNorm)
        for m in get_method("wgan_gp", cfg).build_critic(64, 3).modules()
    )
    cfg = C.resolve("cifar10", "wgan_gp", 0, overrides={"model": {"width": 8}})
    assert not any(
        isinstance(m, nn.GroupNorm)
        for m in get_method("wgan_gp", cfg).build_critic(32, 3).modules()
    )
    with pytest.raises(ValueError, match="critic norm"):
        Critic(32, 3, norm="batchnorm")


@pytest.mark.parametrize("method", ["wgan_gp", "ssgan", "stu_gan"])
def test_critic_requires_grad_is_restored_when_the_generator_step_raises(method):
    from ssgan.methods.base import Models

    cfg = C.resolve("mnist", method, 0, overrides={"model": {"width": 8, "z_dim": 16}})
    m = get_method(method, cfg)
    G, D = m.build_networks(32, 1, 0)
    models = Models(G, D, *m.optimizers(G, D))

    def broken_forward(_z):  # an injected fault inside the generator step
        raise RuntimeError("injected")

    G.forward = broken_forward
    with pytest.raises(RuntimeError, match="injected"):
        m.generator_step(models, 4, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert all(p.requires_grad for p in D.parameters())
    # and a later critic step trains the critic again
    del G.forward
    before = [p.detach().clone() for p in D.parameters()]
    m.critic_step(models, torch.rand(4, 1, 32, 32) * 2 - 1, torch.Generator().manual_seed(0))
    # (every weight moves; the last bias has no gradient in WGAN-GP: it cancels in E[D(x)] - E[D(G(z))])
    assert all(not torch.equal(b, p) for b, p in zip(before, D.parameters()) if p.dim() > 1)


def test_methods_build_their_generators():
    cfg = C.resolve("mnist", "ssgan", 0, overrides={"model": {"width": 8, "z_dim": 16}})
    G = get_method("ssgan", cfg).build_generator(32, 1)
    assert sum(isinstance(m, SASTM) for m in G.modules()) == 2
    cfg["method"] = "wgan_gp"
    G = get_method("wgan_gp", cfg).build_generator(32, 1)
    assert not any(isinstance(m, SASTM) for m in G.modules())
