"""The single-node SLURM test cluster (scripts/slurm-cluster.sh) really runs jobs.

Needs root on Linux (the script installs slurm-wlm/munge with apt-get when missing). If
the cluster cannot start here, the test fails with the script's reason; it never skips.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import wall_limit
from tests.slurm_cluster import start_cluster, stop_cluster


@pytest.mark.slow
@pytest.mark.slurm
def test_sbatch_runs_a_job_on_the_test_cluster(request, tmp_path):
    request.addfinalizer(stop_cluster)  # registered first: stops even a half-started cluster
    cluster = start_cluster()
    env = cluster["env"]

    sinfo = subprocess.run(
        ["sinfo", "--noheader", "-o", "%P %T"],
        env=env,
        capture_output=True,
        text=True,
        timeout=wall_limit(30),
        check=True,
    )
    assert f"{cluster['partition']}* idle" in sinfo.stdout, sinfo.stdout

    out = tmp_path / "jobid.txt"
    proc = subprocess.run(
        [
            "sbatch",
            "--wait",
            "--parsable",
            f"--partition={cluster['partition']}",
            "--time=2",
            "--mem=100",
            f"--output={tmp_path / 'slurm-%j.log'}",
            f"--wrap=echo $SLURM_JOB_ID > {out}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=wall_limit(120),
    )
    assert proc.returncode == 0, f"sbatch --wait failed ({proc.returncode}): {proc.stderr}"
    submitted = proc.stdout.strip().split(";")[0]

    job_id = out.read_text().strip()
    assert job_id.isdigit(), f"job wrote {job_id!r}, expected a numeric SLURM job id"
    assert job_id == submitted

    # squeue still lists the finished job (MinJobAge), which the executor plugin relies on
    squeue = subprocess.run(
        ["squeue", "--states=all", "--noheader", "-o", "%i %T", "-j", job_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=wall_limit(30),
        check=True,
    )
    assert squeue.stdout.split() == [job_id, "COMPLETED"], squeue.stdout
