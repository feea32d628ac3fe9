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


def test_per_resolution_defaults_follow_the_reference_scripts():
    # The table in defaults.yaml: 32/48 px as the official 32 px WGAN-GP scripts, 64 px as its
    # 64 px script (Adam beta1 = 0, layer-normalised critic).
    expected = {32: (0.5, "none"), 48: (0.5, "none"), 64: (0.0, "layernorm")}
    assert {
        r: (v["train"]["beta1"], v["model"]["critic_norm"]) for r, v in C.PER_RESOLUTION.items()
    } == expected
    for dataset, res in [
        ("mnist", 32),
        ("cifar10", 32),
        ("stl10", 48),
        ("celeba_hq", 64),
        ("mini_imagenet", 64),
        ("lsun_bedroom", 64),
        ("image_folder", 64),
    ]:
        cfg = C.resolve(dataset, "wgan_gp", 0)
        assert (cfg["train"]["beta1"], cfg["model"]["critic_norm"]) == expected[res], dataset
    # a resolution override picks that resolution's row
    cfg = C.resolve("mnist", "wgan_gp", 0, overrides={"data": {"resolution": 64}})
    assert (cfg["train"]["beta1"], cfg["model"]["critic_norm"]) == expected[64]
    # every value stays one key away, and the hash sees the values used
    over = C.resolve("celeba_hq", "wgan_gp", 0, overrides={"train": {"beta1": 0.5}})
    assert (over["train"]["beta1"], over["model"]["critic_norm"]) == (0.5, "layernorm")
    explicit = C.resolve(
        "celeba_hq",
        "wgan_gp",
        0,
        overrides={"train": {"beta1": 0.0}, "model": {"critic_norm": "layernorm"}},
    )
    base = C.resolve("celeba_hq", "wgan_gp", 0)
    assert C.config_hash(base) == C.config_hash(explicit) != C.config_hash(over)
    for bad, msg in [
        ("train.beta1=1.5", "'train.beta1' must be a number in [0, 1)"),
        ("model.critic_norm=batchnorm", "'model.critic_norm' must be one of"),
        ("sastm.init=closed", "'sastm.init' must be one of"),
        ("fid.bn_mode=train", "'fid.bn_mode' must be one of"),
        ("fid.compare_bn_modes=[eval, train]", "'fid.compare_bn_modes' must be a list"),
        ("fid.bn_mode=batch", "must be a multiple of 'fid.batch_size'"),
    ]:
        with pytest.raises(C.ConfigError) as err:
            C.resolve("mnist", "ssgan", 0, overrides=C.parse_overrides([bad, "fid.n_fake=100"]))
        assert msg in str(err.value), bad
