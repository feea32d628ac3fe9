"""The quick start's helpers: the ETA read from Snakemake's output (scripts/snakemake_eta.py,
on a fake log with known times) and the closing leaderboard and verdicts
(scripts/print_tables.py, on the synthetic results' tables)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from ssgan.cli import main
from tests.conftest import wall_limit
from tests.synthetic_results import write_synthetic

REPO = Path(__file__).resolve().parents[1]


def script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


JOB_STATS = """Building DAG of jobs...
Job stats:
job          count
---------  -------
train            2
fid              2
aggregate        1
all              1
total            6

"""


def job(rule: str, jobid: int) -> str:
    return f"[Fri Dec  4 10:00:00 2026]\nrule {rule}:\n    output: x\n    jobid: {jobid}\n"


def finished(rule: str, jobid: int, done: int) -> str:
    return (
        f"[Fri Dec  4 10:00:00 2026]\nFinished jobid: {jobid} (Rule: {rule})\n"
        f"{done} of 6 steps ({round(100 * done / 6)}%) done\n"
    )


def feed(eta, text: str, now: float) -> list[str]:
    return [out for line in text.splitlines(keepends=True) for out in eta.feed(line, now)]


def test_eta_estimates_up_front_and_from_measured_job_times():
    m = script("snakemake_eta")
    m.PRIOR_SECONDS.update(train=45, fid=40, aggregate=10)
    eta = m.ETA(cores=2, start=0.0)
    first = feed(eta, JOB_STATS, 0.0)
    # (2 x 45 + 2 x 40 + 10) job-seconds over 2 cores
    assert first == [
        "== 5 jobs; estimated about 1m30s on 2 cores (re-estimated from measured job times as "
        "they finish)"
    ]
    assert feed(eta, job("train", 1) + job("train", 2), 0.0) == []
    # one training took 100 s: the other one is expected to take as long, parallelism 1
    assert feed(eta, finished("train", 1, 1), 100.0) == [
        "== 1/6 jobs, elapsed 1m40s, about 3m10s left"  # 100 + 2 x 40 + 10 = 190 s at 1 core
    ]
    # the second one ends at 120 s (120 s long): 220 job-seconds in 120 s -> parallelism 1.83
    line = feed(eta, finished("train", 2, 2), 120.0)[0]
    assert line == "== 2/6 jobs, elapsed 2m00s, about 0m49s left"  # (2 x 40 + 10) / (220 / 120)
    text = job("fid", 3) + job("fid", 4) + finished("fid", 3, 3) + finished("fid", 4, 4)
    text += job("aggregate", 5) + finished("aggregate", 5, 5) + finished("all", 6, 6)
    assert feed(eta, text, 200.0)[-1] == "== 6/6 jobs, elapsed 3m20s, 0m00s left"
    assert m.hms(3725) == "1h02m05s"


def test_eta_passes_snakemakes_output_through():
    text = JOB_STATS + job("train", 1) + finished("train", 1, 1)
    out = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "snakemake_eta.py"), "--cores", "2"],
        input=text,
        capture_output=True,
        text=True,
        timeout=wall_limit(60),
    )
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert [x for x in lines if not x.startswith("== ")] == text.splitlines()
    assert sum(x.startswith("== ") for x in lines) == 2


def test_print_tables_prints_the_leaderboard_and_the_verdicts(tmp_path, capsys):
    root = write_synthetic(tmp_path / "results")
    assert main(["aggregate", "--results", str(root), "--bootstrap", "200"]) == 0
    capsys.readouterr()
    m = script("print_tables")
    assert m.main([str(root / "tables")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Leaderboard (FID, lower is better")
    assert "Relative FID reduction" in out and "Claims:" in out
    lines = out.splitlines()
    # the synthetic results' known answers, each verdict as the tables give it (Fashion-MNIST's
    # clear reduction is not "holds": the treatment's divergence on MNIST counts against it)
    assert "  ssgan vs wgan_gp, Fashion-MNIST: r = 19.9% [19.2%, 20.6%], n=8: inconclusive" in lines
    assert "  ssgan_sigmoid vs wgan_gp, Fashion-MNIST: r = -10.1% [-10.8%, -9.4%], n=8: does not hold" in lines  # fmt: skip
    assert "     1. Self-Sparse GAN                 26.84 ± 1.96    n=8" in lines
    assert "  ssgan vs wgan_gp C2 MNIST: inconclusive" in lines
    assert m.main([str(tmp_path / "none")]) == 1
    assert "no leaderboard.csv" in capsys.readouterr().err


def test_demo_images_strip_each_method_and_name_a_missing_grid(tmp_path):
    """scripts/demo_images.py: one labelled grey strip per method from the runs' own sample
    grids (seed 0 at 500, 1000, 2000; seed 1 at 2000), the grids pasted unchanged; a missing
    grid is a one-line exit naming it."""
    import pytest
    from PIL import Image

    demo = script("demo_images")
    runs = tmp_path / "results" / "runs" / "mnist"
    for method, shade in (("ssgan", 40), ("wgan_gp", 200)):
        for seed, it in demo.PANELS:
            d = runs / method / f"seed{seed}" / "samples"
            d.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (20, 20), (shade + 7 * seed + it // 500, 0, 0)).save(
                d / f"iter_{it:08d}.png"
            )
    demo.main(["--results", str(tmp_path / "results"), "--out", str(tmp_path / "docs")])
    for method, shade in (("ssgan", 40), ("wgan_gp", 200)):
        im = Image.open(tmp_path / "docs" / f"samples_{method}.png")
        assert im.mode == "L" and im.size == (4 * 20 + 3 * demo.GAP, 20 + demo.LABEL_HEIGHT)
        for k, (seed, it) in enumerate(demo.PANELS):  # each panel is its own grid, in order
            x = k * (20 + demo.GAP) + 10
            red = (shade + 7 * seed + it // 500, 0, 0)
            grey = Image.new("RGB", (1, 1), red).convert("L").getpixel((0, 0))
            assert im.getpixel((x, demo.LABEL_HEIGHT + 10)) == grey
    (runs / "ssgan" / "seed1" / "samples" / "iter_00002000.png").unlink()
    with pytest.raises(SystemExit, match="seed1/samples/iter_00002000.png: missing"):
        demo.main(["--results", str(tmp_path / "results"), "--out", str(tmp_path / "docs")])
