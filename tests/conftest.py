"""Shared test setup: the data root as the package finds it (``$SSGAN_DATA_ROOT``, else
``./data`` of the repository; scripts/setup-env.sh points the variable at an offline copy),
a tiny-network config, seeded fault timing, tests needing SLURM kept out of ``-m "not slow"``,
and a helper that runs the CLI in a subprocess."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The package's order (config data.root, else $SSGAN_DATA_ROOT, else ./data), made absolute so
# in-process tests and CLI subprocesses (cwd REPO) read the same files.
DATA_ROOT = Path(os.environ.get("SSGAN_DATA_ROOT") or REPO / "data").expanduser().resolve()
os.environ["SSGAN_DATA_ROOT"] = str(DATA_ROOT)
SHARED_DATA = DATA_ROOT  # older name of DATA_ROOT
os.environ.setdefault("MPLBACKEND", "Agg")
FAULT_SEED_DEFAULT = 0


def fault_rng(what: str) -> random.Random:
    """The random source of a fault test's timing (kill moments): seeded, printed (pytest shows
    it with a failure), and overridable with SSGAN_FAULT_SEED to replay or vary a run."""
    seed = int(os.environ.get("SSGAN_FAULT_SEED") or FAULT_SEED_DEFAULT)
    print(f"{what}: fault seed {seed} (rerun with SSGAN_FAULT_SEED={seed})")
    return random.Random(seed)


def xdist_group(item) -> str:
    """The worker group of a test under ``pytest -n N --dist loadgroup`` (scripts/test.sh): a
    file's tests stay together (its module fixtures are built once), the workflow tests and
    every test that starts a SLURM cluster share one worker (one cluster at a time), and the
    tests on the session's Inception features of the digit sets share another."""
    if item.get_closest_marker("slurm") or item.path.name == "test_workflow.py":
        return "workflow-and-slurm"
    if "digit_sets" in getattr(item, "fixturenames", ()):
        return "inception-digit-sets"
    return item.path.name


def pytest_itemcollected(item):  # at collection, before xdist reads the groups
    item.add_marker(pytest.mark.xdist_group(xdist_group(item)))


def pytest_collection_finish(session):
    """Under ``--dist loadgroup`` xdist marks each node id with its group; without the mark
    the groups are silently ignored (two quick-config fixtures, two SLURM clusters at once)."""
    if getattr(session.config.option, "loadgroup", False) and session.items:
        if "@" not in session.items[0].nodeid:
            raise pytest.UsageError(
                "pytest-xdist's --dist loadgroup does not group tests with this pytest "
                f"({pytest.__version__}); install the versions of pyproject.toml's test extra"
            )


@pytest.hookimpl(tryfirst=True)  # before -m deselects: a SLURM test is always a slow test
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("slurm") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
    # The workflow group is the longest (the quick-config pipeline, SLURM): first, so one
    # worker starts it while the other takes the rest, instead of it running alone at the end.
    items.sort(key=lambda item: xdist_group(item) != "workflow-and-slurm")


# A tiny but complete run: real data, real networks, real training steps.
TINY = [
    "model.width=8",
    "train.iterations=12",
    "train.batch_size=16",
    "train.n_critic=2",
    "train.log_every=1",
    "train.checkpoint_every=4",
    "train.sample_every=6",
    "train.sample_grid=16",
    "probe.every=4",
    "probe.batch_size=16",
    "data.max_images=512",
]

try:  # fixtures of the FID tests (session-scoped Inception statistics)
    from tests.fid_fixtures import *  # noqa: F401,F403,E402
except ImportError:  # pragma: no cover
    pass


def wall_limit(seconds: float) -> float:
    """A wall-clock limit of a test (a subprocess's timeout, a polling wait): it only catches a
    hang, so a busy machine must make a test slower, never fail it. ``seconds`` is generous on
    an idle machine; it is multiplied by this machine's load per core (the largest of the 1-,
    5- and 15-minute load averages over the cores, at least 1) and by $SSGAN_TEST_TIME_SCALE
    (default 1; raise it where the load average does not show the contention)."""
    scale = os.environ.get("SSGAN_TEST_TIME_SCALE") or "1"
    try:
        factor = float(scale)
    except ValueError:
        raise pytest.UsageError(f"SSGAN_TEST_TIME_SCALE must be a number, got {scale!r}") from None
    load = max(os.getloadavg()) / (os.cpu_count() or 1)
    return seconds * max(1.0, load) * max(factor, 1e-3)


def ssgan_cli(
    *args: str, check: bool = True, timeout: float = 600, env: dict | None = None, **kwargs
) -> subprocess.CompletedProcess:
    """Run ``ssgan ARGS`` in a fresh interpreter (as the workflow does); ``timeout``: seconds on
    an idle machine (``wall_limit``)."""
    proc = subprocess.run(
        [sys.executable, "-m", "ssgan.cli", *args],
        capture_output=True,
        text=True,
        timeout=wall_limit(timeout),
        env={**os.environ, **(env or {})},
        cwd=REPO,
        **kwargs,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"ssgan {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
        )
    return proc


@pytest.fixture
def tiny_args():
    return list(TINY)


def tiny_suite(
    tmp_path: Path, datasets=("mnist",), methods=("wgan_gp", "ssgan"), seeds=(0,), gpu=0, **defaults
) -> Path:
    """A small suite config (the workflow's config format) with results under ``tmp_path``."""
    import yaml

    base = {
        "model": {"width": 8},
        "train": {
            "iterations": 20,
            "batch_size": 16,
            "n_critic": 2,
            "device": "cpu",
            "checkpoint_every": 10,
            "sample_every": 10,
            "log_every": 2,
        },
        "probe": {"every": 10, "batch_size": 16},
        "data": {"max_images": 512},
        "fid": {  # no class coverage: its classifier trains for ~45 s in every fresh cache
            "n_fake": 50,
            "n_real": 100,
            "batch_size": 50,
            "device": "cpu",
            "checkpoints": [],
            "class_coverage": False,
        },
    }
    for key, value in defaults.items():
        base.setdefault(key, {}).update(value)
    suite = {
        "results": str(tmp_path / "results"),
        "figures": str(tmp_path / "figures"),
        "fid_cache": str(tmp_path / "fid_cache"),
        "methods": list(methods),
        "seeds": list(seeds),
        "defaults": base,
        "datasets": {d: {} for d in datasets},
        "resources": {
            r: {"gpu": gpu, "cpus": 1, "mem_mb": 1000, "runtime": 20}
            for r in ("train", "fid", "real_stats")
        },
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def job_counts(stdout: str) -> dict:
    """The 'Job stats' table of a snakemake (dry) run: rule -> jobs."""
    table = stdout.split("Job stats:")[1].split("\n\n")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def trainings(stdout: str) -> int:
    """Runs trained by the jobs of a snakemake (dry) run: one per job of rule train, one per
    seed of a job of a seed-batch rule (train_seeds_0_1_2: three)."""
    return sum(
        n * (len(rule.split("_")) - 2 if rule.startswith("train_seeds_") else 1)
        for rule, n in job_counts(stdout).items()
        if rule == "train" or rule.startswith("train_seeds_")
    )


def snakemake(
    *args: str, timeout: float = 1200, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run snakemake in the repository (its profiles are found there), outputs elsewhere;
    ``timeout``: seconds on an idle machine (``wall_limit``)."""
    exe = Path(sys.executable).with_name("snakemake")
    env = {**os.environ, **(env or {})}
    env["PATH"] = f"{exe.parent}{os.pathsep}{env.get('PATH', '')}"  # the jobs call `ssgan`
    return subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        timeout=wall_limit(timeout),
        cwd=REPO,
        env=env,
    )
