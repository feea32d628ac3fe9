"""The Python interface (ssgan/api.py, docs/api.md): ``import ssgan`` stays free of torch, the
names resolve to ssgan.api, configs resolve as the CLI's do, and docs/api.md's session runs
block by block (real training, real Inception: slow)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import ssgan
from ssgan.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "api.md"


def code_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.M | re.S)


def test_import_ssgan_loads_no_torch_and_the_names_are_the_api():
    code = "import sys, ssgan; print('torch' in sys.modules, ssgan.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.split() == ["False", ssgan.__version__], out.stderr
    from ssgan import api

    assert sorted(ssgan.API) == sorted(api.__all__)
    assert all(getattr(ssgan, name) is getattr(api, name) for name in ssgan.API)
    import warnings

    with warnings.catch_warnings():  # the moved module's old path must not shadow the API
        warnings.simplefilter("ignore", DeprecationWarning)
        import ssgan.train as old_path

    assert callable(ssgan.train_run) and ssgan.train is old_path
    with pytest.raises(AttributeError, match="no attribute 'tran'"):
        ssgan.tran  # noqa: B018


def test_resolve_config_takes_dotted_and_nested_overrides_as_the_cli_does():
    from ssgan import config as C

    dotted = ssgan.resolve_config("mnist", "ssgan", 3, {"train.iterations": 40, "model.width": 8})
    nested = ssgan.resolve_config(
        "mnist", "ssgan", 3, {"train": {"iterations": 40}, "model.width": 8}
    )
    cli = C.resolve(
        "mnist", "ssgan", 3, None, C.parse_overrides(["train.iterations=40", "model.width=8"])
    )
    both = ssgan.resolve_config(
        "mnist", "ssgan", 3, {"train": {"iterations": 40}, "train.n_critic": 2}
    )
    assert dotted == nested == cli and dotted["train"]["iterations"] == 40
    assert both["train"]["iterations"] == 40 and both["train"]["n_critic"] == 2
    assert dotted["seed"] == 3 and dotted["method"] == "ssgan"
    with pytest.raises(ConfigError, match="unknown config key 'train.iteration'"):
        ssgan.resolve_config("mnist", "ssgan", 0, {"train.iteration": 40})


def test_fid_of_a_generator_needs_a_dataset_and_runs_table_a_results_folder(tmp_path):
    import torch

    with pytest.raises(ConfigError, match=r"needs dataset=\.\.\."):
        ssgan.fid(torch.nn.Identity())
    with pytest.raises(ConfigError, match="does not exist"):
        ssgan.fid(tmp_path / "nothing", dataset="mnist")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a generator file"):
        ssgan.fid(tmp_path / "file", dataset="mnist")
    with pytest.raises(ConfigError, match="holds no runs/ folder"):
        ssgan.runs_table(tmp_path)


def test_the_doc_has_the_session_blocks():
    blocks = code_blocks(DOC.read_text())
    assert len(blocks) == 4 and "ssgan.train_run(" in blocks[0] and "ssgan.compare(" in blocks[3]


@pytest.mark.slow
def test_every_code_block_of_docs_api_runs(tmp_path, monkeypatch, fid_cache):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SSGAN_CACHE_DIR", str(fid_cache))
    namespace: dict = {"__name__": "__docs_api__"}
    for i, block in enumerate(code_blocks(DOC.read_text())):
        exec(compile(block, f"docs/api.md block {i + 1}", "exec"), namespace)  # noqa: S102
    assert (tmp_path / "results/runs/mnist/ssgan/seed1/fid.json").is_file()
    assert namespace["reduction"]["comparison"].tolist() == ["ssgan vs wgan_gp"]


@pytest.mark.parametrize(
    "edit, needle",
    [
        (
            lambda c: c.__setitem__("trian", c.pop("train")),
            "unknown config key 'trian' (did you mean 'train'?)",
        ),
        (
            lambda c: c["train"].__setitem__("iteratons", 5),
            "unknown config key 'train.iteratons' (did you mean 'iterations'?)",
        ),
        (lambda c: c.__setitem__("train", 5), "config key 'train' must be a mapping"),
        (lambda c: c["train"].pop("lr"), "config key(s) train.lr missing"),
        (
            lambda c: c["train"].__setitem__("iterations", 0),
            "'train.iterations' must be a positive integer",
        ),
    ],
    ids=["section", "key", "not_a_section", "missing", "value"],
)
def test_train_run_checks_a_config_dict_as_the_cli_does(tmp_path, edit, needle):
    cfg = ssgan.resolve_config("mnist", "wgan_gp", 0, {"train.iterations": 2, "model.width": 8})
    edit(cfg)
    with pytest.raises(ConfigError) as info:
        ssgan.train_run(cfg, tmp_path / "run")
    assert needle in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "run").exists()
