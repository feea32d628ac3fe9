"""The generator iteration as training runs it (ssgan/training/step.py), on the CPU: the static input
buffers give the stream's batches in the stream's order, every method works in place (what a
CUDA graph needs), restoring a checkpoint keeps the storage, the precision policy and the
graph switch. The CUDA-only capture and replay are checked by tests/test_cuda.py on a GPU."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from ssgan import config as C
from ssgan.data import BatchStream
from ssgan.methods import METHODS
from ssgan.methods.base import learning_rate
from ssgan.metrics.extractor import exact_gpu
from ssgan.training import step as S
from ssgan.training.loop import Run, train
from tests.test_train import tiny_cfg


def images(n=40, size=8):
    g = torch.Generator().manual_seed(3)
    return torch.randint(0, 256, (n, 1, size, size), generator=g, dtype=torch.uint8)


@pytest.mark.parametrize("kind", ["tensor", "memmap"])
def test_static_buffers_follow_the_stream_order(kind, tmp_path):
    """Batches read through StepInputs equal BatchStream.next() one by one, over several epochs
    (40 images, batches of 16: 2 per epoch, the rest dropped), and the stream states agree."""
    x = images()
    if kind == "memmap":
        np.save(tmp_path / "x.npy", x.numpy())
        data = lambda: np.load(tmp_path / "x.npy", mmap_mode="r")  # noqa: E731
    else:
        data = lambda: x.clone()  # noqa: E731
    plain, buffered = BatchStream(data(), 16, 7, "cpu"), BatchStream(data(), 16, 7, "cpu")
    inputs = S.StepInputs(buffered, 3)
    assert (inputs.idx is None) == (kind == "memmap")
    for _ in range(5):  # 15 batches: epochs 0..7
        inputs.fill()
        for _ in range(3):
            want = plain.next()
            assert torch.equal(inputs.next(), want)
            assert want.min() >= -1 and want.max() <= 1
        assert buffered.state_dict() == plain.state_dict()
    assert plain.state_dict()["epoch"] == 7


def test_a_method_drawing_more_or_fewer_batches_than_declared_is_an_error():
    run = Run(tiny_cfg("wgan_gp"), "unused")
    run.build()
    run.step.inputs.fill()
    for _ in range(2):
        run.step.inputs.next()
    with pytest.raises(RuntimeError, match="more than the 2 batches"):
        run.step.inputs.next()
    run.method.batches_per_iteration = lambda: 3
    run.step = S.Step(run.method, run.m, run.stream, run.gen, run.device, "fp32", graph=False)
    with pytest.raises(RuntimeError, match="drew 2 batches in one iteration but declares 3"):
        run.step(1)


def test_graph_switch():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert S.use_graph("auto", cpu) is False and S.use_graph("auto", cuda) is True
    assert S.use_graph(False, cuda) is False and S.use_graph(True, cuda) is True
    with pytest.raises(C.ConfigError, match="'train.cuda_graph' is true but the training device"):
        S.use_graph(True, cpu)


def test_cuda_graph_true_on_a_cpu_run_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(C.ConfigError, match="CUDA graphs need a CUDA device"):
        train(tiny_cfg("wgan_gp", **{"train.cuda_graph": "true"}), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_precision_flags():
    matmul, conv = torch.backends.cuda.matmul, torch.backends.cudnn.conv
    before = matmul.fp32_precision, conv.fp32_precision
    try:
        S.set_precision("tf32")
        assert (matmul.fp32_precision, conv.fp32_precision) == ("tf32", "tf32")
        for p in ("fp32", "bf16"):  # bf16's fp32 parts are IEEE fp32, as fp32's
            S.set_precision(p)
            assert (matmul.fp32_precision, conv.fp32_precision) == ("ieee", "ieee")
        with pytest.raises(C.ConfigError, match="train.precision"):
            S.set_precision("fp16")
        S.set_precision("tf32")  # FID evaluation in the same process: exact fp32, then back
        with exact_gpu():
            assert conv.fp32_precision == "ieee"
        assert conv.fp32_precision == "tf32"
    finally:
        matmul.fp32_precision, conv.fp32_precision = before
    assert isinstance(S.autocast("bf16", torch.device("cpu")), torch.autocast)
    assert not isinstance(S.autocast("fp32", torch.device("cpu")), torch.autocast)
    with pytest.warns(UserWarning):  # without CUDA the context is built, then disabled
        on_cuda = S.autocast("bf16", torch.device("cuda"))
    assert on_cuda.fast_dtype == torch.bfloat16  # CUDA's autocast default would be float16


@pytest.mark.parametrize("method", ["wgan_gp", "sn_gan"])
def test_bf16_autocasts_the_networks_and_keeps_losses_in_fp32(method, tmp_path):
    """bf16 changes the trajectory (the networks ran in bfloat16) but not the dtype of what is
    logged; the run records its precision."""
    run = Run(tiny_cfg(method, **{"train.precision": "bf16"}), "unused")
    run.build()
    seen = []
    hook = run.m.D.register_forward_hook(lambda mod, i, out: seen.append(out.dtype))
    stats = run.step(1)
    hook.remove()
    assert torch.bfloat16 in seen
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in stats.values())
    assert train(tiny_cfg(method, **{"train.precision": "bf16"}), tmp_path / "bf16") == 0
    assert train(tiny_cfg(method), tmp_path / "fp32") == 0
    rec = {p: json.loads((tmp_path / p / "run.json").read_text()) for p in ("bf16", "fp32")}
    assert rec["bf16"]["execution"] == {
        "precision": "bf16",
        "cuda_graph": False,
        "graph_captures": 0,
        "graph_error": None,
        "gpu_slot": None,  # a CPU run takes no GPU slot
    }
    assert rec["fp32"]["execution"]["precision"] == "fp32"
    g = {p: torch.load(tmp_path / p / "generator.pt", weights_only=True) for p in rec}
    assert any(not torch.equal(g["bf16"][k], g["fp32"][k]) for k in g["fp32"])


def _storage_cfg(method):
    extra = {"train.iterations": 12}
    if method == "stu_gan":  # a sparse critic too, and an exploration at iteration 4
        extra |= {"stu.update_every": 4, "stu.density_d": 0.5, "stu.growth_d": "gradient"}
    if method == "sr_gan":
        extra |= {"sr.every": 2}
    return tiny_cfg(method, **extra)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_trains_in_place(method):
    """What a CUDA graph replays must find its tensors where it recorded them: after the first
    iteration (gradients exist), no iteration replaces a parameter, gradient, buffer or
    optimizer state, neither a plain one nor one the method runs eagerly (STU-GAN's
    prune/regrow, SR-GAN's compensation)."""
    run = Run(_storage_cfg(method), "unused")
    run.build()
    run.step(1)
    before = run.step.fingerprint()
    eager = []
    for it in range(2, 7):
        eager.append(run.method.eager_iteration(it))
        run.step(it)
        assert run.step.fingerprint() == before, f"iteration {it} replaced a tensor"
    if method == "stu_gan":
        assert eager == [False, False, True, False, False]
    elif method == "sr_gan":
        assert eager == [True, False, True, False, True] and run.method.compensations == 3 * 2
    else:
        assert not any(eager)


def test_fingerprint_sees_a_replaced_tensor():
    run = Run(tiny_cfg("wgan_gp"), "unused")
    run.build()
    run.step(1)
    before = run.step.fingerprint()
    run.m.G.fc.weight.data = run.m.G.fc.weight.data.clone()
    assert run.step.fingerprint() != before
    before = run.step.fingerprint()
    run.m.opt_D.zero_grad(set_to_none=True)
    assert run.step.fingerprint() != before
    for opt in (run.m.opt_G, run.m.opt_D):  # an optimizer state replaced (not updated in place)
        before = run.step.fingerprint()
        state = next(iter(opt.state.values()))
        state["exp_avg"] = state["exp_avg"].clone()
        assert run.step.fingerprint() != before


def test_restore_loads_in_place(tmp_path):
    """A resumed run keeps the storage of its parameters and buffers (a graph captured before
    stays valid for them); optimizer states are new tensors, so the step captures again."""
    cfg = tiny_cfg("stu_gan", **{"stu.density_d": 0.5})
    assert train(cfg, tmp_path / "run") == 0
    run = Run(cfg, tmp_path / "run")
    run.build()
    run.record, run.t0, run.wall_before = run.new_record(), 0.0, 0.0
    modules = [
        (n, t.data_ptr()) for n, t in [*run.m.G.state_dict().items(), *run.m.D.state_dict().items()]
    ]
    run.step._graph, run.step.graph = "captured", True  # as on CUDA: Adam must stay capturable
    assert run.restore() == 12
    for opt in (run.m.opt_G, run.m.opt_D):
        assert all(group["capturable"] for group in opt.param_groups)
        assert all(state["step"].dtype == torch.float32 for state in opt.state.values())
    after = [
        (n, t.data_ptr()) for n, t in [*run.m.G.state_dict().items(), *run.m.D.state_dict().items()]
    ]
    assert after == modules
    assert run.step._graph is None
    w = run.m.G.state_dict()
    saved = torch.load(tmp_path / "run" / "generator.pt", weights_only=True)
    assert all(torch.equal(w[k], saved[k]) for k in saved)


def test_capturable_optimizer_state_moves_to_the_device():
    run = Run(tiny_cfg("wgan_gp"), "unused")
    run.build()
    run.step(1)
    for state in run.m.opt_G.state.values():  # as a checkpoint of another version may hold it
        state["step"] = torch.tensor(1, dtype=torch.int64)
    S.make_capturable(run.m.opt_G, torch.device("cpu"))
    assert all(g["capturable"] for g in run.m.opt_G.param_groups)
    steps = [s["step"] for s in run.m.opt_G.state.values()]
    assert steps and all(s.dtype == torch.float32 and s.device.type == "cpu" for s in steps)
    assert all(float(s) == 1.0 for s in steps)


@pytest.mark.parametrize("method", ["wgan_gp", "sr_gan"])
def test_a_failed_capture_falls_back_to_eager_with_the_same_batches(method, monkeypatch, capsys):
    """An operation that cannot be captured ends graphs for the run, not the run: the
    iteration that failed to capture runs eagerly on the batches already drawn, as that
    iteration (SR-GAN's hooks read its number), and the reason is printed."""
    runs = {}
    for name in ("plain", "fallback"):
        run = runs[name] = Run(tiny_cfg(method, **{"sr.every": 2}), "unused")
        run.build()
    capsys.readouterr()  # building may prepare the data (a progress line in an empty cache)
    step = runs["fallback"].step
    step.graph, step.eager_done = True, S.GRAPH_WARMUP  # as on CUDA after the warm-up

    def refuse(iteration):
        raise RuntimeError("operation not permitted when stream is capturing\nmore")

    monkeypatch.setattr(step, "_capture", refuse)
    for it in (1, 2):
        a, b = runs["plain"].step(it), step(it)
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert step.graph is False and step.captures == 0
    assert step.graph_error == "RuntimeError: operation not permitted when stream is capturing"
    assert runs["fallback"].stream.state_dict() == runs["plain"].stream.state_dict()
    assert (
        "CUDA graph capture failed, training eagerly: RuntimeError: operation not permitted "
        "when stream is capturing\n" == capsys.readouterr().err
    )


def test_a_graph_step_makes_both_optimizers_capturable_from_the_start():
    run = Run(tiny_cfg("wgan_gp"), "unused")
    run.build()
    for opt in (run.m.opt_G, run.m.opt_D):
        assert not any(g["capturable"] for g in opt.param_groups)
    step = S.Step(run.method, run.m, run.stream, run.gen, run.device, "fp32", graph=True)
    for opt in (run.m.opt_G, run.m.opt_D):
        assert all(g["capturable"] for g in opt.param_groups)
    assert step.graph_error is None and step.captures == 0


class ReplayOnCPU:
    """Stands in for a captured torch.cuda.CUDAGraph on the CPU: ``replay`` runs the iteration
    that was captured (its number baked in, as a graph's Python branches are) on the buffers."""

    def __init__(self, step, iteration):
        self.step, self.iteration, self.replays = step, iteration, 0

    def replay(self):
        self.step.rewind()
        self.step._outputs = self.step.run_eagerly(self.iteration)
        self.replays += 1


def graph_run_on_cpu(monkeypatch, cfg):
    """A Run whose step follows the CUDA-graph schedule on the CPU; returns it and the log of
    (iteration, how it ran)."""
    run = Run(cfg, "unused")
    run.build()
    step, log = run.step, []
    step.graph = True

    def capture(iteration):
        step._graph = ReplayOnCPU(step, iteration)
        step._fingerprint = step.fingerprint()
        step.captures += 1
        log.append((iteration, "capture"))

    eager = step._eager

    def logged_eager(iteration, side_stream=False):
        log.append((iteration, "warm-up" if side_stream else "eager"))
        return eager(iteration, side_stream)

    monkeypatch.setattr(step, "_capture", capture)
    monkeypatch.setattr(step, "_eager", logged_eager)
    return run, log


def test_graph_schedule_warm_up_capture_replay_and_eager_iterations(monkeypatch):
    """With graphs on: GRAPH_WARMUP eager iterations, one capture, replays; the method's eager
    iterations (STU-GAN's explorations at 5 and 10) run eagerly between replays without a new
    capture (they work in place); the trajectory equals an eager run's bitwise."""
    cfg = _storage_cfg("stu_gan")
    cfg["stu"]["update_every"] = 5
    run, log = graph_run_on_cpu(monkeypatch, cfg)
    plain = Run(copy.deepcopy(cfg), "unused")
    plain.build()
    for it in range(1, 13):
        a, b = plain.step(it), run.step(it)
        assert all(torch.equal(a[k], b[k]) for k in a), it
    assert log == [
        (1, "warm-up"),
        (2, "warm-up"),
        (3, "warm-up"),
        (4, "capture"),
        (5, "eager"),
        (10, "eager"),
    ]
    assert run.step.captures == 1 and run.step._graph.replays == 12 - 3 - 2
    assert all(torch.equal(p, q) for p, q in zip(plain.m.G.parameters(), run.m.G.parameters()))
    assert run.stream.state_dict() == plain.stream.state_dict()


def test_graph_schedule_captures_again_after_storage_changes_and_restore(monkeypatch, tmp_path):
    cfg = tiny_cfg("wgan_gp")
    run, log = graph_run_on_cpu(monkeypatch, cfg)
    for it in range(1, 6):
        run.step(it)
    assert [kind for _, kind in log].count("capture") == 1
    run.m.opt_D.state[run.m.D.fc.weight]["exp_avg"] = torch.zeros_like(run.m.D.fc.weight)
    run.step(6)  # a replaced optimizer state: capture again, do not replay a stale graph
    assert log[-1] == (6, "capture") and run.step.captures == 2
    run.step(7)
    assert log[-1] == (6, "capture") and run.step._graph.replays == 2
    run.step.restored()  # a checkpoint loaded: capture again, and Adam stays capturable
    for opt in (run.m.opt_G, run.m.opt_D):
        assert all(g["capturable"] for g in opt.param_groups)
        for g in opt.param_groups:  # capturable Adam steps on CUDA only: back to the CPU's
            g["capturable"] = False
    run.step(8)
    assert log[-1] == (8, "capture") and run.step.captures == 3


def _recipe_cfg(**extra):
    """SN-GAN with the seed papers' recipe options: linear lr decay and G's moving average,
    whose weight switches from a copy to 1 - decay after ema_start (5: after the capture at 4,
    so a graph that held the captured iteration's weight would keep copying)."""
    over = {"train.lr_decay": "linear", "train.ema_decay": 0.75, "train.ema_start": 5}
    return tiny_cfg("sn_gan", **{**over, **extra})


def test_lr_decay_and_moving_average_replay_as_eager(monkeypatch):
    """With a stand-in graph that replays the captured iteration (its number baked in), the
    learning rate and the average's weight are set before each iteration, outside the graph:
    the trajectory, the moving average and the lr equal an eager run's with the same device
    lr tensors bitwise, and a plain eager run's (Python float lr) to float rounding."""
    cfg = _recipe_cfg()
    run, log = graph_run_on_cpu(monkeypatch, cfg)
    assert run.method.graphable() and run.step.graph_error is None
    twin, plain = Run(copy.deepcopy(cfg), "unused"), Run(copy.deepcopy(cfg), "unused")
    twin.build()
    plain.build()
    for r in (run, twin):
        for opt in (r.m.opt_G, r.m.opt_D):
            S.device_learning_rates(opt, r.device)
    t = cfg["train"]
    for it in range(1, 13):
        a, b, c = twin.step(it), run.step(it), plain.step(it)
        assert all(torch.equal(a[k], b[k]) for k in a), it
        torch.testing.assert_close(c, b, rtol=1e-4, atol=1e-5)
        lrs = [g["lr"] for o in (run.m.opt_G, run.m.opt_D) for g in o.param_groups]
        assert all(float(lr) == pytest.approx(learning_rate(t, it), rel=1e-6) for lr in lrs)
        assert float(run.method.ema_weight) == (1.0 if it <= 5 else 0.25)
    assert run.step.captures == 1 and run.step._graph.replays == 12 - 3
    assert (4, "capture") in log
    for key, value in twin.method.ema.items():
        assert torch.equal(run.method.ema[key], value), key
        torch.testing.assert_close(plain.method.ema[key], value, rtol=1e-4, atol=1e-5)
    g = run.m.G.state_dict()
    assert any(not torch.equal(run.method.ema[k], g[k]) for k in g)  # an average, not a copy
    assert learning_rate(t, 12) < learning_rate(t, 1) / 5


def test_a_resumed_graphed_run_recomputes_lr_and_average(monkeypatch, tmp_path):
    """Stopped at iteration 4 (a checkpoint, as SIGTERM leaves it) and resumed, a run under the
    stand-in graph recaptures after its warm-up and ends bitwise where an uninterrupted one
    does: the lr of every resumed iteration is recomputed, the average resumes from its
    checkpointed state."""
    build, take = Run.build, Run.take_probes

    def build_graphed(self):
        build(self)
        step = self.step
        step.graph = True
        for opt in (self.m.opt_G, self.m.opt_D):
            S.device_learning_rates(opt, self.device)

        def capture(iteration):
            step._graph = ReplayOnCPU(step, iteration)
            step._fingerprint = step.fingerprint()
            step.captures += 1

        step._capture = capture

    monkeypatch.setattr(Run, "build", build_graphed)
    monkeypatch.setattr(S, "make_capturable", S.device_learning_rates)  # no capturable CPU Adam
    cfg = _recipe_cfg()
    assert train(cfg, tmp_path / "whole") == 0

    def stop_at_4(self, iteration):
        take(self, iteration)
        self.stop_requested = self.stop_requested or iteration == 4

    monkeypatch.setattr(Run, "take_probes", stop_at_4)
    assert train(cfg, tmp_path / "cut") == 75  # EXIT_PREEMPTED
    monkeypatch.setattr(Run, "take_probes", take)
    assert train(cfg, tmp_path / "cut") == 0
    for name in ("generator.pt", "generator_ema.pt", "critic.pt"):
        a, b = (torch.load(tmp_path / d / name, weights_only=True) for d in ("whole", "cut"))
        assert all(torch.equal(a[k], b[k]) for k in a), name
    rec = json.loads((tmp_path / "cut" / "run.json").read_text())
    assert rec["execution"]["cuda_graph"] is True and rec["execution"]["graph_captures"] == 1
    monkeypatch.setattr(Run, "build", build)
    assert train(cfg, tmp_path / "eager") == 0  # float lr: the same to float rounding
    a, b = (
        torch.load(tmp_path / d / "generator.pt", weights_only=True) for d in ("whole", "eager")
    )
    torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


def test_storage_fingerprint_of_stacked_tensors_sees_replaced_values_and_gradients():
    """The stacked network's dicts of tensors: an in-place update keeps the fingerprint; a
    replaced tensor, a new gradient or a replaced gradient changes it."""
    w = torch.zeros(2, 3, requires_grad=True)
    stacked = {"w": w, "b": torch.zeros(2)}
    first = S.storage_fingerprint(stacked)
    with torch.no_grad():
        w.add_(1.0)
    assert S.storage_fingerprint(stacked) == first
    w.grad = torch.ones(2, 3)
    with_grad = S.storage_fingerprint(stacked)
    assert with_grad != first and 0 not in with_grad[:2]
    w.grad.mul_(2.0)
    assert S.storage_fingerprint(stacked) == with_grad
    w.grad = w.grad.clone()
    assert S.storage_fingerprint(stacked) != with_grad
    stacked["b"] = stacked["b"].clone()
    assert S.storage_fingerprint(stacked)[2] != with_grad[2]
