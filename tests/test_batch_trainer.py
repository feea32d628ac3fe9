"""Seed batches (ssgan/training/batch.py): seeds trained in one process compute what they
compute alone, never interact, resume bitwise, stop on SIGTERM and diverge alone."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ssgan import config as C
from ssgan.errors import ConfigError
from ssgan.training import batch
from ssgan.training.batch import refusal, train_batch
from ssgan.training.loop import EXIT_DIVERGED, EXIT_PREEMPTED, train
from tests.conftest import REPO, wall_limit
from tests.test_train import _wait_for, rows, same_weights, tiny_cfg

LOGGED = ("probe_weights.csv", "probe_sparsity.csv", "probe_dead_units.csv", "weight_hist.csv")


@pytest.fixture(autouse=True)
def lockstep(monkeypatch):
    """These tests check the lockstep executor (bitwise the lone runs): the stacked network is
    tests/test_seed_batch.py's."""
    monkeypatch.setenv("SSGAN_SEED_BATCH", "lockstep")


def strip(path: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows(path)]


def same_run(a: Path, b: Path) -> None:
    """Bitwise the same training: weights, losses, probes and samples."""
    assert same_weights(a, b)
    assert strip(a / "train_log.csv") == strip(b / "train_log.csv")
    for name in LOGGED:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    samples = sorted(p.name for p in (a / "samples").iterdir())
    assert samples and samples == sorted(p.name for p in (b / "samples").iterdir())
    for name in samples:
        assert (a / "samples" / name).read_bytes() == (b / "samples" / name).read_bytes()


@pytest.mark.parametrize(
    ("method", "extra"),
    [("wgan_gp", {}), ("ssgan", {}), ("ssgan", {"sastm.position": "after_bn"})],
)
def test_seed_in_a_batch_trains_as_alone_and_seeds_never_interact(tmp_path, method, extra):
    cfgs = [tiny_cfg(method, seed=s, **extra) for s in (0, 1, 2)]
    outs = [tmp_path / "b" / f"seed{s}" for s in (0, 1, 2)]
    assert train_batch(cfgs, outs) == [0, 0, 0]
    assert train(tiny_cfg(method, seed=0, **extra), tmp_path / "alone0") == 0
    same_run(outs[0], tmp_path / "alone0")
    assert not same_weights(outs[0], outs[1])  # the seeds differ: the comparison can fail
    other = [tmp_path / "c" / f"seed{s}" for s in (0, 3)]
    assert train_batch([tiny_cfg(method, seed=s, **extra) for s in (0, 3)], other) == [0, 0]
    same_run(other[0], outs[0])
    for k, out in enumerate(outs):
        record = json.loads((out / "run.json").read_text())
        assert record["status"] == "completed" and record["seed"] == k
        assert record["config_hash"] == C.config_hash(cfgs[k])
        assert record["execution"]["seed_batch"] == [0, 1, 2]
        assert record["execution"]["batch_index"] == k and record["execution"]["batched"]
    alone = json.loads((tmp_path / "alone0" / "run.json").read_text())
    assert alone["config_hash"] == json.loads((outs[0] / "run.json").read_text())["config_hash"]
    assert "seed_batch" not in alone["execution"]
    # each seed's generator loads alone, weights only
    assert torch.load(outs[2] / "generator.pt", weights_only=True)


def test_nan_in_one_seed_marks_it_diverged_and_the_others_finish_as_alone(tmp_path):
    cfgs = [tiny_cfg("wgan_gp", seed=0), tiny_cfg("wgan_gp", seed=1, **{"debug.nan_at": 5})]
    outs = [tmp_path / "seed0", tmp_path / "seed1"]
    assert train_batch(cfgs, outs) == [0, EXIT_DIVERGED]
    record = json.loads((outs[1] / "run.json").read_text())
    assert record["status"] == "diverged" and record["diverged_at"] == 5
    assert train(tiny_cfg("wgan_gp", seed=0), tmp_path / "alone") == 0
    same_run(outs[0], tmp_path / "alone")
    # rerunning the batch keeps both: the completed one is not retrained, the diverged one not rerun
    before = (outs[0] / "generator.pt").stat().st_mtime_ns
    assert train_batch(cfgs, outs) == [0, EXIT_DIVERGED]
    assert (outs[0] / "generator.pt").stat().st_mtime_ns == before


def _start_batch(tmp_path: Path, name: str, iterations: int = 60):
    code = (
        "import sys; from pathlib import Path; from tests.test_train import tiny_cfg; "
        "from ssgan.training.batch import train_batch; "
        f"cfgs = [tiny_cfg('ssgan', seed=s, **{{'train.iterations': {iterations}, "
        "'train.checkpoint_every': 10}) for s in (0, 1)]; "
        f"sys.exit(max(train_batch(cfgs, [Path({str(tmp_path / name)!r}) / f'seed{{s}}' "
        "for s in (0, 1)])))"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def test_kill_and_resume_of_a_batch_is_bitwise(tmp_path):
    proc = _start_batch(tmp_path, "killed")
    _wait_for(tmp_path / "killed" / "seed1" / "checkpoints" / "ckpt_00000020.pt", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "killed" / "seed0" / "generator.pt").exists()
    assert _start_batch(tmp_path, "killed").wait() == 0  # the same command again resumes
    assert _start_batch(tmp_path, "ref").wait() == 0
    for s in (0, 1):
        record = json.loads((tmp_path / "killed" / f"seed{s}" / "run.json").read_text())
        assert record["status"] == "completed" and record["attempts"] == 2
        assert record["events"][0]["kind"] == "resumed"
        same_run(tmp_path / "killed" / f"seed{s}", tmp_path / "ref" / f"seed{s}")


def test_sigterm_writes_every_seeds_checkpoint(tmp_path):
    proc = _start_batch(tmp_path, "pre", iterations=400)
    _wait_for(tmp_path / "pre" / "seed1" / "checkpoints" / "ckpt_00000010.pt", proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=wall_limit(60)) == EXIT_PREEMPTED
    stopped = []
    for s in (0, 1):
        run = tmp_path / "pre" / f"seed{s}"
        record = json.loads((run / "run.json").read_text())
        assert record["status"] == "preempted"
        assert (run / "checkpoints" / f"ckpt_{record['iteration']:08d}.pt").is_file()
        stopped.append(record["iteration"])
    assert abs(stopped[0] - stopped[1]) <= 1 and stopped[0] < 400


def test_refusal_and_bad_batches():
    assert refusal(tiny_cfg("wgan_gp")) is None and refusal(tiny_cfg("ssgan")) is None
    assert "unknown method" in refusal({**tiny_cfg("wgan_gp"), "method": "nope"})
    batch.REFUSED["sr_gan"] = "per-seed SVD compensation is not batched yet"
    try:
        assert refusal(tiny_cfg("sr_gan")) == "per-seed SVD compensation is not batched yet"
        with pytest.raises(ConfigError, match="cannot be trained in a seed batch"):
            batch.check_batch([tiny_cfg("sr_gan")], [Path("x")])
    finally:
        del batch.REFUSED["sr_gan"]
    with pytest.raises(ConfigError, match="differ only in seed"):
        batch.check_batch(
            [tiny_cfg("wgan_gp"), tiny_cfg("wgan_gp", seed=1, **{"train.lr": 0.001})],
            [Path("a"), Path("b")],
        )
    with pytest.raises(ConfigError, match="seed twice"):
        batch.check_batch([tiny_cfg("wgan_gp")] * 2, [Path("a"), Path("b")])
    with pytest.raises(ConfigError, match="one --out per seed"):
        batch.check_batch([tiny_cfg("wgan_gp")], [Path("a"), Path("b")])


@pytest.mark.parametrize("method", ["sn_gan", "sr_gan", "stu_gan", "stu_sngan"])
def test_other_methods_batch_as_alone(tmp_path, method):
    """Their hooks (spectral norm, SVD compensation, masks and prune/regrow) are each seed's
    own: seed 1 in {0, 1} is its lone run, bitwise."""
    outs = [tmp_path / f"seed{s}" for s in (0, 1)]
    assert train_batch([tiny_cfg(method, seed=s) for s in (0, 1)], outs) == [0, 0]
    assert train(tiny_cfg(method, seed=1), tmp_path / "alone1") == 0
    same_run(outs[1], tmp_path / "alone1")
    assert not same_weights(outs[0], outs[1])


def test_a_batch_takes_one_gpu_slot(tmp_path, monkeypatch):
    """On a machine with several GPUs the batch's first seed takes a slot and the others run on
    its device (else K seeds would wait for K slots): claims counted with a faked slot."""
    from ssgan.training import gpu_slots

    asked = []

    def claim(name, whole=False, gpus=None):
        asked.append(name)
        return (
            (torch.device("cpu"), {"gpu": 0, "slot": 0})
            if name == "auto"
            else (torch.device(name), None)
        )

    monkeypatch.setattr(gpu_slots, "claim", claim)
    cfgs = [tiny_cfg("wgan_gp", seed=s, **{"train.iterations": 2}) for s in (0, 1, 2)]
    assert train_batch(cfgs, [tmp_path / f"seed{s}" for s in (0, 1, 2)]) == [0, 0, 0]
    assert asked == ["auto", "cpu", "cpu"]
    hashes = {
        json.loads((tmp_path / f"seed{s}" / "run.json").read_text())["config_hash"]
        for s in (0, 1, 2)
    }
    assert hashes == {C.config_hash(c) for c in cfgs} and len(hashes) == 3
