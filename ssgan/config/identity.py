"""A run's identity across versions of the code: ``config_hash`` (the sha256 of the part of a
run config that defines its result), the keys that differ between two run configs, and the
values of keys added after runs were recorded (``LEGACY``, ``HASH_OMITTED_AT``)."""

from __future__ import annotations

import copy
import hashlib
import json

from ssgan import plugins
from ssgan.config.yaml_io import defaults
from ssgan.data import BUILT_IN as BUILT_IN_DATASETS
from ssgan.data import DATASETS
from ssgan.methods import BUILT_IN as BUILT_IN_METHODS
from ssgan.methods import METHODS
from ssgan.methods.base import declared_sections

# Keys added after runs were recorded, with the value they had before they existed: a run
# config read back from an older run.json gets them (ssgan/training/runs.py read_run).
LEGACY = {
    "model": {
        "critic_norm": "none",
        "arch": "dcgan",
        "resnet_g_width": 256,
        "resnet_d_width": 128,
    },
    "train": {
        "precision": "fp32",
        "cuda_graph": False,
        "g_batch_size": None,
        "accumulate": 1,
        "lr_decay": "none",
        "ema_decay": None,
        "ema_start": 0,
    },
    "sastm": {"init": "default", "resnet_after": "conv1"},
    "stu": {"mask_linear": False, "explore_d": True},
    "fid": {
        "bn_mode": "eval",
        "compare_bn_modes": [],
        "generator": "final",
        # mode-collapse measures: not computed before; the settings are the defaults
        "manifold": False,
        "prc_k": 3,
        "dc_k": 5,
        "manifold_samples": 10000,
        "manifold_seed": None,  # the first n reals in file order
        "class_coverage": False,
    },
}


def upgrade(cfg: dict) -> dict:
    """An older run config with the LEGACY keys it lacks (in place)."""
    for section, values in LEGACY.items():
        for key, value in values.items():
            cfg.get(section, {}).setdefault(key, copy.deepcopy(value))
    return cfg


# Keys that do not change what training computes: devices, where data lie, how often files
# are written, and the FID protocol (evaluated after training; fid.checkpoints stays: it says
# which generator snapshots training keeps). The trajectory is bitwise the same across them.
HASH_EXCLUDED = (
    "train.device",
    "train.cuda_graph",  # the same operations, replayed from a graph
    "train.log_every",
    "train.checkpoint_every",
    "train.keep_checkpoints",
    "train.sample_every",
    "log.tensorboard",  # a copy of the curves, not a different run
    "data.root",
    "data.num_workers",
    "data.prepared_dir",
    "data.prepare_chunk",
    "data.in_memory_max_mb",
    *(f"fid.{k}" for k in defaults()["fid"] if k != "checkpoints"),
)

# Keys added after results were recorded, left out of the hash at the value that computes what
# the code computed before they existed: those results keep their hash (and their checkpoints).
HASH_OMITTED_AT = {
    "train.precision": "fp32",
    "model.arch": "dcgan",
    "model.resnet_g_width": 256,  # a DCGAN run never reads the ResNet widths; a ResNet run at
    "model.resnet_d_width": 128,  # the reference widths is told apart by model.arch
    "sastm.resnet_after": "conv1",
    "train.g_batch_size": None,
    "train.accumulate": 1,
    "train.lr_decay": "none",
    "train.ema_decay": None,
    "train.ema_start": 0,
    "stu.mask_linear": False,
    "stu.explore_d": True,
}


# Sections every key of which is in HASH_EXCLUDED (``log``, added with log.tensorboard): left
# out whole, so that adding such a section changes no run's hash.
WHOLLY_EXCLUDED = tuple(
    section
    for section, keys in defaults().items()
    if isinstance(keys, dict) and keys and all(f"{section}.{k}" in HASH_EXCLUDED for k in keys)
)


def hash_relevant(cfg: dict) -> dict:
    """The part of a run config that defines its result (``config_hash`` is its sha256)."""
    relevant = copy.deepcopy(cfg)
    method = METHODS.get(cfg.get("method"))
    for section in method.unused_sections if method else ():
        relevant.pop(section, None)
    own = (method.config_section or {}).get("name") if method else None
    for section in declared_sections():  # a method's own section: only its runs read it
        if section != own:
            relevant.pop(section, None)
    relevant.pop("method_label", None)  # a name only: a variant's overrides are in the config
    relevant.pop("plugins", None)  # where the method's code is found, not what it computes
    for code in (relevant.get("plugin_code") or {}).values():
        code.pop("module", None)  # the same, by the module's name: its source is what counts
    for key in HASH_EXCLUDED:
        section, leaf = key.split(".")
        relevant.get(section, {}).pop(leaf, None)
    for section in WHOLLY_EXCLUDED:  # no key of it is hashed: not even as an empty section
        relevant.pop(section, None)
    model = relevant.get("model", {})
    if model.get("arch") == "resnet" and "width" in model:  # the DCGAN's width: not read
        model["width"] = defaults()["model"]["width"]  # hashed at its default, as before
    for key, value in HASH_OMITTED_AT.items():
        section, leaf = key.split(".")
        if relevant.get(section, {}).get(leaf, value) == value:
            relevant.get(section, {}).pop(leaf, None)
    return relevant


def with_plugin_code(cfg: dict) -> dict:
    """Record in ``cfg["plugin_code"]`` the identity of the plugin code the run uses (its
    method's and dataset's modules when they are a plugin's, ``plugins.module_identity``), so
    it is in run.json and in the config hash and an edit of that code reruns those runs; a
    built-in run has no such key (and keeps its hash). In place; returns ``cfg``."""
    modules = {}
    method = METHODS.get(cfg.get("method"))
    if method is not None and cfg["method"] not in BUILT_IN_METHODS:
        modules["method"] = method.__module__
    dataset = DATASETS.get(cfg.get("dataset"))
    if dataset is not None and cfg["dataset"] not in BUILT_IN_DATASETS:
        modules["dataset"] = dataset.loader.__module__
    cfg.pop("plugin_code", None)
    if modules:
        cfg["plugin_code"] = plugins.code_identity(modules)
    return cfg


def config_hash(cfg: dict) -> str:
    """sha256 of the result-relevant config (``HASH_EXCLUDED`` left out)."""
    blob = json.dumps(hash_relevant(cfg), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def differing_keys(a: dict, b: dict, where: str = "") -> list[str]:
    """Dotted keys whose values differ between two (nested) configs, e.g. for a refusal."""
    out = []
    for key in sorted(set(a) | set(b), key=str):
        path = f"{where}.{key}" if where else str(key)
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += differing_keys(va, vb, path)
        elif va != vb:
            out.append(f"{path}: {va!r} -> {vb!r}")
    return out


def recipe(cfg: dict) -> dict:
    """What two runs of a pair must share: the result-relevant config outside the methods' own
    sections (every section some method leaves unused: ``sastm``, ``stu``, ``sr``, ...) and
    outside ``fid``: the final FID's protocol is paired by its own id (``protocol_id``, runs
    under another are listed as ``other protocol``), and the rest of the section (intermediate
    checkpoints, extra BatchNorm modes, manifold and class measures) adds measurements without
    changing the final FID of a run."""
    relevant = hash_relevant(upgrade(copy.deepcopy(cfg)))
    for section in {s for m in METHODS.values() for s in m.unused_sections} | {"fid"}:
        relevant.pop(section, None)
    for section in declared_sections():
        relevant.pop(section, None)
    relevant.pop("label", None)
    relevant.pop("plugin_code", None)  # the method's (and dataset's) code, as "method" names it
    return relevant


def recipe_differences(a: dict, b: dict) -> list[str]:
    """Keys in which two runs' ``recipe`` differ, other than the method and the keys its
    ``per_method`` defaults set (SN-GAN's Adam, ...), which belong to the method."""
    own = defaults().get("per_method") or {}
    skip = {"method"}
    for method in (a.get("method"), b.get("method")):
        for section, values in (own.get(method) or {}).items():
            skip |= {f"{section}.{key}" for key in values}
    return [d for d in differing_keys(a, b) if d.split(":")[0] not in skip]
