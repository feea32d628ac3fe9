"""Method variants (a suite config's `methods:` mapping) and the grids they span."""

import json
import re

import pytest
import yaml

from ssgan import config as C
from ssgan.cli import main
from tests.conftest import TINY, job_counts, snakemake, trainings

SUITE = {
    "methods": {
        "wgan_gp": {},
        "ssgan": None,
        "ssgan_sigmoid": {"method": "ssgan", "sastm": {"gate": "sigmoid"}},
        "ssgan_r2": {
            "method": "ssgan",
            "sastm": {"reduction": 2},
            "datasets": ["mnist"],
            "seeds": [1],
        },
    },
    "seeds": [0, 1],
    "defaults": {"model": {"width": 8}},
    "datasets": {"mnist": {}, "fashion_mnist": {"sastm": {"gate": "relu"}}},
}


def test_variant_resolves_to_its_registered_method_with_overrides():
    cfg = C.resolve("fashion_mnist", "ssgan_sigmoid", 0, SUITE)
    assert (cfg["method"], cfg["method_label"], cfg["sastm"]["gate"]) == (
        "ssgan",
        "ssgan_sigmoid",
        "sigmoid",
    )
    plain = C.resolve("mnist", "ssgan", 0, SUITE)
    assert (plain["method"], plain["method_label"], plain["sastm"]["gate"]) == (
        "ssgan",
        "ssgan",
        "relu",
    )
    # the label alone does not change the config hash (old runs keep theirs); the overrides do
    assert C.config_hash({**plain, "method_label": "other"}) == C.config_hash(plain)
    assert C.config_hash(cfg) != C.config_hash(C.resolve("fashion_mnist", "ssgan", 0, SUITE))
    listed = C.resolve("mnist", "ssgan", 0, {**SUITE, "methods": ["wgan_gp", "ssgan"]})
    assert C.config_hash(listed) == C.config_hash(plain)


@pytest.mark.parametrize(
    "methods, message",
    [
        ({"ssgan_x": {"method": "ssgan", "sastm": {"gates": "relu"}}}, "'sastm.gates'"),
        ({"ssgan_x": {"method": "ssgan", "sastm": {"gate": "tanh"}}}, "'sastm.gate'"),
        ({"ssgan_x": {"method": "nosuch"}}, "unknown method 'nosuch'"),
        ({"ssgan_x": {"sastm": {"gate": "relu"}}}, "unknown method 'ssgan_x'"),
        ({"ssgan_x": {"method": "ssgan", "optimiser": {}}}, "'optimiser'"),
        ({"ssgan_x": "ssgan"}, "'methods.ssgan_x' must be a mapping"),
    ],
)
def test_bad_variants_are_named(methods, message):
    with pytest.raises(C.ConfigError, match=re.escape(message)) as err:
        C.resolve("mnist", "ssgan_x", 0, {**SUITE, "methods": methods})
    assert "\n" not in str(err.value)


def test_label_not_in_a_mapping_is_an_error():
    with pytest.raises(C.ConfigError) as err:
        C.resolve("mnist", "ssgan_y", 0, SUITE)
    assert str(err.value) == (
        "method 'ssgan_y' is not in the config's 'methods'; it has: wgan_gp, ssgan, "
        "ssgan_sigmoid, ssgan_r2"
    )


def test_grid_takes_a_variants_slice():
    g = C.grid(SUITE)
    assert [x for x in g if x[1] == "ssgan_r2"] == [("mnist", "ssgan_r2", 1)]
    assert len(g) == 3 * 2 * 2 + 1
    assert C.grid({**SUITE, "methods": ["wgan_gp"]}) == [
        (d, "wgan_gp", s) for d in ("mnist", "fashion_mnist") for s in (0, 1)
    ]
    for seeds in ([7], 1, []):
        bad = {**SUITE, "methods": {"v": {"method": "ssgan", "seeds": seeds}}}
        with pytest.raises(C.ConfigError, match=r"'methods\.v\.seeds' must list some of"):
            C.grid(bad)
    bad = {**SUITE, "methods": {"v": {"method": "ssgan", "datasets": ["cifar10"]}}}
    with pytest.raises(C.ConfigError) as err:
        C.grid(bad)
    assert str(err.value) == (
        "config key 'methods.v.datasets' must list some of the config's datasets "
        "(mnist, fashion_mnist), got ['cifar10']"
    )


def test_train_records_label_and_registered_method(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump(SUITE))
    out = tmp_path / "run"
    args = ["train", "--dataset", "mnist", "--method", "ssgan_sigmoid", "--seed", "0"]
    assert main([*args, "--out", str(out), "--config", str(suite), *TINY]) == 0
    run = json.loads((out / "run.json").read_text())
    assert (run["method"], run["method_kind"]) == ("ssgan_sigmoid", "ssgan")
    assert (run["config"]["method"], run["config"]["sastm"]["gate"]) == ("ssgan", "sigmoid")
    assert run["params"]["sastm"] > 0
    # the sigmoid gate never gives exact zeros: the variant really ran
    rows = (out / "probe_sparsity.csv").read_text().splitlines()[1:]
    assert rows and all(float(r.split(",")[2]) == 0.0 for r in rows)


def test_dry_run_ablation_grid(tmp_path):
    args = ["--config", f"results={tmp_path / 'r'}", f"figures={tmp_path / 'f'}"]
    proc = snakemake("-n", "--configfile", "config/ablation.yaml", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = job_counts(proc.stdout)
    assert trainings(proc.stdout) == counts["fid"] == 3 * 12 * 7 and counts["prepare_data"] == 3
    labels = set(re.findall(r"runs/\w+/(\w+)/seed\d+/run\.json", proc.stdout))
    assert labels == {
        "wgan_gp",
        "ssgan",
        "ssgan_sigmoid",
        "ssgan_channel",
        "ssgan_spatial",
        "ssgan_sum",
        "ssgan_r16",
        "ssgan_on_output",
        "ssgan_after_bn",
        "ssgan_init_open",
        "ssgan_init_balanced",
        "ssgan_balanced_after_bn",
    }


def test_dry_run_quick_variant_is_a_slice(tmp_path):
    args = ["--config", f"results={tmp_path / 'r'}", f"figures={tmp_path / 'f'}"]
    proc = snakemake("-n", "--configfile", "config/quick.yaml", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert job_counts(proc.stdout)["train"] == 2 * 2 * 2 + 4  # + suite SASTM, stu, sn, sr
    for label in ("ssgan_balanced_after_bn", "stu_gan", "sn_gan", "sr_gan"):
        runs = re.findall(rf"runs/(\w+)/{label}/seed(\d+)/run\.json", proc.stdout)
        assert set(runs) == {("mnist", "0")}, label
