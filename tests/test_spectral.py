"""SN-GAN, SR-GAN and the spectrum monitor: hinge loss, spectral normalisation, SR-GAN's
compensation (static and dynamic), its schedule, the per-method defaults, probe_spectrum.csv,
and kill-and-resume of both methods."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from ssgan import config as C
from ssgan.data import BatchStream, load_images
from ssgan.methods import METHODS, get_method
from ssgan.methods.base import Models
from ssgan.methods.sn_gan import hinge_critic_loss
from ssgan.probes import spectral
from ssgan.training import checkpoint
from ssgan.training.loop import train
from tests.conftest import TINY


def cfg_for(method: str, *extra: str, suite: dict | None = None) -> dict:
    return C.resolve("mnist", method, 0, suite, C.parse_overrides([*TINY, *extra]))


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# ------------------------------------------------------------------------------ losses


def test_hinge_critic_loss_equals_a_hand_computation():
    d_real = torch.tensor([2.0, 0.5, -1.0])  # relu(1 - d) = 0, 0.5, 2   -> mean 5/6
    d_fake = torch.tensor([-2.0, 0.0, 1.5])  # relu(1 + d) = 0, 1, 2.5   -> mean 7/6
    assert float(hinge_critic_loss(d_real, d_fake)) == pytest.approx(2.0, abs=1e-6)
    assert float(hinge_critic_loss(torch.full((4,), 3.0), torch.full((4,), -3.0))) == 0.0


# ----------------------------------------------------------------- spectral normalisation


def test_power_iteration_converges_to_unit_top_singular_value():
    cfg = cfg_for("sn_gan")
    with torch.random.fork_rng():  # raw weights from a fixed draw, whatever ran before
        torch.manual_seed(0)
        D = get_method("sn_gan", cfg).build_critic(32, 1)
    convs = spectral.critic_convolutions(D)
    assert len(convs) == 3 and all(hasattr(m, "parametrizations") for _, m in convs)
    assert hasattr(D.fc, "parametrizations")  # the linear layer is normalised too
    x = torch.randn(4, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for _ in range(400):  # one power iteration per forward in training mode
            D(x)
    D.eval()  # reading the weight now runs no further iteration
    for layer in [m for _, m in convs] + [D.fc]:
        w = layer.weight.detach()
        top = torch.linalg.svdvals(w.reshape(w.shape[0], -1).double())[0]
        assert float(top) == pytest.approx(1.0, abs=2e-3)
        raw = spectral.as_matrix(spectral.raw_weight(layer))
        assert float(torch.linalg.svdvals(raw)[0]) != pytest.approx(1.0, abs=0.05)


def sn_state(seed: int, rng: int) -> dict:
    """SN-GAN's networks for ``seed``, built after seeding the global RNG with ``rng``."""
    with torch.random.fork_rng():  # other tests' global RNG is left alone
        torch.manual_seed(rng)
        method = get_method("sn_gan", cfg_for("sn_gan", "model.critic_norm=none"))
        G, D = method.build_networks(32, 1, seed)
    return {**{f"G.{k}": v for k, v in G.state_dict().items()}, **D.state_dict()}


def test_sn_gan_starts_from_wgan_gp_weights_and_seeded_power_vectors():
    """A paired run's shared layers start equal: SN-GAN's generator and its critic's raw weights
    are WGAN-GP's for the same seed (per-layer seeds named G.* and D.*); the power iteration's
    u, v come from each layer's own seed, not from the global RNG."""
    G, D = get_method("wgan_gp", cfg_for("wgan_gp", "model.critic_norm=none")).build_networks(
        32, 1, 5
    )
    sn = sn_state(5, 0)
    for k, v in G.state_dict().items():
        assert torch.equal(sn[f"G.{k}"], v), k
    raw = {k.replace(".parametrizations.weight.original", ".weight"): v for k, v in sn.items()}
    for k, v in D.state_dict().items():
        assert torch.equal(raw[k], v), k
    vectors = [k for k in sn if k.endswith(("._u", "._v"))]
    assert len(vectors) == 8  # three convolutions and the linear layer
    again, other = sn_state(5, 1), sn_state(6, 0)  # another global RNG state; another seed
    assert all(torch.equal(again[k], sn[k]) for k in sn)
    assert not any(torch.equal(other[k], sn[k]) for k in vectors if sn[k].numel() > 1)  # fc's u: 1


@pytest.mark.parametrize("seeded", [True, False])
def test_one_power_iteration_per_training_forward(seeded):
    """n_power_iterations=1: from any v, one forward in training mode sets u = W v / |.|, then
    v = W^T u / |.|, once (the critic built alone, and the seeded one of build_networks)."""
    method = get_method("sn_gan", cfg_for("sn_gan"))
    D = method.build_networks(32, 1, 0)[1] if seeded else method.build_critic(32, 1)
    g = torch.Generator().manual_seed(3)
    want = {}
    with torch.no_grad():
        for layer in [m for _, m in spectral.critic_convolutions(D)] + [D.fc]:
            sn = layer.parametrizations.weight[0]
            sn._v.copy_(torch.nn.functional.normalize(torch.randn(sn._v.shape, generator=g), dim=0))
            W = spectral.raw_weight(layer).reshape(sn._u.shape[0], -1)
            u = torch.nn.functional.normalize(W @ sn._v, dim=0, eps=sn.eps)
            want[layer] = (u, torch.nn.functional.normalize(W.t() @ u, dim=0, eps=sn.eps))
        D(torch.zeros(2, 1, 32, 32))
    for layer, (u, v) in want.items():
        sn = layer.parametrizations.weight[0]
        torch.testing.assert_close(sn._u, u, rtol=0, atol=1e-6)
        torch.testing.assert_close(sn._v, v, rtol=0, atol=1e-6)


# ---------------------------------------------------------------------- compensation


def random_weight(out=6, cin=5, k=2, seed=0) -> torch.Tensor:
    return torch.randn(out, cin, k, k, generator=torch.Generator().manual_seed(seed)) * 0.3


def test_static_compensation_gives_exactly_the_prescribed_spectrum():
    w = random_weight()
    s = torch.linalg.svdvals(spectral.as_matrix(w))
    want = s / s[0]
    want[: len(s) // 2] = 1.0  # k = min(6, 20) = 6: the top 3 set to 1
    assert len(s) == 6 and float(want[3]) < 0.99
    spectral.compensate_static(w)
    got = torch.linalg.svdvals(spectral.as_matrix(w))
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    assert float(got[0]) == pytest.approx(1.0, abs=1e-6)  # s_1 = 1 afterwards


def test_dynamic_gamma_never_decreases_and_keeps_the_scale():
    w = random_weight(seed=1)
    gamma, history = None, []
    g = torch.Generator().manual_seed(2)
    for _ in range(6):
        s1 = torch.linalg.svdvals(spectral.as_matrix(w))[0]
        gamma = spectral.compensate_dynamic(w, gamma)
        history.append(gamma.clone())
        got = torch.linalg.svdvals(spectral.as_matrix(w))
        torch.testing.assert_close(got, s1 * gamma, rtol=0, atol=1e-5)  # W = U diag(s_1 gamma) V^T
        with torch.no_grad():  # a training step that shrinks the tail of the spectrum
            w.mul_(torch.rand(w.shape, generator=g) + 0.5)
    for a, b in zip(history, history[1:]):
        assert (b >= a).all()
    assert (history[-1] > history[0]).any() and float(history[-1][0]) == 1.0


def build(cfg: dict):
    method = get_method(cfg["method"], cfg)
    G, D = method.build_networks(32, 1, 0)
    m = Models(G, D, *method.optimizers(G, D))
    stream = BatchStream(load_images(cfg), cfg["train"]["batch_size"], 0, "cpu")
    return method, m, stream.next, torch.Generator().manual_seed(0)


@pytest.mark.parametrize(
    "when, want", [("after_each_critic_step", 2 * 3), ("after_critic_steps", 2)]
)
def test_compensation_schedule_and_static_result_in_training(when, want):
    """Iterations 1..4, every 2, n_critic 3: iterations 2 and 4 compensate, after each of their
    critic steps or once; right after one, every critic convolution's raw spectrum is the static
    one (s_1 = 1, top half 1) and the linear layer is untouched by it."""
    cfg = cfg_for("sr_gan", "sr.every=2", f"sr.when={when}", "train.n_critic=3")
    method, m, next_batch, gen = build(cfg)
    fc_before = spectral.raw_weight(m.D.fc).detach().clone()
    method.train_iteration(m, next_batch, gen, 1)
    assert method.compensations == 0
    method.train_iteration(m, next_batch, gen, 2)
    method.train_iteration(m, next_batch, gen, 3)
    method.train_iteration(m, next_batch, gen, 4)
    assert method.compensations == want and method.summary(m) == {"sr_compensations": want}
    if when == "after_critic_steps":  # the generator step does not touch the critic
        for _, conv in spectral.critic_convolutions(m.D):
            s, s1 = spectral.normalised_spectrum(spectral.raw_weight(conv))
            assert s1 == pytest.approx(1.0, abs=1e-5)
            assert torch.allclose(s[: len(s) // 2], torch.ones(len(s) // 2, dtype=s.dtype))
    assert not torch.equal(fc_before, spectral.raw_weight(m.D.fc))  # trained, not compensated


def _top_half_gap(summary_rows, spectrum_rows, iteration) -> dict[str, float]:
    """Per critic convolution at one probe: the largest |s / s_1 - 1| over the top half."""
    k = {r["layer"]: 0 for r in summary_rows}
    for r in spectrum_rows:
        if int(r["iteration"]) == iteration:
            k[r["layer"]] += 1
    return {
        layer: max(
            abs(float(r["value"]) - 1)
            for r in spectrum_rows
            if int(r["iteration"]) == iteration and r["layer"] == layer and int(r["index"]) < n // 2
        )
        for layer, n in k.items()
    }


@pytest.mark.parametrize("when", ["after_each_critic_step", "after_critic_steps"])
def test_probes_at_compensated_iterations_read_the_spectrum_before_compensation(tmp_path, when):
    """sr.every 2 and probe.every 4: every probe after 0 falls on a compensated iteration. The
    probed top half is what training made of it since the last compensation, not 1; the
    spectrum after the compensation (what the probe read before) is 1 there."""
    cfg = cfg_for("sr_gan", "sr.every=2", f"sr.when={when}", "train.n_critic=2")
    out = tmp_path / "sr"
    assert train(cfg, out) == 0
    summary = rows(out / "probe_spectrum_summary.csv")
    spectrum = rows(out / "probe_spectrum.csv")
    assert sorted({int(r["iteration"]) for r in summary}) == [0, 4, 8, 12]
    critic = torch.load(out / "critic.pt", weights_only=True)
    for it in (4, 8, 12):
        gaps = _top_half_gap(summary, spectrum, it)
        assert set(gaps) == {"conv1", "conv2", "conv3"}
        assert all(g > 1e-5 for g in gaps.values()), (it, gaps)
    # the final critic (compensated at 12, after the probe) has the static top half
    D = get_method("sr_gan", cfg).build_critic(32, 1)
    D.load_state_dict(critic)
    for _, conv in spectral.critic_convolutions(D):
        s, _ = spectral.normalised_spectrum(spectral.raw_weight(conv))
        assert float((s[: len(s) // 2] - 1).abs().max()) < 1e-5


def test_sr1_value_falls_below_half_when_the_spectrum_collapses_between_compensations():
    """A critic whose convolutions collapsed to (nearly) rank 1 since the last compensation:
    the probe at a compensated iteration records a fraction above 0.5 far below 0.5 (the SR1
    value), while the compensated critic it leaves has >= 0.5 by construction."""
    cfg = cfg_for("sr_gan", "sr.every=2", "train.n_critic=2")
    method, m, next_batch, gen = build(cfg)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for _, conv in spectral.critic_convolutions(m.D):
            w = spectral.raw_weight(conv)
            out, rest = w.shape[0], w[0].numel()
            rank1 = torch.randn(out, 1, generator=g) @ torch.randn(1, rest, generator=g)
            noise = 1e-3 * torch.randn(out, rest, generator=g)
            w.copy_((rank1 + noise).reshape(w.shape))
    method.train_iteration(m, next_batch, gen, 4)  # probed (probe.every 4) and compensated
    assert method.compensations == 2
    _, before = method.critic_spectrum(m, 4)
    _, after = spectral.spectrum_rows(m.D, 4)
    sr1 = sum(r["frac_above_half"] for r in before) / len(before)
    assert sr1 < 0.1, before
    assert all(r["frac_above_half"] >= 0.5 for r in after), after
    # read once: the next probe of that iteration (none in training) reads the critic as it is
    assert method.critic_spectrum(m, 4)[1] == after
    # an iteration that is not probed keeps nothing
    method.train_iteration(m, next_batch, gen, 6)
    assert method.critic_spectrum(m, 6)[1] == spectral.spectrum_rows(m.D, 6)[1]


def test_dynamic_gamma_survives_a_checkpoint(tmp_path):
    """gamma is method state: saved (weights_only) and restored, the next compensation is the
    same as without the interruption."""
    cfg = cfg_for("sr_gan", "sr.every=1", "sr.mode=dynamic", "train.n_critic=1")
    method, m, next_batch, gen = build(cfg)
    for it in range(1, 4):
        method.train_iteration(m, next_batch, gen, it)
    state = method.state_dict()
    assert set(state["gamma"]) == {"conv1", "conv2", "conv3"}
    torch.save({"method": state, "D": m.D.state_dict()}, tmp_path / "c.pt")
    loaded = torch.load(tmp_path / "c.pt", weights_only=True)
    other = get_method("sr_gan", cfg)
    other.load_state_dict(loaded["method"])
    assert other.compensations == method.compensations == 3
    for name, g in method.gamma.items():
        assert torch.equal(other.gamma[name], g)
    convs = dict(spectral.critic_convolutions(m.D))
    before = {k: spectral.raw_weight(c).detach().clone() for k, c in convs.items()}
    method.compensate(m)
    after = {k: spectral.raw_weight(c).detach().clone() for k, c in convs.items()}
    for k, c in convs.items():
        spectral.raw_weight(c).data.copy_(before[k])
    other.compensate(m)
    for k, c in convs.items():
        assert torch.equal(spectral.raw_weight(c).detach(), after[k])


def test_dynamic_compensation_continues_the_running_gamma():
    """SR-GAN keeps gamma per layer across compensations: from gamma = 1 (the largest
    value), a compensation keeps gamma at 1 and leaves every convolution's spectrum flat."""
    cfg = cfg_for("sr_gan", "sr.every=1", "sr.mode=dynamic", "train.n_critic=1")
    method, m, next_batch, gen = build(cfg)
    method.train_iteration(m, next_batch, gen, 1)
    method.gamma = {k: torch.ones_like(g) for k, g in method.gamma.items()}
    method.compensate(m)
    for name, conv in spectral.critic_convolutions(m.D):
        assert torch.equal(method.gamma[name], torch.ones_like(method.gamma[name]))
        s, _ = spectral.normalised_spectrum(spectral.raw_weight(conv))
        torch.testing.assert_close(s, torch.ones_like(s), rtol=0, atol=1e-5)


# ------------------------------------------------------------------- per-method defaults


def test_method_defaults_are_a_layer_under_the_suite():
    sn = cfg_for("sn_gan")
    t = sn["train"]
    assert (t["lr"], t["beta1"], t["beta2"]) == (2e-4, 0.0, 0.9)
    assert sn["model"]["critic_norm"] == "none"
    wg = cfg_for("wgan_gp")
    assert (wg["train"]["lr"], wg["train"]["beta1"]) == (1e-4, 0.5)
    at64 = C.resolve("mnist", "sn_gan", 0, overrides={"data": {"resolution": 64}})
    assert at64["model"]["critic_norm"] == "none" and at64["train"]["beta1"] == 0.0
    suite = {
        "methods": {"sn_gan": {}, "sn_fast": {"method": "sn_gan", "train": {"lr": 1e-3}}},
        "seeds": [0],
        "datasets": {"mnist": {"train": {"n_critic": 3}}},
    }
    base = C.resolve("mnist", "sn_gan", 0, suite)
    fast = C.resolve("mnist", "sn_fast", 0, suite)
    assert base["train"]["n_critic"] == fast["train"]["n_critic"] == 3  # the dataset entry
    assert (base["train"]["lr"], fast["train"]["lr"]) == (2e-4, 1e-3)  # the variant
    assert base["train"]["beta1"] == fast["train"]["beta1"] == 0.0
    assert C.config_hash(base) != C.config_hash(fast)
    assert set(C.PER_METHOD) <= set(METHODS)
    with pytest.raises(C.ConfigError, match=r"'sr\.when' must be one of"):
        cfg_for("sr_gan", "sr.when=later")
    with pytest.raises(C.ConfigError, match=r"'sr\.every' must be a positive integer"):
        cfg_for("sr_gan", "sr.every=0")


def test_sections_a_method_never_reads_leave_its_hash():
    for method, section in (("sn_gan", "sr"), ("wgan_gp", "sr"), ("sn_gan", "sastm")):
        a = C.config_hash(cfg_for(method))
        assert a == C.config_hash(
            cfg_for(method, f"{section}.every=3" if section == "sr" else "sastm.gate=sigmoid")
        )
    assert C.config_hash(cfg_for("sr_gan")) != C.config_hash(cfg_for("sr_gan", "sr.every=3"))


# -------------------------------------------------------------------- spectrum records


def test_spectrum_csv_has_one_row_per_singular_value(tmp_path):
    """Every method records the spectra; the last probe equals the SVD of the saved critic."""
    out = tmp_path / "w"
    assert train(cfg_for("wgan_gp"), out) == 0
    spec, summ = rows(out / "probe_spectrum.csv"), rows(out / "probe_spectrum_summary.csv")
    critic = torch.load(out / "critic.pt", weights_only=True)
    k = {"conv1": min(8, 1 * 16), "conv2": min(16, 8 * 16), "conv3": min(32, 16 * 16)}
    for it in (0, 4, 8, 12):
        for layer, n in k.items():
            mine = [r for r in spec if int(r["iteration"]) == it and r["layer"] == layer]
            assert [int(r["index"]) for r in mine] == list(range(n))
            v = torch.tensor([float(r["value"]) for r in mine], dtype=torch.float64)
            assert float(v[0]) == 1.0 and (v[:-1] >= v[1:]).all()
            (s,) = [r for r in summ if int(r["iteration"]) == it and r["layer"] == layer]
            assert float(s["frac_above_half"]) == pytest.approx(float((v > 0.5).double().mean()))
    key = {"conv1": "features.0.weight", "conv2": "features.2.weight", "conv3": "features.4.weight"}
    for layer, name in key.items():
        s = torch.linalg.svdvals(spectral.as_matrix(critic[name]))
        last = [float(r["value"]) for r in spec if r["iteration"] == "12" and r["layer"] == layer]
        torch.testing.assert_close(
            torch.tensor(last, dtype=torch.float64), s / s[0], atol=1e-7, rtol=0
        )
        (row,) = [r for r in summ if r["iteration"] == "12" and r["layer"] == layer]
        assert float(row["sigma1"]) == pytest.approx(float(s[0]), abs=1e-7)


# ------------------------------------------------------------------- kill and resume

RESUME = ["train.iterations=30", "train.checkpoint_every=10", "train.log_every=5", "probe.every=10"]


class Killed(BaseException):
    """The process dies: nothing after the checkpoint reaches the disk (like SIGKILL)."""


@pytest.mark.parametrize(
    "method, extra", [("sn_gan", []), ("sr_gan", ["sr.mode=dynamic", "sr.every=2"])]
)
def test_kill_and_resume_is_bitwise_identical(tmp_path, monkeypatch, method, extra):
    """Dead right after the checkpoint at 10, rerun: weights (u, v buffers included), the
    method's state (gamma) and every CSV equal an uninterrupted run's."""
    cfg = cfg_for(method, *RESUME, *extra)
    assert train(cfg, tmp_path / "ref") == 0
    save = checkpoint.save

    def save_then_die(ckpt_dir, iteration, *args, **kwargs):
        path = save(ckpt_dir, iteration, *args, **kwargs)
        if iteration == 10:
            raise Killed
        return path

    monkeypatch.setattr(checkpoint, "save", save_then_die)
    with pytest.raises(Killed):
        train(cfg, tmp_path / "killed")
    monkeypatch.undo()
    assert not (tmp_path / "killed" / "critic.pt").exists()
    assert train(cfg, tmp_path / "killed") == 0
    for f in ("generator.pt", "critic.pt"):
        a = torch.load(tmp_path / "ref" / f, weights_only=True)
        b = torch.load(tmp_path / "killed" / f, weights_only=True)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(k.endswith("._u") for k in a)  # the power iteration's vector is saved
    for name in ("probe_spectrum.csv", "probe_spectrum_summary.csv", "probe_weights.csv"):
        assert (tmp_path / "ref" / name).read_bytes() == (tmp_path / "killed" / name).read_bytes()

    def losses(run):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in rows(run / "train_log.csv")]

    assert losses(tmp_path / "ref") == losses(tmp_path / "killed")
    record = json.loads((tmp_path / "killed" / "run.json").read_text())
    assert record["attempts"] == 2 and [e["kind"] for e in record["events"]] == ["resumed"]
    state = torch.load(tmp_path / "killed" / "checkpoints" / "ckpt_00000030.pt", weights_only=True)
    if method == "sr_gan":  # 15 compensation iterations x n_critic 2
        assert state["method"]["compensations"] == 30 and len(state["method"]["gamma"]) == 3


# ----------------------------------------------------------------- claim and figure


def test_no_collapse_claim_and_spectrum_figure(tmp_path):
    """SR1, in no claim set (one-armed) but computed when a comparison asks for it, compares the
    final fraction of s / s_1 above 0.5 (mean over conv layers) of sr_gan with sn_gan's, from
    the runs' own summaries; the figure draws one curve per probe."""
    from ssgan.analysis import aggregate, spectrum_plots
    from ssgan.analysis.plots import read_tables, select

    results = tmp_path / "results"
    for m in ("sn_gan", "sr_gan"):
        assert train(cfg_for(m, "sr.every=2"), results / "runs" / "mnist" / m / "seed0") == 0
    frames = aggregate.aggregate(results, n_boot=10, baseline="sn_gan", treatment="sr_gan")
    assert "SR1" not in set(frames["claims"]["claim"])  # one-armed: in no claim set
    from ssgan.analysis import claims as C
    from ssgan.analysis import runs as R
    from ssgan.analysis.tables import Comparison, fid_pairs

    runs = R.runs_table(results)
    comp = Comparison("sn_gan", "sr_gan", claims=("SR1",))  # still there when asked for
    probes = {name: R.gather(results, runs, name) for name in R.PROBES}
    table = C.claims_table(
        [comp], {comp.name: ["mnist"]}, fid_pairs(runs, [comp]), probes, lambda m: m, 10, 0, runs
    )
    (sr1,) = [r for r in table.itertuples() if r.claim == "SR1"]
    assert sr1.comparison == "sr_gan vs sn_gan" and sr1.n == 1 and sr1.direction.endswith("> 0")
    assert sr1.layers == "conv1 conv2 conv3"

    def final(m):
        summ = rows(results / "runs" / "mnist" / m / "seed0" / "probe_spectrum_summary.csv")
        v = [float(r["frac_above_half"]) for r in summ if r["iteration"] == "12"]
        return sum(v) / len(v)

    assert sr1.value_baseline == pytest.approx(final("sn_gan"))
    assert sr1.value_treatment == pytest.approx(final("sr_gan"))
    # probed before iteration 12's compensation: not the static spectrum's top half of 1
    assert 0 < final("sr_gan") <= 1
    assert spectrum_plots.COLLAPSE_LEVEL == spectral.COLLAPSE_LEVEL
    assert spectrum_plots.SPECTRUM_COLUMNS == spectral.SPECTRUM_COLUMNS
    t = select(read_tables(results / "tables"))
    fig = spectrum_plots.spectrum_over_training(t, None, results)
    drawn = [ax for ax in fig.axes if ax.lines]
    assert len(drawn) == 2 and all(len(ax.lines) == 4 + 1 for ax in drawn)  # 4 probes + 0.5 line
    conv3 = [r for r in rows(results / "runs/mnist/sr_gan/seed0/probe_spectrum.csv")]
    last = [float(r["value"]) for r in conv3 if r["layer"] == "conv3" and r["iteration"] == "12"]
    sr_ax = [ax for ax in drawn if "SR-GAN" in ax.get_title()][0]
    assert list(sr_ax.lines[3].get_ydata()) == pytest.approx(last)


def test_divergence_of_sr_gan_is_recorded_with_its_spectra(tmp_path):
    """A non-finite loss ends an sr_gan run as ``diverged`` like any method's, its spectrum rows
    up to that iteration on disk."""
    from ssgan.training.loop import EXIT_DIVERGED

    out = tmp_path / "d"
    assert train(cfg_for("sr_gan", "debug.nan_at=6", "sr.every=2"), out) == EXIT_DIVERGED
    record = json.loads((out / "run.json").read_text())
    assert (record["status"], record["diverged_at"]) == ("diverged", 6)
    assert record["method_summary"] == {"sr_compensations": 3 * 2}  # iterations 2, 4, 6
    its = {int(r["iteration"]) for r in rows(out / "probe_spectrum_summary.csv")}
    assert its == {0, 4}
