"""Provenance recorded with every result: code version, packages, device, host, scheduler."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("ssgan", "torch", "torchvision", "torch-fidelity", "numpy", "scipy", "pandas")


def git_commit() -> dict:
    repo = Path(__file__).resolve().parent.parent

    def run(*args):
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10
        )

    try:
        head = run("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"commit": None, "dirty": None}
        dirty = run("status", "--porcelain", "--untracked-files=no").stdout.strip() != ""
        return {"commit": head.stdout.strip(), "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def version_line() -> str:
    """``ssgan --version``: the package version and the commit it runs from (``+dirty`` when
    tracked files differ from it; ``commit unknown`` outside a git checkout)."""
    from ssgan import __version__

    git = git_commit()
    if git["commit"] is None:
        return f"ssgan {__version__} (commit unknown: not run from a git checkout)"
    return f"ssgan {__version__} (commit {git['commit']}{'+dirty' if git['dirty'] else ''})"


def package_versions() -> dict:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def device_info(device) -> dict:
    import torch

    info = {"device": str(device), "torch_threads": torch.get_num_threads()}
    if getattr(device, "type", str(device)).startswith("cuda"):
        idx = (
            device.index
            if getattr(device, "index", None) is not None
            else torch.cuda.current_device()
        )
        info["device_name"] = torch.cuda.get_device_name(idx)
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    else:
        info["device_name"] = platform.processor() or platform.machine()
    return info


def collect(device) -> dict:
    return {
        "git": git_commit(),
        "packages": package_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        **device_info(device),
    }
