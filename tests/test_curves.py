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


@pytest.mark.skipif(not HAS_TENSORBOARD, reason="the package 'tensorboard' is not installed")
def test_fid_lr_and_hparams_in_the_runs_own_stream(tmp_path):
    """FID and KID at the iterations they measure, the learning rate of every logged iteration
    and the HParams entry (config and final FID/KID), all in <run>/tensorboard/ beside the
    losses; a second evaluation replaces the first's points."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    from ssgan.training import curves

    out = tmp_path / "run"
    argv = ["train", *RUN, "--out", str(out), *TINY, "log.tensorboard=true"]
    assert main([*argv, "train.lr_decay=linear", "train.lr=0.001"]) == 0
    total = json.loads((out / "run.json").read_text())["config"]["train"]["iterations"]
    (out / "tensorboard" / "fid").mkdir()  # where an older version wrote FID
    (out / "tensorboard" / "fid" / "events.out.tfevents.1.old").write_bytes(b"")
    first = [{"iteration": 6, "fid": 300.0, "kid_mean": 0.3}, {"iteration": 12, "fid": 250.0}]
    curves.fid_curve(out, first)
    again = [{"iteration": 6, "fid": 200.0, "kid_mean": 0.2}]
    again += [{"iteration": total, "fid": 150.0, "kid_mean": 0.1}]
    curves.fid_curve(out, again)
    assert not (out / "tensorboard" / "fid").exists()
    acc = scalars(out / "tensorboard")
    fid = [(e.step, e.value) for e in acc.Scalars("fid/fid")]
    assert fid == [(6, 200.0), (total, 150.0)]  # the second evaluation only
    assert [(e.step, round(e.value, 6)) for e in acc.Scalars("fid/kid_mean")] == [
        (6, 0.2),
        (total, 0.1),
    ]
    lr = {e.step: e.value for e in acc.Scalars("train/lr")}
    losses = [e.step for e in acc.Scalars("loss/critic_loss")]
    assert sorted(lr) == losses  # one lr per logged iteration
    assert lr[1] == pytest.approx(1e-3) and lr[total] == pytest.approx(1e-3 / total)
    content = acc.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hp = start.session_start_info.hparams
    assert hp["train.lr"].number_value == pytest.approx(1e-3)
    assert hp["train.lr_decay"].string_value == "linear" and hp["method"].string_value == "ssgan"
    exp = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    assert {m.name.tag for m in exp.experiment.metric_infos} == {"fid/fid", "fid/kid_mean"}
    # no final FID (a skipped evaluation): the points, no HParams entry
    curves.fid_curve(out, [{"iteration": total, "fid": None}])
    acc = scalars(out / "tensorboard")
    assert "fid/fid" not in acc.Tags()["scalars"]
    with pytest.raises(KeyError):
        acc.PluginTagToContent("hparams")
