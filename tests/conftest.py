"""Shared test setup: offline data from ../shared/data (through SSGAN_DATA_ROOT, as users do),
a tiny-network config, and a helper that runs the CLI in a subprocess."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
os.environ.setdefault("SSGAN_DATA_ROOT", str(SHARED_DATA))
os.environ.setdefault("MPLBACKEND", "Agg")

# A tiny but complete run: real data, real networks, real training steps.
TINY = ["model.width=8", "train.iterations=12", "train.batch_size=16", "train.n_critic=2",
        "train.log_every=1", "train.checkpoint_every=4", "train.sample_every=6", "train.sample_grid=16",
        "probe.every=4", "probe.batch_size=16", "data.max_images=512"]

try:  # fixtures of the FID tests (session-scoped Inception statistics)
    from tests.fid_fixtures import *  # noqa: F401,F403,E402
except ImportError:  # pragma: no cover
    pass


def ssgan_cli(*args: str, check: bool = True, timeout: float = 600, env: dict | None = None,
              **kwargs) -> subprocess.CompletedProcess:
    """Run ``ssgan ARGS`` in a fresh interpreter (as the workflow does)."""
    proc = subprocess.run([sys.executable, "-m", "ssgan.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, cwd=REPO, **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError(f"ssgan {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture
def tiny_args():
    return list(TINY)
