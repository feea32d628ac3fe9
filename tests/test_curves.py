"""Live curves (ssgan/training/curves.py, ``log.tensorboard``) and the job log's ETA: a missing
``tensorboard`` package is a one-line error before anything is written; with the package, the
event stream holds the curves and a resumed run shows every step once."""

from __future__ import annotations

import importlib.util
import json

import pytest

from ssgan.cli import main
from tests.conftest import TINY

RUN = ["--dataset", "mnist", "--method", "ssgan", "--seed", "0"]
HAS_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None


def test_tensorboard_without_the_package_is_one_line_naming_it(tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "tensorboard" else real(name, *a),
    )
    out = tmp_path / "run"
    code = main(["train", *RUN, "--out", str(out), *TINY, "log.tensorboard=true"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and not out.exists()
    assert err == (
        "ssgan train: error: config key 'log.tensorboard' is true but the package 'tensorboard' "
        "is not installed (pip install tensorboard), or set log.tensorboard=false"
    )


def test_tensorboard_is_not_part_of_the_run_identity():
    from ssgan import config as C

    off = C.resolve("mnist", "ssgan", 0)
    on = C.resolve("mnist", "ssgan", 0, None, {"log": {"tensorboard": True}})
    assert off["log"]["tensorboard"] is False and C.config_hash(off) == C.config_hash(on)


def scalars(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


@pytest.mark.skipif(not HAS_TENSORBOARD, reason="the package 'tensorboard' is not installed")
def test_events_hold_the_curves_and_a_resume_logs_each_step_once(tmp_path, capsys):
    out = tmp_path / "run"
    argv = [
        "train",
        *RUN,
        "--out",
        str(out),
        *TINY,
        "log.tensorboard=true",
        "train.keep_checkpoints=3",
    ]
    assert main(argv) == 0
    log = (out / "train_log.csv").read_text().splitlines()[1:]
    acc = scalars(out / "tensorboard")
    steps = [e.step for e in acc.Scalars("loss/critic_loss")]
    assert steps == list(range(1, 13)) and len(log) == 12
    assert {t.split("/")[0] for t in acc.Tags()["scalars"]} >= {
        "loss",
        "sparsity",
        "dead",
        "spectrum",
    }
    assert [e.step for e in acc.Images("samples")] == [6, 12]
    # an interrupted attempt: the last checkpoint (12) and the final files are gone, so the run
    # resumes from 8 and logs 9..12 again into a new event file of the same stream
    for name in ("checkpoints/ckpt_00000012.pt", "generator.pt", "critic.pt"):
        (out / name).unlink()
    record = json.loads((out / "run.json").read_text())
    record["status"] = "running"
    (out / "run.json").write_text(json.dumps(record))
    assert main(argv) == 0
    assert len(list((out / "tensorboard").glob("events.out.tfevents.*"))) == 2
    steps = [e.step for e in scalars(out / "tensorboard").Scalars("loss/critic_loss")]
    assert steps == list(range(1, 13))  # each step once, the resumed values after 8
