"""Training goes the right way, for every registered method (new methods are covered by
registering them): a generator step raises the critic's score of fakes, a critic step descends
the critic loss, each generator iteration makes exactly ``n_critic`` critic optimizer steps and
one generator step, the logged losses equal a hand computation with a linear critic, and a short
real training moves the samples' pixel histogram toward the data's.

The bitwise-reproducibility tests compare the code with itself; these compare it with the
equations (ssgan/methods/wgan_gp.py), so a flipped sign or a skipped critic step fails here.
"""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from ssgan import config as C
from ssgan import plugins
from ssgan.data import BatchStream, load_images
from ssgan.methods import BUILT_IN, METHODS, get_method
from ssgan.methods.base import Models
from ssgan.methods.sn_gan import SNGAN
from ssgan.methods.wgan_gp import WGANGP
from ssgan.training.loop import train

# Every registered method: the package's, installed plugins' (entry points) and the plugin of
# tests/plugins/, which proves that a method from outside is covered with no entry here.
plugins.load(["tests.plugins.wgan_lp_plugin"])
ALL_METHODS = sorted(METHODS)
RES, CH = 32, 1  # MNIST


# Every test below that builds the method's own networks runs on both families; the ResNet at
# tiny widths (ssgan/models/resnet.py).
ARCHS = {
    "dcgan": [],
    "resnet": ["model.arch=resnet", "model.resnet_g_width=16", "model.resnet_d_width=8"],
}


def tiny_cfg(method: str, *overrides: str, arch: str = "dcgan") -> dict:
    base = ["model.width=8", "train.batch_size=16", "data.max_images=256", "train.device=cpu"]
    over = [*base, *ARCHS[arch], *overrides]
    return C.resolve("mnist", method, 0, overrides=C.parse_overrides(over))


@functools.lru_cache(maxsize=2)
def images(n: int) -> torch.Tensor:
    """The first n MNIST images (read once per test session)."""
    return load_images(tiny_cfg("wgan_gp", f"data.max_images={n}"))


def build(cfg: dict, critic: nn.Module | None = None, lr_G=None, lr_D=None):
    """(method, models, next_batch, noise generator) as ssgan/training/loop.py builds them; ``lr_*=0``
    freezes a network (its optimizer still steps, so steps can be counted)."""
    torch.manual_seed(cfg["seed"])
    method = get_method(cfg["method"], cfg)
    G = method.build_generator(RES, CH)
    D = critic if critic is not None else method.build_critic(RES, CH)
    m = Models(G, D, *method.optimizers(G, D))
    for opt, lr in ((m.opt_G, lr_G), (m.opt_D, lr_D)):
        for group in opt.param_groups:
            group["lr"] = group["lr"] if lr is None else lr
    stream = BatchStream(
        images(cfg["data"]["max_images"]), cfg["train"]["batch_size"], cfg["seed"], "cpu"
    )
    return method, m, stream.next, torch.Generator().manual_seed(cfg["seed"])


class LinearCritic(nn.Module):
    """D(x) = <w, x> + b with hand-set w: its gradient is w everywhere, so the gradient penalty
    is exactly (||w|| - 1)^2 whatever the interpolates."""

    def __init__(self, n: int):
        super().__init__()
        self.w = nn.Parameter(torch.linspace(-1.0, 1.0, n) * 0.05)  # ||w|| ~ 0.9, not 1
        self.b = nn.Parameter(torch.tensor(0.3))

    def forward(self, x):
        return x.flatten(1) @ self.w + self.b


def recorded(m: Models, next_batch):
    """Wrap the batch source and G so the real batches and G's outputs can be read back."""
    reals, fakes = [], []

    def batches():
        reals.append(next_batch())
        return reals[-1]

    m.G.register_forward_hook(lambda _m, _i, out: fakes.append(out.detach().clone()))
    return batches, reals, fakes


# ---------------------------------------------------------------- hand computations per loss


def wgan_gp_losses(cfg, w, b, real, fake_critic, fake_generator) -> dict:
    """WGAN-GP with D(x) = <w, x> + b (ssgan/methods/wgan_gp.py's docstring)."""

    def D(x):
        return x.flatten(1) @ w + b

    wasserstein = D(real).mean() - D(fake_critic).mean()
    gp = (w.norm() - 1) ** 2
    return {
        "wasserstein": wasserstein,
        "gradient_penalty": gp,
        "critic_loss": -wasserstein + cfg["train"]["gp_lambda"] * gp,
        "generator_loss": -D(fake_generator).mean(),
    }


def hinge_losses(cfg, w, b, real, fake_critic, fake_generator) -> dict:
    """Hinge loss with D(x) = <w, x> + b (ssgan/methods/sn_gan.py's docstring); no penalty."""

    def D(x):
        return x.flatten(1) @ w + b

    return {
        "wasserstein": D(real).mean() - D(fake_critic).mean(),
        "gradient_penalty": torch.zeros(()),
        "critic_loss": torch.relu(1 - D(real)).mean() + torch.relu(1 + D(fake_critic)).mean(),
        "generator_loss": -D(fake_generator).mean(),
    }


HAND_LOSSES = {SNGAN: hinge_losses, WGANGP: wgan_gp_losses}  # a loss family -> its computation


def hand_losses_for(name: str):
    """The most specific of: a loss family computed here, a class's own ``reference_losses``
    (Method's hook: a plugin states its equations there)."""
    for cls in METHODS[name].__mro__:
        if cls in HAND_LOSSES:
            return HAND_LOSSES[cls]
        if cls.__dict__.get("reference_losses") is not None:
            return cls.__dict__["reference_losses"].__func__
    pytest.fail(
        f"method {name!r} has no hand computation of its losses: add one to HAND_LOSSES or "
        f"give it a reference_losses hook (ssgan/methods/base.py)"
    )


# ----------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("name", ALL_METHODS)
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("arch", list(ARCHS))
def test_generator_step_raises_the_critic_score_of_fakes(name, seed, arch):
    """Against a fixed critic (learning rate 0), one iteration raises E[D(G(z))] on fresh z."""
    cfg = tiny_cfg(name, "train.n_critic=1", "train.lr=0.001", arch=arch)
    cfg["seed"] = seed
    method, m, next_batch, gen = build(cfg, lr_D=0.0)
    z = torch.randn(256, cfg["model"]["z_dim"], generator=torch.Generator().manual_seed(99))
    critic_before = [p.detach().clone() for p in m.D.parameters()]

    def score():
        with torch.no_grad():
            return float(m.D(m.G(z)).mean())

    before = score()
    method.train_iteration(m, next_batch, gen, 1)
    after = score()
    assert all(torch.equal(p, q) for p, q in zip(critic_before, m.D.parameters()))
    assert after > before + 1e-4, (before, after)


@pytest.mark.parametrize("name", ALL_METHODS)
@pytest.mark.parametrize("arch", list(ARCHS))
def test_critic_step_descends_the_critic_loss(name, arch):
    """With G fixed, a critic step moves the linear critic's w against the gradient of the
    hand-computed critic loss on the very batches it saw; with plain SGD the step is exactly
    -lr * that gradient (so the penalty's gradient reaches the critic: create_graph)."""
    cfg = tiny_cfg(name, "train.n_critic=1", arch=arch)
    critic = LinearCritic(CH * RES * RES)
    method, m, next_batch, gen = build(cfg, critic=critic, lr_G=0.0)
    batches, reals, fakes = recorded(m, next_batch)
    w0, b0 = critic.w.detach().clone(), critic.b.detach().clone()
    method.train_iteration(m, batches, gen, 1)
    w = w0.clone().requires_grad_(True)
    loss = hand_losses_for(name)(cfg, w, b0, reals[0], fakes[0], fakes[-1])["critic_loss"]
    (grad,) = torch.autograd.grad(loss, w)
    step = critic.w.detach() - w0
    assert float(step @ grad) < 0, "the critic step climbs its loss"
    assert torch.count_nonzero(step) > 0.9 * step.numel()

    method, m, next_batch, gen = build(cfg, critic=LinearCritic(CH * RES * RES), lr_G=0.0)
    m.opt_D = torch.optim.SGD(m.D.parameters(), lr=0.1)
    batches, reals, fakes = recorded(m, next_batch)
    method.train_iteration(m, batches, gen, 1)
    w = w0.clone().requires_grad_(True)
    loss = hand_losses_for(name)(cfg, w, b0, reals[0], fakes[0], fakes[-1])["critic_loss"]
    (grad,) = torch.autograd.grad(loss, w)
    torch.testing.assert_close(m.D.w.detach() - w0, -0.1 * grad, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("name", ALL_METHODS)
@pytest.mark.parametrize("n_critic", [1, 3])
@pytest.mark.parametrize("arch", list(ARCHS))
def test_n_critic_critic_steps_per_generator_step(name, n_critic, arch):
    """Counted optimizer steps and method hooks; both networks keep learning every iteration
    (the critic is frozen only during the generator step); the noise comes from the run's
    generator, never from torch's global one."""
    cfg = tiny_cfg(name, f"train.n_critic={n_critic}", arch=arch)
    hooks = []

    class Recording(METHODS[name]):
        def after_critic_step(self, m, iteration):
            hooks.append(("critic", m, iteration))

        def after_generator_step(self, m, iteration):
            hooks.append(("generator", m, iteration))

    method, m, next_batch, gen = build(cfg)
    method = Recording(cfg)
    steps = {"G": 0, "D": 0}
    m.opt_G.register_step_post_hook(lambda *_: steps.__setitem__("G", steps["G"] + 1))
    m.opt_D.register_step_post_hook(lambda *_: steps.__setitem__("D", steps["D"] + 1))
    global_rng = torch.get_rng_state()
    for it in range(1, 4):
        before = [p.detach().clone() for p in (*m.G.parameters(), *m.D.parameters())]
        method.train_iteration(m, next_batch, gen, it)
        assert steps == {"G": it, "D": it * n_critic}, (it, steps)
        after = [*m.G.parameters(), *m.D.parameters()]
        changed = [not torch.equal(p, q) for p, q in zip(before, after)]
        n_G = len(list(m.G.parameters()))
        assert any(changed[:n_G]) and any(changed[n_G:]), (it, "a network stopped learning")
        assert all(p.requires_grad for p in m.D.parameters())
    want = [(k, m, it) for it in range(1, 4) for k in ["critic"] * n_critic + ["generator"]]
    assert [(k, mm is m, i) for k, mm, i in hooks] == [(k, True, i) for k, _, i in want]
    assert torch.equal(global_rng, torch.get_rng_state())


@pytest.mark.parametrize("name", ALL_METHODS)
def test_networks_and_optimizers_follow_the_config(name):
    cfg = tiny_cfg(name, "model.z_dim=16", "train.lr=0.003", "train.beta1=0.1", "train.beta2=0.7")
    method = get_method(name, cfg)
    G, D = method.build_generator(RES, CH), method.build_critic(RES, CH)
    assert G(torch.randn(2, 16)).shape == (2, CH, RES, RES) and D(
        torch.zeros(2, CH, RES, RES)
    ).shape == (2,)
    wide = get_method(name, tiny_cfg(name, "model.width=16", "model.z_dim=16"))
    assert count(wide.build_generator(RES, CH)) > count(G)
    assert count(wide.build_critic(RES, CH)) > count(D)
    for opt in method.optimizers(G, D):
        assert [(g["lr"], g["betas"]) for g in opt.param_groups] == [(0.003, (0.1, 0.7))]


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_method_registry():
    from ssgan.methods import register_method

    for name, cls in METHODS.items():
        assert cls.name == name and get_method(name, tiny_cfg(name)).name == name
    with pytest.raises(ValueError, match="method name 'wgan_gp' is already registered"):
        register_method("wgan_gp")(type("Again", (WGANGP,), {}))
    assert METHODS["wgan_gp"] is WGANGP
    known = ", ".join(sorted(METHODS))
    with pytest.raises(KeyError, match=f"unknown method 'nope'; known: {known}"):
        get_method("nope", {})
    try:
        new = register_method("_test_method")(type("New", (WGANGP,), {}))
        assert new.name == "_test_method" and METHODS["_test_method"] is new
    finally:
        METHODS.pop("_test_method", None)


@pytest.mark.parametrize("name", ALL_METHODS)
@pytest.mark.parametrize("arch", list(ARCHS))
def test_logged_losses_equal_a_hand_computation(name, arch):
    """Fixed linear critic: critic loss, Wasserstein estimate and gradient penalty of the last
    critic step, and the generator loss, equal the equations on the recorded batches."""
    cfg = tiny_cfg(name, "train.n_critic=2", "train.gp_lambda=7.0", arch=arch)
    critic = LinearCritic(CH * RES * RES)
    method, m, next_batch, gen = build(cfg, critic=critic, lr_D=0.0)
    batches, reals, fakes = recorded(m, next_batch)
    stats = method.train_iteration(m, batches, gen, 1)
    n = cfg["train"]["n_critic"]
    assert len(reals) == n and len(fakes) == n + 1  # n critic steps, then the generator step
    with torch.no_grad():
        want = hand_losses_for(name)(cfg, critic.w, critic.b, reals[-1], fakes[n - 1], fakes[n])
    for key, value in want.items():
        torch.testing.assert_close(stats[key].float(), value.float(), rtol=1e-5, atol=1e-6)
    if hand_losses_for(name) is wgan_gp_losses:  # ||w|| != 1: the penalty's target matters
        assert float(want["gradient_penalty"]) > 1e-3


# The methods whose critic loss carries WGAN-GP's penalty (the linear critic above cannot tell
# how the interpolation weights are drawn: its gradient is the same everywhere).
PENALISED = [n for n in ALL_METHODS if hand_losses_for(n) is wgan_gp_losses]


@pytest.mark.parametrize("name", PENALISED)
@pytest.mark.parametrize("arch", list(ARCHS))
def test_training_penalty_draws_one_weight_per_sample_on_a_nonlinear_critic(name, arch):
    """The gradient penalty a training iteration logs, on the method's own (non-linear) critic,
    equals E[(||grad D(xhat_i)|| - 1)^2] computed sample by sample, with xhat_i = a_i x_i +
    (1 - a_i) G(z)_i and a_i ~ U[0, 1] drawn per sample after the fakes' latents; one weight
    for the whole batch gives another number on this critic."""
    import copy

    cfg = tiny_cfg(name, "train.n_critic=1", arch=arch)
    method, m, next_batch, gen = build(cfg)
    D, state = copy.deepcopy(m.D), gen.get_state()  # before the critic step changes them
    batches, reals, fakes = recorded(m, next_batch)
    stats = method.train_iteration(m, batches, gen, 1)
    real, fake = reals[0], fakes[0]
    n = real.shape[0]
    g = torch.Generator().set_state(state)
    torch.randn(n, cfg["model"]["z_dim"], generator=g)  # the fakes' latents
    alpha = torch.rand(n, generator=g)

    def penalty(weights):
        terms = []
        for i in range(n):  # one sample at a time: nothing is shared across the batch
            x = (weights[i] * real[i : i + 1] + (1 - weights[i]) * fake[i : i + 1]).detach()
            x.requires_grad_(True)
            (grad,) = torch.autograd.grad(D(x).sum(), x)
            terms.append((grad.flatten().norm() - 1) ** 2)
        return torch.stack(terms).mean()

    want = penalty(alpha)
    torch.testing.assert_close(stats["gradient_penalty"].float(), want, rtol=1e-5, atol=1e-7)
    shared = penalty(alpha[:1].expand(n))  # one weight for the batch: another number here
    assert abs(float(shared) - float(want)) > 1e-4 * float(want)


def pixel_histogram(x: torch.Tensor, bins: int = 10) -> torch.Tensor:
    h = torch.histc(x.clamp(-1, 1).float(), bins=bins, min=-1, max=1)
    return h / h.sum()


# Measured (ssgan/training/loop.py, width 8, batch 32, lr 0.001, 200 iterations, seeds 0 and 1): from
# an untrained generator's (1.9, 0.7-0.9), the two distances below fall to (0.03-0.10,
# 0.07) for wgan_gp and (0.39, 0.17) for ssgan (seed 0); with the generator loss's sign
# flipped both rise above 1.4. One critic step per iteration instead of five still learns
# this far (e.g. wgan_gp (0.10, 0.15)): that mutant is caught by the counted optimizer steps
# and the hand-computed losses above, not here.
LEARN = ["train.iterations=200", "train.n_critic=5", "train.lr=0.001", "train.batch_size=32"]
LEARN_FACTOR = 3  # both distances must fall below start / LEARN_FACTOR


# The ResNet case (1.5-2.5 min per method on 2 shared cores, hence slow) for the package's own
# methods; the test plugin's (wgan_lp: WGAN-GP's networks, its own loss) shows the plugin path,
# which its DCGAN case does as well.
SHORT_TRAINING = [
    *[("dcgan", name) for name in ALL_METHODS],
    *[pytest.param("resnet", name, marks=pytest.mark.slow) for name in BUILT_IN],
]


@pytest.mark.parametrize(("arch", "name"), SHORT_TRAINING)
def test_short_training_moves_samples_toward_the_data(name, tmp_path, arch):
    """A real 200-iteration run (ssgan/training/loop.py) of a width-8 generator brings its samples
    toward the data (u/127.5 - 1 of the stored uint8): the L1 distance of the pixel histograms
    and the RMS distance of the mean images, on 512 samples against 2048 images."""
    cfg = tiny_cfg(
        name,
        *LEARN,
        "data.max_images=2048",
        "model.z_dim=16",
        "train.checkpoint_every=1000",
        "train.sample_every=1000",
        "probe.every=1000",
        arch=arch,
    )
    x = load_images(cfg).float() / 127.5 - 1
    data_hist, data_mean = pixel_histogram(x), x.mean(0)
    method = get_method(name, cfg)
    z = torch.randn(512, cfg["model"]["z_dim"], generator=torch.Generator().manual_seed(1))

    def distances(G) -> torch.Tensor:
        G.eval()
        with torch.no_grad():
            y = G(z)
        hist = (pixel_histogram(y) - data_hist).abs().sum()
        return torch.stack([hist, (y.mean(0) - data_mean).square().mean().sqrt()])

    torch.manual_seed(cfg["seed"])
    start = distances(method.build_generator(RES, CH))  # an untrained generator
    assert train(cfg, tmp_path / "run") == 0
    G = method.build_generator(RES, CH)
    G.load_state_dict(torch.load(tmp_path / "run" / "generator.pt", weights_only=True))
    end = distances(G)
    assert (end < start / LEARN_FACTOR).all(), f"{name}: {start.tolist()} -> {end.tolist()}"


@pytest.mark.parametrize("method_name", ALL_METHODS)
@pytest.mark.parametrize("arch", list(ARCHS))
def test_generator_step_leaves_the_critic_gradients_of_the_last_critic_step(method_name, arch):
    """The critic is frozen during the generator step: after the iteration its gradients are
    those of its last step (what STU-GAN's ``growth_d: gradient`` regrows by), and it trains
    again afterwards."""
    method, m, next_batch, gen = build(tiny_cfg(method_name, arch=arch))
    method.critic_step(m, next_batch(), gen)
    grads = [p.grad.clone() for p in m.D.parameters()]
    method.generator_step(m, 16, gen, torch.device("cpu"))
    assert all(torch.equal(p.grad, g) for p, g in zip(m.D.parameters(), grads))
    assert all(p.requires_grad for p in m.D.parameters())
