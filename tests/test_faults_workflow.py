"""Reliability of the Snakemake workflow under faults (docs/reliability.md): a workflow
killed with SIGKILL and its lock, preemption (SIGTERM) retried by Snakemake, a diverged run
among good ones, bad suite configs, bad data.

Each test runs the real Snakefile on a tiny suite config written to tmp_path, with its own
working directory (``--directory``: Snakemake's ``.snakemake/`` with its locks and
incomplete-job markers lives there, not in the repository, so ``--unlock`` here cannot touch
another workflow's lock) and the repository as the current directory (its workflow profile,
profiles/default, is used as by a user). Results are compared with one uninterrupted
``ssgan train`` of the same resolved config (tests/test_reliability.py's reference run).
"""

from __future__ import annotations

import copy
import csv
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from ssgan import io
from tests.conftest import DATA_ROOT, REPO, fault_rng, wall_limit
from tests.test_reliability import (
    assert_same_outputs,
    kinds,
    record,
    reference_run,
    suite_dict,
    write_yaml,
)

pytestmark = pytest.mark.slow
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
RUN = ("runs", "mnist", "ssgan", "seed0")


@pytest.fixture(scope="session")
def reference(tmp_path_factory) -> Path:
    return reference_run(tmp_path_factory)


def smk_cmd(workdir: Path, config: Path, *args: str) -> list[str]:
    # --configfile takes several values: it comes last, after the targets and the flags
    return [
        str(SNAKEMAKE),
        *args,
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(config),
    ]


def smk_env() -> dict:
    return {**os.environ, "PATH": f"{SNAKEMAKE.parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def snakemake(workdir: Path, config: Path, *args: str, timeout=600) -> subprocess.CompletedProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        smk_cmd(workdir, config, *args),
        cwd=REPO,
        env=smk_env(),
        capture_output=True,
        text=True,
        timeout=wall_limit(timeout),
    )


def start_snakemake(workdir: Path, config: Path, *args: str) -> subprocess.Popen:
    """In the background, as the leader of its own process group (so it can be killed whole,
    like a node that dies); output to files, so a full pipe never blocks it."""
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        smk_cmd(workdir, config, *args),
        cwd=REPO,
        env=smk_env(),
        start_new_session=True,
        stdout=open(workdir / "bg.out", "w"),
        stderr=open(workdir / "bg.err", "w"),
    )


def bg_log(workdir: Path) -> str:
    return (workdir / "bg.err").read_text()[-4000:]


def wait_for(path: Path, proc: subprocess.Popen, workdir: Path, timeout=300) -> None:
    t0, timeout = time.time(), wall_limit(timeout)
    while not path.exists():
        assert proc.poll() is None, (
            f"snakemake ended before {path.name} appeared:\n{bg_log(workdir)}"
        )
        assert time.time() - t0 < timeout, f"{path} did not appear"
        time.sleep(0.02)


def find_trainer(snakemake_pid: int, run_dir: Path, timeout=60) -> psutil.Process:
    """The `ssgan train` process of ``run_dir``: a descendant of snakemake (via the job's shell)."""
    t0, timeout = time.time(), wall_limit(timeout)
    while time.time() - t0 < timeout:
        for p in psutil.Process(snakemake_pid).children(recursive=True):
            try:
                cmd = p.cmdline()
            except psutil.Error:
                continue
            if "train" in cmd and str(run_dir) in cmd and any(c.endswith("ssgan") for c in cmd):
                return p
        time.sleep(0.05)
    raise AssertionError(f"no ssgan train process for {run_dir}")


def both(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout + proc.stderr


def suite(tmp_path: Path, **kwargs) -> Path:
    return write_yaml(tmp_path / "suite.yaml", suite_dict(tmp_path, **kwargs))


# ------------------------------------------------------------ 1 + 8. SIGKILL, lock, resume


def test_workflow_sigkill_lock_unlock_and_resume(tmp_path, reference):
    """While a workflow trains, a second invocation on the same folder is refused (its run is
    marked incomplete; forcing it hits the lock). Then the whole workflow is SIGKILLed (the
    process group: snakemake, the job's shell, ssgan train). What a user must do, checked
    step by step: a plain rerun refuses (incomplete run.json: use --rerun-incomplete), that
    refuses (stale lock: use --unlock), then --unlock and --rerun-incomplete finish the run;
    it resumes from the last checkpoint and ends bitwise equal to an uninterrupted run."""
    cfg, wd = suite(tmp_path), tmp_path / "wd"
    run_dir = tmp_path.joinpath("results", *RUN)
    target = str(run_dir / "run.json")
    first = start_snakemake(wd, cfg, target, "--cores", "1")
    wait_for(run_dir / "checkpoints" / "ckpt_00000030.pt", first, wd)
    trainer = find_trainer(first.pid, run_dir)
    trainer.suspend()  # hold the training (SIGSTOP) so the first workflow is surely still running
    try:
        second = snakemake(wd, cfg, target, "--cores", "1")
        assert second.returncode != 0 and "IncompleteFilesException" in both(second), both(second)[
            -3000:
        ]
        assert str(run_dir / "run.json") in both(second) and "--rerun-incomplete" in both(second)
        forced = snakemake(wd, cfg, target, "--cores", "1", "--rerun-incomplete")
        assert forced.returncode != 0 and "LockException" in both(forced), both(forced)[-3000:]
        assert "Directory cannot be locked" in both(forced) and "--unlock" in both(forced)
    finally:
        trainer.resume()
    assert first.poll() is None and trainer.is_running()  # the refused invocations changed nothing
    assert record(run_dir)["status"] == "running"

    time.sleep(fault_rng("kill moment").uniform(0.0, 0.5))  # then kill -9 the whole group
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    trainer.wait(timeout=wall_limit(30))  # gone with its group (psutil waits for non-children too)
    assert not (run_dir / "generator.pt").exists() and record(run_dir)["status"] == "running"

    plain = snakemake(wd, cfg, target, "--cores", "1")
    assert (
        plain.returncode != 0
        and "IncompleteFilesException" in both(plain)
        and "--rerun-incomplete" in both(plain)
    )
    rerun = snakemake(wd, cfg, target, "--cores", "1", "--rerun-incomplete")
    assert rerun.returncode != 0 and "LockException" in both(rerun) and "--unlock" in both(rerun)
    unlock = snakemake(wd, cfg, target, "--unlock")
    assert unlock.returncode == 0 and "Unlocked working directory" in both(unlock)
    rerun = snakemake(wd, cfg, target, "--cores", "1", "--rerun-incomplete")
    assert rerun.returncode == 0, both(rerun)[-3000:]

    rec = record(run_dir)
    assert rec["status"] == "completed"
    # Snakemake deleted run.json before rerunning the job; the copy beside the checkpoints
    # kept the history: two processes worked on the run, the second resumed.
    assert rec["attempts"] == 2, rec["attempts"]
    ((kind, at),) = kinds(run_dir)
    assert kind == "resumed" and at >= 30
    assert_same_outputs(run_dir, reference)


# ---------------------------------------------------------------- 2. preemption and retry


def test_workflow_sigterm_checkpoints_and_snakemake_retries(tmp_path, reference):
    """SIGTERM to the `ssgan train` process (as SLURM does before preemption): it writes a
    checkpoint and exits 75, the job fails, Snakemake's --retries 1 starts it again, and the
    retry resumes from that checkpoint; the result is bitwise the uninterrupted one."""
    cfg, wd = suite(tmp_path), tmp_path / "wd"
    run_dir = tmp_path.joinpath("results", *RUN)
    proc = start_snakemake(wd, cfg, str(run_dir / "run.json"), "--cores", "1", "--retries", "1")
    wait_for(run_dir / "checkpoints" / "ckpt_00000030.pt", proc, wd)
    trainer = find_trainer(proc.pid, run_dir)
    trainer.send_signal(signal.SIGTERM)
    trainer.wait(timeout=wall_limit(60))
    assert proc.wait(timeout=wall_limit(600)) == 0, bg_log(wd)
    assert "Trying to restart job" in (wd / "bg.err").read_text()
    rec = record(run_dir)
    assert rec["status"] == "completed" and rec["attempts"] == 2
    (k1, stopped), (k2, resumed) = kinds(run_dir)
    assert (k1, k2) == ("preempted", "resumed") and stopped == resumed >= 30
    assert_same_outputs(run_dir, reference)


# --------------------------------------------------------------------------- 4. divergence


def test_workflow_reports_a_diverged_run_and_goes_on(tmp_path, fid_cache, fid_weights):
    """One dataset's runs get NaN losses at iteration 3 (debug.nan_at in its entry). The
    workflow finishes; runs.csv lists that run as diverged (with its FID skipped) next to the
    completed run of the other dataset, which has its FID."""
    datasets = {"mnist": {}, "fashion_mnist": {"debug": {"nan_at": 3}}}
    cfg = suite(
        tmp_path,
        datasets=datasets,
        methods=("wgan_gp",),
        fid_cache=fid_cache,
        train={"iterations": 20},
        # the measures beside FID are not what this test is about: no classifier to train
        fid={"n_fake": 16, "n_real": 16, "batch_size": 16, "class_coverage": False},
    )
    results = tmp_path / "results"
    proc = snakemake(tmp_path / "wd", cfg, str(results / "tables" / "runs.csv"), "--cores", "1")
    assert proc.returncode == 0, both(proc)[-4000:]
    with open(results / "tables" / "runs.csv", newline="") as fh:
        rows = {r["dataset"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {"mnist", "fashion_mnist"}
    bad, good = rows["fashion_mnist"], rows["mnist"]
    assert (bad["status"], bad["diverged_at"], bad["fid_status"], bad["fid"]) == (
        "diverged",
        "3",
        "skipped",
        "",
    )
    assert "diverged" in bad["note"]
    assert (good["status"], good["fid_status"]) == ("completed", "ok") and math.isfinite(
        float(good["fid"])
    )
    run = results / "runs" / "fashion_mnist" / "wgan_gp" / "seed0"
    assert (
        io.read_json(run / "run.json")["status"] == "diverged"
        and not (run / "generator.pt").exists()
    )
    fid = io.read_json(run / "fid.json")
    assert fid["status"] == "skipped" and "diverged" in fid["reason"] and fid["fid"] is None


# ---------------------------------------------------------------------- 5. bad configs


def _set(d: dict, dotted: str, value) -> None:
    *parents, leaf = dotted.split(".")
    for p in parents:
        d = d.setdefault(p, {})
    d[leaf] = value


# name -> (changes to a good suite config, strings the error must contain)
BAD_CONFIGS = {
    "unknown_top_level_key": (
        {"resutls": "x"},
        ["unknown config key 'resutls' (did you mean 'results'?)"],
    ),
    "unknown_nested_key": (
        {"defaults.train.iteratons": 5},
        ["unknown config key 'train.iteratons'", "did you mean 'iterations'", "(in defaults)"],
    ),
    "dataset_entry_typo": (
        {"datasets.mnist": {"trian": {"iterations": 5}}},
        ["unknown config key 'trian'", "did you mean 'train'", "datasets.mnist"],
    ),
    "unknown_dataset": ({"datasets": {"mnsit": {}}}, ["unknown dataset 'mnsit'"]),
    "unknown_method": ({"methods": ["ssgan", "sgan"]}, ["unknown method 'sgan'"]),
    "negative_seed": ({"seeds": [-1]}, ["-1 is less than the minimum of 0", "['seeds']"]),
    "non_integer_seed": ({"seeds": [0.5]}, ["0.5 is not of type 'integer'", "['seeds']"]),
    "zero_iterations": (
        {"defaults.train.iterations": 0},
        ["'train.iterations' must be a positive integer, got 0"],
    ),
    "impossible_resolution": (
        {"defaults.data.resolution": 40},
        ["'data.resolution' must be 32, 48 or 64", "40"],
    ),
    "zero_n_fake": ({"defaults.fid.n_fake": 0}, ["'fid.n_fake' must be a positive integer, got 0"]),
    "negative_max_images": (
        {"defaults.data.max_images": -5},
        ["'data.max_images' must be a positive integer or null, got -5"],
    ),
    "missing_data_root": (
        {"data_root": "/nonexistent"},
        ["'data.root'", "'/nonexistent'", "not a directory"],
    ),
    "image_folder_without_path": (
        {"datasets.sketch": {"dataset": "image_folder"}},
        ["dataset 'sketch'", "image_folder", "'data.path'"],
    ),
    "image_folder_missing_path": (
        {"datasets.sketch": {"dataset": "image_folder", "data": {"path": "/no/such/sketches"}}},
        ["'data.path' of dataset 'sketch'", "/no/such/sketches", "does not exist"],
    ),
    "bad_sastm_gate": ({"defaults.sastm.gate": "tanh"}, ["'sastm.gate' must be one of", "'tanh'"]),
    "bad_resources_value": (
        {"resources.train.gpu": -1},
        ["-1 is less than the minimum of 0", "['gpu']"],
    ),
    "unknown_resources_key": ({"resources.train.gpus": 1}, ["'gpus' was unexpected"]),
    "empty_datasets": ({"datasets": {}}, ["{} should be non-empty", "['datasets']"]),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_config_stops_the_workflow_before_anything_is_written(tmp_path, case):
    changes, needles = BAD_CONFIGS[case]
    data = copy.deepcopy(suite_dict(tmp_path, train={"iterations": 5}))
    for key, value in changes.items():
        _set(data, key, value)
    cfg = write_yaml(tmp_path / "bad.yaml", data)
    results, figures = Path(data["results"]), Path(data["figures"])
    # The dry run and the real run at once (each is a parse, ~2-4 s). Snakemake 9 prints the
    # log of a dry run (errors included) on stdout, that of a real run on stderr.
    runs = [
        (
            args,
            stream,
            subprocess.Popen(
                smk_cmd(tmp_path / f"wd{i}", cfg, *args),
                cwd=REPO,
                env=smk_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
        for i, (args, stream) in enumerate(((["-n"], "stdout"), (["--cores", "1"], "stderr")))
    ]
    for args, stream, popen in runs:
        out, err = popen.communicate(timeout=wall_limit(300))
        proc = subprocess.CompletedProcess(popen.args, popen.returncode, out, err)
        text = getattr(proc, stream)
        assert proc.returncode != 0, f"{case} {args}: exit 0\n{both(proc)[-2000:]}"
        for needle in needles:
            assert needle in text, f"{case} {args}: {needle!r} not in {stream}:\n{text[-3000:]}"
        assert "Traceback" not in both(proc)
        assert not results.exists() and not figures.exists(), f"{case} {args}: wrote {results}"


# ---------------------------------------------------------------------- 6. bad data


def test_workflow_stops_at_prepare_data_on_a_truncated_file(tmp_path):
    """A config whose data root holds a truncated MNIST file parses (data are not read at
    parse time), and the first job, prepare_data, stops the workflow naming the file; no
    training starts."""
    root = tmp_path / "data" / "mnist"
    root.mkdir(parents=True)
    gz = (DATA_ROOT / "mnist" / "train-images-idx3-ubyte.gz").read_bytes()
    (root / "train-images-idx3-ubyte.gz").write_bytes(gz[:50_000])
    data = suite_dict(tmp_path)
    data["data_root"] = str(tmp_path / "data")
    cfg = write_yaml(tmp_path / "suite.yaml", data)
    proc = snakemake(tmp_path / "wd", cfg, "--cores", "1")
    assert proc.returncode != 0
    assert "Error in rule prepare_data" in proc.stderr, proc.stderr[-3000:]
    log = tmp_path / "results" / "logs" / "prepare_data" / "mnist.log"
    assert str(log) in proc.stderr
    text = log.read_text()
    assert f"cannot read {root / 'train-images-idx3-ubyte.gz'}" in text and "Traceback" not in text
    assert not (tmp_path / "results" / "runs").exists()
    assert not (tmp_path / "results" / "data" / "mnist.json").exists()
