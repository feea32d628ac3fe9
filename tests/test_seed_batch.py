"""``ssgan train --seeds`` (ssgan/training/seed_batch.py): its input checks, the dispatch to the
batched trainer or, where that refuses a config or is absent, to lone runs one after another,
whose run directories equal lone runs' (the workflow's layout, the same weights), and the one
exit code of a batch."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import signal
import sys
import types

import pytest
import torch

from ssgan.cli import main
from ssgan.training import gpu_slots, seed_batch
from ssgan.training.loop import EXIT_DIVERGED, EXIT_PREEMPTED
from tests.conftest import TINY
from tests.test_step import ReplayOnCPU  # stands in for a captured graph: any GraphSchedule

CELL = ["train", "--dataset", "mnist", "--method", "wgan_gp"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seeds", "0,1,0"], "--seeds lists seed 0 more than once"),
        (["--seeds", "0,x"], "--seeds must be comma-separated non-negative integers"),
        (["--seeds", "0,-1"], "--seeds must be comma-separated non-negative integers"),
        (["--seeds", "1.5"], "--seeds must be comma-separated non-negative integers"),
        (["--seeds", ""], "--seeds must be comma-separated non-negative integers"),
        (["--seeds", "0,1", "--seed", "0"], "give --seed or --seeds, not both"),
        ([], "one of --seed or --seeds is required"),
    ],
)
def test_bad_seeds_are_one_line_errors(args, message, tmp_path, capsys):
    assert main([*CELL, *args, "--out", str(tmp_path / "out"), *TINY]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"ssgan train: error: {message}" in err, err
    assert not (tmp_path / "out").exists()


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_seeds_one_after_another_equal_lone_runs(tmp_path, capsys, monkeypatch):
    """Without a batched trainer (this checkout) --seeds 0,1 trains seed 0, then seed 1, into
    OUT/seed0 and OUT/seed1: each the run of `--seed s` alone, file for file (weights
    byte-identical, the same config hash), and the reason is printed once."""
    monkeypatch.setitem(sys.modules, seed_batch.TRAINER, None)  # as if not installed
    assert seed_batch.refusal({}) == seed_batch.NO_TRAINER
    out = tmp_path / "runs" / "mnist" / "wgan_gp"
    assert main([*CELL, "--seeds", "0,1", "--out", str(out), *TINY]) == 0
    err = capsys.readouterr().err
    assert err.count("trained one after another: no batched trainer is installed") == 1
    assert sorted(p.name for p in out.iterdir()) == ["seed0", "seed1"]
    for s in (0, 1):
        lone = tmp_path / "lone" / f"seed{s}"
        assert main([*CELL, "--seed", str(s), "--out", str(lone), *TINY]) == 0
        a = json.loads((out / f"seed{s}" / "run.json").read_text())
        b = json.loads((lone / "run.json").read_text())
        assert a["status"] == b["status"] == "completed" and a["config"]["seed"] == s
        assert a["config_hash"] == b["config_hash"]
        for name in ("generator.pt", "critic.pt"):
            assert sha(out / f"seed{s}" / name) == sha(lone / name), (s, name)
        mine = {p.relative_to(out / f"seed{s}") for p in (out / f"seed{s}").rglob("*")}
        assert mine == {p.relative_to(lone) for p in lone.rglob("*")}
    g = [torch.load(out / f"seed{s}" / "generator.pt", weights_only=True) for s in (0, 1)]
    assert any(not torch.equal(g[0][k], g[1][k]) for k in g[0])  # two seeds, two runs
    # a second call finds both completed and trains nothing
    assert main([*CELL, "--seeds", "0,1", "--out", str(out), *TINY]) == 0
    assert capsys.readouterr().err.count("already completed") == 2


def fake_trainer(monkeypatch, reason):
    """A stand-in for ssgan.training.batch: records what it was given."""
    calls = []
    module = types.ModuleType("ssgan.training.batch")
    module.refusal = lambda cfg: reason
    module.train_batch = lambda cfgs, outs: calls.append((cfgs, outs)) or [0, EXIT_DIVERGED]
    monkeypatch.setitem(sys.modules, "ssgan.training.batch", module)
    return calls


def test_a_batch_the_trainer_takes_goes_to_it_whole(monkeypatch, tmp_path):
    calls = fake_trainer(monkeypatch, None)
    args = [*CELL, "--seeds", "3,5", "--out", str(tmp_path / "cell"), *TINY]
    assert main(args) == EXIT_DIVERGED  # one diverged seed: a result, the job succeeds
    [(cfgs, outs)] = calls
    assert [c["seed"] for c in cfgs] == [3, 5]
    assert outs == [tmp_path / "cell" / "seed3", tmp_path / "cell" / "seed5"]
    assert all(c["train"]["iterations"] == 12 for c in cfgs)


def test_a_refused_batch_is_trained_one_after_another(monkeypatch, tmp_path, capsys):
    calls = fake_trainer(monkeypatch, "method x keeps per-seed Python state")
    trained = []
    monkeypatch.setattr(seed_batch, "train", lambda cfg, out, sup: trained.append(out) or 0)
    assert main([*CELL, "--seeds", "0,2", "--out", str(tmp_path), *TINY]) == 0
    assert calls == [] and trained == [tmp_path / "seed0", tmp_path / "seed2"]
    err = capsys.readouterr().err
    assert err == "seeds 0,2: trained one after another: method x keeps per-seed Python state\n"


def test_a_preempted_seed_stops_the_rest(monkeypatch):
    done = []
    codes = iter([0, EXIT_PREEMPTED, 0])
    monkeypatch.setattr(seed_batch, "train", lambda cfg, out, sup: done.append(out) or next(codes))
    monkeypatch.setattr(seed_batch, "refusal", lambda cfg: "test")
    cfgs = [{"seed": s} for s in (0, 1, 2)]
    assert seed_batch.train_seeds(cfgs, "cell") == [0, EXIT_PREEMPTED, EXIT_PREEMPTED]
    assert len(done) == 2


def test_exit_code_of_a_batch():
    assert seed_batch.exit_code([0, 0]) == 0
    assert seed_batch.exit_code([0, EXIT_DIVERGED]) == EXIT_DIVERGED
    assert seed_batch.exit_code([EXIT_DIVERGED, EXIT_PREEMPTED]) == EXIT_PREEMPTED
    assert seed_batch.exit_code([1, EXIT_PREEMPTED]) == 1


def test_the_runs_of_one_process_share_its_training_slot(tmp_path, monkeypatch):
    """Lone runs trained one after another in one process keep the GPU slot the first took
    (a faked 2-GPU machine); an FID claim still takes a whole GPU of its own."""
    monkeypatch.setenv("SSGAN_GPU_LOCK_DIR", str(tmp_path))
    monkeypatch.setattr(gpu_slots, "_TRAINING", None)
    held = len(gpu_slots._HELD)
    try:
        first = gpu_slots.claim("auto", gpus=2)
        assert gpu_slots.claim("auto", gpus=2) == first and len(gpu_slots._HELD) == held + 1
        assert gpu_slots.claim("auto", whole=True, gpus=2)[0] == torch.device("cuda", 1)
    finally:
        for f in gpu_slots._HELD[held:]:
            f.close()
        del gpu_slots._HELD[held:]
    second = gpu_slots.claim("auto", gpus=2)  # the first slot was released: taken anew
    assert second[1]["gpu"] == 0 and len(gpu_slots._HELD) == held + 1
    gpu_slots._HELD.pop().close()


# --- the stacked trainer (ssgan/training/stacked.py, through batch.train_batch) -----------------------------------------
SHORT = [*TINY, "train.iterations=6", "train.checkpoint_every=3", "train.sample_every=3"]


def resolved(method: str, seed: int, *extra: str) -> dict:
    from ssgan import config as C

    return C.resolve("mnist", method, seed, None, C.parse_overrides([*SHORT, *extra]))


def rows(path) -> list[dict]:
    import csv

    with open(path) as f:
        return list(csv.DictReader(f))


def log(path) -> list[dict]:
    return rows(path / "train_log.csv")


def same_losses(a, b) -> None:
    rows_a, rows_b = log(a), log(b)
    assert [r["iteration"] for r in rows_a] == [r["iteration"] for r in rows_b] and rows_a
    for key in ("critic_loss", "generator_loss", "wasserstein", "gradient_penalty"):
        x = torch.tensor([float(r[key]) for r in rows_a])
        y = torch.tensor([float(r[key]) for r in rows_b])
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-6, msg=key)


RESNET_DECAY = ("model.arch=resnet", "model.resnet_g_width=16", "model.resnet_d_width=16",
                "train.lr_decay=linear")  # fmt: skip


@pytest.mark.parametrize(
    ("method", "extra"), [("wgan_gp", ()), ("ssgan", ()), ("wgan_gp", RESNET_DECAY)]
)
def test_a_seed_in_a_batch_is_its_lone_run(method, extra, tmp_path):
    """Seed 1 of the batch {0, 1}: the same initial weights and iteration-0 probes (bitwise),
    the same losses (to float tolerance), the same config hash as seed 1 alone; run.json
    records the batch; the two seeds of the batch differ."""
    from ssgan.training import batch, stacked

    cfgs = [resolved(method, s, *extra) for s in (0, 1)]
    assert stacked.refusal(cfgs[0]) is None
    outs = [tmp_path / "b" / f"seed{s}" for s in (0, 1)]
    assert batch.train_batch(cfgs, outs) == [0, 0]
    lone = tmp_path / "lone"
    assert main(["train", "--dataset", "mnist", "--method", method, "--seed", "1",
                 "--out", str(lone), *SHORT, *extra]) == 0  # fmt: skip
    a, b = (json.loads((p / "run.json").read_text()) for p in (outs[1], lone))
    assert a["status"] == "completed" and a["config_hash"] == b["config_hash"]
    assert a["execution"]["seed_batch"] == [0, 1] and a["execution"]["batched"] is True
    same_losses(outs[1], lone)
    for name in (
        "probe_weights.csv",
        "probe_gradients.csv",
        "probe_spectrum.csv",
        "weight_hist.csv",
    ):
        at0 = [[r for r in rows(p / name) if r["iteration"] == "0"] for p in (outs[1], lone)]
        assert at0[0] and at0[0] == at0[1], name
    assert sorted(p.name for p in (outs[1] / "samples").iterdir()) == sorted(
        p.name for p in (lone / "samples").iterdir()
    )
    assert log(outs[0])[0]["critic_loss"] != log(outs[1])[0]["critic_loss"]


def test_autocast_still_misses_vmapped_operations():
    """Why bf16 is not stacked: under bf16 autocast a vmapped convolution stays fp32 while the
    same convolution alone runs in bf16. When PyTorch changes this, this test fails: lift the
    refusal (stacked.BF16) and check the stacked bf16 losses against a lone bf16 run."""
    from torch.func import functional_call, stack_module_state, vmap

    convs = [torch.nn.Conv2d(3, 4, 3) for _ in range(2)]
    params, buffers = stack_module_state(convs)
    x = torch.randn(2, 5, 3, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        alone = convs[0](x[0])
        base = copy.deepcopy(convs[0]).to("meta")
        stacked = vmap(lambda p, b, y: functional_call(base, (p, b), (y,)))(params, buffers, x)
    assert alone.dtype == torch.bfloat16 and stacked.dtype == torch.float32


def test_batched_networks_start_bitwise_as_alone_and_sample_alike():
    """The stack of seeds {2, 3} unstacked again: seed 3's G and D and its iteration-0 samples
    are bitwise those of seed 3 built alone."""
    from ssgan.training import stacked
    from ssgan.training.loop import Run

    cfgs = [resolved("ssgan", s, "sastm.init=balanced") for s in (2, 3)]
    runs = [stacked.SeedRun(c, "unused") for c in cfgs]
    for r in runs:
        r.build()
    stack = stacked.Stack(runs)
    stack.pull()
    lone = Run(cfgs[1], "unused")
    lone.build()
    for mine, theirs in ((runs[1].m.G, lone.m.G), (runs[1].m.D, lone.m.D)):
        ref = theirs.state_dict()
        assert all(torch.equal(v, ref[k]) for k, v in mine.state_dict().items())
    with torch.no_grad():
        z = lone.sample_z
        stacked = stack.g(stack.gp, torch.stack([runs[0].sample_z, z]))[1]
        assert torch.equal(runs[1].sample_z, z)
        torch.testing.assert_close(stacked, lone.m.G(z), rtol=1e-4, atol=1e-5)


def test_seeds_of_a_batch_never_interact(tmp_path):
    """Seed 0 trained with {1, 2} and with {3, 4} logs the same losses."""
    from ssgan.training import batch

    for others in ((1, 2), (3, 4)):
        cfgs = [resolved("wgan_gp", s, "train.iterations=3") for s in (0, *others)]
        outs = [tmp_path / str(others) / f"seed{c['seed']}" for c in cfgs]
        assert batch.train_batch(cfgs, outs) == [0, 0, 0]
    same_losses(tmp_path / "(1, 2)" / "seed0", tmp_path / "(3, 4)" / "seed0")


def test_a_stacked_seed_records_its_attempt_as_a_lone_run_does(tmp_path, monkeypatch):
    """Each seed's run.json of a stacked batch records the SLURM job and the attempt count,
    as a lone run's does (Run.mark_running, shared)."""
    from ssgan.training import batch

    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    cfgs = [resolved("wgan_gp", s, "train.iterations=2", "train.cuda_graph=false") for s in (0, 1)]
    outs = [tmp_path / f"seed{s}" for s in (0, 1)]
    assert batch.train_batch(cfgs, outs) == [0, 0]
    for out in outs:
        record = json.loads((out / "run.json").read_text())
        assert record["slurm_job_ids"] == ["4242"] and record["attempts"] == 1
        assert record["execution"]["batched"] is True


def test_a_nan_in_one_seed_marks_it_diverged_and_the_others_finish(tmp_path):
    from ssgan.training import batch

    cfgs = [resolved("wgan_gp", 0), resolved("wgan_gp", 1, "debug.nan_at=2")]
    outs = [tmp_path / "seed0", tmp_path / "seed1"]
    assert batch.train_batch(cfgs, outs) == [0, EXIT_DIVERGED]
    a, b = (json.loads((p / "run.json").read_text()) for p in outs)
    assert a["status"] == "completed" and a["iteration"] == 6
    assert b["status"] == "diverged" and b["diverged_at"] == 2
    assert not (outs[1] / "generator.pt").exists() and (outs[0] / "generator.pt").exists()


def test_sigterm_checkpoints_every_seed_and_a_rerun_resumes_bitwise(tmp_path, monkeypatch):
    """SIGTERM at iteration 2 of 6: every seed's checkpoint, status preempted; the rerun
    restacks the seeds' checkpoints and ends bitwise equal to an uninterrupted batch."""

    from ssgan.training import batch, stacked

    cfgs = [resolved("ssgan", s) for s in (0, 1)]
    whole = [tmp_path / "whole" / f"seed{s}" for s in (0, 1)]
    assert batch.train_batch(cfgs, whole) == [0, 0]
    step = sigterm_at(monkeypatch, 2)
    outs = [tmp_path / "cut" / f"seed{s}" for s in (0, 1)]
    assert batch.train_batch(cfgs, outs) == [EXIT_PREEMPTED, EXIT_PREEMPTED]
    for p in outs:
        record = json.loads((p / "run.json").read_text())
        assert record["status"] == "preempted" and record["iteration"] == 2
        assert any((p / "checkpoints").iterdir())
    monkeypatch.setattr(stacked.Stack, "iteration", step)
    assert batch.train_batch(cfgs, outs) == [0, 0]
    for a, b in zip(whole, outs):
        record = json.loads((b / "run.json").read_text())
        assert record["status"] == "completed" and record["attempts"] == 2
        assert "resumed" in [e["kind"] for e in record["events"]]
        for name in ("generator.pt", "critic.pt"):
            assert sha(a / name) == sha(b / name), name
        assert [{k: v for k, v in r.items() if k != "seconds"} for r in log(a)] == [
            {k: v for k, v in r.items() if k != "seconds"} for r in log(b)
        ]


def sigterm_at(monkeypatch, n: int):
    """SIGTERM to this process during the n-th stacked iteration; returns the real one."""
    from ssgan.training import stacked

    step, calls = stacked.Stack.iteration, []

    def interrupted(self):
        calls.append(1)
        if len(calls) == n:
            os.kill(os.getpid(), signal.SIGTERM)
        return step(self)

    monkeypatch.setattr(stacked.Stack, "iteration", interrupted)
    return step


def same_run(a, b) -> None:
    for name in ("generator.pt", "critic.pt"):
        assert sha(a / name) == sha(b / name), name
    drop = ("seconds",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in log(a)] == [
        {k: v for k, v in r.items() if k not in drop} for r in log(b)
    ]


@pytest.mark.parametrize("capture_fails", [False, True])
def test_the_stacked_iteration_follows_the_graph_schedule(capture_fails, tmp_path, monkeypatch):
    """With graphs on (the stand-in graph above): the warm-up iterations, one capture, replays
    from then on, and a SIGTERM at iteration 2 plus a rerun (a new stack: warm-up and capture
    again) end bitwise where an eager batch ends; run.json says how it ran. A capture that
    fails trains eagerly from there, with the reason recorded, and ends in the same place."""
    from ssgan.training import batch, stacked
    from ssgan.training import step as S

    cfgs = [resolved("ssgan", s, "train.iterations=8", "train.checkpoint_every=4") for s in (0, 1)]
    eager = [tmp_path / "eager" / f"seed{s}" for s in (0, 1)]
    assert batch.train_batch(cfgs, eager) == [0, 0]
    schedule, made = [], []

    def capture(self, iteration):
        if capture_fails:
            raise RuntimeError("operation not permitted when stream is capturing\nmore")
        self._graph = ReplayOnCPU(self, iteration)
        self._fingerprint = self.fingerprint()
        self.captures += 1
        schedule.append(iteration)

    monkeypatch.setattr(stacked, "use_graph", lambda setting, device: True)
    # Capturable Adam steps on CUDA only, and a tensor lr rounds differently from the eager
    # batch's float (tests/test_step.py checks tensor lrs): here the optimizers stay as built.
    monkeypatch.setattr(S, "make_capturable", lambda opt, device: made.append(opt))
    monkeypatch.setattr(stacked.StackedStep, "_capture", capture)
    whole = [tmp_path / "graph" / f"seed{s}" for s in (0, 1)]
    assert batch.train_batch(cfgs, whole) == [0, 0]
    assert len(made) == 2  # the stacked critic's and generator's Adams are made capturable
    for a, b in zip(eager, whole):
        same_run(a, b)
    ex = json.loads((whole[1] / "run.json").read_text())["execution"]
    if capture_fails:
        assert schedule == [] and ex["cuda_graph"] is False and ex["graph_captures"] == 0
        assert ex["graph_error"] == "RuntimeError: operation not permitted when stream is capturing"
    else:
        assert schedule == [S.GRAPH_WARMUP + 1], schedule  # probes and samples in place
        assert ex["cuda_graph"] is True and ex["graph_captures"] == 1 and not ex["graph_error"]
    step = sigterm_at(monkeypatch, 2)
    cut = [tmp_path / "cut" / f"seed{s}" for s in (0, 1)]
    assert batch.train_batch(cfgs, cut) == [EXIT_PREEMPTED, EXIT_PREEMPTED]
    monkeypatch.setattr(stacked.Stack, "iteration", step)
    assert batch.train_batch(cfgs, cut) == [0, 0]
    for a, b in zip(eager, cut):
        same_run(a, b)


def test_a_stacked_step_captures_again_after_a_storage_change(monkeypatch):
    """A replaced stacked optimizer state (or any stacked tensor's storage) makes the next
    iteration capture again instead of replaying a graph that writes the old storage."""
    from ssgan.training import stacked
    from ssgan.training import step as S

    monkeypatch.setattr(S, "make_capturable", lambda opt, device: None)
    runs = [stacked.SeedRun(resolved("wgan_gp", s), "unused") for s in (0, 1)]
    for r in runs:
        r.build()
    step, captured = stacked.StackedStep(stacked.Stack(runs), "cpu", graph=True), []

    def capture(iteration):
        step._graph = ReplayOnCPU(step, iteration)
        step._fingerprint = step.fingerprint()
        step.captures += 1
        captured.append(iteration)

    monkeypatch.setattr(step, "_capture", capture)
    for it in range(1, 7):
        step(it)
    assert captured == [S.GRAPH_WARMUP + 1] and step._graph.replays == 6 - S.GRAPH_WARMUP
    weight = next(iter(step.stack.dp.values()))
    state = step.stack.opt_D.state[weight]
    state["exp_avg"] = state["exp_avg"].clone()
    step(7)
    assert captured == [S.GRAPH_WARMUP + 1, 7] and step.captures == 2
    step(8)
    assert captured == [S.GRAPH_WARMUP + 1, 7] and step._graph.replays == 2


@pytest.mark.parametrize(
    ("method", "extra", "words"),
    [
        ("sn_gan", (), "method 'sn_gan' is not batched"),
        ("stu_gan", (), "method 'stu_gan' is not batched"),
        ("wgan_gp", ("train.ema_decay=0.9",), "train.ema_decay (an EMA of G) is not batched"),
        ("ssgan", ("train.accumulate=2",), "train.accumulate > 1 is not batched"),
        ("wgan_gp", ("train.precision=bf16",), "train.precision bf16 is not batched"),
    ],
)
def test_what_is_not_batched_is_refused_in_one_line(method, extra, words):
    from ssgan.training import stacked

    why = stacked.refusal(resolved(method, 0, *extra))
    assert why.startswith(words) and "\n" not in why
    assert stacked.refusal(resolved("ssgan", 0, "sastm.gate=sigmoid")) is None
    assert stacked.refusal(resolved("ssgan", 0, "train.precision=tf32")) is None
