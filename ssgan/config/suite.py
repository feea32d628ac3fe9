"""Suite configs (config/*.yaml, the workflow's config): their keys, the grid of runs they
define, and the entry of a method label (a registered method or a variant of one). How a suite
layers into a run config is ``ssgan.config.resolve``."""

from __future__ import annotations

from ssgan.errors import ConfigError, unknown_key_message

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


def check_suite_keys(data: dict) -> None:
    """A suite config's top-level keys are SUITE_KEYS: an unknown one is one line with a
    did-you-mean (the workflow asks this before its schema, whose report is a page long)."""
    for key in data:
        if key not in SUITE_KEYS:
            raise ConfigError(unknown_key_message(str(key), list(SUITE_KEYS)))


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


def check_comparisons(file_cfg: dict, claims=None) -> None:
    """The suite's ``comparisons:``, refused here rather than in the final aggregate job: each
    must name two different method labels of ``methods`` whose slices of the grid share a
    (dataset, seed), and only claims in ``claims`` (ssgan.analysis.claims.CLAIMS; None skips
    that check). ``ssgan aggregate --config`` asks the same with the same words."""
    comps = file_cfg.get("comparisons") or []
    if not isinstance(comps, list):
        raise ConfigError(f"config key 'comparisons' must be a list, got {comps!r}")
    labels = list(file_cfg.get("methods") or [])
    cells = {}
    if labels:
        for d, m, s in grid(file_cfg):
            cells.setdefault(m, set()).add((d, s))
    for i, c in enumerate(comps):
        if not isinstance(c, dict) or not {"baseline", "treatment"} <= set(c):
            raise ConfigError(
                f"config key 'comparisons[{i}]' must be a mapping with 'baseline' and "
                f"'treatment', got {c!r}"
            )
        name = f"{c['treatment']} vs {c['baseline']}"
        if c["baseline"] == c["treatment"]:
            raise ConfigError(f"comparison {name!r}: baseline and treatment are the same method")
        for role in ("baseline", "treatment"):
            if labels and c[role] not in labels:
                raise ConfigError(
                    f"comparison {name!r}: {role} {c[role]!r} is not in the config's 'methods'; "
                    f"it has: {', '.join(map(str, labels))}"
                )
        if labels and not cells.get(c["baseline"], set()) & cells.get(c["treatment"], set()):
            raise ConfigError(
                f"comparison {name!r}: baseline and treatment share no (dataset, seed) of the "
                "grid (see their 'datasets:'/'seeds:' in 'methods'), so it has no pairs"
            )
        listed = c.get("claims") or []
        if not isinstance(listed, list):
            raise ConfigError(
                f"config key 'comparisons[{i}].claims' must be a list, got {listed!r}"
            )
        bad = [str(k) for k in listed if claims is not None and k not in claims]
        if bad:
            raise ConfigError(
                f"comparison {name!r}: unknown claim(s) {', '.join(bad)}; known: {', '.join(claims)}"
            )
