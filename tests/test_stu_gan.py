"""STU-GAN (ssgan/methods/stu_gan.py, ssgan/methods/sparse_masks.py): ERK densities, masking
after every step, prune and regrow, the cosine death rate, static masks, the in-time
over-parameterisation record, checkpoints and the config's density range. Training-direction
checks and bitwise kill-and-resume cover stu_gan through tests/test_training_direction.py
(every registered method) and tests/test_train.py."""

from __future__ import annotations

import csv
import functools
import json
import math

import pandas as pd
import pytest
import torch

from ssgan import config as C
from ssgan.methods import get_method, sparse_masks
from ssgan.methods.base import Models
from ssgan.methods.sparse_masks import (
    SparseMasks,
    cosine_death_rate,
    erk_densities,
    masked_weights,
)
from ssgan.models import Critic, Generator
from ssgan.training.loop import train
from ssgan.training.seeds import layer_seed
from tests.conftest import TINY


def cfg_of(*overrides: str, method: str = "stu_gan", seed: int = 0) -> dict:
    return C.resolve("mnist", method, seed, overrides=C.parse_overrides([*TINY, *overrides]))


def built(cfg: dict):
    """(method, models, next_batch, noise) as training builds them (CPU)."""
    from ssgan.data import BatchStream, load_images

    method = get_method(cfg["method"], cfg)
    G, D = method.build_networks(32, 1, 1234)
    m = Models(G, D, *method.optimizers(G, D))
    stream = BatchStream(load_images(cfg), cfg["train"]["batch_size"], 0, "cpu")
    return method, m, stream.next, torch.Generator().manual_seed(0)


def rows(path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def erk_reference(shapes: dict, density: float) -> dict:
    """ERK written out as in ../shared/PAPER.md: every sparse layer's density is eps * p_l;
    while the largest eps * p_l exceeds 1 that layer becomes dense."""
    n = {k: math.prod(s) for k, s in shapes.items()}
    p = {k: sum(s) / n[k] for k, s in shapes.items()}
    dense = []
    for _ in shapes:
        sparse = [k for k in shapes if k not in dense]
        eps = (density * sum(n[k] for k in sparse) - (1 - density) * sum(n[k] for k in dense)) / (
            sum(p[k] * n[k] for k in sparse)
        )
        over = [k for k in sparse if eps * p[k] > 1]
        if not over:
            break
        dense.append(max(over, key=p.get))
    return {k: 1.0 if k in dense else eps * p[k] for k in shapes}


@functools.cache
def networks(resolution: int):
    """The width-64 generator and critic at a resolution (built once)."""
    return (Generator(resolution, 3, 64, 128), "G"), (Critic(resolution, 3, 64, "layernorm"), "D")


@pytest.mark.parametrize("resolution", [32, 64])
@pytest.mark.parametrize("density", [0.05, 0.1, 0.3, 0.8])
def test_erk_total_density_and_per_layer_formula(resolution, density):
    for net, prefix in networks(resolution):
        shapes = {k: tuple(w.shape) for k, w in masked_weights(net).items()}
        assert len(shapes) == (3 if resolution == 32 else 4)  # every conv, no linear layer
        masks = SparseMasks(net, density, 7, prefix)
        want = erk_reference(shapes, density)
        total = sum(int(m.sum()) for m in masks.masks.values())
        size = sum(m.numel() for m in masks.masks.values())
        assert abs(total / size - density) <= 0.01 * density, (prefix, total / size)
        for name, mask in masks.masks.items():
            assert int(mask.sum()) == max(1, round(want[name] * mask.numel())), name
            assert masks.density[name] == pytest.approx(want[name], rel=1e-9)
        if density == 0.8:  # the small first/last layers saturate: dense, the rest rescaled
            assert 1.0 in want.values() and min(want.values()) < 0.8


def test_masks_are_seeded_by_the_run_seed():
    a, b, c = (get_method("stu_gan", cfg_of(seed=s)) for s in (0, 0, 1))
    for method in (a, b, c):
        G, D = method.build_networks(32, 1, 5)
        method.optimizers(G, D)
    ma, mb, mc = (x.sparse["G"].masks for x in (a, b, c))
    assert all(torch.equal(ma[k], mb[k]) for k in ma)
    assert not all(torch.equal(ma[k], mc[k]) for k in ma)


def test_initial_masks_keep_the_top_of_each_layers_seeded_scores(monkeypatch):
    """A layer keeps exactly max(1, round(d N)) weights: those of the largest random scores
    drawn from the layer's own seed (ties to the lower position); density 1 is dense."""
    big, tiny = torch.nn.Conv2d(4, 8, 3), torch.nn.Conv2d(1, 1, 2)  # 288 and 4 weights
    assert erk_densities({"a": (8, 4, 3, 3), "b": (1, 1, 2, 2)}, 1.0) == {"a": 1.0, "b": 1.0}
    mask = SparseMasks(tiny, 0.1, 3, "D").masks["weight"]
    assert int(mask.sum()) == 1  # round(0.4) = 0: at least one
    mask = SparseMasks(big, 0.3, 3, "D").masks["weight"].view(-1).bool()
    scores = torch.rand(
        288, generator=torch.Generator().manual_seed(layer_seed(3, "mask.D.weight"))
    )
    want = torch.zeros(288, dtype=torch.bool)
    want[scores.topk(86).indices] = True  # round(0.3 * 288)
    assert torch.equal(mask, want)
    for seed, prefix in ((4, "D"), (3, "G")):
        assert not torch.equal(SparseMasks(big, 0.3, seed, prefix).masks["weight"], want)
    monkeypatch.setattr(sparse_masks, "_random_scores", lambda n, seed, device: torch.zeros(n))
    mask = SparseMasks(big, 0.3, 3, "D").masks["weight"].view(-1)
    assert torch.equal(mask, (torch.arange(288) < 86).float())


def test_exploration_through_the_method_its_rows_and_summary():
    """Iteration 0's rows record the ERK masks (nothing pruned, p_0); an exploration (at
    iteration 1 with update_every 1) regrows G by |gradient| and D at random from the
    iteration's seed, exactly as the masks' own explore, and its rows count what changed.
    run.json's method_summary counts the masked and active weights of both networks."""
    over = ("stu.density_d=0.5", "stu.growth_g=gradient", "stu.growth_d=random")
    method, m, next_batch, gen = built(cfg_of(*over, "stu.update_every=1"))
    twin, m2, next2, gen2 = built(cfg_of(*over))  # update_every 1000: explores by hand below
    start = method.drain_rows(m, 0, True)["stu_masks.csv"]
    assert len(start) == sum(len(sp.masks) for sp in method.sparse.values()) == 6
    assert {(r["iteration"], r["pruned"], r["regrown"], r["death_rate"]) for r in start} == {
        (0, 0, 0, 0.5)
    }
    old = {
        net: {k: v.bool().clone() for k, v in sp.masks.items()} for net, sp in method.sparse.items()
    }
    method.train_iteration(m, next_batch, gen, 1)
    twin.train_iteration(m2, next2, gen2, 1)
    for net, growth in (("G", "gradient"), ("D", "random")):
        twin.sparse[net].explore(twin.death_rate(1), growth, 1)
    rows = method.drain_rows(m, 1, False)["stu_masks.csv"]
    assert len(rows) == 6 and method.drain_rows(m, 1, False)["stu_masks.csv"] == []
    for r in rows:
        sp = method.sparse[r["network"]]
        name = {v: k for k, v in sp.names.items()}[r["layer"]]
        new = sp.masks[name].bool()
        assert torch.equal(new, twin.sparse[r["network"]].masks[name].bool()), name
        assert r["pruned"] == int((old[r["network"]][name] & ~new).sum())
        assert r["regrown"] == int((new & ~old[r["network"]][name]).sum())
        assert (r["iteration"], r["death_rate"]) == (1, method.death_rate(1))
    sparse_rows = [r for r in rows if r["density"] < 1]  # ERK-dense layers cannot change
    assert len(sparse_rows) >= 3 and all(r["pruned"] > 0 for r in sparse_rows)
    summary = method.summary(m)
    for net, key in (("G", "generator"), ("D", "critic")):
        masks = method.sparse[net].masks.values()
        assert summary[f"{key}_masked"] == sum(x.numel() for x in masks)
        assert summary[f"{key}_masked_active"] == sum(int(x.sum()) for x in masks)
    assert set(summary) == {"params_total", "params_active"} | {
        f"{k}_{v}"
        for k in ("generator", "critic")
        for v in ("params", "active", "masked", "masked_active", "itop_rate")
    }


def test_every_masked_weight_is_zero_after_every_step_and_gradients_stay_dense():
    cfg = cfg_of("stu.density_d=0.5", "stu.update_every=2", "train.iterations=8")
    checked = []

    method, m, next_batch, gen = built(cfg)
    inner = method.after_critic_step

    def after_critic(mm, it):
        inner(mm, it)
        checked.append(all_zero(method.sparse["D"]))

    method.after_critic_step = after_critic
    for it in range(1, 7):
        method.train_iteration(m, next_batch, gen, it)
        checked += [all_zero(method.sparse["G"]), all_zero(method.sparse["D"])]
    assert len(checked) == 6 * (2 + 2) and all(checked)
    # Gradients are not masked: inactive weights of G got gradient in the last step.
    G = method.sparse["G"]
    assert any((w.grad[G.masks[k] == 0] != 0).any() for k, w in G.weights.items())
    assert all(len(s.masks) == 3 for s in method.sparse.values())  # density < 1: masked


def all_zero(sparse: SparseMasks) -> bool:
    return all(bool((w[sparse.masks[k] == 0] == 0).all()) for k, w in sparse.weights.items())


@pytest.mark.parametrize("growth", ["gradient", "random"])
def test_exploration_keeps_counts_prunes_smallest_and_regrows_at_inactive_positions(growth):
    cfg = cfg_of("stu.density_d=0.5", f"stu.growth_g={growth}", f"stu.growth_d={growth}")
    method, m, next_batch, gen = built(cfg)
    method.train_iteration(m, next_batch, gen, 1)  # no exploration at 1 (update_every 1000)
    for net in ("G", "D"):
        sparse = method.sparse[net]
        old = {k: v.bool().clone() for k, v in sparse.masks.items()}
        w_old = {k: w.detach().clone() for k, w in sparse.weights.items()}
        grads = {k: w.grad.clone() for k, w in sparse.weights.items()}
        changes = sparse.explore(0.3, growth, 1)
        for name, pruned, regrown in changes:
            new = sparse.masks[name].bool()
            assert int(new.sum()) == int(old[name].sum())  # exactly constant per layer
            grown, lost = new & ~old[name], old[name] & ~new
            assert (pruned, regrown) == (int(lost.sum()), int(grown.sum()))
            n = math.ceil(0.3 * int(old[name].sum()))
            if sparse.density[name] < 1:  # a sparse layer really changes (ERK-dense ones not)
                assert 0 < pruned <= n
            # Pruned: among the n smallest |w| of the active weights.
            threshold = w_old[name][old[name]].abs().sort().values[n - 1]
            assert (w_old[name][lost].abs() <= threshold).all()
            # Regrown: inactive before (hence 0), and start at 0; kept weights keep their value.
            w = sparse.weights[name].detach()
            assert (w[grown] == 0).all() and (w[~new] == 0).all()
            assert torch.equal(w[old[name] & new], w_old[name][old[name] & new])
            if growth == "gradient" and regrown:  # largest |grad| among the candidates
                candidates = ~(old[name] & new) & ~grown  # inactive after pruning, not chosen
                assert grads[name][grown].abs().min() >= grads[name][candidates].abs().max()
            assert (sparse.ever[name] == (sparse.ever[name] | new)).all()


def test_cosine_death_rate_hits_both_ends():
    T = 1000
    rates = [cosine_death_rate(t, T, 0.5, 0.005) for t in range(0, T + 1, 50)]
    assert rates[0] == 0.5 and rates[-1] == pytest.approx(0.005, abs=1e-15)
    assert rates[len(rates) // 2] == pytest.approx((0.5 + 0.005) / 2)
    assert all(a > b for a, b in zip(rates, rates[1:]))


def test_run_records_exploration_itop_and_active_counts(tmp_path):
    out = tmp_path / "run"
    cfg = cfg_of("stu.update_every=3", "stu.density_d=0.5")
    assert train(cfg, out) == 0
    recs = rows(out / "stu_masks.csv")
    its = sorted({int(r["iteration"]) for r in recs})
    assert its == [0, 3, 6, 9]  # not at the last iteration (12): nothing would train after it
    layers = {(r["network"], r["layer"]) for r in recs}
    # named as every other record names them (probes, spectra), not by module path
    assert layers == {("G", f"deconv{i}") for i in (1, 2, 3)} | {
        ("D", f"conv{i}") for i in (1, 2, 3)
    }
    assert len(layers) == 6 and all(
        len([r for r in recs if r["iteration"] == "0"]) == 6 for _ in [0]
    )
    for net, layer in layers:
        mine = [r for r in recs if (r["network"], r["layer"]) == (net, layer)]
        itop = [float(r["itop_rate"]) for r in mine]
        assert itop[0] == float(mine[0]["density"])  # starts at the initial density
        assert all(a <= b for a, b in zip(itop, itop[1:]))  # non-decreasing
        assert len({r["active"] for r in mine}) == 1  # constant count
        for r in mine[1:]:
            it = int(r["iteration"])
            assert float(r["death_rate"]) == pytest.approx(cosine_death_rate(it, 12, 0.5, 0.005))
            assert r["pruned"] == r["regrown"]
    sparse_G = [(n, lay) for n, lay in layers if n == "G" and lay != "deconv3"]
    assert any(
        float([r for r in recs if (r["network"], r["layer"]) == key][-1]["itop_rate"])
        > float([r for r in recs if (r["network"], r["layer"]) == key][0]["density"])
        for key in sparse_G
    )
    summary = json.loads((out / "run.json").read_text())["method_summary"]
    G = torch.load(out / "generator.pt", weights_only=True)
    assert summary["generator_params"] == sum(
        v.numel() for k, v in G.items() if "running" not in k and "num_batches" not in k
    )
    last = {(r["network"], r["layer"]): r for r in recs}
    inactive = sum(int(r["weights"]) - int(r["active"]) for r in last.values())
    assert summary["params_total"] - summary["params_active"] == inactive
    # The saved generator's masked-out weights are exactly 0.
    ckpt = torch.load(sorted((out / "checkpoints").glob("*.pt"))[-1], weights_only=True)
    for i, (name, mask) in enumerate(ckpt["method"]["G"]["masks"].items()):
        assert (G[name][~mask] == 0).all() and int(mask.sum()) == int(
            last[("G", f"deconv{i + 1}")]["active"]
        )
    assert 0 < summary["generator_itop_rate"] < 1
    figures_draw_the_records(pd.read_csv(out / "stu_masks.csv"))


def figures_draw_the_records(recs: pd.DataFrame) -> None:
    """The STU figures (ssgan/analysis/stu_plots.py) read back: bars = initial densities, dots =
    final ever-active rates, lines = size-weighted network totals; no rows -> a message."""
    from ssgan.analysis import stu_plots

    df = pd.concat([recs.assign(seed=0), recs.assign(seed=1)], ignore_index=True)
    df.insert(0, "method", "stu_gan")
    df.insert(0, "dataset", "mnist")
    t = {"stu_masks": df, "order": ("wgan_gp", "stu_gan")}
    fig = stu_plots.stu_density_per_layer(t, None)
    G = fig.axes[0]  # row mnist, column generator
    start = recs[(recs["iteration"] == 0) & (recs["network"] == "G")]
    assert [b.get_height() for b in G.patches] == pytest.approx(list(start["density"]))
    end = recs[(recs["iteration"] == recs["iteration"].max()) & (recs["network"] == "G")]
    assert list(G.lines[0].get_ydata()) == pytest.approx(list(end["itop_rate"]))
    fig = stu_plots.stu_exploration_over_training(t, None)
    line = fig.axes[0].lines[0]  # generator's ever-active rate over training
    g = recs[recs["network"] == "G"]
    want = g.groupby("iteration").apply(
        lambda x: (x["itop_rate"] * x["weights"]).sum() / x["weights"].sum()
    )
    assert list(line.get_xdata()) == list(want.index)
    assert list(line.get_ydata()) == pytest.approx(list(want))
    assert list(fig.axes[2].lines[0].get_ydata()) == pytest.approx(
        list(g.groupby("iteration")["death_rate"].first())
    )
    empty = stu_plots.stu_density_per_layer({**t, "stu_masks": df.iloc[:0]}, None)
    assert "no STU-GAN runs" in " ".join(x.get_text() for x in empty.axes[0].texts)


def test_static_masks_never_change(tmp_path):
    cfg = cfg_of("stu.update_every=2", "stu.explore=false", "stu.density_d=0.5")
    method, m, next_batch, gen = built(cfg)
    start = {net: {k: v.clone() for k, v in s.masks.items()} for net, s in method.sparse.items()}
    for it in range(1, 7):
        method.train_iteration(m, next_batch, gen, it)
    for net, sparse in method.sparse.items():
        assert all(torch.equal(start[net][k], v) for k, v in sparse.masks.items())
        assert all(torch.equal(sparse.ever[k], v.bool()) for k, v in sparse.masks.items())
    assert {r["iteration"] for r in method.drain_rows(m, 6, False)["stu_masks.csv"]} == set()


@pytest.mark.parametrize("explore_d", [False, True])
def test_critic_mask_static_with_explore_d_false(explore_d):
    """stu.explore_d false: G's masks explore, the critic's stay as initialised (the reference
    log behind the published 20.83 / 18.46); true: both change."""
    cfg = cfg_of(
        "stu.update_every=2", "stu.density_d=0.5", f"stu.explore_d={str(explore_d).lower()}"
    )
    method, m, next_batch, gen = built(cfg)
    start = {net: {k: v.clone() for k, v in s.masks.items()} for net, s in method.sparse.items()}
    for it in range(1, 5):
        method.train_iteration(m, next_batch, gen, it)
    same = {
        net: all(torch.equal(start[net][k], v) for k, v in s.masks.items())
        for net, s in method.sparse.items()
    }
    assert same == {"G": False, "D": not explore_d}
    nets = {r["network"] for r in method.drain_rows(m, 4, False)["stu_masks.csv"]}
    assert nets == ({"G", "D"} if explore_d else {"G"})


def test_density_one_trains_exactly_as_wgan_gp():
    dense = cfg_of("stu.density_g=1", "stu.update_every=2")
    a, ma, nb_a, gen_a = built(dense)
    b, mb, nb_b, gen_b = built(cfg_of(method="wgan_gp"))
    for it in range(1, 5):
        a.train_iteration(ma, nb_a, gen_a, it)
        b.train_iteration(mb, nb_b, gen_b, it)
    assert a.sparse["G"].masks == {} and a.sparse["D"].masks == {}
    for x, y in ((ma.G, mb.G), (ma.D, mb.D)):
        assert all(
            torch.equal(p, q) for p, q in zip(x.state_dict().values(), y.state_dict().values())
        )
    assert a.summary(ma)["params_active"] == a.summary(ma)["params_total"]


def test_method_state_round_trips_through_a_checkpoint(tmp_path):
    cfg = cfg_of("stu.update_every=2", "stu.density_d=0.5")
    method, m, next_batch, gen = built(cfg)
    for it in range(1, 5):
        method.train_iteration(m, next_batch, gen, it)
    torch.save(method.state_dict(), tmp_path / "s.pt")
    other, m2, _, _ = built(cfg)
    other.load_state_dict(torch.load(tmp_path / "s.pt", weights_only=True))
    for net in ("G", "D"):
        a, b = method.sparse[net], other.sparse[net]
        assert all(torch.equal(a.masks[k], b.masks[k]) for k in a.masks)
        assert all(torch.equal(a.ever[k], b.ever[k]) for k in a.ever)
        assert b.masks[next(iter(b.masks))].dtype == torch.float32


@pytest.mark.parametrize("key", ["stu.density_g", "stu.density_d"])
@pytest.mark.parametrize("bad", ["0", "-0.1", "1.5"])
def test_density_outside_zero_one_is_a_config_error(key, bad):
    with pytest.raises(C.ConfigError, match=rf"'{key}' must be a density in \(0, 1\]"):
        cfg_of(f"{key}={bad}")


def test_death_rate_order_is_checked():
    with pytest.raises(C.ConfigError, match="death_rate_min <= death_rate"):
        cfg_of("stu.death_rate=0.1", "stu.death_rate_min=0.2")


def test_related_grid_and_quick_slice():
    """config/related.yaml: 3 datasets x (WGAN-GP, Self-Sparse GAN, STU-GAN at G density 0.1
    and 0.3 and with static masks, SN-GAN, SR-GAN) x 10 seeds, STU-GAN non-inferior to WGAN-GP
    and better than its static masks; the quick config runs stu_gan on MNIST seed 0 only,
    exploring during its 160 iterations."""
    from tests.conftest import REPO

    suite = C.load_yaml(REPO / "config" / "related.yaml")
    grid = C.grid(suite)
    assert len(grid) == 210 and {d for d, _, _ in grid} == {"mnist", "fashion_mnist", "cifar10"}
    dens = {
        m: C.resolve("cifar10", m, 0, suite)["stu"]["density_g"] for m in ("stu_gan", "stu_gan_g03")
    }
    assert dens == {"stu_gan": 0.1, "stu_gan_g03": 0.3}
    assert C.resolve("cifar10", "stu_gan_g03", 0, suite)["method"] == "stu_gan"
    comps = {(c["baseline"], c["treatment"]): c for c in suite["comparisons"]}
    assert comps["wgan_gp", "stu_gan"]["claims"] == ["N0", "C0"]  # non-inferiority first
    assert comps["stu_gan_static", "stu_gan"]["claims"] == ["C0"]
    static = C.resolve("cifar10", "stu_gan_static", 0, suite)
    assert (static["method"], static["stu"]["explore"], static["stu"]["density_g"]) == (
        "stu_gan",
        False,
        C.resolve("cifar10", "stu_gan", 0, suite)["stu"]["density_g"],
    )  # equal density, masks never explored
    quick = C.load_yaml(REPO / "config" / "quick.yaml")
    assert [(d, s) for d, m, s in C.grid(quick) if m == "stu_gan"] == [("mnist", 0)]
    cfg = C.resolve("mnist", "stu_gan", 0, quick)
    assert (
        cfg["stu"]["update_every"] < cfg["train"]["iterations"] and cfg["fid"]["checkpoints"] == []
    )


@pytest.mark.parametrize("reset", [False, True])
def test_adam_moments_of_regrown_weights_are_kept_or_reset(reset):
    """stu.reset_adam: false keeps Adam's moments (the reference: gradients are not masked, so
    inactive weights have moments); true zeroes them at the regrown positions only."""
    cfg = cfg_of("stu.update_every=2", f"stu.reset_adam={str(reset).lower()}")
    method, m, next_batch, gen = built(cfg)
    method.train_iteration(m, next_batch, gen, 1)
    sparse = method.sparse["G"]
    name, w = next(iter(sparse.weights.items()))
    old = sparse.masks[name].bool().clone()
    before = {k: m.opt_G.state[w][k].clone() for k in ("exp_avg", "exp_avg_sq")}
    method.train_iteration(m, next_batch, gen, 2)  # explores after its generator step
    grown = sparse.masks[name].bool() & ~old
    assert grown.any()
    for key in ("exp_avg", "exp_avg_sq"):
        state = m.opt_G.state[w][key]
        assert bool((state[grown] == 0).all()) is reset
        assert (state[~grown] != before[key][~grown]).any()  # the step itself updated the rest


def test_divergence_keeps_the_records_up_to_it(tmp_path):
    """A non-finite loss ends a stu_gan run as ``diverged`` like any method, with the mask
    records of the explorations before it on disk."""
    from ssgan.training.loop import EXIT_DIVERGED

    out = tmp_path / "nan"
    assert train(cfg_of("stu.update_every=3", "debug.nan_at=7"), out) == EXIT_DIVERGED
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "diverged" and run["diverged_at"] == 7
    assert sorted({int(r["iteration"]) for r in rows(out / "stu_masks.csv")}) == [0, 3, 6]
    assert run["method_summary"]["generator_active"] < run["method_summary"]["generator_params"]


# ------------------------------------------------------------------ density as it is


@pytest.mark.parametrize(
    "arch,density,linear,overall",
    [  # G's overall density at 32 px RGB, reference widths (dcgan: width 64)
        ("dcgan", 0.05, False, 0.4768),
        ("dcgan", 0.1, False, 0.5044),
        ("dcgan", 0.3, False, 0.6145),
        ("dcgan", 0.1, True, 0.1097),
        ("resnet", 0.1, False, 0.2124),
        ("resnet", 0.05, True, 0.0522),
    ],
)
def test_overall_density_of_the_generator(arch, density, linear, overall):
    """``density_g`` counts the masked weights only: the dense linear layer (45% of the DCGAN's
    G) keeps the DCGAN at 50% for density_g 0.1; ``stu.mask_linear`` masks it too."""
    from ssgan.models import ResNetGenerator

    G = ResNetGenerator(32, 3, 256, 128) if arch == "resnet" else Generator(32, 3, 64, 128)
    masks = sparse_masks.SparseMasks(G, density, 0, "G", linear)
    assert ("fc.weight" in masks.masks) == linear
    c = masks.counts()
    assert round(c["active"] / c["params"], 4) == overall
    assert c["masked_active"] == sum(int(m.sum()) for m in masks.masks.values())
    for name, w in masks.weights.items():  # masked-out weights are 0 (an active one may be 0
        assert not bool(w[masks.masks[name] == 0].any())  # at init: ~1 in 8 ResNets has one)


@pytest.mark.parametrize("arch", ["dcgan", "resnet"])
def test_mask_linear_masks_the_raw_linear_weight_of_the_spectral_norm_critic(arch):
    """STU-GAN on SN-GAN with stu.mask_linear: the critic's linear layer is masked where
    training steps it, its raw weight under spectral normalisation, so the active share over
    every convolution and linear weight is density_d (0.1): left dense, the DCGAN critic's
    would be 0.14. At density 0.02 ERK makes the linear layer itself sparse: its raw weight and
    W / sigma are zero exactly where its mask is."""
    from torch import nn

    model = {"arch": arch, "width": 8, "resnet_g_width": 16, "resnet_d_width": 8}

    def critic(density, linear=True):
        stu = {"density_g": 0.1, "density_d": density, "mask_linear": linear}
        cfg = C.resolve("cifar10", "stu_sngan", 0, overrides={"model": model, "stu": stu})
        method = get_method("stu_sngan", cfg)
        G, D = method.build_networks(32, 3, init_seed=7)
        Models(G, D, *method.optimizers(G, D))
        return D, method.sparse["D"]

    D, masks = critic(0.1)
    layers = [m for m in D.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    raw = {n: p for n, p in D.named_parameters() if n.endswith("parametrizations.weight.original")}
    assert len(raw) == len(layers) and set(masks.masks) == set(raw)  # every layer, linear too
    assert any(n.startswith("fc.") for n in masks.masks)
    active = sum(int((w != 0).sum()) for w in raw.values()) / sum(w.numel() for w in raw.values())
    assert active == pytest.approx(0.1, abs=0.002)
    _, convs_only = critic(0.1, linear=False)
    assert not any(n.startswith("fc.") for n in convs_only.masks)
    D, masks = critic(0.02)
    fc = D.fc
    mask = masks.masks["fc.parametrizations.weight.original"]
    density = masks.density["fc.parametrizations.weight.original"]
    assert int(mask.sum()) == max(1, round(density * mask.numel()))  # its ERK share
    assert 0 < float(mask.mean()) < 0.9  # ERK: sparse at this density
    w = fc.parametrizations.weight.original
    assert torch.equal(w != 0, mask.bool())
    assert bool((fc.weight[mask == 0] == 0).all())  # W / sigma: as sparse as the mask


def test_runs_table_shows_the_density_as_it_is(tmp_path):
    from ssgan.analysis.runs import run_row

    results = tmp_path / "results"
    for method, extra in (
        ("stu_gan", ["stu.density_d=0.5", "stu.mask_linear=true"]),
        ("wgan_gp", []),
    ):
        run_dir = results / "mnist" / method / "seed0"
        assert train(cfg_of(*extra, method=method), run_dir) == 0
    stu = run_row(results / "mnist" / "stu_gan" / "seed0", results)
    summary = json.loads((results / "mnist/stu_gan/seed0/run.json").read_text())["method_summary"]
    G = torch.load(results / "mnist/stu_gan/seed0/generator.pt", weights_only=True)
    weights = {k: v for k, v in G.items() if "running" not in k and "num_batches" not in k}
    nonzero = sum(int((v != 0).sum()) for v in weights.values())
    assert (stu["density_g"], stu["density_d"]) == (0.1, 0.5)
    assert stu["density_g_all"] == summary["generator_active"] / summary["generator_params"]
    assert abs(stu["density_g_all"] - nonzero / summary["generator_params"]) < 1e-3
    assert 0.1 < stu["density_g_all"] < 0.2  # fc masked too: near density_g, not 0.5
    assert 0.5 < stu["density_d_all"] < 0.56
    dense = run_row(results / "mnist" / "wgan_gp" / "seed0", results)
    assert [dense[k] for k in ("density_g", "density_d", "density_g_all")] == [None] * 3
