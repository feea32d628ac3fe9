"""SASTM: shapes, gradients, exact zeros with the ReLU gate, every option, open/default init."""

import itertools

import pytest
import torch

from ssgan.models import SASTM


@pytest.mark.parametrize(
    "gate,branches,recombination",
    list(
        itertools.product(["relu", "sigmoid"], ["both", "channel", "spatial"], ["product", "sum"])
    ),
)
def test_shapes_and_gradients(gate, branches, recombination):
    torch.manual_seed(0)
    m = SASTM(
        16, gate=gate, branches=branches, reduction=4, recombination=recombination, init="default"
    )
    x = torch.randn(4, 16, 8, 8, requires_grad=True)
    y = m(x)
    assert y.shape == x.shape
    y.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for p in m.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()


def test_relu_gate_gives_exact_zeros_sigmoid_does_not():
    torch.manual_seed(0)
    x = torch.randn(8, 32, 8, 8)
    relu, sig = SASTM(32, gate="relu", init="default"), SASTM(32, gate="sigmoid", init="default")
    sig.load_state_dict(relu.state_dict())
    a, s = relu.coefficients(x)
    assert (a == 0).any() and (s == 0).any()
    frac = (relu(x) == 0).float().mean().item()
    assert 0.2 < frac < 0.95  # sparse, but not dead
    a2, s2 = sig.coefficients(x)
    assert (a2 > 0).all() and (s2 > 0).all() and (sig(x) == 0).sum() == (x == 0).sum()


def test_recombination_matches_equations():
    torch.manual_seed(1)
    x = torch.randn(2, 8, 4, 4)
    m = SASTM(8, recombination="product", init="default")
    a, s = m.coefficients(x)
    # a = ReLU(W2 ReLU(W1 GAP(x))), s = ReLU(conv1x1(x))
    gap = x.mean(dim=(2, 3))
    a_ref = torch.relu(m.fc2(torch.relu(m.fc1(gap))))[:, :, None, None]
    s_ref = torch.relu(torch.einsum("bchw,c->bhw", x, m.spatial.weight.view(-1)) + m.spatial.bias)[
        :, None
    ]
    assert torch.allclose(a, a_ref, atol=1e-6) and torch.allclose(s, s_ref, atol=1e-6)
    assert torch.allclose(m(x), x * a_ref * s_ref, atol=1e-6)
    m.recombination = "sum"
    assert torch.allclose(m(x), x * (a_ref + s_ref), atol=1e-6)


def test_branches_and_reduction():
    ch = SASTM(16, branches="channel", reduction=8)
    assert ch.fc1.out_features == 2 and not hasattr(ch, "spatial")
    sp = SASTM(16, branches="spatial")
    assert not hasattr(sp, "fc1") and sp.spatial.out_channels == 1
    x = torch.randn(3, 16, 4, 4)
    a, s = sp.coefficients(x)
    assert a is None and s.shape == (3, 1, 4, 4)


def test_bad_options_rejected():
    with pytest.raises(ValueError, match="gate"):
        SASTM(8, gate="tanh")
    with pytest.raises(ValueError, match="branches"):
        SASTM(8, branches="none")
    with pytest.raises(ValueError, match="init"):
        SASTM(8, init="closed")


@pytest.mark.parametrize(
    "gate,value", [("relu", 1.0), ("sigmoid", torch.sigmoid(torch.tensor(1.0)))]
)
def test_open_init_starts_every_gate_at_gate_of_one_and_still_learns(gate, value):
    torch.manual_seed(0)
    m = SASTM(16, gate=gate, init="open")
    x = torch.randn(8, 16, 6, 6, requires_grad=True)
    a, s = m.coefficients(x)
    assert torch.equal(a, torch.full_like(a, float(value)))
    assert torch.equal(s, torch.full_like(s, float(value)))
    if gate == "relu":
        assert torch.equal(m(x), x)  # product recombination: the identity at initialisation
    m(x).square().sum().backward()
    # The gates' last layers get gradients (so the coefficients move off their start).
    assert m.fc2.weight.grad.abs().sum() > 0 and m.spatial.weight.grad.abs().sum() > 0
    # default init keeps PyTorch's: random W2 and 1x1 weights
    d = SASTM(16, gate=gate, init="default")
    assert d.fc2.weight.abs().sum() > 0 and d.spatial.weight.abs().sum() > 0
