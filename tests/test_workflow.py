"""The Snakemake workflow: job counts, the quick config end to end, reruns, and a real SLURM run."""

import csv
import json
import math
import re
import shutil
from pathlib import Path

import pytest

from ssgan.analysis.aggregate import TABLES
from ssgan.analysis.plots import FIGURES, FORMATS
from tests.conftest import job_counts, snakemake, tiny_suite
from tests.slurm_cluster import slurm_cluster_fixture


def read_csv(path: Path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def isolated(tmp_path: Path) -> list[str]:
    return ["--config", f"results={tmp_path / 'results'}", f"figures={tmp_path / 'figures'}"]


def test_dry_run_lists_the_full_paper_grid_without_data(tmp_path):
    proc = snakemake("-n", *isolated(tmp_path), env={"SSGAN_DATA_ROOT": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    counts = job_counts(proc.stdout)
    assert counts["train"] == 154 and counts["fid"] == 154  # 7 datasets x 2 methods x 11 seeds
    assert counts["prepare_data"] == 7 and counts["real_stats"] == 7
    assert counts["aggregate"] == counts["plot"] == 1


def test_runs_per_gpu_shares_local_gpu_slots(tmp_path):
    """resources.train.runs_per_gpu k: a training takes one local_gpu slot, FID and real
    statistics a whole GPU (k slots); a profile with fewer slots than k is refused by name."""
    extra = tmp_path / "rpg.yaml"
    extra.write_text("resources:\n  train: {gpu: 1, runs_per_gpu: 4}\n  fid: {gpu: 1}\n")
    args = ("-n", "--configfile", "config/config.yaml", str(extra), *isolated(tmp_path))
    env = {"SSGAN_DATA_ROOT": str(tmp_path)}
    proc = snakemake(*args, "--resources", "local_gpu=4", env=env)
    assert proc.returncode == 0, proc.stderr
    slots = {}
    for block in re.split(r"^(?=rule |localrule )", proc.stdout, flags=re.M):
        found = re.search(r"local_gpu=(\d+)", block)
        if found and block.startswith(("rule ", "localrule ")):
            slots.setdefault(block.split()[1].rstrip(":"), set()).add(int(found.group(1)))
    assert slots == {"train": {1}, "fid": {4}, "real_stats": {4}}
    proc = snakemake(*args, env=env)  # the profile's local_gpu=1
    assert proc.returncode != 0
    assert "needs 4 local_gpu slots" in proc.stderr + proc.stdout


def test_dry_run_quick_config(tmp_path):
    proc = snakemake("-n", "--configfile", "config/quick.yaml", *isolated(tmp_path))
    assert proc.returncode == 0, proc.stderr
    counts = job_counts(proc.stdout)
    # the quick config replaces the paper grid (it is not merged into it); 2 x 2 x 2 + the
    # ssgan_balanced_after_bn variant, stu_gan, sn_gan and sr_gan on MNIST seed 0
    assert counts["train"] == counts["fid"] == 12 and counts["prepare_data"] == 2


def test_dry_run_demo_config(tmp_path):
    """config/demo.yaml (MNIST at the paper's widths, both methods, 3 seeds): the plan only."""
    proc = snakemake("-n", "--configfile", "config/demo.yaml", *isolated(tmp_path))
    assert proc.returncode == 0, proc.stderr
    counts = job_counts(proc.stdout)
    assert counts["train"] == counts["fid"] == 6 and counts["prepare_data"] == 1
    from ssgan import config as C

    suite = C.load_yaml(Path(__file__).resolve().parents[1] / "config" / "demo.yaml")
    cfg = C.resolve("mnist", "ssgan", 2, suite)
    assert cfg["model"]["width"] == 64 and cfg["train"]["iterations"] == 600


def test_lint_is_clean():
    proc = snakemake("--lint")
    assert (
        proc.returncode == 0
        and "Congratulations, your workflow is in a good condition" in proc.stdout + proc.stderr
    )


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """The quick-start config, end to end (as `bash scripts/quickstart.sh` runs it)."""
    tmp = tmp_path_factory.mktemp("quick")
    args = ["--cores", "2", "--configfile", "config/quick.yaml", *isolated(tmp)]
    proc = snakemake(*args)
    assert proc.returncode == 0, proc.stderr[-5000:]
    return tmp, args


@pytest.mark.slow
def test_quick_config_end_to_end(quick):
    tmp, _ = quick
    results = tmp / "results"
    for name in TABLES:
        assert (results / "tables" / name).stat().st_size > 0, name
    for name in FIGURES:
        for fmt in FORMATS:
            assert (tmp / "figures" / f"{name}.{fmt}").stat().st_size > 1000, name
    rows = read_csv(results / "tables" / "runs.csv")
    assert sorted((r["dataset"], r["method"], r["seed"]) for r in rows) == sorted(
        [
            (d, m, str(s))
            for d in ("mnist", "fashion_mnist")
            for m in ("wgan_gp", "ssgan")
            for s in (0, 1)
        ]
        + [("mnist", m, "0") for m in ("ssgan_balanced_after_bn", "stu_gan", "sn_gan", "sr_gan")]
    )
    assert all(
        r["status"] == "completed" and math.isfinite(float(r["fid"])) and float(r["fid"]) > 0
        for r in rows
    )
    assert {r["n_fake"] for r in rows} == {"64"} and {r["n_real"] for r in rows} == {"256"}
    reds = read_csv(results / "tables" / "relative_fid_reduction.csv")
    assert sorted((r["comparison"], r["dataset"], r["n_pairs"]) for r in reds) == [
        ("sr_gan vs sn_gan", "mnist", "1"),
        ("ssgan vs wgan_gp", "fashion_mnist", "2"),
        ("ssgan vs wgan_gp", "mnist", "2"),
        ("ssgan_balanced_after_bn vs wgan_gp", "mnist", "1"),
        ("stu_gan vs wgan_gp", "mnist", "1"),
    ]
    red = {r["dataset"]: r for r in reds if r["comparison"] == "ssgan vs wgan_gp"}
    for r in red.values():  # r = mean over seeds of 1 - FID_ssgan / FID_wgan, from runs.csv itself
        fids = {
            (x["method"], x["seed"]): float(x["fid"]) for x in rows if x["dataset"] == r["dataset"]
        }
        expected = sum(1 - fids[("ssgan", s)] / fids[("wgan_gp", s)] for s in ("0", "1")) / 2
        assert float(r["r_mean"]) == pytest.approx(expected, rel=1e-9)
    board = read_csv(results / "tables" / "leaderboard.csv")
    mnist = [r for r in board if r["dataset"] == "mnist"]  # 6 methods, 1-2 seeds: descriptive
    assert len(mnist) == 6 and all(r["rank"] == "" for r in mnist)
    assert {r["ranking"] for r in mnist} == {"descriptive: a method has n < 5 runs"}
    assert all(r["note"].startswith("pipeline check, not evidence") for r in reds)
    # MNIST runs are evaluated in both BatchNorm modes (config/quick.yaml): fid.json's flat FID
    # is the eval-mode one, and the table's ratio is the mean per-seed batch/eval ratio
    modes = read_csv(results / "tables" / "fid_bn_modes.csv")
    assert [(r["dataset"], r["method"], r["n"]) for r in modes] == [
        ("mnist", "wgan_gp", "2"),
        ("mnist", "ssgan", "2"),
        ("mnist", "ssgan_balanced_after_bn", "1"),
    ]
    for r in modes:
        mine = [x for x in rows if (x["dataset"], x["method"]) == (r["dataset"], r["method"])]
        assert all(float(x["fid_eval"]) == float(x["fid"]) for x in mine)
        ratios = [math.log(float(x["fid_batch"]) / float(x["fid_eval"])) for x in mine]
        assert float(r["ratio_batch_eval"]) == pytest.approx(math.exp(sum(ratios) / len(ratios)))
    assert all(x["fid_batch"] == "" for x in rows if x["dataset"] == "fashion_mnist")
    claims = read_csv(results / "tables" / "claims.csv")
    assert {r["comparison"] for r in claims} == {
        "ssgan vs wgan_gp",
        "ssgan_balanced_after_bn vs wgan_gp",
        "stu_gan vs wgan_gp",
        "sr_gan vs sn_gan",
    }
    # STU-GAN: a sparse generator that explored (every 40 of its 160 iterations)
    stu = read_csv(results / "tables" / "stu_masks.csv")
    assert {r["method"] for r in stu} == {"stu_gan"}
    assert sorted({int(r["iteration"]) for r in stu}) == [0, 40, 80, 120]
    sparse = [r for r in stu if r["network"] == "G" and float(r["density"]) < 1]
    assert sparse and all(r["pruned"] == r["regrown"] for r in sparse)
    (stu_row,) = [x for x in rows if x["method"] == "stu_gan"]
    assert int(stu_row["params_active"]) < int(stu_row["params_generator"]) + int(
        stu_row["params_critic"]
    )
    (sr,) = [r for r in claims if r["comparison"] == "sr_gan vs sn_gan" and r["claim"] == "SR1"]
    assert sr["probe"] == "probe_spectrum_summary.csv" and sr["n"] == "1"
    spectra = read_csv(results / "tables" / "spectrum_summary.csv")
    assert {r["method"] for r in spectra} == {
        "wgan_gp",
        "ssgan",
        "ssgan_balanced_after_bn",
        "stu_gan",
        "sn_gan",
        "sr_gan",
    }
    variant = json.loads(
        (results / "runs/mnist/ssgan_balanced_after_bn/seed0/run.json").read_text()
    )
    sastm = variant["config"]["sastm"]
    assert (variant["method_kind"], sastm["init"], sastm["position"]) == (
        "ssgan",
        "balanced",
        "after_bn",
    )
    run = json.loads((results / "runs" / "mnist" / "ssgan" / "seed0" / "run.json").read_text())
    assert run["provenance"]["git"]["commit"] and run["config"]["model"]["width"] == 16
    fid = json.loads((results / "runs" / "mnist" / "ssgan" / "seed0" / "fid.json").read_text())
    assert (
        fid["status"] == "ok" and fid["real_stats_cache_hit"] is True
    )  # computed once by real_stats


@pytest.mark.slow
def test_report_contains_figures_and_tables(quick):
    tmp, args = quick
    report = tmp / "report.zip"
    proc = snakemake(*args, "--report", str(report))
    assert proc.returncode == 0, proc.stderr[-3000:]
    import zipfile

    names = zipfile.ZipFile(report).namelist()
    for name in FIGURES:
        assert any(n.endswith(f"{name}.png") for n in names), name
    assert any(n.endswith("relative_fid_reduction.csv") for n in names)
    assert any(n.endswith("claims.csv") for n in names)
    assert any(n.endswith("leaderboard.csv") for n in names)


@pytest.mark.slow
def test_rerun_does_nothing_and_deleting_one_run_reruns_only_it(quick):
    tmp, args = quick
    proc = snakemake(*args)
    assert proc.returncode == 0 and "Nothing to be done" in proc.stdout + proc.stderr
    runs = tmp / "results" / "runs"

    def records():
        return {
            p: p.stat().st_mtime_ns for p in runs.rglob("*.json") if "checkpoints" not in p.parts
        }

    before = records()
    shutil.rmtree(runs / "fashion_mnist" / "ssgan" / "seed1")
    dry = snakemake(*args, "-n")
    counts = job_counts(dry.stdout)
    assert (
        counts["train"] == counts["fid"] == 1
        and "real_stats" not in counts
        and "prepare_data" not in counts
    )
    assert "seed=1" in dry.stdout and "dataset=fashion_mnist" in dry.stdout
    proc = snakemake(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = records()
    changed = sorted(str(p.relative_to(runs)) for p in after if before.get(p) != after[p])
    assert changed == ["fashion_mnist/ssgan/seed1/fid.json", "fashion_mnist/ssgan/seed1/run.json"]


slurm_cluster = slurm_cluster_fixture(gpus=2)


def kinds(root: Path, methods=None) -> set[str]:
    """File kinds under a results folder: run files by name (iteration numbers and the
    dataset/method/seed path folded; only runs of ``methods`` if given), tables and figures by
    name."""
    out = set()
    for p in root.rglob("*"):
        rel = p.relative_to(root).parts
        if methods is not None and rel[0] == "runs" and len(rel) > 2 and rel[2] not in methods:
            continue
        if (
            not p.is_file()
            or rel[0] in ("logs", "cache")
            or "checkpoints" in rel
            or p.name.startswith(".")
        ):
            continue
        if rel[0] == "runs":
            rel = ("runs", "*", "*", "*", *rel[4:])
        elif rel[0] in ("data", "real_stats"):
            rel = (rel[0], "*.json")
        out.add(re.sub(r"\d{8}", "N", "/".join(rel)))
    return out


@pytest.mark.slow
@pytest.mark.slurm
def test_slurm_profile_runs_the_grid_under_slurm(tmp_path, slurm_cluster, quick):
    """One dataset, both methods, one seed with `--profile slurm` on a real SLURM cluster
    (two fake GPUs), overriding only what this test cluster needs."""
    suite = tiny_suite(tmp_path, gpu=1, fid={"checkpoints": [10]})
    proc = snakemake(
        "--profile",
        "slurm",
        "--configfile",
        str(suite),
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--retries",
        "0",
        "--latency-wait",
        "5",
        env=slurm_cluster["env"],
        timeout=900,
    )
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-5000:])
    results = tmp_path / "results"
    for method in ("wgan_gp", "ssgan"):
        run = json.loads((results / "runs" / "mnist" / method / "seed0" / "run.json").read_text())
        assert run["status"] == "completed"
        assert (
            len(run["slurm_job_ids"]) == 1 and run["slurm_job_ids"][0].isdigit()
        )  # ran as a SLURM job
        assert run["provenance"]["slurm_job_id"] == run["slurm_job_ids"][0]
    rows = read_csv(results / "tables" / "runs.csv")
    assert len(rows) == 2 and all(math.isfinite(float(r["fid"])) for r in rows)
    # the same kinds of outputs as the local run of the quick config
    local_tmp, _ = quick
    # (run files of the methods both ran: the quick config's other methods write their own)
    assert kinds(results) - {"suite_config.yaml"} == kinds(
        local_tmp / "results", methods=("wgan_gp", "ssgan")
    ) - {"suite_config.yaml"}
    assert kinds(tmp_path / "figures") == kinds(local_tmp / "figures")
