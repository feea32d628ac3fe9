# Grid, paths and config checks shared by the rules.
import hashlib
import os
import re
import shlex
import sys
from pathlib import Path

import yaml

from ssgan import config as ssgan_config, io as ssgan_io
from ssgan.analysis.claims import CLAIMS
from ssgan.analysis.runs import fid_staleness
from ssgan.training import seed_batch

RESULTS = config["results"]


def res(path):
    """A path under the results folder."""
    return os.path.join(RESULTS, path)


DATASETS = list(config["datasets"])
METHODS = list(config["methods"])  # labels: registered methods or variants (config.method_entry)
SEEDS = config["seeds"]
RESOURCE_DEFAULTS = {
    "gpu": 1,
    "cpus": 4,
    "mem_mb": 32000,
    "runtime": 1440,
    "runs_per_gpu": 1,
    "seed_batch": None,
}
RES = {
    stage: {**RESOURCE_DEFAULTS, **config["resources"].get(stage, {})}
    for stage in ("train", "fid", "real_stats")
}
# Local jobs on a machine with several GPUs each take their own slot (ssgan/training/gpu_slots.py):
# a GPU has runs_per_gpu training slots; the GPU rules pass it as SSGAN_RUNS_PER_GPU.
RUNS_PER_GPU = RES["train"]["runs_per_gpu"]
RUN = res("runs/{dataset}/{method}/seed{seed}")


def run_file(name):
    """A file of one run's directory (wildcards dataset, method, seed)."""
    return os.path.join(RUN, name)


SUITE_CONFIG = res("suite_config.yaml")
ENV = "../../environment.yml"  # used with --software-deployment-method conda


def check_config():
    """Resolve every run of the grid with the package: an unknown key, dataset or method, a bad
    value, a duplicate YAML key, a comparison the aggregate job would refuse or a device this
    machine lacks (local runs) stops the workflow here, before any job runs, with a message naming it. Returns the suite and each run's
    config hash (the train rule's params: an edit reruns exactly the runs it changes)."""
    suite = {k: v for k, v in config.items() if v is not None or k in ("data_root", "fid_cache")}
    hashes, fid_protocols = {}, {}
    try:
        for path in workflow.configfiles:  # Snakemake's reader drops duplicate keys silently
            ssgan_config.load_yaml(path)
        grid = ssgan_config.grid(suite)
        ssgan_config.check_comparisons(suite, CLAIMS)
        for dataset, method, seed in grid:
            cfg = ssgan_config.resolve(dataset, method, seed, suite)
            if workflow.local_exec:  # a cluster's nodes have devices this one lacks
                ssgan_config.check_devices(cfg)
            hashes[(dataset, method, str(seed))] = ssgan_config.config_hash(cfg)
            fid_protocols[(dataset, method, str(seed))] = fid_protocol(cfg)
        for dataset in DATASETS:
            ssgan_config.check_paths(ssgan_config.resolve(dataset, METHODS[0], SEEDS[0], suite))
    except ssgan_config.ConfigError as err:
        raise WorkflowError(f"invalid config: {err}") from None
    return suite, grid, hashes, fid_protocols


def fid_protocol(cfg):
    """The suite's FID settings of a run that change its fid.json (devices, batch size and
    cache location do not)."""
    fid = {k: v for k, v in cfg["fid"].items() if k not in ("device", "batch_size", "cache_dir")}
    return hashlib.sha256(repr(sorted(fid.items())).encode()).hexdigest()[:16]


def write_suite_config(suite):
    """The effective config, for the CLI; rewritten only when it changes (mtime-stable)."""
    text = yaml.safe_dump(suite, sort_keys=True)
    path = Path(SUITE_CONFIG)
    if not path.is_file() or path.read_text() != text:
        ssgan_io.write_text(path, text)


SUITE, GRID, RUN_HASHES, FID_PROTOCOLS = check_config()


def warn_absent_datasets():
    """Before planning, one warning listing the datasets of the grid whose files are not under
    the data root (their prepare_data jobs would fail), unless already prepared."""
    from ssgan.data.registry import absent

    lines = []
    for dataset in DATASETS:
        if os.path.exists(res(f"data/{dataset}.json")):  # prepare_data done: files were found
            continue
        why = absent(ssgan_config.resolve(dataset, METHODS[0], SEEDS[0], SUITE))
        if why:
            lines.append(f"  {why}")
    if lines:
        print(
            f"warning: {len(lines)} dataset(s) of this grid absent (their prepare_data jobs will "
            "fail): put the files under the data root (config key data_root or SSGAN_DATA_ROOT)"
            " or set data.download: true\n" + "\n".join(lines),
            file=sys.stderr,
        )
    return [line.split(":")[0].split(" (")[0].strip() for line in lines]


ABSENT_DATASETS = warn_absent_datasets()


def seed_batches():
    """The training jobs that train several seeds of a cell (rules train_seeds_*, train.smk):
    seed tuple -> the cells ("dataset/method") trained in batches of those seeds. A cell's seeds
    go in batches of resources.train.seed_batch (null: all of them on a GPU, 1 on the CPU), in
    the grid's order; a batch of one, and every seed of a cell the batched trainer refuses,
    is a job of rule train. Which job trains a run changes none of its files."""
    size = RES["train"]["seed_batch"] or (len(SEEDS) if RES["train"]["gpu"] else 1)
    cells = {}
    for dataset, method, seed in GRID:
        cells.setdefault((dataset, method), []).append(seed)
    batches, refused = {}, {}
    for (dataset, method), seeds in cells.items():
        if size < 2 or len(seeds) < 2:
            continue
        why = seed_batch.refusal(ssgan_config.resolve(dataset, method, seeds[0], SUITE))
        if why:
            refused.setdefault(why, []).append(f"{dataset}/{method}")
            continue
        for i in range(0, len(seeds), size):
            if len(seeds[i : i + size]) > 1:
                batches.setdefault(tuple(seeds[i : i + size]), []).append(f"{dataset}/{method}")
    for why, names in refused.items():
        print(f"seed batches: one job per seed for {', '.join(names)}: {why}", file=sys.stderr)
    return batches


SEED_BATCHES = seed_batches()


def stale_fids():
    """Runs of the grid whose fid.json describes an earlier state of the run (skipped while it
    ran, another generator.pt, ...; ssgan.analysis.runs.stale_fid): run -> (why, marker). The
    fid job of such a run gets a marker as input, written by rule stale_fid when the plan runs
    (nothing is written here): newer than the record whatever its timestamp, so the job runs
    again. The marker is named by the record's content and time (a record made stale again
    gets a new one) and stays under logs/stale_fid/ as the note of why the FID was redone. It
    is an input of the target `all`, since Snakemake produces a missing intermediate file only
    for a target; a narrower target (e.g. the tables) leaves the record as it is, stale in
    runs.csv."""
    stale = {}
    for dataset, method, seed in GRID:
        run_dir = Path(RUN.format(dataset=dataset, method=method, seed=seed))
        why = fid_staleness(run_dir)
        if why:
            fid = run_dir / "fid.json"
            stamp = hashlib.sha256(fid.read_bytes() + str(fid.stat().st_mtime_ns).encode())
            marker = STALE_MARKER.format(
                dataset=dataset, method=method, seed=seed, stamp=stamp.hexdigest()[:12]
            )
            stale[(dataset, method, str(seed))] = (why, marker)
            print(f"{run_dir}/fid.json is stale ({why}): fid job redone", file=sys.stderr)
    return stale


STALE_MARKER = res("logs/stale_fid/{dataset}/{method}/seed{seed}.{stamp}.txt")
STALE_FIDS = stale_fids()


def stale_marker(wildcards):
    key = (wildcards.dataset, wildcards.method, wildcards.seed)
    return [STALE_FIDS[key][1]] if key in STALE_FIDS else []


def stale_markers():
    """The marker of every stale fid.json (an input of the target `all`)."""
    return [marker for _, marker in STALE_FIDS.values()]


# Written when jobs are about to run, never by a dry run (which writes nothing under results).
onstart:
    write_suite_config(SUITE)


def run_hash(wildcards):
    """The run's config hash: a params entry, compared by the `params` rerun trigger."""
    return RUN_HASHES[(wildcards.dataset, wildcards.method, wildcards.seed)]


def run_fid_protocol(wildcards):
    return FID_PROTOCOLS[(wildcards.dataset, wildcards.method, wildcards.seed)]


# Caches (prepared data, Inception weights, real statistics, classifiers) live in the suite's one
# cache (ssgan/cache.py: $SSGAN_CACHE_DIR, else ~/.cache/ssgan), shared with the CLI and the API;
# the config key fid_cache moves the FID ones. Passed in the command, not as a param: moving a
# cache reruns nothing (its entries are keyed by content).
FID_CACHE = f"fid.cache_dir={shlex.quote(config['fid_cache'])}" if config["fid_cache"] else ""


def all_runs(pattern):
    """``pattern`` for every run of the grid (a variant only on its own datasets/seeds)."""
    return [pattern.format(dataset=d, method=m, seed=s) for d, m, s in GRID]


def local_gpu(rule):
    """GPU slots for local runs (profiles/default: local_gpu = GPUs x runs_per_gpu); none under
    a cluster executor. A training takes one slot per GPU it asks for, so runs_per_gpu
    trainings share a GPU; FID and real-statistics jobs take a whole GPU (runs_per_gpu slots)."""
    share = 1 if rule == "train" else RES["train"]["runs_per_gpu"]
    need = RES[rule]["gpu"] * share
    slots = workflow.global_resources.get("local_gpu")
    slots = getattr(slots, "value", slots)  # a Resource in Snakemake 9, an int before
    if workflow.local_exec and isinstance(slots, int) and 0 < slots < need:
        raise ValueError(
            f"rule {rule} needs {need} local_gpu slots (gpu {RES[rule]['gpu']} x "
            f"resources.train.runs_per_gpu {share}) but the profile gives local_gpu={slots}: "
            f"set local_gpu to the number of GPUs x runs_per_gpu (profiles/default/config.yaml)"
        )
    return lambda wildcards: need if workflow.local_exec else 0


wildcard_constraints:
    dataset="|".join(DATASETS),
    method="|".join(METHODS),
    seed=r"\d+",
    stamp="[0-9a-f]{12}",
