"""The command line itself: every flag of every subcommand says what it does, and
``ssgan config`` prints a run's or a suite cell's resolved config."""

import argparse
import json

import pytest
import yaml

from ssgan import config as C
from ssgan.cli import main, parser

REPO_CONFIG = "config/demo.yaml"


def test_every_flag_of_every_subcommand_has_help():
    p = parser()
    subs = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    assert set(subs.choices) >= {"train", "fid", "aggregate", "plot", "config", "plan"}
    missing = []
    for name, sp in [("ssgan", p), *subs.choices.items()]:
        for action in sp._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            if not (action.help or "").strip():
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


def test_config_of_a_suite_cell_is_what_train_resolves(capsys):
    argv = ["--dataset", "mnist", "--method", "ssgan", "--seed", "3", "model.z_dim=64"]
    assert main(["config", "--suite", REPO_CONFIG, *argv]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    suite = C.load_yaml(REPO_CONFIG)
    want = C.resolve("mnist", "ssgan", 3, suite, {"model": {"z_dim": 64}})
    assert printed == want and printed["seed"] == 3 and printed["model"]["z_dim"] == 64
    # the suite's settings, not the defaults
    assert printed["train"]["iterations"] != C.resolve("mnist", "ssgan", 3)["train"]["iterations"]


def test_config_of_a_run_and_bad_input(tmp_path, capsys):
    cfg = C.resolve("mnist", "wgan_gp", 1)
    (tmp_path / "run.json").write_text(json.dumps({"config": cfg}))
    assert main(["config", "--run", str(tmp_path)]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == cfg
    assert main(["config", "--run", str(tmp_path / "nope")]) == 2
    assert "run.json does not exist (not a run directory)" in capsys.readouterr().err
    assert main(["config", "--run", str(tmp_path), "--seed", "2"]) == 2
    assert "give it alone" in capsys.readouterr().err
    assert main(["config", "--dataset", "mnist"]) == 2
    assert "give --run DIR, or --method, --seed" in capsys.readouterr().err
    assert main(["config", "--dataset", "mnist", "--method", "sgan", "--seed", "0"]) == 2
    err = capsys.readouterr().err
    assert "unknown method 'sgan'" in err and "plugins=[module]" in err


@pytest.mark.parametrize("bad", ["{", "[1, 2]"])
def test_config_of_a_broken_run_record(tmp_path, capsys, bad):
    (tmp_path / "run.json").write_text(bad)
    assert main(["config", "--run", str(tmp_path)]) == 2
    assert "holds no run config" in capsys.readouterr().err
