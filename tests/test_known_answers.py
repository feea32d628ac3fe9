"""Known answers: the batches are u/127.5 - 1 of the stored uint8 exactly, and every probe
(ssgan/probes/generator.py) measured on a generator with hand-set weights gives the value the weights
imply, not just a number in [0, 1]."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from ssgan import config as C
from ssgan import probes
from ssgan.data import BatchStream, load_images
from ssgan.models import SASTM, Critic, Generator


def rows_of(x: torch.Tensor) -> Counter:
    return Counter(r.numpy().tobytes() for r in x.flatten(1))


# ------------------------------------------------------------------------------ the batches


@pytest.mark.parametrize("in_memory", [True, False])
def test_batches_are_the_stored_uint8_over_127_5_minus_1(in_memory):
    u = load_images(C.resolve("mnist", "wgan_gp", 0, overrides={"data": {"max_images": 64}}))
    assert u.dtype == torch.uint8 and int(u.min()) == 0 and int(u.max()) == 255
    stream = BatchStream(u if in_memory else list(u), 16, seed=3, device="cpu")
    epoch = torch.cat([stream.next() for _ in range(4)])
    assert epoch.dtype == torch.float32
    assert rows_of(epoch) == rows_of(u.float() / 127.5 - 1)  # exactly, as a multiset of images
    assert float(epoch.min()) == -1.0 and float(epoch.max()) == 1.0


def test_every_uint8_value_maps_exactly():
    """0 -> -1, 255 -> 1 and every value between: float32 u / 127.5 - 1 (within one float32
    rounding of the exact value)."""
    u = torch.arange(256, dtype=torch.uint8).view(16, 1, 4, 4)
    got = BatchStream(u, 16, seed=0, device="cpu").next().flatten().sort().values
    assert torch.equal(got, torch.arange(256).float() / 127.5 - 1)
    exact = torch.arange(256, dtype=torch.float64) / 127.5 - 1
    assert float((got.double() - exact).abs().max()) < 1e-7
    assert float(got[0]) == -1.0 and float(got[127]) < 0 < float(got[128]) and float(got[-1]) == 1.0


def test_stream_state_counts_epochs_and_drops_the_last_partial_batch():
    """40 images, batches of 16: two batches per epoch, 8 images left out each epoch; the state
    is (epoch, position) and every epoch visits 32 distinct images in a new order."""
    u = torch.arange(40, dtype=torch.uint8).view(40, 1, 1, 1)
    stream = BatchStream(u, 16, seed=5, device="cpu")
    batches, states = [], []
    for _ in range(6):
        batches.append(((stream.next() + 1) * 127.5).round().long().flatten().tolist())
        states.append(stream.state_dict())
    assert states == [{"epoch": e, "pos": p} for e in range(3) for p in (16, 32)]
    epochs = [batches[0] + batches[1], batches[2] + batches[3], batches[4] + batches[5]]
    assert all(len(set(e)) == 32 for e in epochs)
    assert len({tuple(e) for e in epochs}) == 3
    other = BatchStream(u, 16, seed=6, device="cpu").next()
    assert ((other + 1) * 127.5).round().long().flatten().tolist() != batches[0]


def test_streaming_by_index_gives_the_same_batches():
    """Images not held in memory (a memory-mapped prepared array, any indexable) are read by
    index one batch ahead: the batches are the in-memory ones, exactly, across epochs."""
    u = load_images(C.resolve("mnist", "wgan_gp", 0, overrides={"data": {"max_images": 48}}))
    ref = BatchStream(u, 16, seed=1, device="cpu")
    want = [ref.next() for _ in range(7)]  # 3 batches an epoch: crosses two epoch boundaries
    for images in (list(u), u.numpy()):
        s = BatchStream(images, 16, seed=1, device="cpu")
        assert not s.in_memory
        assert all(torch.equal(s.next(), w) for w in want), type(images)


# ----------------------------------------------------------------- a generator with set weights


def generator(sastm: dict | None = None) -> Generator:
    torch.manual_seed(0)
    return Generator(32, 1, width=8, z_dim=8, sastm=sastm)


def of_kind(G: nn.Module, kind) -> list[nn.Module]:
    return [m for m in G.modules() if isinstance(m, kind)]


PATTERN = torch.tensor([-2.0, 1.0, 1.0, 1.0])  # 25% negative, mean 0.25


def set_deconv_weights(G: nn.Module) -> list[torch.Tensor]:
    out = []
    with torch.no_grad():
        for conv in of_kind(G, nn.ConvTranspose2d):
            n = conv.weight.numel()
            conv.weight.copy_(PATTERN.repeat(n // 4).view_as(conv.weight))
            out.append(conv.weight.detach().flatten().clone())
    return out


def test_weight_probe_on_hand_set_weights():
    G = generator()
    weights = set_deconv_weights(G)
    rows = probes.weight_rows(G, 7)
    assert [r["layer"] for r in rows] == ["deconv1", "deconv2", "deconv3"]
    for r, w in zip(rows, weights):
        assert r["iteration"] == 7
        assert r["neg_frac"] == 0.25 and r["mean"] == 0.25
        assert r["std"] == pytest.approx(float(np.std(w.numpy(), ddof=1)), abs=1e-7)
        for q in probes.QUANTILES:
            want = float(np.quantile(w.numpy(), q))
            assert r[f"q{int(q * 100):02d}"] == pytest.approx(want, abs=1e-7), q


def test_weight_histogram_on_hand_set_weights():
    G = generator()
    weights = set_deconv_weights(G)
    rows = probes.histogram_rows(G, "end", 9, bins=4)
    assert [r["layer"] for r in rows[:4]] == ["deconv1"] * 4 and len(rows) == 12
    for k, w in enumerate(weights):
        layer = rows[4 * k : 4 * k + 4]
        assert [(r["bin_left"], r["bin_right"]) for r in layer] == [
            (-2.0, -1.0),
            (-1.0, 0.0),
            (0.0, 1.0),
            (1.0, 2.0),
        ]
        assert [r["count"] for r in layer] == [w.numel() // 4, 0, 0, 3 * w.numel() // 4]
        assert {(r["stage"], r["iteration"]) for r in layer} == {("end", 9)}


@pytest.mark.parametrize("sastm", [None, {}])
def test_dead_units_read_batchnorm_output(sastm):
    """BN with gamma = 0 outputs beta whatever its input: with beta < 0 on 3 of 8 channels and
    beta = 0 on one (a unit at exactly 0 passes no gradient through ReLU either), half the units
    are dead after BN, while BN's input (a random deconvolution output) is about half negative
    everywhere."""
    G = generator(sastm)
    bns = of_kind(G, (nn.BatchNorm1d, nn.BatchNorm2d))
    want = {}
    with torch.no_grad():
        for i, bn in enumerate(bns):
            n = bn.num_features
            beta = torch.tensor([-1.0, -0.5, -2.0, 0.0, 1.0, 0.5, 2.0, 3.0]).repeat(n // 8)
            beta[::8][: i + 1] = 1.0  # layer i: i + 1 fewer dead units, so layers differ
            bn.weight.zero_()
            bn.bias.copy_(beta)
            want[f"bn{i}"] = round(float((beta <= 0).float().mean()), 8)
    z = torch.randn(16, 8, generator=torch.Generator().manual_seed(0))
    _, dead, _ = probes.activation_rows(G, z, 4)
    assert {r["layer"]: r["dead_frac"] for r in dead} == want
    assert all(r["iteration"] == 4 for r in dead) and len(want) == 3


def test_sastm_sparsity_on_hand_set_gates():
    """Channel gate a = ReLU(fc2 bias) with biases (1, -1, 2, -3, ...): half the channels are 0;
    spatial gate s = ReLU(bias): +0.5 (never 0) in the first SASTM, -1 (always 0) in the second.
    The output is zero exactly where a or s is."""
    G = generator({"reduction": 4})
    sastms = of_kind(G, SASTM)
    assert len(sastms) == 2
    with torch.no_grad():
        for m, s_bias in zip(sastms, (0.5, -1.0)):
            c = m.fc2.out_features
            m.fc1.weight.zero_()
            m.fc1.bias.fill_(1.0)
            m.fc2.weight.zero_()
            m.fc2.bias.copy_(torch.tensor([1.0, -1.0, 2.0, -3.0]).repeat(c // 4))
            m.spatial.weight.zero_()
            m.spatial.bias.fill_(s_bias)
    z = torch.randn(16, 8, generator=torch.Generator().manual_seed(0))
    sparsity, _, _ = probes.activation_rows(G, z, 3)
    got = {r["layer"]: {k: v for k, v in r.items() if k.endswith("zero_frac")} for r in sparsity}
    assert got == {
        "sastm1": {"channel_zero_frac": 0.5, "spatial_zero_frac": 0.0, "output_zero_frac": 0.5},
        "sastm2": {"channel_zero_frac": 0.5, "spatial_zero_frac": 1.0, "output_zero_frac": 1.0},
    }


def test_sparsity_columns_are_empty_for_an_absent_branch():
    G = generator({"branches": "channel"})
    sparsity, _, _ = probes.activation_rows(G, torch.randn(4, 8), 0)
    assert [r["spatial_zero_frac"] for r in sparsity] == ["", ""]
    assert all(r["channel_zero_frac"] != "" for r in sparsity)


def test_activation_probes_change_neither_model_nor_rng():
    G = generator({})
    state = {k: v.clone() for k, v in G.state_dict().items()}
    rng = torch.get_rng_state()
    G.eval()
    probes.activation_rows(G, torch.randn(8, 8, generator=torch.Generator().manual_seed(1)), 0)
    assert not G.training  # the probe runs a copy in training mode, not G itself
    assert all(torch.equal(state[k], v) for k, v in G.state_dict().items())
    assert torch.equal(rng, torch.get_rng_state())


def test_stream_order_is_the_documented_permutation():
    """Epoch e visits the images in the order of torch.randperm seeded by seed * 1_000_003 + e
    (ssgan/data/stream.py): the data order of existing runs must not drift."""
    u = torch.arange(40, dtype=torch.uint8).view(40, 1, 1, 1)
    stream = BatchStream(u, 20, seed=7, device="cpu")
    for epoch in range(2):
        g = torch.Generator().manual_seed(7 * 1_000_003 + epoch)
        order = torch.randperm(40, generator=g)
        for half in (order[:20], order[20:]):
            got = ((stream.next() + 1) * 127.5).round().long().flatten()
            assert got.tolist() == half.tolist()


def test_stream_smaller_than_a_batch_is_a_data_error():
    from ssgan.data import DataError

    with pytest.raises(DataError, match="^the dataset has 3 images, fewer than one batch of 4$"):
        BatchStream(torch.zeros(3, 1, 2, 2, dtype=torch.uint8), 4, seed=0, device="cpu")


# ------------------------------------------------------------------------ networks' structure


def test_network_defaults_are_the_documented_ones():
    """Generator(): 32x32 RGB, width 64, z 128; Critic(): 32x32 RGB, width 64."""
    G, D = Generator(), Critic()
    assert G(torch.randn(2, 128)).shape == (2, 3, 32, 32)
    assert [m.out_channels for m in of_kind(G, nn.ConvTranspose2d)] == [128, 64, 3]
    assert [m.out_channels for m in of_kind(D, nn.Conv2d)] == [64, 128, 256]
    assert of_kind(D, nn.Conv2d)[0].in_channels == 3


def test_critic_layers():
    D = Critic(64, 1, width=4)
    assert [(m.in_channels, m.out_channels) for m in of_kind(D, nn.Conv2d)] == [
        (1, 4),
        (4, 8),
        (8, 16),
        (16, 32),
    ]
    assert {m.negative_slope for m in of_kind(D, nn.LeakyReLU)} == {0.2}
    assert D.fc.in_features == 32 * 4 * 4


@pytest.mark.parametrize(
    "opts,order",
    [
        ({}, ["deconv", "sastm", "bn", "relu"]),
        ({"position": "after_bn"}, ["deconv", "bn", "sastm", "relu"]),
    ],
)
def test_sastm_placement_and_options_reach_every_module(opts, order):
    names = {nn.ConvTranspose2d: "deconv", SASTM: "sastm", nn.BatchNorm2d: "bn", nn.ReLU: "relu"}
    full = {"gate": "sigmoid", "branches": "channel", "recombination": "sum", "reduction": 2}
    G = Generator(32, 1, width=8, z_dim=8, sastm={**opts, **full, "on_output": True})
    for block in G.blocks:
        assert [names[type(m)] for m in block] == order
    sastms = of_kind(G, SASTM)
    assert len(sastms) == 3  # two hidden blocks and the output
    for m in sastms:
        assert (m.gate_name, m.branches, m.recombination) == ("sigmoid", "channel", "sum")
        assert m.fc1.out_features == max(1, m.fc1.in_features // 2)
    assert len(of_kind(Generator(32, 1, width=8, z_dim=8, sastm=opts), SASTM)) == 2


def test_sastm_defaults():
    m = SASTM(16)
    assert (m.gate_name, m.branches, m.recombination) == ("relu", "both", "product")
    assert m.fc1.out_features == 4  # reduction 4
    assert SASTM(2, reduction=4).fc1.out_features == 1  # at least one hidden unit
    m(torch.randn(2, 16, 4, 4))
    assert m.record is False and m.last == {}  # nothing is kept unless a probe asks


# ------------------------------------------------------------------------------ FID and KID


def test_statistics_need_two_vectors_of_a_2d_array():
    from ssgan.metrics import distances

    with pytest.raises(ValueError, match=r"need at least 2 feature vectors, got shape \(1, 5\)"):
        distances.statistics(torch.randn(1, 5))
    with pytest.raises(ValueError, match=r"got shape \(4, 5, 1\)"):
        distances.statistics(torch.randn(4, 5, 1))
    assert distances.statistics(torch.randn(2, 5))["sigma"].shape == (5, 5)


def mmd2_unbiased_cubic(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]
    kxx, kyy, kxy = ((a @ b.T / d + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
    m, n = len(x), len(y)
    return (
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        - 2 * kxy.mean()
    )


def test_kid_is_the_unbiased_cubic_mmd():
    """With subsets as large as both sets every subset is the whole set: KID equals the hand
    computation and its std is 0. The subset size is capped by the smaller set."""
    from ssgan.metrics import distances

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(30, 6, generator=g), torch.randn(30, 6, generator=g) + 0.3
    mean, std, size = distances.kid(x, y, subset_size=30, subsets=3)
    assert size == 30 and std == pytest.approx(0, abs=1e-5)
    assert mean == pytest.approx(
        mmd2_unbiased_cubic(x.double().numpy(), y.double().numpy()), rel=1e-5
    )
    y2 = torch.randn(50, 6, generator=g)
    assert distances.kid(x, y2, 40, 3)[2] == 30 and distances.kid(y2, x, 40, 3)[2] == 30
    assert distances.kid(x, y2, 20, 3)[2] == 20
    assert distances.kid(x, y2, 10, subsets=1)[1] == 0 < distances.kid(x, y2, 10, subsets=5)[1]
    assert distances.kid(x, y2, 10, 5) == distances.kid(x, y2, 10, 5, seed=0)
    assert distances.kid(x, y2, 10, 5, seed=0)[0] != distances.kid(x, y2, 10, 5, seed=1)[0]


def test_bad_shapes_and_options_are_named():
    with pytest.raises(ValueError, match=r"^resolution must be one of \[32, 48, 64\], got 40$"):
        Generator(40)
    with pytest.raises(ValueError, match=r"^SASTM recombination must be product\|sum, got 'max'$"):
        SASTM(8, recombination="max")


def test_dead_frac_counts_entries_zero_for_every_sample():
    t = torch.tensor([[0.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 5.0], [0.0, 2.0, 0.0, 0.0]])
    assert probes.dead_frac(t) == 0.25  # only the first column is 0 in every row
    assert probes.dead_frac(torch.zeros(2, 3, 2)) == 1.0
    assert probes.dead_frac(torch.tensor([[0.0, 1.0], [0.0, 1.0]])) == 0.5
    assert probes.dead_frac(None) == ""


def test_weight_probe_signs_of_the_nonzero_weights_only():
    """STU-GAN's masked weights are exact zeros and have no sign: a quarter negative, half
    exactly zero, a quarter positive is 50% negative among the nonzero weights (among all, 25%:
    the masked zeros, not the signs), zero_frac 0.5; the histogram holds the nonzero weights
    only. On a real STU-GAN generator the masked layers' signs stay near half, as a dense
    network's, where counting the zeros gave about half the density."""
    G = generator()
    pattern = torch.tensor([-1.0, 0.0, 0.0, 1.0])
    with torch.no_grad():
        for conv in of_kind(G, nn.ConvTranspose2d):
            conv.weight.copy_(pattern.repeat(conv.weight.numel() // 4).view_as(conv.weight))
    rows = probes.weight_rows(G, 0)
    assert [(r["neg_frac"], r["zero_frac"]) for r in rows] == [(0.5, 0.5)] * 3
    hist = pd.DataFrame(probes.histogram_rows(G, "end", 0, bins=4))
    for conv, (_, h) in zip(of_kind(G, nn.ConvTranspose2d), hist.groupby("layer", sort=False)):
        assert h["count"].sum() == conv.weight.numel() // 2  # the zeros are not counted
        assert h["count"].tolist() == [conv.weight.numel() // 4, 0, 0, conv.weight.numel() // 4]
    from ssgan import config as C
    from ssgan.methods import get_method

    cfg = C.resolve("mnist", "stu_gan", 0, overrides={"model": {"width": 8}})
    method = get_method("stu_gan", cfg)
    G, D = method.build_networks(32, 1, 0)
    method.optimizers(G, D)  # draws and applies the masks
    masked = 0
    for r, conv in zip(probes.weight_rows(G, 0), of_kind(G, nn.ConvTranspose2d)):
        w = conv.weight.detach()
        active = float((w != 0).float().mean())
        assert r["neg_frac"] == round(float((w < 0).sum() / (w != 0).sum()), 8)
        assert r["zero_frac"] == pytest.approx(1 - active, abs=1e-7)
        if active < 0.5:  # ERK may leave a small layer dense
            masked += 1
            assert 0.4 < r["neg_frac"] < 0.6  # the signs, not the mask
            assert float((w < 0).float().mean()) < active  # what counting the zeros gave
    assert masked >= 2
