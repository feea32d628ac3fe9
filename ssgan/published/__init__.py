"""Published values: one small YAML file per paper in this folder (value, protocol, whether the
number is the best over training or the final iterate, source), read by the published table
(ssgan/analysis/published_table.py) and by the verdicts' published range (stats.PUBLISHED_RANGE).

A file holds ``paper``, ``source`` and ``entries``; an entry is one published number:

- ``dataset``: the dataset label (compared after normalisation: ``cifar10``, ``CIFAR-10``);
- ``what``: the row's name in words;
- ``match``: dotted config keys and values a run's config must have to be "ours" for this row
  (``method``, ``model.arch``, ``stu.density_g``, ...): no match, no number of ours;
- either ``fid`` (with ``selection``: ``best`` over training or ``final`` iterate) or
  ``reduction`` ``[low, high]`` (a range of relative FID decreases across datasets, with
  ``baseline`` and ``treatment`` the registered methods of the comparison);
- ``protocol``: how the paper measured it, in words (printed beside our protocol);
- optionally what of it the table compares with ours: ``n_fake``, ``generator`` (``final`` |
  ``ema``), ``runs`` (training runs behind the number), ``iterations`` (generator iterations).

Add a paper with one file here; nothing else changes. SR-GAN (Liu et al. 2019) has no file:
its published IS/FID tables could not be recovered (docs/assumptions.md).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

HERE = Path(__file__).parent
SELECTIONS = ("best", "final")


class PublishedError(ValueError):
    """A registry file that does not have the fields above."""


def _check(name: str, paper: dict) -> dict:
    for key in ("paper", "source", "entries"):
        if key not in paper:
            raise PublishedError(f"{name}: missing '{key}'")
    for i, e in enumerate(paper["entries"]):
        where = f"{name}: entries[{i}]"
        for key in ("dataset", "what", "match", "protocol"):
            if key not in e:
                raise PublishedError(f"{where}: missing '{key}'")
        if ("fid" in e) == ("reduction" in e):
            raise PublishedError(f"{where}: exactly one of 'fid' and 'reduction'")
        if "fid" in e and e.get("selection") not in SELECTIONS:
            raise PublishedError(f"{where}: 'selection' must be one of {SELECTIONS}")
        if "reduction" in e and not ({"baseline", "treatment"} <= set(e)):
            raise PublishedError(f"{where}: a reduction names its 'baseline' and 'treatment'")
        if e.get("generator", "final") not in ("final", "ema"):
            raise PublishedError(f"{where}: 'generator' must be final or ema")
        for key in ("n_fake", "runs", "iterations"):
            if key in e and (not isinstance(e[key], int) or e[key] < 1):
                raise PublishedError(f"{where}: '{key}' must be a positive integer")
    return paper


@cache
def registry() -> dict[str, dict]:
    """File stem (``liu2022_stu``) -> the paper's record, every file of this folder."""
    out = {}
    for path in sorted(HERE.glob("*.yaml")):
        out[path.stem] = _check(path.name, yaml.safe_load(path.read_text()))
    return out


def lookup(cfg: dict, dotted: str):
    """The value at a dotted key of a (run) config; a missing key is None."""
    node = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def matches(entry: dict, cfg: dict) -> bool:
    """Whether a run's config has every key of the entry's ``match``."""
    return all(lookup(cfg, k) == v for k, v in entry["match"].items())


def reduction_range(paper: str = "qian2021") -> tuple[float, float]:
    """The published range of relative FID decreases of ``paper`` (its first reduction)."""
    entry = next(e for e in registry()[paper]["entries"] if "reduction" in e)
    low, high = entry["reduction"]
    return float(low), float(high)
