"""Config resolution: defaults <- suite <- overrides; unknown keys and bad values are named."""

import pytest

from ssgan import config as C
from tests.conftest import ssgan_cli


def test_layers_and_hash():
    suite = {
        "defaults": {"train": {"iterations": 100}},
        "datasets": {"mnist": {"train": {"iterations": 50}, "model": {"width": 16}}},
    }
    cfg = C.resolve(
        "mnist", "ssgan", 2, suite, C.parse_overrides(["model.width=8", "sastm.gate=sigmoid"])
    )
    assert (
        cfg["train"]["iterations"] == 50
        and cfg["model"]["width"] == 8
        and cfg["sastm"]["gate"] == "sigmoid"
    )
    assert cfg["seed"] == 2 and cfg["train"]["n_critic"] == 5
    other = C.resolve(
        "mnist",
        "ssgan",
        2,
        suite,
        C.parse_overrides(["model.width=8", "sastm.gate=sigmoid", "train.device=cpu"]),
    )
    assert C.config_hash(cfg) == C.config_hash(
        other
    )  # the device is not part of the result's identity
    assert C.config_hash(cfg) != C.config_hash(C.resolve("mnist", "ssgan", 3, suite))


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["trian.iterations=5"], "unknown config key 'trian' (did you mean 'train'?)"),
        (
            ["train.iteratoins=5"],
            "unknown config key 'train.iteratoins' (did you mean 'iterations'?)",
        ),
        (["train.iterations=0"], "'train.iterations' must be a positive integer"),
        (["train.iterations=2.5"], "'train.iterations' must be a positive integer"),
        (["sastm.gate=tanh"], "'sastm.gate' must be one of"),
        (["data.resolution=40"], "'data.resolution' must be 32, 48 or 64"),
        (["fid.n_fake=0"], "'fid.n_fake' must be a positive integer"),
        (["train.lr=-1"], "'train.lr' must be positive"),
        (["train.deterministic=maybe"], "'train.deterministic' must be true or false"),
        (["model=3"], "'model' must be a mapping"),
    ],
)
def test_bad_overrides_are_named(overrides, message):
    with pytest.raises(C.ConfigError) as err:
        C.resolve("mnist", "ssgan", 0, overrides=C.parse_overrides(overrides))
    assert message in str(err.value)


def test_bad_identity():
    with pytest.raises(C.ConfigError, match="unknown dataset 'mnsit'"):
        C.resolve("mnsit", "ssgan", 0)
    with pytest.raises(C.ConfigError, match="unknown method 'sgan'"):
        C.resolve("mnist", "sgan", 0)
    with pytest.raises(C.ConfigError, match="'seed' must be a non-negative integer"):
        C.resolve("mnist", "ssgan", -1)


def test_cli_reports_config_errors_without_traceback(tmp_path):
    proc = ssgan_cli(
        "train",
        "--dataset",
        "mnist",
        "--method",
        "ssgan",
        "--seed",
        "0",
        "--out",
        str(tmp_path / "r"),
        "train.n_critc=3",
        check=False,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "unknown config key 'train.n_critc' (did you mean 'n_critic'?)" in proc.stderr
    assert not (tmp_path / "r").exists()
