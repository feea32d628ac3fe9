"""Methods from outside the package (ssgan/plugins.py): the config key ``plugins`` and the
``ssgan.plugins`` entry points, through the CLI, the workflow and the tables, with the plugin
of tests/plugins/ (WGAN-LP), which has no entry anywhere in the package."""

from __future__ import annotations

import json
import os
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from ssgan import config as C
from ssgan import plugins
from ssgan.errors import ConfigError
from tests.conftest import REPO, TINY, snakemake, ssgan_cli, tiny_suite

PLUGIN_DIR = REPO / "tests" / "plugins"
ENV = {"PYTHONPATH": os.pathsep.join([str(PLUGIN_DIR), str(REPO)])}


def test_train_and_sample_a_plugin_method_through_the_cli(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--dataset", "mnist", "--method", "wgan_lp", "--seed", "0", "--out", str(out)]
    refused = ssgan_cli(*args, *TINY, check=False, env=ENV)
    assert refused.returncode == 2 and "unknown method 'wgan_lp'" in refused.stderr
    ssgan_cli(*args, *TINY, "plugins=[wgan_lp_plugin]", env=ENV)
    run = json.loads((out / "run.json").read_text())
    assert (run["method"], run["status"], run["iteration"]) == ("wgan_lp", "completed", 12)
    assert run["config"]["plugins"] == ["wgan_lp_plugin"]
    # a fresh process finds the method from the run's record alone
    ssgan_cli("sample", "--run", str(out), "--n", "4", "--out", str(tmp_path / "grid.png"), env=ENV)
    assert (tmp_path / "grid.png").stat().st_size > 0


def test_a_plugin_that_cannot_be_imported_is_one_line_naming_it(tmp_path):
    with pytest.raises(
        ConfigError, match=r"plugin module 'no_such_plugin' \(config key 'plugins'\)"
    ):
        C.resolve("mnist", "wgan_gp", 0, None, {"plugins": ["no_such_plugin"]})
    with pytest.raises(ConfigError, match="must be a list of module names, got 'wgan_lp_plugin'"):
        C.resolve("mnist", "wgan_gp", 0, None, {"plugins": "wgan_lp_plugin"})


def test_the_plugins_key_names_where_code_lives_and_is_not_in_the_hash():
    plain = C.resolve("mnist", "wgan_gp", 0)
    with_plugin = C.resolve(
        "mnist", "wgan_gp", 0, None, {"plugins": ["tests.plugins.wgan_lp_plugin"]}
    )
    assert plain["plugins"] == [] and with_plugin["plugins"] == ["tests.plugins.wgan_lp_plugin"]
    assert C.config_hash(plain) == C.config_hash(with_plugin)


def test_entry_points_of_the_group_are_loaded(monkeypatch):
    import sys

    ep = metadata.EntryPoint("lp", "tests.plugins.wgan_lp_plugin", plugins.GROUP)
    seen = []
    monkeypatch.setattr(plugins.metadata, "entry_points", lambda group: seen.append(group) or [ep])
    monkeypatch.setattr(plugins, "_entry_points_loaded", False)
    monkeypatch.delitem(sys.modules, "tests.plugins.wgan_lp_plugin", raising=False)
    from ssgan.methods import METHODS

    monkeypatch.delitem(METHODS, "wgan_lp", raising=False)
    assert plugins.load_entry_points() == ["lp"] and seen == [plugins.GROUP]
    assert "wgan_lp" in METHODS
    broken = metadata.EntryPoint("broken", "no_such_package.mod", plugins.GROUP)
    monkeypatch.setattr(plugins.metadata, "entry_points", lambda group: [broken])
    monkeypatch.setattr(plugins, "_entry_points_loaded", False)
    with pytest.raises(ConfigError, match="plugin 'broken' .* cannot be loaded: ModuleNotFound"):
        plugins.load_entry_points()


def test_tables_and_figures_take_the_plugin_display_name_colour_and_claims():
    plugins.load(["tests.plugins.wgan_lp_plugin"])
    from ssgan.analysis.claims import claims_for
    from ssgan.analysis.figure_kit import color
    from ssgan.analysis.runs import method_name
    from ssgan.analysis.tables import Comparison

    assert method_name("wgan_lp") == "WGAN-LP" and color("wgan_lp") == "#937860"
    assert method_name("ssgan") == "Self-Sparse GAN" and method_name("unknown_x") == "unknown_x"
    assert claims_for(Comparison("wgan_gp", "wgan_lp"), str) == ("C0",)
    assert claims_for(Comparison("wgan_gp", "ssgan"), str) == ("C0", "C1", "C2", "C3", "M1")


def _plugin_suite(tmp_path: Path) -> Path:
    path = tiny_suite(tmp_path, methods=("wgan_gp", "wgan_lp"))
    suite = yaml.safe_load(path.read_text())
    suite["plugins"] = ["wgan_lp_plugin"]
    path.write_text(yaml.safe_dump(suite))
    return path


def test_the_workflow_plan_takes_a_plugin_method(tmp_path):
    path = _plugin_suite(tmp_path)
    proc = snakemake("-n", "--configfile", str(path), env=ENV)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "results/runs/mnist/wgan_lp/seed0/run.json" in proc.stdout
    suite = yaml.safe_load(path.read_text())
    del suite["plugins"]
    path.write_text(yaml.safe_dump(suite))
    proc = snakemake("-n", "--configfile", str(path), env=ENV)
    assert proc.returncode != 0 and "unknown method 'wgan_lp'" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_the_workflow_trains_and_evaluates_a_plugin_method(tmp_path):
    path = _plugin_suite(tmp_path)
    run = tmp_path / "results" / "runs" / "mnist" / "wgan_lp" / "seed0"
    targets = [str(run / "run.json"), str(run / "fid.json")]
    proc = snakemake(*targets, "--cores", "1", "--configfile", str(path), env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((run / "run.json").read_text())
    fid = json.loads((run / "fid.json").read_text())
    assert record["method"] == "wgan_lp" and record["status"] == "completed"
    assert fid["status"] == "ok" and fid["fid"] > 0 and fid["method"] == "wgan_lp"
