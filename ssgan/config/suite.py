"""Suite configs (config/*.yaml, the workflow's config): their keys, the grid of runs they
define, and the entry of a method label (a registered method or a variant of one). How a suite
layers into a run config is ``ssgan.config.resolve``."""

from __future__ import annotations

from ssgan.errors import ConfigError

# Keys of a suite config that are not run-config overrides.
SUITE_KEYS = (
    "data_root",
    "results",
    "figures",
    "methods",
    "seeds",
    "defaults",
    "datasets",
    "resources",
    "fid_cache",
    "comparisons",
    "pipeline_check",
    "plugins",
)
# Keys of a variant entry (``methods.<label>``) that select its slice of the grid, not overrides.
SLICE_KEYS = ("datasets", "seeds")


def is_suite(data: dict) -> bool:
    return "datasets" in data


def method_entry(file_cfg: dict, label: str) -> tuple[str, dict]:
    """(registered method, run-config overrides) of a suite config's method ``label``.

    List form: the label is the registered method, no overrides. Mapping form: the entry's
    ``method:`` names the registered method (default: the label itself); its ``datasets:`` and
    ``seeds:`` select the grid slice the variant runs on (see ``grid``) and are no overrides."""
    methods = file_cfg.get("methods")
    if not isinstance(methods, dict):
        return label, {}
    if label not in methods:
        raise ConfigError(
            f"method {label!r} is not in the config's 'methods'; it has: {', '.join(methods)}"
        )
    entry = methods[label] or {}
    if not isinstance(entry, dict):
        raise ConfigError(f"config key 'methods.{label}' must be a mapping, got {entry!r}")
    entry = dict(entry)
    for key in SLICE_KEYS:
        entry.pop(key, None)
    return entry.pop("method", label), entry


def grid(file_cfg: dict) -> list[tuple[str, str, int]]:
    """Every (dataset label, method label, seed) of a suite config: datasets x methods x seeds,
    each variant restricted to its own ``datasets:`` / ``seeds:`` when it lists them."""
    datasets, seeds = list(file_cfg.get("datasets") or {}), list(file_cfg.get("seeds") or [])
    methods = file_cfg.get("methods") or []
    out = []
    for label in methods:
        entry = (methods[label] or {}) if isinstance(methods, dict) else {}
        only = {k: entry.get(k) for k in SLICE_KEYS if isinstance(entry, dict)}
        for key, known in (("datasets", datasets), ("seeds", seeds)):
            listed = only.get(key)
            if listed is not None and (
                not isinstance(listed, list) or not listed or any(x not in known for x in listed)
            ):
                raise ConfigError(
                    f"config key 'methods.{label}.{key}' must list some of the config's "
                    f"{key} ({', '.join(map(str, known))}), got {only[key]!r}"
                )
        out += [
            (d, label, s)
            for d in datasets
            if not only.get("datasets") or d in only["datasets"]
            for s in seeds
            if not only.get("seeds") or s in only["seeds"]
        ]
    return out
