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
from tests.conftest import REPO, job_counts, snakemake, tiny_suite, trainings
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
    assert trainings(proc.stdout) == 154 and counts["fid"] == 154  # 7 x 2 methods x 11 seeds
    assert counts["prepare_data"] == 7 and counts["real_stats"] == 7
    assert counts["aggregate"] == counts["plot"] == 1
    # said up front, before the plan: which datasets are absent and where they were looked for
    warning = proc.stderr.split("warning: 7 dataset(s) of this grid absent", 1)[1]
    for name in ("mnist", "fashion_mnist", "cifar10", "stl10", "celeba_hq", "lsun_bedroom"):
        assert f"\n  {name}: split " in warning and f"not under {tmp_path};" in warning, name


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
            rule = block.split()[1].rstrip(":")
            rule = "train" if rule.startswith("train_seeds_") else rule  # a seed batch
            slots.setdefault(rule, set()).add(int(found.group(1)))
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


def test_dry_run_names_only_the_absent_dataset(tmp_path):
    """A grid of MNIST (its files under the data root) and CIFAR-10 (absent): the warning
    names CIFAR-10 alone; with data.download the files would be fetched, so no warning."""
    root = tmp_path / "data"
    (root / "mnist").mkdir(parents=True)
    (root / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"")
    cfg = tmp_path / "grid.yaml"
    cfg.write_text(
        f"results: {tmp_path / 'results'}\nfigures: {tmp_path / 'figures'}\n"
        f"data_root: {root}\ndatasets:\n  mnist:\n  cifar10:\nmethods: [wgan_gp]\nseeds: [0]\n"
    )
    proc = snakemake("-n", "--configfile", str(cfg))
    assert proc.returncode == 0, proc.stderr
    assert "warning: 1 dataset(s) of this grid absent" in proc.stderr
    assert f"\n  cifar10: split train not under {root};" in proc.stderr
    assert "  mnist:" not in proc.stderr
    cfg.write_text(cfg.read_text() + "defaults:\n  data:\n    download: true\n")
    proc = snakemake("-n", "--configfile", str(cfg))
    assert proc.returncode == 0, proc.stderr
    assert "dataset(s) of this grid absent" not in proc.stderr


def test_dry_run_demo_config(tmp_path):
    """config/demo.yaml (MNIST at width 32, both methods, 2 seeds, 2,000 iterations): the plan
    only (its header's time is an estimate; the test runs nothing)."""
    proc = snakemake("-n", "--configfile", "config/demo.yaml", *isolated(tmp_path))
    assert proc.returncode == 0, proc.stderr
    counts = job_counts(proc.stdout)
    assert counts["train"] == counts["fid"] == 4 and counts["prepare_data"] == 1
    from ssgan import config as C

    suite = C.load_yaml(Path(__file__).resolve().parents[1] / "config" / "demo.yaml")
    cfg = C.resolve("mnist", "ssgan", 2, suite)
    assert cfg["model"]["width"] == 32 and cfg["train"]["iterations"] == 2000
    assert cfg["fid"]["checkpoints"] == [500, 1000, 1500] and cfg["fid"]["n_fake"] == 500


def plugin_env(tmp_path) -> dict:
    return {"SSGAN_DATA_ROOT": str(tmp_path), "PYTHONPATH": f"{REPO}:{REPO / 'tests' / 'plugins'}"}


def test_seed_batches_are_one_job_each_and_change_no_later_job(tmp_path):
    """resources.train.seed_batch 2 on the quick config, with a stand-in batched trainer that
    refuses Self-Sparse GAN: each WGAN-GP cell's seeds 0,1 are one job (`ssgan train --seeds
    0,1 --out .../wgan_gp`, both run.json its outputs), SSGAN's seeds one job each (said once),
    and the FID, real-statistics and table jobs are those of a run without batches."""
    extra = tmp_path / "batch.yaml"
    extra.write_text(
        "plugins: [batch_trainer_double]\n"
        "resources:\n  train: {gpu: 0, cpus: 1, mem_mb: 2000, runtime: 30, seed_batch: 2}\n"
    )
    args = ("-n", "--configfile", "config/quick.yaml", *isolated(tmp_path))
    batched = snakemake(*args[:3], str(extra), *args[3:], env=plugin_env(tmp_path))
    single = snakemake(*args)
    assert batched.returncode == single.returncode == 0, batched.stderr[-3000:]
    b, s = job_counts(batched.stdout), job_counts(single.stdout)
    assert b["train_seeds_0_1"] == 2 and b["train"] == 12 - 2 * 2 and s["train"] == 12
    assert "train_seeds_0_1" not in s and trainings(batched.stdout) == 12
    later = {k: v for k, v in b.items() if not k.startswith("train") and k != "total"}
    assert later == {k: v for k, v in s.items() if k not in ("train", "total")}
    assert b["total"] == s["total"] - 2  # two jobs fewer: each trains two seeds
    assert "seed batches: one job per seed for mnist/ssgan, fashion_mnist/ssgan: stand-in" in (
        batched.stderr
    )
    res = tmp_path / "results"
    for dataset in ("mnist", "fashion_mnist"):
        cell = res / "runs" / dataset / "wgan_gp"
        assert (
            f"ssgan train --dataset {dataset} --method wgan_gp --seeds 0,1 --out {cell} "
            in batched.stdout
        )
        assert f"output: {cell}/seed0/run.json, {cell}/seed1/run.json\n" in batched.stdout
    produced = re.findall(r"^    output: (.*run\.json.*)$", batched.stdout, re.M)
    runs = [p for line in produced for p in line.split(", ") if p.endswith("run.json")]
    assert len(runs) == len(set(runs)) == 12


def test_dry_run_gpu_check_config(tmp_path):
    """config/gpu_check.yaml: MNIST, 8 seeds, WGAN-GP and Self-Sparse GAN: 16 runs, in two
    jobs of 8 seeds where the batched trainer takes them (here its stand-in)."""
    args = ("-n", "--configfile", "config/gpu_check.yaml", *isolated(tmp_path))
    for env, jobs in (({"SSGAN_DATA_ROOT": str(tmp_path)}, None), (plugin_env(tmp_path), 1)):
        extra = ["plugins=[batch_trainer_double]"] if jobs else []
        proc = snakemake(*args, *extra, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        counts = job_counts(proc.stdout)
        assert trainings(proc.stdout) == counts["fid"] == 16 and counts["real_stats"] == 1
        if jobs:  # the stand-in refuses ssgan: WGAN-GP's 8 seeds in one job, SSGAN's in 8
            assert counts["train_seeds_0_1_2_3_4_5_6_7"] == 1 and counts["train"] == 8
    from ssgan import config as C

    suite = C.load_yaml(REPO / "config" / "gpu_check.yaml")
    assert suite["resources"]["train"]["seed_batch"] == 8
    cfg = C.resolve("mnist", "ssgan", 7, suite)
    paper = C.resolve("mnist", "ssgan", 7, C.load_yaml(REPO / "config" / "config.yaml"))
    assert cfg["sastm"] == paper["sastm"] and cfg["model"] == paper["model"]
    assert cfg["train"]["iterations"] == 10000
    assert cfg["fid"]["n_fake"] == cfg["fid"]["n_real"] == 10000


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
    sr = {r["claim"] for r in claims if r["comparison"] == "sr_gan vs sn_gan"}
    assert sr == {"MC1", "MC2", "MC3", "C0"}  # SR1 is one-armed: in no claim set
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
    assert not any(n.endswith(".pdf") for n in names)  # each figure once, as PNG
    for name in ("relative_fid_reduction", "claims", "leaderboard"):
        assert any(n.endswith(f"{name}.csv") for n in names), name  # the download
        assert any(n.endswith(f"{name}.html") for n in names), name  # shown in place


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
