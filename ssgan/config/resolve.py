"""Run configuration: package defaults <- the method's own defaults (``per_method`` in
defaults.yaml) <- suite config <- command-line overrides.

A *run config* is one nested dict (see defaults.yaml) plus the top-level keys
``dataset`` (registry name), ``label`` (name in tables; defaults to dataset), ``method``
and ``seed``. A *suite config* (config/*.yaml, the workflow's config) holds run-config
overrides under ``defaults`` and per dataset entry under ``datasets.<label>``; an entry may
name its registry dataset with ``dataset:`` (e.g. a Sketch folder is ``dataset: image_folder``).
Its ``methods`` is a list of registered methods, or a mapping ``label -> overrides`` whose entry
names its registered method with ``method:`` (a *variant*, e.g. ``ssgan_sigmoid: {method: ssgan,
sastm: {gate: sigmoid}}``). In the run config ``method`` is the registered method and
``method_label`` the label (what run directories and tables show).

Beside this module: ``ssgan.config.yaml_io`` reads YAML (files, overrides, defaults.yaml),
``ssgan.config.suite`` holds the suite config's keys and grid, ``ssgan.config.identity`` the config hash
and the keys of older records; their public names are importable from here as well.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

from ssgan import plugins
from ssgan.config.identity import (  # noqa: F401  (re-exported: C.config_hash, ...)
    HASH_EXCLUDED,
    HASH_OMITTED_AT,
    LEGACY,
    config_hash,
    differing_keys,
    hash_relevant,
    upgrade,
    with_plugin_code,
)
from ssgan.config.suite import (  # noqa: F401  (C.grid, C.check_comparisons)
    SLICE_KEYS,
    SUITE_KEYS,
    check_comparisons,
    check_suite_keys,
    grid,
    is_suite,
    method_entry,
)
from ssgan.config.yaml_io import (  # noqa: F401  (re-exported: C.load_yaml, ...)
    PER_METHOD,
    PER_RESOLUTION,
    Loader,
    defaults,
    load_yaml,
    parse_overrides,
    yaml_load,
)
from ssgan.data import DATASETS, data_root
from ssgan.errors import ConfigError, unknown_key_message  # noqa: F401  (C.unknown_key_message)
from ssgan.methods import METHODS
from ssgan.methods.base import declared_sections

TOP_LEVEL = ("dataset", "label", "method", "method_label", "seed")
# Keys of a resolved run config that resolution writes and no layer may set: the identity of a
# plugin's code (ssgan/plugins.py, ssgan.config.identity.with_plugin_code).
RECORDED = ("plugin_code",)
CHOICES = {
    "sastm.gate": ("relu", "sigmoid"),
    "sastm.branches": ("both", "channel", "spatial"),
    "sastm.recombination": ("product", "sum"),
    "sastm.position": ("before_bn", "after_bn"),
    "sastm.init": ("open", "default", "balanced"),
    "model.critic_norm": ("none", "layernorm"),
    "model.arch": ("dcgan", "resnet"),
    "train.lr_decay": ("none", "linear"),
    "sastm.resnet_after": ("conv1", "block"),
    "sr.mode": ("static", "dynamic"),
    "sr.when": ("after_each_critic_step", "after_critic_steps"),
    "fid.bn_mode": ("eval", "batch"),
    "fid.generator": ("final", "ema"),
    "data.split": ("train", "test", "unlabeled", "train+unlabeled", "val"),
    "fid.split": ("train", "test", "unlabeled", "train+unlabeled", "val"),
    "data.small_images": ("upscale", "skip", "error"),
    "stu.growth_g": ("gradient", "random"),
    "stu.growth_d": ("gradient", "random"),
    "train.precision": ("fp32", "tf32", "bf16"),
    "train.cuda_graph": ("auto", True, False),
}
DEVICE_KEYS = ("train.device", "fid.device")
DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
PATH_KEYS = {
    "data.root",
    "data.path",
    "data.prepared_dir",
    "fid.weights",
    "fid.cache_dir",
}  # a string or null
NUMBER = re.compile(r"^[-+]?(\d[\d_]*)?\.?\d*([eE][-+]?\d+)?$")
# Numbers whose default is null (filled per resolution, see PER_RESOLUTION) but a number when set.
NULLABLE_NUMBERS = {"train.beta1", "train.ema_decay"}
POSITIVE_INT = {
    "train.iterations",
    "train.batch_size",
    "train.n_critic",
    "train.accumulate",
    "train.log_every",
    "train.checkpoint_every",
    "train.keep_checkpoints",
    "train.sample_every",
    "train.sample_grid",
    "probe.every",
    "probe.batch_size",
    "probe.hist_bins",
    "model.width",
    "model.resnet_g_width",
    "model.resnet_d_width",
    "model.z_dim",
    "sastm.reduction",
    "stu.update_every",
    "sr.every",
    "fid.n_fake",
    "fid.n_real",
    "fid.batch_size",
    "fid.kid_subset_size",
    "data.prepare_chunk",
    "fid.prc_k",
    "fid.dc_k",
    "fid.manifold_samples",
}
NON_NEGATIVE_INT = {"data.num_workers"}  # 0: in the calling process


def merge(base: dict, override: dict, where: str = "") -> dict:
    """Deep-merge ``override`` into a copy of ``base``; unknown keys are an error."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        path = f"{where}.{key}" if where else key
        if key not in out:
            raise ConfigError(unknown_key_message(path, list(out)))
        if isinstance(out[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"config key '{path}' must be a mapping, got {value!r}")
            out[key] = merge(out[key], value, path)
        else:
            out[key] = copy.deepcopy(value)
    return out


def run_defaults() -> dict:
    """The package defaults (defaults.yaml) with the config sections that registered methods
    declare (``Method.config_section``: a plugin method's options)."""
    cfg = defaults()
    for name, decl in declared_sections().items():
        if name in cfg or name in TOP_LEVEL or name in RECORDED:
            raise ConfigError(
                f"config section {name!r} declared by a method is a key of the package's "
                f"defaults (ssgan/config/defaults.yaml); the method must choose another name"
            )
        cfg[name] = copy.deepcopy(decl["defaults"])
    return cfg


def check_keys(cfg: dict) -> None:
    """A run config given whole (``ssgan.train_run``) has exactly the keys of one: an unknown
    key is named with a did-you-mean, then a missing one."""
    ref = run_defaults()
    _validate_types({k: v for k, v in cfg.items() if k not in TOP_LEVEL + RECORDED}, ref, _rules())
    missing = [k for k in TOP_LEVEL if k not in cfg and k != "method_label"]
    for section, keys in ref.items():
        if section not in cfg:
            missing.append(section)
        elif isinstance(keys, dict) and isinstance(cfg[section], dict):
            missing += [f"{section}.{k}" for k in keys if k not in cfg[section]]
    if missing:
        more = " ..." if len(missing) > 5 else ""
        raise ConfigError(
            f"config key(s) {', '.join(missing[:5])}{more} missing: a whole run config has "
            f"every key (ssgan.resolve_config gives one)"
        )


def _rules() -> tuple[dict, set]:
    """(CHOICES, POSITIVE_INT) with the declared sections' own rules."""
    choices, positive = dict(CHOICES), set(POSITIVE_INT)
    for name, decl in declared_sections().items():
        choices.update({f"{name}.{k}": tuple(v) for k, v in (decl.get("choices") or {}).items()})
        positive.update(f"{name}.{k}" for k in decl.get("positive_int") or ())
    return choices, positive


def _validate_types(cfg: dict, ref: dict, rules: tuple[dict, set], where: str = "") -> None:
    choices, positive = rules
    for key, value in cfg.items():
        path = f"{where}.{key}" if where else key
        if key not in ref:  # a typo in a config dict that did not come through ``merge``
            raise ConfigError(unknown_key_message(path, list(ref)))
        if isinstance(ref[key], dict) != isinstance(value, dict):
            what = "a mapping (a section)" if isinstance(ref[key], dict) else "a value"
            raise ConfigError(f"config key '{path}' must be {what}, got {value!r}")
        if isinstance(value, dict):
            _validate_types(value, ref[key], rules, path)
            continue
        default = ref.get(key)
        numeric = isinstance(default, float) or path in NULLABLE_NUMBERS
        if numeric and isinstance(value, str) and NUMBER.match(value.strip()):
            try:  # a number spelled as a string by a YAML 1.1 reader (Snakemake's: '2e-4')
                value = cfg[key] = float(value)
            except ValueError:
                pass
        if path in choices and value is not None and value not in choices[path]:
            raise ConfigError(
                f"config key '{path}' must be one of {list(choices[path])}, got {value!r}"
            )
        if path in positive and (
            isinstance(value, bool) or not isinstance(value, int) or value <= 0
        ):
            raise ConfigError(f"config key '{path}' must be a positive integer, got {value!r}")
        if path in NON_NEGATIVE_INT and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise ConfigError(f"config key '{path}' must be a non-negative integer, got {value!r}")
        if isinstance(default, bool) and not isinstance(value, bool):
            raise ConfigError(f"config key '{path}' must be true or false, got {value!r}")
        if isinstance(default, float) and (
            isinstance(value, bool) or not isinstance(value, (int, float))
        ):
            raise ConfigError(f"config key '{path}' must be a number, got {value!r}")
        if isinstance(default, list) and not isinstance(value, list):
            raise ConfigError(
                f"config key '{path}' must be a list, e.g. [{value!r}], got {value!r}"
            )
        if path in DEVICE_KEYS and not (isinstance(value, str) and DEVICE.match(value)):
            raise ConfigError(
                f"config key '{path}' must be auto, cpu, cuda or cuda:N, got {value!r}"
            )
        if path in PATH_KEYS and value is not None and not isinstance(value, str):
            raise ConfigError(
                f"config key '{path}' must be a path (a string) or null, got {value!r}"
            )


def fill_per_resolution(cfg: dict) -> dict:
    """Set the keys still null to the PER_RESOLUTION values of the run's resolution (in place),
    so the run config, its hash and run.json hold the values used. Unknown datasets and
    resolutions are left to ``validate``."""
    if cfg.get("dataset") not in DATASETS:
        return cfg
    res = cfg["data"]["resolution"] or DATASETS[cfg["dataset"]].resolution
    for section, values in PER_RESOLUTION.get(res, {}).items():
        for key, value in values.items():
            if cfg[section][key] is None:
                cfg[section][key] = value
    return cfg


PLUGIN_HINT = (
    "; a plugin's method? name its module under 'plugins:' in the config (or plugins=[module] "
    "on the command line), or install it with an 'ssgan.plugins' entry point (ssgan/plugins.py)"
)


def validate(cfg: dict) -> dict:
    """Check a resolved run config; returns it. Raises ConfigError naming the key."""
    if cfg.get("dataset") not in DATASETS:
        raise ConfigError(
            f"unknown dataset {cfg.get('dataset')!r}; known: {', '.join(sorted(DATASETS))}"
        )
    if cfg.get("method") not in METHODS:
        raise ConfigError(
            f"unknown method {cfg.get('method')!r}; known: {', '.join(sorted(METHODS))}"
            f"{PLUGIN_HINT}"
        )
    cfg.setdefault("method_label", cfg.get("method"))  # records written before variants existed
    if not isinstance(cfg.get("method_label"), str) or not cfg["method_label"]:
        raise ConfigError(f"method label must be a non-empty name, got {cfg.get('method_label')!r}")
    seed = cfg.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"config key 'seed' must be a non-negative integer, got {seed!r}")
    rest = {k: v for k, v in cfg.items() if k not in TOP_LEVEL + RECORDED}
    _validate_types(rest, run_defaults(), _rules())
    res = cfg["data"]["resolution"]
    if res is not None and res not in (32, 48, 64):
        raise ConfigError(
            f"config key 'data.resolution' must be 32, 48 or 64 (the DCGAN family), got {res!r}"
        )
    ch = cfg["data"]["channels"]
    if ch is not None and ch not in (1, 3):
        raise ConfigError(f"config key 'data.channels' must be 1 or 3, got {ch!r}")
    n_max = cfg["data"]["max_images"]
    if n_max is not None and (isinstance(n_max, bool) or not isinstance(n_max, int) or n_max <= 0):
        raise ConfigError(
            f"config key 'data.max_images' must be a positive integer or null, got {n_max!r}"
        )
    model = cfg["model"]
    width_key = "resnet_g_width" if model["arch"] == "resnet" else "width"
    if model[width_key] < cfg["sastm"]["reduction"]:
        raise ConfigError(f"config key 'sastm.reduction' must not exceed 'model.{width_key}'")
    if model["arch"] == "resnet":
        res_used = res or DATASETS[cfg["dataset"]].resolution
        if res_used not in (32, 48):
            raise ConfigError(
                f"config key 'model.arch' is resnet, which has 32 and 48 px networks; "
                f"this run's resolution is {res_used}"
            )
        if model["critic_norm"] == "layernorm":
            raise ConfigError(
                "config key 'model.critic_norm' must be none with model.arch resnet "
                "(the ResNet critic has no normalisation layer)"
            )
    beta1 = cfg["train"]["beta1"]
    if isinstance(beta1, bool) or not isinstance(beta1, (int, float)):
        raise ConfigError(f"config key 'train.beta1' must be a number in [0, 1), got {beta1!r}")
    t = cfg["train"]
    if t["lr"] <= 0:
        raise ConfigError(f"config key 'train.lr' must be positive, got {t['lr']!r}")
    for beta in ("beta1", "beta2"):
        if not 0 <= t[beta] < 1:
            raise ConfigError(
                f"config key 'train.{beta}' must be a number in [0, 1) (Adam), got {t[beta]!r}"
            )
    if t["batch_size"] < 2:
        raise ConfigError(
            f"config key 'train.batch_size' must be at least 2 (BatchNorm needs two samples), "
            f"got {t['batch_size']!r}"
        )
    g_batch = t["g_batch_size"]
    if g_batch is not None and (
        isinstance(g_batch, bool) or not isinstance(g_batch, int) or g_batch < 2
    ):
        raise ConfigError(
            f"config key 'train.g_batch_size' must be an integer of at least 2 (BatchNorm) or "
            f"null (= train.batch_size), got {g_batch!r}"
        )
    ema = t["ema_decay"]
    if ema is not None and (
        isinstance(ema, bool) or not isinstance(ema, (int, float)) or not 0 < ema < 1
    ):
        raise ConfigError(
            f"config key 'train.ema_decay' must be a number in (0, 1) or null, got {ema!r}"
        )
    start = t["ema_start"]
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise ConfigError(
            f"config key 'train.ema_start' must be a non-negative integer, got {start!r}"
        )
    if t["cuda_graph"] != "auto" and not isinstance(t["cuda_graph"], bool):
        raise ConfigError(
            f"config key 'train.cuda_graph' must be auto, true or false, got {t['cuda_graph']!r}"
        )
    if t["gp_lambda"] < 0:
        raise ConfigError(f"config key 'train.gp_lambda' must be >= 0, got {t['gp_lambda']!r}")
    for it in cfg["fid"]["checkpoints"]:
        if isinstance(it, bool) or not isinstance(it, int) or not 0 < it <= t["iterations"]:
            raise ConfigError(
                f"config key 'fid.checkpoints' must list iterations in 1..train.iterations "
                f"({t['iterations']}), got {it!r}"
            )
    nan_at = cfg["debug"]["nan_at"]
    if nan_at is not None and (isinstance(nan_at, bool) or not isinstance(nan_at, int)):
        raise ConfigError(f"config key 'debug.nan_at' must be an integer or null, got {nan_at!r}")
    m_seed = cfg["fid"]["manifold_seed"]
    if m_seed is not None and (
        isinstance(m_seed, bool) or not isinstance(m_seed, int) or m_seed < 0
    ):
        raise ConfigError(
            f"config key 'fid.manifold_seed' must be a non-negative integer or null, got {m_seed!r}"
        )
    stu = cfg["stu"]
    for key in ("density_g", "density_d"):
        if not 0 < stu[key] <= 1:
            raise ConfigError(
                f"config key 'stu.{key}' must be a density in (0, 1] (1 = dense), got {stu[key]!r}"
            )
    if not 0 <= stu["death_rate_min"] <= stu["death_rate"] <= 1:
        raise ConfigError(
            f"config keys 'stu.death_rate_min' ({stu['death_rate_min']!r}) and 'stu.death_rate' "
            f"({stu['death_rate']!r}) must satisfy 0 <= death_rate_min <= death_rate <= 1"
        )
    if cfg["model"]["critic_norm"] is None:
        raise ConfigError("config key 'model.critic_norm' must be none or layernorm, got None")
    modes = cfg["fid"]["compare_bn_modes"]
    if not isinstance(modes, list) or any(m not in CHOICES["fid.bn_mode"] for m in modes):
        raise ConfigError(
            f"config key 'fid.compare_bn_modes' must be a list of {list(CHOICES['fid.bn_mode'])}, "
            f"got {modes!r}"
        )
    f = cfg["fid"]
    if f["generator"] == "ema" and t["ema_decay"] is None:
        raise ConfigError(
            "config key 'fid.generator' is ema, but the run keeps no moving average of G: "
            "set train.ema_decay (e.g. 0.999) or fid.generator: final"
        )
    if f["generator"] == "ema" and t["ema_start"] >= t["iterations"]:
        raise ConfigError(
            f"config key 'fid.generator' is ema, but train.ema_start ({t['ema_start']}) >= "
            f"train.iterations ({t['iterations']}): the moving average is a copy of G "
            "throughout, so it would score G itself; lower train.ema_start or set "
            "fid.generator: final"
        )
    if "batch" in [f["bn_mode"], *modes] and f["n_fake"] % f["batch_size"]:
        raise ConfigError(
            f"fid.bn_mode 'batch' normalises over fixed batches: config key 'fid.n_fake' "
            f"({f['n_fake']}) must be a multiple of 'fid.batch_size' ({f['batch_size']})"
        )
    try:  # the method's own checks (a plugin method's config section)
        METHODS[cfg["method"]].check_config(cfg)
    except ConfigError:
        raise
    except (ValueError, TypeError, KeyError) as err:
        raise ConfigError(f"method {cfg['method']!r}: {type(err).__name__}: {err}") from None
    return cfg


def check_devices(cfg: dict, keys=DEVICE_KEYS) -> None:
    """A configured CUDA device must exist here (checked before anything is written)."""
    import torch

    for key in keys:
        section, leaf = key.split(".")
        name = cfg[section][leaf]
        if not name.startswith("cuda"):
            continue
        if not torch.cuda.is_available():
            raise ConfigError(f"config key '{key}' is {name!r} but no CUDA device is available")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f"config key '{key}' is {name!r} but there are only "
                f"{torch.cuda.device_count()} CUDA devices"
            )


def resolve(
    dataset: str,
    method: str,
    seed: int,
    file_cfg: dict | None = None,
    overrides: dict | None = None,
) -> dict:
    """The run config for (dataset label, method, seed)."""
    layers: list[tuple[str, dict]] = []
    if file_cfg and is_suite(file_cfg):
        check_suite_keys(file_cfg)
    cfg = dict.fromkeys(TOP_LEVEL)
    cfg.update(dataset=dataset, label=dataset, method=method, method_label=method, seed=seed)
    if file_cfg:
        if is_suite(file_cfg):
            entries = file_cfg.get("datasets") or {}
            if dataset not in entries:
                raise ConfigError(
                    f"dataset {dataset!r} is not in the config's 'datasets'; "
                    f"it has: {', '.join(entries) or 'none'}"
                )
            entry = dict(entries[dataset] or {})
            cfg["dataset"] = entry.pop("dataset", dataset)
            if file_cfg.get("plugins") is not None:
                layers.append(("plugins", {"plugins": file_cfg["plugins"]}))
            if file_cfg.get("data_root") is not None:
                layers.append(("data_root", {"data": {"root": file_cfg["data_root"]}}))
            layers.append(("defaults", file_cfg.get("defaults") or {}))
            layers.append((f"datasets.{dataset}", entry))
            cfg["method"], variant = method_entry(file_cfg, method)
            layers.append((f"methods.{method}", variant))
        else:
            layers.append(("the --config file", file_cfg))
    layers.append(("the key=value overrides", overrides or {}))
    # Plugins first: the method, a variant's method, the dataset and config sections may be theirs.
    for _, layer in layers:
        if "plugins" in layer:
            plugins.load(layer["plugins"])
    plugins.load()
    cfg = {**run_defaults(), **cfg}
    # The registered method's own defaults come first, so every suite layer can change them.
    own = PER_METHOD.get(cfg["method"], {})
    layers.insert(0, (f"defaults.yaml per_method.{cfg['method']}", own))
    # The run's place (--dataset/--method/--seed) is its identity: no layer may say otherwise.
    fixed = {"dataset": dataset, "label": dataset, "method": method, "seed": seed}
    fixed["method_label"] = method
    for where, layer in layers:
        top = {k: layer[k] for k in TOP_LEVEL if k in layer}
        for key, value in top.items():
            if value != fixed[key]:
                raise ConfigError(
                    f"config key '{key}' is {value!r} in {where}, "
                    f"but this run is {key} {fixed[key]!r} (--dataset/--method/--seed fix a run; "
                    f"set the other run's values there instead)"
                )
        rest = {k: v for k, v in layer.items() if k not in TOP_LEVEL}
        try:
            cfg = merge(cfg, rest)
        except ConfigError as err:
            raise ConfigError(f"{err} (in {where})") from None
    return with_plugin_code(validate(fill_per_resolution(cfg)))


def check_paths(cfg: dict) -> None:
    """Explicitly configured data locations must exist (a typo is named before any job runs)."""
    root = cfg["data"]["root"]
    if root is not None and not Path(root).expanduser().is_dir():
        raise ConfigError(
            f"config key 'data.root' (data_root) is {root!r}, which is not a directory"
        )
    path = cfg["data"]["path"]
    if path is None and cfg["dataset"] == "image_folder":
        raise ConfigError(
            f"dataset '{cfg['label']}' is an image_folder but config key 'data.path' "
            f"(the folder of images) is not set"
        )
    if path is not None:
        full = Path(path).expanduser()
        full = full if full.is_absolute() else data_root(cfg) / full
        if not full.exists():
            raise ConfigError(
                f"config key 'data.path' of dataset '{cfg['label']}' is {path!r}; "
                f"{full} does not exist"
            )
