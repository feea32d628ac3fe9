"""``ssgan train --seeds`` (ssgan/training/seed_batch.py): its input checks, the dispatch to the
batched trainer or, where that refuses a config or is absent, to lone runs one after another,
whose run directories equal lone runs' (the workflow's layout, the same weights), and the one
exit code of a batch."""

from __future__ import annotations

import hashlib
import json
import sys
import types

import pytest
import torch

from ssgan.cli import main
from ssgan.training import gpu_slots, seed_batch
from ssgan.training.loop import EXIT_DIVERGED, EXIT_PREEMPTED
from tests.conftest import TINY

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
    """A config the batched trainer refuses: --seeds 0,1 trains seed 0, then seed 1, into
    OUT/seed0 and OUT/seed1: each the run of `--seed s` alone, file for file (weights
    byte-identical, the same config hash), and the reason is printed once."""
    from ssgan.training import batch

    monkeypatch.setitem(batch.REFUSED, "wgan_gp", "refused here to test the fallback")
    out = tmp_path / "runs" / "mnist" / "wgan_gp"
    assert main([*CELL, "--seeds", "0,1", "--out", str(out), *TINY]) == 0
    err = capsys.readouterr().err
    assert err.count("trained one after another: refused here to test the fallback") == 1
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
