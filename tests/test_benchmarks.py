"""benchmarks/train_step.py end to end on the CPU (tiny settings: real MNIST files, real training
steps, the user's loop, two packed copies), and the GPU-hours estimate on a hand-made CSV."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, wall_limit

sys.path.insert(0, str(REPO / "benchmarks"))  # the scripts import each other from there
import summarise  # noqa: E402


def train_step_rows(tmp_path, args: str) -> list[dict]:
    """The rows benchmarks/train_step.py writes with ``args`` on 64 MNIST images."""
    out = tmp_path / "cpu.csv"
    args += f" --max-images 64 --user-workers 1 --out {out}"
    env = {**os.environ, "SSGAN_CACHE_DIR": str(tmp_path / "cache")}  # the prepared MNIST slice
    subprocess.run(
        [sys.executable, "benchmarks/train_step.py", *args.split()],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        timeout=wall_limit(600),
    )
    with open(out, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow  # 40-95 s on the shared 2-core machine (8 builds, 2 packed processes)
def test_train_step_benchmark_rows_on_cpu(tmp_path):
    args = "--device cpu --mode eager,graph --precision fp32,bf16 --methods wgan_gp,ssgan"
    args += " --widths 8 --resolutions 32 --batch 8 --iters 2 --warmup 5 --runs-per-gpu 1,2"
    rows = train_step_rows(tmp_path, args)
    graph = [r for r in rows if r["mode"] == "graph"]
    assert {(r["method"], r["precision"]) for r in graph} == {
        (m, p) for m in ("wgan_gp", "ssgan") for p in ("fp32", "bf16")
    }
    assert all(r["note"] == "skipped: needs CUDA" and r["iters_per_sec"] == "" for r in graph)
    measured = [r for r in rows if r["mode"] == "eager"]
    assert len(measured) == 4 + 1 + 8  # 4 settings alone, the user loop, 4 settings x 2 copies
    assert all(float(r["iters_per_sec"]) > 0 for r in measured)
    assert all(r["device"] == "cpu" and r["data"] == "mnist[:64]" for r in rows)
    (user,) = [r for r in rows if r["method"] == "user_loop"]
    assert (user["precision"], user["deterministic"], user["runs_per_gpu"]) == (
        "default",
        "false",
        "1",
    )
    for r in measured:
        speedup = float(r["aggregate_iters_per_sec"]) / float(user["iters_per_sec"])
        assert float(r["speedup_vs_user_loop"]) == pytest.approx(speedup, abs=2e-3)
    alone = {(r["method"], r["precision"]): r for r in measured if r["runs_per_gpu"] == "1"}
    for p in ("fp32", "bf16"):
        ratio = float(alone["wgan_gp", p]["sec_per_iter"]) / float(
            alone["ssgan", p]["sec_per_iter"]
        )
        assert float(alone["ssgan", p]["overhead_vs_wgan_gp"]) == pytest.approx(1 / ratio, rel=1e-2)
        assert alone["ssgan", p]["aggregate_iters_per_sec"] == alone["ssgan", p]["iters_per_sec"]
    for m in ("wgan_gp", "ssgan"):
        for p in ("fp32", "bf16"):
            copies = [
                r
                for r in measured
                if (r["method"], r["precision"], r["runs_per_gpu"]) == (m, p, "2")
            ]
            assert sorted(r["copy"] for r in copies) == ["0", "1"]
            total = sum(float(r["iters_per_sec"]) for r in copies)
            assert {r["aggregate_iters_per_sec"] for r in copies} == {
                copies[0]["aggregate_iters_per_sec"]
            }
            assert float(copies[0]["aggregate_iters_per_sec"]) == pytest.approx(total, abs=2e-3)
    # The README table of this CSV: graph estimates "not measured" on a CPU, eager ones computed.
    text = summarise.report([tmp_path / "cpu.csv"], REPO / "config" / "config.yaml")
    assert "skipped: needs CUDA" in text and "not measured" in text


def test_gpu_hours_of_the_paper_grid_from_a_hand_made_csv(tmp_path):
    path = tmp_path / "nvidia-h100.csv"
    base = {c: "" for c in summarise.COLUMNS}
    base.update(mode="graph", precision="fp32", deterministic="true", width=64, batch=64)
    base.update(runs_per_gpu=1, copy=0)
    measured = [  # method, resolution, aggregate it/s
        ("wgan_gp", 32, 100.0),
        ("wgan_gp", 64, 50.0),
        ("ssgan", 32, 80.0),
        ("wgan_gp", 48, None),  # a skipped row: no rate
    ]
    rows = [
        {**base, "method": m, "resolution": r, "aggregate_iters_per_sec": a or ""}
        for m, r, a in measured
    ]
    rows.append({**base, "method": "ssgan", "resolution": 64, "mode": "eager"})  # another mode
    rows[-1]["aggregate_iters_per_sec"] = 10.0
    rows.append({**base, "method": "ssgan", "resolution": 48, "runs_per_gpu": 2})  # packed
    rows[-1]["aggregate_iters_per_sec"] = 1.0
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=summarise.COLUMNS)
        w.writeheader()
        w.writerows(rows)
    (rows,) = summarise.read([path]).values()
    runs = summarise.suite_runs(REPO / "config" / "config.yaml")
    assert len(runs) == 154 and {r["iterations"] for r in runs} == {100000}
    est = summarise.gpu_hours(runs, summarise.rates(rows, summarise.ESTIMATE))
    # 3 datasets x 11 seeds at 32 px (MNIST, Fashion-MNIST, CIFAR-10), 3 x 11 at 64, 11 at 48 (STL-10)
    hours = {k[0] + str(k[2]): g["hours"] for k, g in est["groups"].items()}
    assert hours["wgan_gp32"] == pytest.approx(33 * 100000 / 100 / 3600)
    assert hours["wgan_gp64"] == pytest.approx(33 * 100000 / 50 / 3600)
    assert hours["ssgan32"] == pytest.approx(33 * 100000 / 80 / 3600)
    assert est["total"] == pytest.approx(3300000 * (1 / 100 + 1 / 50 + 1 / 80) / 3600)
    assert sorted(est["not_measured"]) == [
        ("ssgan", 64, 48, 64),
        ("ssgan", 64, 64, 64),
        ("wgan_gp", 64, 48, 64),
    ]
    packed = summarise.rates(rows, {**summarise.ESTIMATE, "runs_per_gpu": "2"})
    assert summarise.gpu_hours(runs, packed)["total"] == pytest.approx(1100000 / 1.0 / 3600)


def test_gpu_hours_from_seed_batch_rates():
    """A cell of 11 seeds with K 1, 2 and 8 measured trains as 8 + 2 + 1, each batch at its own
    aggregate rate; without batched rates (the default) every run is alone; a cell that no
    measured size fits is not measured, never guessed."""
    assert summarise.batches(11, {1: 1.0, 2: 1.0, 4: 1.0, 8: 1.0}) == [8, 2, 1]
    assert summarise.batches(11, {8: 1.0}) is None and summarise.batches(8, {8: 5.0}) == [8]
    cell = {"dataset": "mnist", "label": "ssgan", "method": "ssgan", "width": 64}
    cell.update(resolution=32, batch=64, iterations=1000)
    runs = [dict(cell) for _ in range(11)]
    base = {c: "" for c in summarise.COLUMNS}
    base.update(summarise.ESTIMATE, method="ssgan", width=64, resolution=32, batch=64, copy=0)
    rows = [
        {**base, "seed_batch": k, "aggregate_iters_per_sec": a}
        for k, a in ((1, 50.0), (2, 90.0), (8, 300.0), (16, 900.0))
    ]
    est = summarise.gpu_hours(runs, summarise.rates(rows, summarise.ESTIMATE, 8))
    (group,) = est["groups"].values()
    assert group["seed_batches"] == [8, 2, 1] and group["runs"] == 11
    assert est["total"] == pytest.approx((8000 / 300 + 2000 / 90 + 1000 / 50) / 3600)
    alone = summarise.gpu_hours(runs, summarise.rates(rows, summarise.ESTIMATE))
    assert alone["total"] == pytest.approx(11 * 1000 / 50 / 3600)
    only8 = summarise.gpu_hours(runs, summarise.rates(rows[2:3], summarise.ESTIMATE, 8))
    assert only8["not_measured"] == [("ssgan", 64, 32, 64)] and only8["total"] == 0


@pytest.mark.slow  # ~20-40 s on the shared 2-core machine (4 builds)
def test_train_step_seed_batch_rows_on_cpu(tmp_path):
    """K 1 is the run alone; K 2 runs as ``ssgan train --seeds`` would (stacked for WGAN-GP)
    and, asked for, in lockstep; SN-GAN, which the stacked trainer refuses, is measured once
    in lockstep whichever mode was asked."""
    args = "--device cpu --mode eager --methods wgan_gp,sn_gan --widths 8 --resolutions 32"
    args += " --batch 8 --iters 2 --warmup 5 --seed-batch 1,2 --batch-mode auto,lockstep"
    rows = train_step_rows(tmp_path, args)
    got = sorted((r["method"], r["seed_batch"], r["batch_mode"]) for r in rows)
    assert got == [
        ("sn_gan", "1", "lone"),
        ("sn_gan", "2", "lockstep"),
        ("user_loop", "1", "lone"),
        ("wgan_gp", "1", "lone"),
        ("wgan_gp", "2", "lockstep"),
        ("wgan_gp", "2", "stacked"),
    ]
    for r in rows:  # seed-iterations per second: K seeds per batch iteration
        k = int(r["seed_batch"])
        assert float(r["aggregate_iters_per_sec"]) == pytest.approx(
            k / float(r["sec_per_iter"]), rel=1e-3
        )
        if k == 2:
            assert float(r["aggregate_iters_per_sec"]) != float(r["iters_per_sec"])
    (lock,) = [r for r in rows if r["method"] == "sn_gan" and r["seed_batch"] == "2"]
    assert lock["overhead_vs_wgan_gp"] != ""  # against WGAN-GP's lockstep row
