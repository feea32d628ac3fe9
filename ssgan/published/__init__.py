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
  ``ema``), ``runs`` (training runs behind the number), ``iterations`` (generator iterations),
  ``recipe`` (dotted config keys and the values the paper trained with: batch sizes,
  ``train.accumulate``, ``train.lr_decay``, ``train.n_critic``, ``train.ema_decay``, ...; the
  table prints each fact in which our runs differ).

Add a paper with one file here; nothing else changes. SR-GAN (Liu et al. 2019) has no file:
its published IS/FID tables could not be recovered (docs/assumptions.md). StudioGAN (Kang et al.)
has none either: its CIFAR-10 WGAN-GP / DCGAN values could not be traced to a table and version
of its repository, and its WGAN-GP runs on a ResNet, not the DCGAN they were matched to.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import yaml

HERE = Path(__file__).parent
SELECTIONS = ("best", "final")


class PublishedError(ValueError):
    """A registry file that does not have the fields above."""


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_entry(where: str, e) -> None:
    if not isinstance(e, dict):
        raise PublishedError(f"{where}: must be a mapping, got {e!r}")
    for key in ("dataset", "what", "match", "protocol"):
        if key not in e:
            raise PublishedError(f"{where}: missing '{key}'")
    for key in ("dataset", "what", "protocol"):
        if not isinstance(e[key], str):
            raise PublishedError(f"{where}: '{key}' must be a string, got {e[key]!r}")
    for key in ("match", "recipe"):
        if not isinstance(e.get(key, {}), dict):
            raise PublishedError(
                f"{where}: '{key}' must be a mapping of dotted config keys to values"
            )
    if ("fid" in e) == ("reduction" in e):
        raise PublishedError(f"{where}: exactly one of 'fid' and 'reduction'")
    if "fid" in e and not (_number(e["fid"]) and e["fid"] >= 0):
        raise PublishedError(f"{where}: 'fid' must be a non-negative number, got {e['fid']!r}")
    if "fid" in e and e.get("selection") not in SELECTIONS:
        raise PublishedError(f"{where}: 'selection' must be one of {SELECTIONS}")
    if "reduction" in e:
        r = e["reduction"]
        if not (isinstance(r, list) and len(r) == 2 and all(map(_number, r)) and r[0] <= r[1]):
            raise PublishedError(f"{where}: 'reduction' must be [low, high] numbers, got {r!r}")
        if not ({"baseline", "treatment"} <= set(e)):
            raise PublishedError(f"{where}: a reduction names its 'baseline' and 'treatment'")
    if e.get("generator", "final") not in ("final", "ema"):
        raise PublishedError(f"{where}: 'generator' must be final or ema")
    for key in ("n_fake", "runs", "iterations"):
        if key in e and (not isinstance(e[key], int) or isinstance(e[key], bool) or e[key] < 1):
            raise PublishedError(f"{where}: '{key}' must be a positive integer")


def _check(name: str, paper) -> dict:
    if not isinstance(paper, dict):
        raise PublishedError(f"{name}: must be a mapping with 'paper', 'source' and 'entries'")
    for key in ("paper", "source", "entries"):
        if key not in paper:
            raise PublishedError(f"{name}: missing '{key}'")
    if not isinstance(paper["entries"], list):
        raise PublishedError(f"{name}: 'entries' must be a list of published numbers")
    for i, e in enumerate(paper["entries"]):
        _check_entry(f"{name}: entries[{i}]", e)
    return paper


def _load(path: Path):
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError) as err:
        raise PublishedError(f"{path}: unreadable ({type(err).__name__}: {err})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or type(err).__name__
        raise PublishedError(f"{path}: not valid YAML{at} ({problem})") from None


SKIPPED: list[str] = []  # the files registry() left out, one line each (path, field, why)


@cache
def registry() -> dict[str, dict]:
    """File stem (``liu2022_stu``) -> the paper's record, every valid file of this folder. A
    file that does not have the fields above is left out, and why (its path and the failing
    field) is in ``skipped()``: the tables are written without it, with that note."""
    out = {}
    SKIPPED.clear()
    for path in sorted(HERE.glob("*.yaml")):
        try:
            out[path.stem] = _check(str(path), _load(path))
        except PublishedError as err:
            SKIPPED.append(f"{err}: the file is skipped")
    return out


def skipped() -> list[str]:
    """Why each registry file that ``registry()`` leaves out is left out."""
    registry()
    return list(SKIPPED)


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
    """The published range of relative FID decreases of ``paper`` (its first reduction); NaN
    when the paper's file is skipped (``skipped()`` says why) or holds no reduction."""
    entry = next(
        (e for e in registry().get(paper, {}).get("entries", []) if "reduction" in e), None
    )
    if entry is None:
        return math.nan, math.nan
    low, high = entry["reduction"]
    return float(low), float(high)
