"""The seed papers' recipe options (ssgan/methods/wgan_gp.py, ssgan/methods/base.py): separate
generator and critic batches, gradient accumulation, linear learning-rate decay."""

import pytest
import torch

from ssgan import config as C
from ssgan.errors import ConfigError
from ssgan.methods import BUILT_IN, get_method
from ssgan.methods.base import Models, learning_rate
from tests.test_resnet import TINY_RESNET


def cfg_for(method: str, *over: str) -> dict:
    base = [*TINY_RESNET, "train.batch_size=4", "train.device=cpu"]
    return C.resolve("mnist", method, 0, overrides=C.parse_overrides([*base, *over]))


class FixedDraws:
    """Serves latents and interpolation weights from fixed pools in order, so a batch of 2n
    and two micro-batches of n see the same samples whatever order they are drawn in."""

    def __init__(self, method, n: int, z_dim: int):
        g = torch.Generator().manual_seed(5)
        self.z, self.alpha = torch.randn(n, z_dim, generator=g), torch.rand(n, 1, 1, 1, generator=g)
        self.iz = self.ia = 0
        method.sample_z = self.sample_z
        method.interpolation_weights = self.weights

    def sample_z(self, n, gen, device):
        self.iz += n
        return self.z[self.iz - n : self.iz]

    def weights(self, n, gen, device):
        self.ia += n
        return self.alpha[self.ia - n : self.ia]


def one_step_gradients(name: str, k: int, micro: int):
    """The critic's and the generator's gradients of one step on 8 images (critic) and 8
    latents (generator), as k micro-batches (train.accumulate=k) of ``micro``, same start."""
    # Self-Sparse GAN with open gates: the balanced init centres the spatial gates at their
    # median, so at positions whose input is the same for every sample a gate sits on ReLU's kink
    # and fp32 sums in another order open or close it; accumulation is checked where the
    # function is smooth.
    smooth = ("sastm.init=open",) if name == "ssgan" else ()
    cfg = cfg_for(name, f"train.accumulate={k}", f"train.batch_size={micro}", *smooth)
    method = get_method(name, cfg)
    G, D = method.build_networks(32, 1, init_seed=0)
    G.eval()  # running BatchNorm statistics: a sample's image does not depend on its batch
    D.eval()  # spectral norm: the stored u, v (training mode runs a power iteration per forward)
    m = Models(G, D, *method.optimizers(G, D))
    for opt in (m.opt_G, m.opt_D):
        for group in opt.param_groups:
            group["lr"] = 0.0  # gradients are compared; the weights stay where they start
    FixedDraws(method, 16, cfg["model"]["z_dim"])  # 8 for the critic, 8 for the generator
    real = torch.rand(8, 1, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    reals = list(real.split(micro))
    stats = method.critic_step(m, reals if k > 1 else reals[0], torch.Generator())
    d_grads = [p.grad.clone() for p in D.parameters()]
    method.generator_step(m, micro, torch.Generator(), "cpu")
    g_grads = [p.grad.clone() for p in G.parameters()]
    return d_grads, g_grads, stats


@pytest.mark.parametrize("name", BUILT_IN)
def test_k_micro_batches_equal_one_batch_of_k_times_the_size(name):
    d1, g1, s1 = one_step_gradients(name, 1, 8)
    for k in (2, 4):
        dk, gk, sk = one_step_gradients(name, k, 8 // k)
        for a, b in zip(d1 + g1, dk + gk):  # fp32 sums in another order: relative to the scale
            assert float((a - b).abs().max()) <= 1e-4 * float(a.abs().max()) + 1e-7
        torch.testing.assert_close(sk["wasserstein"], s1["wasserstein"], rtol=1e-4, atol=1e-6)
    assert any(float(g.abs().max()) > 0 for g in d1) and any(float(g.abs().max()) > 0 for g in g1)


def test_accumulation_draws_k_batches_per_critic_step_and_g_batch_is_its_own():
    cfg = cfg_for("sn_gan", "train.accumulate=3", "train.n_critic=2", "train.g_batch_size=6")
    method = get_method("sn_gan", cfg)
    assert method.batches_per_iteration() == 6
    G, D = method.build_networks(32, 1, init_seed=0)
    m = Models(G, D, *method.optimizers(G, D))
    drawn, g_sizes = [], []
    G.register_forward_hook(lambda _m, inp, _o: g_sizes.append(inp[0].shape[0]))
    steps = []
    m.opt_D.register_step_post_hook(lambda *_: steps.append("D"))

    def next_batch():
        drawn.append(1)
        return torch.zeros(4, 1, 32, 32)

    method.train_iteration(m, next_batch, torch.Generator().manual_seed(0), 1)
    assert len(drawn) == 6 and steps == ["D", "D"]
    assert g_sizes == [4] * 6 + [6] * 3  # 6 critic micro-batches, then 3 generator ones


def test_linear_learning_rate_decay_values():
    t = {"lr": 2e-4, "iterations": 100, "lr_decay": "linear"}
    assert learning_rate(t, 1) == 2e-4
    assert learning_rate(t, 51) == pytest.approx(1e-4)
    assert learning_rate(t, 100) == pytest.approx(2e-6)
    assert learning_rate({**t, "lr_decay": "none"}, 100) == 2e-4
    cfg = cfg_for("sn_gan", "train.lr_decay=linear", "train.iterations=10", "train.n_critic=1")
    method = get_method("sn_gan", cfg)
    assert method.graphable()  # the lr is set before each iteration, outside a graph
    G, D = method.build_networks(32, 1, init_seed=0)
    m = Models(G, D, *method.optimizers(G, D))
    batch = torch.zeros(4, 1, 32, 32)
    for it in (1, 5, 10):
        method.before_iteration(m, it)
        method.train_iteration(m, lambda: batch, torch.Generator().manual_seed(0), it)
        want = 2e-4 * (1 - (it - 1) / 10)
        assert [g["lr"] for o in (m.opt_G, m.opt_D) for g in o.param_groups] == [want, want]


def test_recipe_keys_are_checked_and_stay_out_of_old_hashes():
    with pytest.raises(ConfigError, match="'train.g_batch_size' must be an integer of at least 2"):
        cfg_for("sn_gan", "train.g_batch_size=1")
    with pytest.raises(ConfigError, match="'train.accumulate' must be a positive integer"):
        cfg_for("sn_gan", "train.accumulate=0")
    with pytest.raises(ConfigError, match="'train.lr_decay' must be one of"):
        cfg_for("sn_gan", "train.lr_decay=cosine")
    base = C.resolve("mnist", "sn_gan", 0)
    assert not {"g_batch_size", "accumulate", "lr_decay"} & set(C.hash_relevant(base)["train"])
    for over in ("train.g_batch_size=128", "train.accumulate=2", "train.lr_decay=linear"):
        other = C.resolve("mnist", "sn_gan", 0, overrides=C.parse_overrides([over]))
        assert C.config_hash(other) != C.config_hash(base), over


def test_moving_average_of_the_generator_values():
    cfg = cfg_for("sn_gan", "train.ema_decay=0.75", "train.ema_start=1", "train.n_critic=1")
    method = get_method("sn_gan", cfg)
    assert method.graphable()
    G, D = method.build_networks(32, 1, init_seed=0)
    m = Models(G, D, *method.optimizers(G, D))
    batch = torch.rand(4, 1, 32, 32, generator=torch.Generator().manual_seed(2)) * 2 - 1
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(RuntimeError, match="before before_iteration"):
        method.train_iteration(m, lambda: batch, gen, 1)  # its weight was never set
    m = Models(G, D, *method.optimizers(G, D))
    method.before_iteration(m, 1)
    method.train_iteration(m, lambda: batch, gen, 1)  # iteration <= ema_start: a copy
    g1 = {k: v.clone() for k, v in G.state_dict().items()}
    assert all(torch.equal(method.ema[k], v) for k, v in g1.items())
    method.before_iteration(m, 2)
    method.train_iteration(m, lambda: batch, gen, 2)
    g2 = G.state_dict()
    for key, value in g2.items():
        if value.is_floating_point():
            torch.testing.assert_close(method.ema[key], 0.75 * g1[key] + 0.25 * value)
        else:
            assert torch.equal(method.ema[key], value)  # BatchNorm's batch count
    assert not torch.equal(method.ema["fc.weight"], g2["fc.weight"])
    state = method.state_dict()
    again = get_method("sn_gan", cfg)
    again.load_state_dict(state)
    assert all(torch.equal(again.ema[k], v) for k, v in method.ema.items())
    assert get_method("sn_gan", cfg_for("sn_gan")).state_dict() == {}


def test_stu_gan_moving_average_is_zero_outside_the_mask():
    cfg = cfg_for(
        "stu_gan",
        "train.ema_decay=0.5",
        "stu.update_every=2",
        "train.iterations=6",
        "train.n_critic=1",
    )
    method = get_method("stu_gan", cfg)
    G, D = method.build_networks(32, 1, init_seed=0)
    m = Models(G, D, *method.optimizers(G, D))
    batch = torch.rand(4, 1, 32, 32, generator=torch.Generator().manual_seed(2)) * 2 - 1
    gen = torch.Generator().manual_seed(0)
    before = {n: mk.clone() for n, mk in method.sparse["G"].masks.items()}
    for it in range(1, 6):
        method.before_iteration(m, it)
        method.train_iteration(m, lambda: batch, gen, it)
    masks = method.sparse["G"].masks
    assert any(not torch.equal(before[n], masks[n]) for n in masks)  # exploration happened
    for name, mask in masks.items():
        assert torch.all(method.ema[name][mask == 0] == 0), name
        active = method.ema[name][mask == 1]
        assert float((active != 0).float().mean()) > 0.99, name  # and not zero inside it
    assert set(method.state_dict()) == {"ema", "G", "D"}
