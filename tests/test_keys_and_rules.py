"""Keys and rules: every field of the real-statistics cache key changes the key (the image
content hash included), and every validation rule of ssgan/config/resolve.py rejects a bad value and
accepts the boundary next to it, so removing or loosening a rule fails a test here."""

from __future__ import annotations

import copy
import re
from pathlib import Path, PurePosixPath

import pytest
import torch
import torch_fidelity
import yaml

from ssgan import config as C
from ssgan.metrics import real_stats
from ssgan.metrics.extractor import Inception, Weights

# ------------------------------------------------------------------ the real-statistics key


def inception(sha: str = "b" * 64) -> Inception:
    return Inception(Weights(path=Path("unused.pt"), sha256=sha, source="config"), "cpu")


def images(n: int = 20, channels: int = 1, size: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, channels, size, size), generator=g, dtype=torch.uint8)


def key(cfg=None, split="train", imgs=None, inc=None) -> str:
    cfg = cfg or C.resolve("mnist", "wgan_gp", 0)
    imgs = images() if imgs is None else imgs
    fields = real_stats.key_fields(cfg, split, imgs, inc or inception())
    return real_stats.stats_key(fields)


def _one_pixel_changed():
    x = images()
    x[7, 0, 5, 5] ^= 1
    return x


def _patched(monkeypatch, target, name, value):
    monkeypatch.setattr(target, name, value)
    return key()


# field -> how to change only what that field is computed from
KEY_CHANGES = {
    "data_sha256": lambda mp: key(imgs=_one_pixel_changed()),
    "dataset": lambda mp: key(cfg=C.resolve("fashion_mnist", "wgan_gp", 0)),
    "split": lambda mp: key(split="test"),
    "resolution": lambda mp: key(
        cfg=C.resolve("mnist", "wgan_gp", 0, overrides={"data": {"resolution": 64}})
    ),
    "channels": lambda mp: key(
        cfg=C.resolve("mnist", "wgan_gp", 0, overrides={"data": {"channels": 3}})
    ),
    "n_real": lambda mp: key(imgs=images()[:19]),
    "weights_sha256": lambda mp: key(inc=inception("c" * 64)),
    "version": lambda mp: _patched(mp, real_stats, "CACHE_VERSION", real_stats.CACHE_VERSION + 1),
    "extractor": lambda mp: _patched(mp, real_stats, "EXTRACTOR", "another-extractor"),
    "feature": lambda mp: _patched(mp, real_stats, "FEATURE", "768"),
    "resize": lambda mp: _patched(mp, real_stats, "RESIZE", "pil-bicubic"),
    "torch_fidelity": lambda mp: _patched(mp, torch_fidelity, "__version__", "9.9.9"),
}


def test_key_fields_are_all_covered_here():
    fields = real_stats.key_fields(C.resolve("mnist", "wgan_gp", 0), "train", images(), inception())
    assert set(fields) == set(KEY_CHANGES), "a new key field needs a case in KEY_CHANGES"


def test_key_is_stable_for_equal_inputs():
    assert key() == key(imgs=images().clone())


@pytest.mark.parametrize("field", list(KEY_CHANGES))
def test_each_key_field_changes_the_key(field, monkeypatch):
    before = key()
    assert KEY_CHANGES[field](monkeypatch) != before


# -------------------------------------------------------------------- validation rules


def resolve(*overrides: str, dataset="mnist", method="ssgan", seed=0):
    return C.resolve(dataset, method, seed, overrides=C.parse_overrides(list(overrides)))


def rejects(message: str, *overrides: str, **identity):
    with pytest.raises(C.ConfigError) as err:
        resolve(*overrides, **identity)
    assert message in str(err.value)


POSITIVE_INT = [
    "train.iterations",
    "train.batch_size",
    "train.n_critic",
    "train.log_every",
    "train.checkpoint_every",
    "train.keep_checkpoints",
    "train.sample_every",
    "train.sample_grid",
    "probe.every",
    "probe.batch_size",
    "probe.hist_bins",
    "model.width",
    "model.z_dim",
    "sastm.reduction",
    "stu.update_every",
    "fid.n_fake",
    "fid.n_real",
    "fid.batch_size",
    "fid.kid_subset_size",
    "fid.prc_k",
    "fid.dc_k",
    "fid.manifold_samples",
]


@pytest.mark.parametrize("key", POSITIVE_INT)
def test_positive_integer_keys(key):
    for bad in ("0", "-3", "2.5", "true", "abc"):
        rejects(f"'{key}' must be a positive integer", f"{key}={bad}")
    section, leaf = key.split(".")
    least = 2 if key == "train.batch_size" else 1  # BatchNorm needs two samples
    assert resolve("model.width=8", "sastm.reduction=1", f"{key}={least}")[section][leaf] == least


CHOICES = {
    "sastm.gate": ["relu", "sigmoid"],
    "sastm.branches": ["both", "channel", "spatial"],
    "sastm.recombination": ["product", "sum"],
    "sastm.position": ["before_bn", "after_bn"],
    "data.split": ["train", "test", "unlabeled", "train+unlabeled", "val"],
    "fid.split": ["train", "test", "unlabeled", "train+unlabeled", "val"],
    "stu.growth_g": ["gradient", "random"],
    "stu.growth_d": ["gradient", "random"],
    "train.precision": ["fp32", "tf32", "bf16"],
    "train.cuda_graph": ["auto", True, False],
}


@pytest.mark.parametrize("key", list(CHOICES))
def test_choice_keys(key):
    rejects(f"config key '{key}' must be one of", f"{key}=nonsense")
    for value in CHOICES[key]:
        section, leaf = key.split(".")
        assert resolve(f"{key}={value}")[section][leaf] == value


@pytest.mark.parametrize(
    "key",
    [
        "data.download",
        "train.deterministic",
        "fid.allow_download",
        "sastm.on_output",
        "stu.explore",
        "stu.reset_adam",
    ],
)
def test_boolean_keys(key):
    for bad in ("1", "maybe", "0.0"):
        rejects(f"config key '{key}' must be true or false", f"{key}={bad}")
    assert resolve(f"{key}=true")[key.split(".")[0]][key.split(".")[1]] is True


@pytest.mark.parametrize(
    "key",
    [
        "train.lr",
        "train.beta1",
        "train.beta2",
        "train.gp_lambda",
        "stu.density_g",
        "stu.density_d",
        "stu.death_rate",
    ],
)
def test_number_keys(key):
    for bad in ("abc", "true", "[1]"):
        rejects(f"config key '{key}' must be a number", f"{key}={bad}")
    value = 0 if "beta" in key else 1  # an int is a number (Adam's betas lie in [0, 1))
    assert resolve(f"{key}={value}")[key.split(".")[0]][key.split(".")[1]] == value


def test_learning_rate_must_be_positive():
    rejects("'train.lr' must be positive", "train.lr=0")
    rejects("'train.lr' must be positive", "train.lr=-0.001")
    assert resolve("train.lr=0.000001")["train"]["lr"] == 1e-6


def test_sastm_reduction_must_not_exceed_width():
    rejects("'sastm.reduction' must not exceed 'model.width'", "model.width=8", "sastm.reduction=9")
    assert resolve("model.width=8", "sastm.reduction=8")["sastm"]["reduction"] == 8


@pytest.mark.parametrize("res", [32, 48, 64])
def test_resolution_values(res):
    assert resolve(f"data.resolution={res}")["data"]["resolution"] == res
    for bad in (res - 1, res + 1):
        rejects("'data.resolution' must be 32, 48 or 64", f"data.resolution={bad}")


def test_channel_values():
    assert resolve("data.channels=1")["data"]["channels"] == 1
    assert resolve("data.channels=3")["data"]["channels"] == 3
    for bad in (0, 2, 4):
        rejects("'data.channels' must be 1 or 3", f"data.channels={bad}")


def test_max_images_values():
    for bad in ("0", "-1", "2.5", "true", "many"):
        rejects("'data.max_images' must be a positive integer or null", f"data.max_images={bad}")
    assert resolve("data.max_images=1")["data"]["max_images"] == 1
    assert resolve("data.max_images=")["data"]["max_images"] is None


def test_identity_rules():
    rejects("unknown dataset 'mnsit'", dataset="mnsit")
    rejects("unknown method 'sgan'", method="sgan")
    for bad in (-1, True, 1.5, "0"):
        rejects("config key 'seed' must be a non-negative integer", seed=bad)
    assert resolve(seed=0)["seed"] == 0


def test_structure_rules(tmp_path):
    rejects(
        "unknown config key 'train.iteratoins' (did you mean 'iterations'?)", "train.iteratoins=5"
    )
    rejects("config key 'train' must be a mapping", "train=5")
    with pytest.raises(C.ConfigError, match="not of the form key=value"):
        C.parse_overrides(["train.iterations"])
    with pytest.raises(C.ConfigError, match="does not exist"):
        C.load_yaml(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(C.ConfigError, match="must hold a mapping"):
        C.load_yaml(tmp_path / "list.yaml")
    with pytest.raises(C.ConfigError, match="unknown config key 'dataset'"):
        C.resolve("mnist", "ssgan", 0, {"dataset": {}, "datasets": {"mnist": {}}})
    with pytest.raises(C.ConfigError, match="'cifar10' is not in the config's 'datasets'"):
        C.resolve("cifar10", "ssgan", 0, {"datasets": {"mnist": {}}})
    with pytest.raises(C.ConfigError, match=r"unknown config key 'train.lrr'.*\(in defaults\)"):
        C.resolve(
            "mnist", "ssgan", 0, {"defaults": {"train": {"lrr": 1}}, "datasets": {"mnist": {}}}
        )


def test_path_rules(tmp_path):
    cfg = resolve(f"data.root={tmp_path / 'nowhere'}")
    with pytest.raises(C.ConfigError, match="'data.root'.*not a directory"):
        C.check_paths(cfg)
    C.check_paths(resolve(f"data.root={tmp_path}"))
    with pytest.raises(C.ConfigError, match="'data.path' \\(the folder of images\\) is not set"):
        C.check_paths(resolve(dataset="image_folder"))
    with pytest.raises(C.ConfigError, match="'data.path' of dataset 'image_folder'"):
        C.check_paths(resolve(f"data.root={tmp_path}", "data.path=imgs", dataset="image_folder"))
    (tmp_path / "imgs").mkdir()
    C.check_paths(resolve(f"data.root={tmp_path}", "data.path=imgs", dataset="image_folder"))


def test_messages_name_the_choices():
    with pytest.raises(C.ConfigError, match=r"^unknown dataset 'mnsit'; known: (\w+, )+\w+$"):
        resolve(dataset="mnsit")
    with pytest.raises(C.ConfigError, match=r"^unknown method 'sgan'; known: (\w+, )+\w+; ") as e:
        resolve(method="sgan")
    assert "plugins=[module]" in str(e.value) and "'plugins:'" in str(e.value)
    with pytest.raises(C.ConfigError, match=r"^config key 'sastm.reduction' must not exceed"):
        resolve("model.width=8", "sastm.reduction=9")
    with pytest.raises(
        C.ConfigError,
        match=r"^unknown config key 'zzz'; known keys here: (\w+, )+\w+ \(in the key=value overrides\)$",
    ):
        resolve("zzz=1")  # no close match: no hint
    with pytest.raises(C.ConfigError, match=r"it has: none$"):
        C.resolve("mnist", "ssgan", 0, {"datasets": {}})


def test_overrides_split_at_the_first_equals_sign():
    assert C.parse_overrides(["data.path=/a=b"]) == {"data": {"path": "/a=b"}}


def test_empty_yaml_is_an_empty_config(tmp_path):
    (tmp_path / "empty.yaml").write_text("")
    assert C.load_yaml(tmp_path / "empty.yaml") == {}


def test_suite_entry_names_its_registry_dataset():
    suite = {"datasets": {"sketch": {"dataset": "image_folder", "data": {"path": "/x"}}}}
    cfg = C.resolve("sketch", "ssgan", 0, suite)
    assert (cfg["dataset"], cfg["label"], cfg["data"]["path"]) == ("image_folder", "sketch", "/x")


def test_absolute_data_path_is_not_put_under_the_root(tmp_path):
    (tmp_path / "imgs").mkdir()
    cfg = resolve(
        f"data.root={tmp_path / 'root'}", f"data.path={tmp_path / 'imgs'}", dataset="image_folder"
    )
    (tmp_path / "root").mkdir()
    C.check_paths(cfg)


def test_resolution_copies_and_never_mutates():
    d = C.defaults()
    d["train"]["lr"] = 5.0
    assert C.defaults()["train"]["lr"] != 5.0
    base = C.defaults()
    merged = C.merge(base, {"train": {"lr": 0.5}})
    assert base["train"]["lr"] != 0.5 and merged["train"]["lr"] == 0.5
    value = {"x": [1]}
    out = C.merge({"k": None}, {"k": value})
    value["x"].append(2)
    assert out["k"] == {"x": [1]}
    cfg = resolve()
    before = copy.deepcopy(cfg)
    C.config_hash(cfg)
    assert cfg == before


@pytest.mark.parametrize(
    "override", ["train.device=cpu", "fid.device=cpu", "data.num_workers=3", "data.root=/elsewhere"]
)
def test_run_identity_ignores_device_workers_and_data_root(override):
    assert C.config_hash(resolve(override)) == C.config_hash(resolve())


def test_cuda_graph_is_auto_or_a_boolean():
    for bad in ("1", "0", "yes_please"):
        rejects("config key 'train.cuda_graph' must be", f"train.cuda_graph={bad}")


def test_run_identity_ignores_graphs_and_keeps_fp32_hashes():
    """Graphs replay the same operations; precision fp32 is what runs computed before the key
    existed, so their hash (and checkpoints) stay valid; another precision is another run."""
    assert C.config_hash(resolve("train.cuda_graph=false")) == C.config_hash(resolve())
    without = resolve()
    del without["train"]["precision"]
    assert C.config_hash(without) == C.config_hash(resolve("train.precision=fp32"))
    assert C.config_hash(resolve("train.precision=bf16")) != C.config_hash(resolve())
    assert C.config_hash(resolve("train.precision=tf32")) != C.config_hash(resolve())


def test_run_identity_does_not_depend_on_key_order():
    cfg = resolve()
    shuffled = {k: cfg[k] for k in reversed(list(cfg))}
    shuffled["train"] = {k: cfg["train"][k] for k in reversed(list(cfg["train"]))}
    assert C.config_hash(shuffled) == C.config_hash(cfg)
    assert C.config_hash(resolve("train.lr=0.5")) != C.config_hash(cfg)


def test_unknown_key_hint_compares_the_last_part_only():
    rejects("unknown config key 'sastm.gatee' (did you mean 'gate'?)", "sastm.gatee=relu")


def test_known_names_are_listed_exactly():
    from ssgan.data import DATASETS
    from ssgan.methods import METHODS

    for bad, known in (("mnsit", DATASETS), ("sgan", METHODS)):
        ident = {"dataset": bad} if known is DATASETS else {"method": bad}
        with pytest.raises(C.ConfigError) as err:
            resolve(**ident)
        hint = C.PLUGIN_HINT if known is METHODS else ""  # a method may come from a plugin
        assert str(err.value).endswith(f"; known: {', '.join(sorted(known))}{hint}")
    with pytest.raises(C.ConfigError) as err:
        resolve("train.zzz=1")
    known = ", ".join(sorted(C.defaults()["train"]))
    assert str(err.value).endswith(f"known keys here: {known} (in the key=value overrides)")
    with pytest.raises(C.ConfigError, match="it has: a, b$"):
        C.resolve("mnist", "ssgan", 0, {"datasets": {"a": {}, "b": {}}})


def test_suite_data_root_and_run_config_files():
    suite = {"data_root": "/somewhere", "datasets": {"mnist": {}}}
    assert C.resolve("mnist", "ssgan", 0, suite)["data"]["root"] == "/somewhere"
    assert C.resolve("mnist", "ssgan", 0, {"train": {"iterations": 7}})["train"]["iterations"] == 7
    with pytest.raises(C.ConfigError) as err:
        C.resolve("mnist", "ssgan", 0, {"train": {"iteratoins": 7}})
    assert str(err.value).endswith("(in the --config file)")  # a run-config file, not a suite layer


def test_merged_config_shares_nothing_with_its_base():
    base = C.defaults()
    merged = C.merge(base, {})
    merged["train"]["lr"] = 9.0
    assert base["train"]["lr"] != 9.0


def test_default_data_root_is_data(monkeypatch):
    monkeypatch.delenv("SSGAN_DATA_ROOT")
    assert C.data_root(resolve()) == Path("data")


def test_stats_key_digest_length():
    assert re.fullmatch(r"mnist-train-32px-1ch-n20-[0-9a-f]{20}", key())


def test_duplicate_keys_and_syntax_errors_name_file_line_and_column(tmp_path):
    f = tmp_path / "dup.yaml"
    f.write_text("train:\n  lr: 1\n  lr: 2\n")
    with pytest.raises(C.ConfigError) as err:
        C.load_yaml(f)
    assert str(err.value) == (
        f"{f}:3:3: duplicate key 'lr' (first at line 2); one of the two would be silently lost"
    )
    f.write_text("seed: 0\nx: 1\ntrain: {}\nx: 2\n")
    with pytest.raises(C.ConfigError) as err:
        C.load_yaml(f)
    assert str(err.value).startswith(f"{f}:4:1: duplicate key 'x' (first at line 2);")
    f.write_text("train: [1, 2\n")
    with pytest.raises(C.ConfigError, match=f"^{re.escape(str(f))}:2:1: malformed YAML: "):
        C.load_yaml(f)


def test_upgrade_adds_the_legacy_keys_and_keeps_the_given_ones():
    old = {"train": {"precision": "bf16", "lr": 0.1}, "fid": {"bn_mode": "train"}}
    C.upgrade(old)
    recipe = {"g_batch_size": None, "accumulate": 1, "lr_decay": "none", "ema_decay": None}
    assert old["train"] == {
        "precision": "bf16",
        "lr": 0.1,
        "cuda_graph": False,
        **recipe,
        "ema_start": 0,
    }
    assert old["fid"] == {**C.LEGACY["fid"], "bn_mode": "train"}
    assert "sastm" not in old  # a section the record lacks stays absent
    old["fid"]["compare_bn_modes"].append("eval")
    assert C.LEGACY["fid"]["compare_bn_modes"] == []  # copies, not the shared defaults
    assert C.upgrade({}) == {}


def check_devices_with(monkeypatch, available, count, train="cpu", fid="cpu"):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    C.check_devices({"train": {"device": train}, "fid": {"device": fid}})


def test_cuda_devices_must_exist(monkeypatch):
    check_devices_with(monkeypatch, False, 0)  # the CPU needs no CUDA
    for train, fid in [("cuda", "cpu"), ("cpu", "cuda:0")]:
        key, name = ("train.device", train) if train != "cpu" else ("fid.device", fid)
        with pytest.raises(C.ConfigError) as err:
            check_devices_with(monkeypatch, False, 0, train, fid)
        assert str(err.value) == f"config key '{key}' is '{name}' but no CUDA device is available"
    check_devices_with(monkeypatch, True, 1, "cuda", "cuda:0")
    check_devices_with(monkeypatch, True, 2, "cuda:1", "cuda")
    for name, count in [("cuda:2", 2), ("cuda", 0), ("cuda:10", 3)]:
        with pytest.raises(C.ConfigError) as err:
            check_devices_with(monkeypatch, True, count, "cpu", name)
        assert str(err.value) == (
            f"config key 'fid.device' is '{name}' but there are only {count} CUDA devices"
        )


def test_a_list_as_a_key_is_a_one_line_error(tmp_path):
    f = tmp_path / "key.yaml"
    f.write_text("seed: 0\n? [a, b]\n: 1\n")
    with pytest.raises(
        C.ConfigError, match=f"^{re.escape(str(f))}:2:3: malformed YAML: found unhashable key$"
    ):
        C.load_yaml(f)


def test_yaml_and_override_errors_are_exact_one_line_messages():
    from ssgan.config import yaml_io as Y

    def message(fn, *args):
        with pytest.raises(C.ConfigError) as err:
            fn(*args)
        return str(err.value)

    assert message(Y.yaml_load, "a: [1, 2") == (
        "<config>:1:9: malformed YAML: expected ',' or ']', but got '<stream end>'"
    )
    assert message(Y.yaml_load, "a: b: c") == (
        "<config>:1:5: malformed YAML: mapping values are not allowed here"
    )
    assert message(Y.parse_overrides, ["train.lr=[1, 2"]) == (
        "override 'train.lr=[1, 2':1:6: malformed YAML: expected ',' or ']', but got '<stream end>'"
    )
    assert message(Y.parse_overrides, ["train=3", "train.lr=1"]) == (
        "override 'train.lr=1' sets a key inside 'train', a value"
    )
    assert message(Y.parse_overrides, ["train.lr=1", "train=3"]) == (
        "override 'train=3' would replace the section 'train' set by other overrides"
    )
    assert Y.parse_overrides(["train.lr="]) == {"train": {"lr": None}}
    assert Y.parse_overrides(["train.lr=XXXX"]) == {"train": {"lr": "XXXX"}}


def test_run_hash_is_pinned():
    """The hash names every run directory already written: its JSON form (sorted keys, compact
    separators, non-JSON values as str) must not change, or every result would look stale.
    Changed deliberately twice: the SASTM default became sastm.init balanced, position after_bn
    (issue 28), then the paper's literal form, init default, position before_bn (issue 33), so
    every ssgan run's config differs; with the former options set, the former hash returns."""
    assert C.config_hash(resolve()) == (
        "6b934df973ef16849e41653517cd6c9f387793a40f6fe964462b5e0d2ca18be5"
    )
    former = resolve()
    former["sastm"].update(init="balanced", position="after_bn")
    assert C.config_hash(former) == (
        "3431fc1266c38257fcfc8f4a37cdc300b772dbe147605dfc6baf81a23776b91c"
    )
    cfg = resolve()
    gate = cfg["sastm"]["gate"]
    cfg["sastm"]["gate"] = PurePosixPath(gate)  # a value JSON cannot hold is hashed as its str
    assert C.config_hash(cfg) == C.config_hash(resolve())


def test_run_hash_of_older_records_without_some_keys():
    """run.json of older versions may lack the variant label, an excluded key or a whole
    section, or name a method no longer registered: hashing them works and, where only
    non-hashed keys are missing, gives the same hash."""
    from ssgan.config.identity import HASH_EXCLUDED, HASH_OMITTED_AT, WHOLLY_EXCLUDED
    from ssgan.methods import METHODS

    old = resolve()
    old.pop("method_label", None)
    for key in HASH_EXCLUDED:
        section, leaf = key.split(".")
        old.get(section, {}).pop(leaf, None)
    assert C.config_hash(old) == C.config_hash(resolve())
    full = C.config_hash(resolve())
    unused = set(METHODS[resolve()["method"]].unused_sections)
    assert WHOLLY_EXCLUDED == ("log",)
    for key in [*HASH_EXCLUDED, *HASH_OMITTED_AT]:
        partial = resolve()
        section = key.split(".")[0]
        del partial[section]
        if section in unused or section in WHOLLY_EXCLUDED:  # never hashed for this method
            assert C.config_hash(partial) == full
        else:
            assert C.config_hash(partial) != full  # hashed, and the missing section counts
    retired = {**resolve(), "method": "retired_method"}
    assert C.config_hash(retired) == C.config_hash(dict(retired)) != full


@pytest.mark.parametrize(
    "error, message",
    [
        (yaml.MarkedYAMLError(), "<config>: malformed YAML: malformed YAML"),  # no mark, no text
        (yaml.YAMLError("first line\nsecond line"), "<config>: malformed YAML: first line"),
    ],
)
def test_yaml_errors_without_a_position_are_one_line_too(monkeypatch, error, message):
    from ssgan.config import yaml_io as Y

    def fail(self):
        raise error

    monkeypatch.setattr(Y.Loader, "get_single_data", fail)
    with pytest.raises(C.ConfigError) as err:
        Y.yaml_load("a: 1")
    assert str(err.value) == message
