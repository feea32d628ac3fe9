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


# ------------------------------------------------------------------ plugins that fail safely
@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A folder on sys.path for plugin modules written by a test; the methods and datasets they
    register, and the modules, are gone again afterwards."""
    import sys

    from ssgan.data import DATASETS
    from ssgan.methods import METHODS

    folder = tmp_path / "plugin_src"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    methods, datasets, modules = dict(METHODS), dict(DATASETS), set(sys.modules)
    yield folder
    METHODS.clear(), METHODS.update(methods)
    DATASETS.clear(), DATASETS.update(datasets)
    for name in set(sys.modules) - modules:
        if getattr(sys.modules[name], "__file__", "") and str(folder) in sys.modules[name].__file__:
            del sys.modules[name]
    plugins.module_identity.cache_clear()


LP_SOURCE = (PLUGIN_DIR / "wgan_lp_plugin.py").read_text()


def lp_copy(folder: Path, module: str, method: str, extra: str = "") -> Path:
    """The WGAN-LP example under another module and method name (``extra``: appended code)."""
    path = folder / f"{module}.py"
    text = LP_SOURCE.replace('register_method("wgan_lp")', f'register_method("{method}")')
    path.write_text(text + extra)
    return path


BROKEN = {  # module source -> what the one line must say
    "raise RuntimeError('needs a GPU driver')": "RuntimeError: needs a GPU driver (",
    "def f(:\n    pass\n": "SyntaxError: ",
    "import no_such_dependency_xyz\n": "it needs the module 'no_such_dependency_xyz', which is "
    "not installed",
    "x = 1 / 0\n": "ZeroDivisionError: division by zero (",
}


@pytest.mark.parametrize("source", list(BROKEN))
def test_any_failure_of_a_plugin_import_is_one_line_naming_plugin_module_and_error(
    plugin_dir, capsys, source
):
    from ssgan.cli import main

    name = f"broken_{abs(hash(source)) % 10**8}"
    (plugin_dir / f"{name}.py").write_text(source)
    with pytest.raises(ConfigError) as info:
        C.resolve("mnist", "wgan_gp", 0, None, {"plugins": [name]})
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"plugin module '{name}' (config key 'plugins')")
    assert BROKEN[source] in msg and "PYTHONPATH" not in msg
    if "SyntaxError" in msg or "(" == BROKEN[source][-1]:
        assert f"{name}.py:" in msg  # where: the plugin's file and line
    capsys.readouterr()
    argv = ["train", "--dataset", "mnist", "--method", "wgan_gp", "--seed", "0"]
    assert main([*argv, "--out", str(plugin_dir / "run"), f"plugins=[{name}]"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and BROKEN[source] in err and "Traceback" not in err
    assert not (plugin_dir / "run").exists()


def test_a_plugin_not_found_is_told_to_check_its_path():
    with pytest.raises(
        ConfigError,
        match=r"'no_such_plugin_q' .*no module named 'no_such_plugin_q' \(is its folder",
    ):
        C.resolve("mnist", "wgan_gp", 0, None, {"plugins": ["no_such_plugin_q"]})


def test_the_workflow_names_a_plugin_that_raises_in_one_line(tmp_path):
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "raising_plugin.py").write_text("raise RuntimeError('licence server down')\n")
    path = tiny_suite(tmp_path)
    suite = yaml.safe_load(path.read_text())
    suite["plugins"] = ["raising_plugin"]
    path.write_text(yaml.safe_dump(suite))
    proc = snakemake("-n", "--configfile", str(path), env={"PYTHONPATH": f"{folder}:{REPO}"})
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in out
    line = next(ln for ln in out.splitlines() if "invalid config" in ln)
    assert "plugin module 'raising_plugin'" in line and "RuntimeError: licence server down" in line


@pytest.mark.parametrize("kind", ["method", "dataset"])
def test_a_plugin_cannot_replace_a_built_in_method_or_dataset(plugin_dir, kind):
    from ssgan.data import DATASETS
    from ssgan.methods import METHODS

    mnist_loader, ssgan_cls = DATASETS["mnist"].loader, METHODS["ssgan"]
    source = {
        "method": "from ssgan.methods import register_method\n"
        "from ssgan.methods.wgan_gp import WGANGP\n"
        "@register_method('ssgan')\nclass Fake(WGANGP):\n    pass\n",
        "dataset": "import torch\nfrom ssgan.data import register_dataset\n"
        "@register_dataset('mnist', 32, 1, ('train',), 'nowhere')\n"
        "def fake(root, split, cfg):\n    return torch.zeros(64, 1, 32, 32, dtype=torch.uint8)\n",
    }[kind]
    (plugin_dir / f"clash_{kind}.py").write_text(source)
    with pytest.raises(ConfigError) as info:
        C.resolve("mnist", "wgan_gp", 0, None, {"plugins": [f"clash_{kind}"]})
    name = {"method": "ssgan", "dataset": "mnist"}[kind]
    assert f"{kind} name '{name}' is already registered by ssgan." in str(info.value)
    assert "\n" not in str(info.value)
    assert DATASETS["mnist"].loader is mnist_loader and METHODS["ssgan"] is ssgan_cls


def test_a_broken_entry_point_is_reported_by_commands_and_help_and_version_answer(
    monkeypatch, capsys, tmp_path
):
    from ssgan.cli import main

    broken = metadata.EntryPoint("broken", "no_such_package_ep.mod", plugins.GROUP)
    monkeypatch.setattr(plugins.metadata, "entry_points", lambda group: [broken])
    monkeypatch.setattr(plugins, "_entry_points_loaded", False)
    for flag in ("--help", "--version"):
        with pytest.raises(SystemExit) as info:
            main([flag])
        assert info.value.code == 0
    assert "not loaded: plugin 'broken'" in capsys.readouterr().out  # --help says it
    argv = ["train", "--dataset", "mnist", "--method", "wgan_gp", "--seed", "0"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "plugin 'broken' (entry point 'no_such_package_ep.mod'" in err


# ------------------------------------------------------------------ a plugin's code is identity
def test_a_plugin_methods_source_is_in_its_runs_hash_and_record_and_nowhere_else(
    plugin_dir, tmp_path, capsys
):
    import hashlib

    from ssgan.cli import main

    path = lp_copy(plugin_dir, "lp_identity", "wgan_lp_identity")
    plain = C.resolve("mnist", "wgan_gp", 0)
    argv = ["--dataset", "mnist", "--method", "wgan_lp_identity", "--seed", "0"]
    out = tmp_path / "run"
    assert main(["train", *argv, "--out", str(out), *TINY, "plugins=[lp_identity]"]) == 0
    record = json.loads((out / "run.json").read_text())
    code = record["config"]["plugin_code"]["method"]
    assert code["module"] == "lp_identity"
    assert code["source_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    # a built-in run, resolved with the plugin loaded, keeps its config and hash
    with_plugin = C.resolve("mnist", "wgan_gp", 0, None, {"plugins": ["lp_identity"]})
    assert "plugin_code" not in with_plugin and C.config_hash(with_plugin) == C.config_hash(plain)
    # an edit of the plugin (seen by the next process) makes the same command another run
    path.write_text(path.read_text() + "\n# tuned the penalty\n")
    plugins.module_identity.cache_clear()
    capsys.readouterr()
    assert main(["train", *argv, "--out", str(out), *TINY, "plugins=[lp_identity]"]) == 2
    err = capsys.readouterr().err
    assert "different config" in err and "plugin_code.method.source_sha256" in err
    assert C.config_hash(with_plugin) == C.config_hash(plain)


def test_the_module_name_of_a_plugin_is_not_its_identity(plugin_dir):
    lp_copy(plugin_dir, "lp_name_a", "wgan_lp_same")
    a = C.resolve("mnist", "wgan_lp_same", 0, None, {"plugins": ["lp_name_a"]})
    from ssgan.methods import METHODS

    del METHODS["wgan_lp_same"]
    lp_copy(plugin_dir, "lp_name_b", "wgan_lp_same")
    b = C.resolve("mnist", "wgan_lp_same", 0, None, {"plugins": ["lp_name_b"]})
    assert a["plugin_code"]["method"]["module"] != b["plugin_code"]["method"]["module"]
    assert C.config_hash(a) == C.config_hash(b)


def test_a_plugin_datasets_source_is_in_its_runs_hash(plugin_dir):
    source = (
        "import torch\nfrom ssgan.data import register_dataset\n"
        "@register_dataset('noise32', 32, 1, ('train',), 'made here')\n"
        "def noise(root, split, cfg):\n"
        "    return torch.zeros(64, 1, 32, 32, dtype=torch.uint8)\n"
    )
    path = plugin_dir / "noise_data.py"
    path.write_text(source)
    cfg = C.resolve("noise32", "wgan_gp", 0, None, {"plugins": ["noise_data"]})
    assert set(cfg["plugin_code"]) == {"dataset"}
    before = C.config_hash(cfg)
    path.write_text(source.replace("zeros", "ones"))
    plugins.module_identity.cache_clear()
    again = C.resolve("noise32", "wgan_gp", 0, None, {"plugins": ["noise_data"]})
    assert C.config_hash(again) != before


# ------------------------------------------------------------------ a plugin's config section
SECTION = """

@register_method("wgan_lp_sec")
class WithSection(WGANLP):
    config_section = {
        "name": "lp",
        "defaults": {"target": 1.0, "kind": "one_sided", "every": 1, "tag": None},
        "choices": {"kind": ("one_sided", "two_sided")},
        "positive_int": ("every",),
    }

    @classmethod
    def check_config(cls, cfg):
        if cfg["lp"]["target"] <= 0:
            raise ValueError("lp.target must be positive")
"""


def test_a_plugin_method_declares_its_config_section_with_defaults_and_rules(plugin_dir):
    lp_copy(plugin_dir, "lp_section", "wgan_lp_base", SECTION)
    load = {"plugins": ["lp_section"]}
    cfg = C.resolve("mnist", "wgan_lp_sec", 0, None, load)
    assert cfg["lp"] == {"target": 1.0, "kind": "one_sided", "every": 1, "tag": None}
    tuned = C.resolve("mnist", "wgan_lp_sec", 0, None, {**load, "lp": {"target": 0.5}})
    assert tuned["lp"]["target"] == 0.5 and C.config_hash(tuned) != C.config_hash(cfg)
    bad = {
        "lp.targt": "unknown config key 'lp.targt' (did you mean 'target'?)",
        "lp.kind": "config key 'lp.kind' must be one of ['one_sided', 'two_sided']",
        "lp.every": "config key 'lp.every' must be a positive integer, got 0",
        "lp.target": "method 'wgan_lp_sec': ValueError: lp.target must be positive",
    }
    values = {"lp.targt": 2.0, "lp.kind": "both", "lp.every": 0, "lp.target": -1.0}
    for key, needle in bad.items():
        override = {**load, "lp": {key.split(".")[1]: values[key]}}
        with pytest.raises(ConfigError) as info:
            C.resolve("mnist", "wgan_lp_sec", 0, None, override)
        assert needle in str(info.value)
    # other methods accept the section (a suite's defaults may set it) and never hash it
    plain = C.resolve("mnist", "wgan_gp", 0)
    other = C.resolve("mnist", "wgan_gp", 0, None, {**load, "lp": {"target": 3.0}})
    assert C.config_hash(other) == C.config_hash(plain)
    from ssgan.config.identity import recipe

    assert "lp" not in recipe(tuned) and "plugin_code" not in recipe(tuned)


def test_a_config_section_that_clashes_is_refused(plugin_dir):
    source = LP_SOURCE.replace('register_method("wgan_lp")', 'register_method("wgan_lp_clash")')
    source = source.replace(
        "    display_name =",
        '    config_section = {"name": "train", "defaults": {}}\n    display_name =',
    )
    (plugin_dir / "lp_clash.py").write_text(source)
    with pytest.raises(ConfigError, match="config section 'train' declared by a method"):
        C.resolve("mnist", "wgan_gp", 0, None, {"plugins": ["lp_clash"]})


# ------------------------------------------------------------------ the example, every option
def test_the_readme_example_trains_with_every_recipe_option(tmp_path):
    from ssgan.cli import main

    out = tmp_path / "run"
    recipe = [
        "train.accumulate=2",
        "train.g_batch_size=8",
        "train.lr_decay=linear",
        "train.ema_decay=0.9",
        "train.precision=bf16",
        "fid.generator=ema",
    ]
    argv = ["train", "--dataset", "mnist", "--method", "wgan_lp", "--seed", "0"]
    plugin = "plugins=[tests.plugins.wgan_lp_plugin]"
    assert main([*argv, "--out", str(out), *TINY, *recipe, plugin]) == 0
    record = json.loads((out / "run.json").read_text())
    assert (record["status"], record["iteration"]) == ("completed", 12)
    assert (out / "generator_ema.pt").is_file()
    log = (out / "train_log.csv").read_text().splitlines()
    assert len(log) == 13 and "nan" not in "".join(log[1:])


def test_plot_and_plan_load_the_plugins_of_the_results(plugin_dir, tmp_path, monkeypatch):
    from ssgan.analysis import plots
    from ssgan.analysis.runs import method_name

    lp_copy(plugin_dir, "lp_plot", "wgan_lp_plot")
    run = tmp_path / "results" / "runs" / "mnist" / "wgan_lp_plot" / "seed0"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"config": {"plugins": ["lp_plot"]}}))
    seen = []
    monkeypatch.setattr(
        plots, "plot_all", lambda *a: seen.append(method_name("wgan_lp_plot")) or []
    )
    args = type("A", (), {"results": str(tmp_path / "results"), "out": str(tmp_path / "f")})
    assert plots.cli(args) == 0 and seen == ["WGAN-LP"]
