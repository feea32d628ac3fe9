"""One GPU per local job (ssgan/training/gpu_slots.py), on the CPU with a faked GPU count: jobs in
separate processes get different GPUs, a training shares a GPU only up to SSGAN_RUNS_PER_GPU, an
FID job takes a whole GPU, and a killed job's slot is free again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from ssgan.training import gpu_slots

HOLDER = """
import json, sys, time
from ssgan.training import gpu_slots
device, slot = gpu_slots.claim("auto", whole={whole}, gpus={gpus})
print(json.dumps({{"device": str(device), "slot": slot}}), flush=True)
time.sleep(600)
"""


def _hold(tmp_path, gpus, whole=False, per_gpu=1):
    env = {**os.environ, "SSGAN_GPU_LOCK_DIR": str(tmp_path), "SSGAN_RUNS_PER_GPU": str(per_gpu)}
    code = HOLDER.format(whole=whole, gpus=gpus)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env
    )
    return proc, json.loads(proc.stdout.readline())


def _stop(*procs):
    for p in procs:
        p.send_signal(signal.SIGKILL)
        p.wait()


def test_jobs_get_their_own_gpu_and_a_killed_jobs_slot_is_free_again(tmp_path):
    a, got_a = _hold(tmp_path, gpus=3)
    b, got_b = _hold(tmp_path, gpus=3)
    c, got_c = _hold(tmp_path, gpus=3)
    try:
        assert [g["device"] for g in (got_a, got_b, got_c)] == ["cuda:0", "cuda:1", "cuda:2"]
        assert got_b["slot"] == {"gpu": 1, "slots": [0], "of": 1, "lock_dir": str(tmp_path)}
        _stop(b)  # crashed: the kernel drops its lock
        d, got_d = _hold(tmp_path, gpus=3)
        assert got_d["device"] == "cuda:1"
        _stop(d)
    finally:
        _stop(a, c)


def test_runs_per_gpu_fill_gpus_evenly_and_fid_takes_a_whole_gpu(tmp_path):
    t1, g1 = _hold(tmp_path, gpus=2, per_gpu=2)
    t2, g2 = _hold(tmp_path, gpus=2, per_gpu=2)
    t3, g3 = _hold(tmp_path, gpus=2, per_gpu=2)
    try:  # slot 0 of each GPU first, then slot 1: the first two trainings do not share
        assert [g["device"] for g in (g1, g2, g3)] == ["cuda:0", "cuda:1", "cuda:0"]
        assert g3["slot"]["slots"] == [1]
        _stop(t2)
        f, gf = _hold(tmp_path, gpus=2, per_gpu=2, whole=True)  # GPU 1 is whole again
        assert gf["device"] == "cuda:1" and gf["slot"]["slots"] == [0, 1]
        _stop(f)
    finally:
        _stop(t1, t3)


def test_a_job_waits_while_every_slot_is_taken(tmp_path, monkeypatch, capsys):
    a, _ = _hold(tmp_path, gpus=2)
    b, _ = _hold(tmp_path, gpus=2)
    monkeypatch.setenv("SSGAN_GPU_LOCK_DIR", str(tmp_path))
    monkeypatch.setattr(gpu_slots, "POLL_SECONDS", 0.05)
    calls = []
    real_take = gpu_slots._take

    def take(*args):
        calls.append(1)
        if len(calls) == 3:
            _stop(a)  # a job ends while this one waits
        return real_take(*args)

    monkeypatch.setattr(gpu_slots, "_take", take)
    try:
        device, slot = gpu_slots.claim("auto", gpus=2)
        assert device == torch.device("cuda", 0) and slot["gpu"] == 0 and len(calls) >= 3
        err = capsys.readouterr().err
        assert err.count("waiting for a GPU slot") == 1 and str(tmp_path) in err
    finally:
        for f in gpu_slots._HELD:
            f.close()
        gpu_slots._HELD.clear()
        _stop(b)


def test_one_gpu_or_an_explicit_index_locks_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("SSGAN_GPU_LOCK_DIR", str(tmp_path / "locks"))
    assert gpu_slots.claim("cpu", gpus=4) == (torch.device("cpu"), None)
    assert gpu_slots.claim("auto", gpus=1) == (torch.device("cpu"), None)
    assert gpu_slots.claim("auto", gpus=0) == (torch.device("cpu"), None)
    assert not (tmp_path / "locks").exists()
    monkeypatch.setenv("SSGAN_RUNS_PER_GPU", "0")
    with pytest.raises(
        ValueError, match=r"SSGAN_RUNS_PER_GPU must be a positive integer .*got '0'"
    ):
        gpu_slots.runs_per_gpu()


def test_the_run_record_names_the_slot(tmp_path):
    """A CPU run records gpu_slot null in run.json's execution; the key is always there."""
    from ssgan.training.loop import train
    from tests.test_train import tiny_cfg

    assert train(tiny_cfg("wgan_gp", **{"train.iterations": 2}), tmp_path / "r") == 0
    record = json.loads((tmp_path / "r" / "run.json").read_text())
    assert "gpu_slot" in record["execution"] and record["execution"]["gpu_slot"] is None


def test_the_workflow_passes_runs_per_gpu_to_every_gpu_job(tmp_path):
    """resources.train.runs_per_gpu reaches the training, FID and real-statistics jobs as
    SSGAN_RUNS_PER_GPU (a resource, not a param: changing it reruns nothing)."""
    import yaml

    from tests.conftest import snakemake, tiny_suite

    path = tiny_suite(tmp_path)
    suite = yaml.safe_load(path.read_text())
    suite["resources"]["train"]["runs_per_gpu"] = 3
    path.write_text(yaml.safe_dump(suite))
    proc = snakemake("-n", "-p", "--configfile", str(path))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-2000:]
    shells = [line for line in proc.stdout.splitlines() if " ssgan " in line]
    for command in ("train", "fid", "real-stats"):
        mine = [line for line in shells if f" ssgan {command} " in line]
        assert mine and all("SSGAN_RUNS_PER_GPU=3 " in line for line in mine), command


def _train_on_two_gpus(tmp_path, monkeypatch, capsys, lock_dir, per_gpu) -> str:
    """``ssgan train`` with device auto on two (faked) GPUs: its one-line error; no run folder."""
    from ssgan.cli import main
    from tests.conftest import TINY

    monkeypatch.setenv("SSGAN_GPU_LOCK_DIR", str(lock_dir))
    monkeypatch.setenv("SSGAN_RUNS_PER_GPU", per_gpu)
    monkeypatch.setattr(gpu_slots.torch.cuda, "device_count", lambda: 2)
    argv = ["train", "--dataset", "mnist", "--method", "wgan_gp", "--seed", "0"]
    capsys.readouterr()
    assert main([*argv, "--out", str(tmp_path / "run"), *TINY, "train.device=auto"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()
    return err


@pytest.mark.parametrize("value", ["two", "0", "-1", "1.5", ""])
def test_a_bad_runs_per_gpu_is_one_line_before_training(tmp_path, monkeypatch, capsys, value):
    """A non-numeric or non-positive SSGAN_RUNS_PER_GPU stops ``ssgan train`` with one line,
    before any folder is made."""
    err = _train_on_two_gpus(tmp_path, monkeypatch, capsys, tmp_path / "locks", value)
    assert "SSGAN_RUNS_PER_GPU must be a positive integer" in err and repr(value) in err


def test_an_unusable_lock_folder_is_one_line_before_training(tmp_path, monkeypatch, capsys):
    (tmp_path / "a_file").write_text("")
    locks = tmp_path / "a_file" / "locks"
    err = _train_on_two_gpus(tmp_path, monkeypatch, capsys, locks, "1")
    assert f"GPU slot lock folder {locks} (SSGAN_GPU_LOCK_DIR) is not a writable folder" in err
    with pytest.raises(gpu_slots.ConfigError, match="not a writable folder"):
        gpu_slots.claim("cuda", whole=True, gpus=3)  # an FID job's whole GPU: the same line
