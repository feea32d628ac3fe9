"""Start and stop the single-node test SLURM cluster of ``scripts/slurm-cluster.sh``.

Plain functions plus a fixture factory; a test that needs the cluster either calls
``start_cluster()`` itself (and registers ``stop_cluster`` as a finalizer) or uses::

    from tests.slurm_cluster import slurm_cluster_fixture
    slurm_cluster = slurm_cluster_fixture(gpus=2)      # module-level: defines a fixture

    def test_something(slurm_cluster):
        subprocess.run([...], env=slurm_cluster["env"], check=True)

A cluster that cannot start raises :class:`SlurmClusterError` carrying the script's reason
(and log tails); the fixture turns that into ``pytest.fail`` -- never a skip.

``env`` is ``os.environ`` plus ``SLURM_CONF``. The script also links
/etc/slurm/slurm.conf to the same file, because the executor plugin's job step drops
SLURM_CONF before its nested ``srun`` (see docs/slurm.md); commands started without
``env`` therefore reach the cluster too.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import wall_limit

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "slurm-cluster.sh"
# first start may install slurm-wlm and munge with apt-get (about a minute here)
START_TIMEOUT_S = 900
STOP_TIMEOUT_S = 120


class SlurmClusterError(RuntimeError):
    """The test cluster could not be started (or stopped); the message says why."""


def cluster_dir() -> Path:
    return Path(os.environ.get("SSGAN_SLURM_DIR", "/tmp/ssgan-slurm"))


def _run(action: str, env: dict, timeout: float) -> subprocess.CompletedProcess:
    timeout = wall_limit(timeout)  # seconds on an idle machine, scaled by its load
    try:
        return subprocess.run(
            ["bash", str(SCRIPT), action],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:
        raise SlurmClusterError(
            f"scripts/slurm-cluster.sh {action} did not finish within {timeout:.0f}s\n"
            f"{e.stderr or ''}"
        ) from e


def start_cluster(gpus: int = 0) -> dict:
    """Start the cluster (no-op if it already runs with the same settings).

    ``gpus``: number of fake ``gpu`` GRES on the node, so that jobs asking for GPUs
    (``sbatch --gpus=1``, the profile's ``gpu: 1``) are scheduled on this GPU-less machine.

    Returns ``dict(env=..., partition=..., slurm_conf=..., gpus=..., log_dir=...)``.
    Raises :class:`SlurmClusterError` with the reason when the cluster cannot run here.
    """
    env = dict(os.environ, SSGAN_SLURM_GPUS=str(int(gpus)))
    proc = _run("start", env, START_TIMEOUT_S)
    if proc.returncode != 0:
        raise SlurmClusterError(
            f"cannot start the test SLURM cluster (scripts/slurm-cluster.sh start, "
            f"exit {proc.returncode}):\n{proc.stderr.strip()}"
        )
    slurm_conf = str(cluster_dir() / "slurm.conf")
    for line in proc.stdout.splitlines():  # "export SLURM_CONF=..."
        if line.startswith("export SLURM_CONF="):
            slurm_conf = line.split("=", 1)[1].strip()
    env = dict(os.environ, SLURM_CONF=slurm_conf)
    return {
        "env": env,
        "partition": os.environ.get("SSGAN_SLURM_PARTITION", "debug"),
        "slurm_conf": slurm_conf,
        "gpus": int(gpus),
        "log_dir": str(cluster_dir() / "log"),
    }


def stop_cluster() -> None:
    """Cancel all jobs and stop the daemons the script started; idempotent."""
    proc = _run("stop", dict(os.environ), STOP_TIMEOUT_S)
    if proc.returncode != 0:
        raise SlurmClusterError(
            f"scripts/slurm-cluster.sh stop failed (exit {proc.returncode}):\n{proc.stderr.strip()}"
        )


def cluster_status() -> tuple[bool, str]:
    """(running, text of `scripts/slurm-cluster.sh status`)."""
    proc = _run("status", dict(os.environ), 60)
    return proc.returncode == 0, proc.stdout + proc.stderr


def slurm_cluster_fixture(gpus: int = 0, scope: str = "module", name: str = "slurm_cluster"):
    """Return a pytest fixture that starts the cluster and stops it afterwards.

    Assign it at module level under the same name (``slurm_cluster = slurm_cluster_fixture()``).
    If the cluster cannot start, the fixture calls ``pytest.fail`` with the reason, so the
    test errors out (non-zero pytest exit) instead of being skipped.
    """
    import pytest

    @pytest.fixture(scope=scope, name=name)
    def _slurm_cluster():
        try:
            info = start_cluster(gpus=gpus)
        except SlurmClusterError as e:
            pytest.fail(str(e), pytrace=False)
        try:
            yield info
        finally:
            stop_cluster()

    return _slurm_cluster
