"""The test harness itself: scripts/test.sh starts the groups in the order tests/conftest.py
gives them (the longest, the workflow group, first), and the suite's wall-clock limits scale
with the machine's load (tests/conftest.py wall_limit), so a busy machine slows tests down
without failing them."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest

from tests.conftest import REPO, wall_limit

HOOKS = """from tests.conftest import (  # noqa: F401
    pytest_collection_finish,
    pytest_collection_modifyitems,
    pytest_itemcollected,
)
"""


def script_options() -> list[str]:
    """The pytest options of scripts/test.sh, with one worker (so the start order is visible)."""
    text = (REPO / "scripts" / "test.sh").read_text().replace("\\\n", " ")
    line = next(x for x in text.splitlines() if x.strip().startswith("python -m pytest"))
    args = shlex.split(line.replace('"$@"', ""))[3:]
    i = args.index("-n")
    args[i + 1] = "1"
    return [a for a in args if a != "-ra" and not a.startswith("--durations")]


def start_order(tmp_path, options: list[str]) -> list[str]:
    """The files in the order their tests ran: test_workflow.py (1 test, the workflow group)
    beside two larger groups, under ``options``."""
    tmp_path.mkdir()
    (tmp_path / "conftest.py").write_text(HOOKS)
    for name, n in (("test_workflow", 1), ("test_a", 3), ("test_b", 4)):
        body = "import os\n\n"
        for i in range(n):
            body += (
                f"\ndef test_{i}():\n    with open(os.environ['ORDER_LOG'], 'a') as fh:\n"
                f"        fh.write('{name}\\n')\n"
            )
        (tmp_path / f"{name}.py").write_text(body)
    log = tmp_path / "order.log"
    env = {**os.environ, "ORDER_LOG": str(log), "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options, str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=wall_limit(300),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return list(dict.fromkeys(log.read_text().split()))


def test_the_workflow_group_starts_first_under_the_scripts_options(tmp_path):
    options = script_options()
    assert "--no-loadscope-reorder" in options and "loadgroup" in options
    assert start_order(tmp_path / "script", options)[0] == "test_workflow"
    # without the flag, pytest-xdist reorders the groups by size: the workflow group runs last
    reordered = [o for o in options if o != "--no-loadscope-reorder"]
    assert start_order(tmp_path / "xdist", reordered)[-1] == "test_workflow"


def test_wall_limits_scale_with_the_load(monkeypatch):
    monkeypatch.delenv("SSGAN_TEST_TIME_SCALE", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.5, 0.2, 0.1))
    assert wall_limit(100) == 100  # an idle machine: the limit as written
    monkeypatch.setattr(os, "getloadavg", lambda: (1.0, 8.0, 3.0))
    assert wall_limit(100) == 400  # 8 processes on 2 cores over the last 5 minutes
    monkeypatch.setenv("SSGAN_TEST_TIME_SCALE", "2.5")
    assert wall_limit(100) == 1000
    monkeypatch.setenv("SSGAN_TEST_TIME_SCALE", "lots")
    with pytest.raises(pytest.UsageError, match="SSGAN_TEST_TIME_SCALE must be a number"):
        wall_limit(100)
