"""YAML as the package reads it: the :class:`Loader` (numbers in any spelling, duplicate keys
an error), config files, ``key=value`` overrides, and the package defaults (defaults.yaml with
its ``per_resolution`` and ``per_method`` tables)."""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Hashable
from pathlib import Path

import yaml

from ssgan.errors import ConfigError


class Loader(yaml.SafeLoader):
    """YAML as a user means it: a number is a number in any spelling (``2e-4``, ``1E5``, which
    YAML 1.1 reads as strings), and a key given twice in one mapping is an error."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):  # PyYAML's own one-line "found unhashable key"
                break
            if key in seen:
                mark = key_node.start_mark
                raise ConfigError(
                    f"{mark.name}:{mark.line + 1}:{mark.column + 1}: duplicate key {key!r} "
                    f"(first at line {seen[key] + 1}); one of the two would be silently lost"
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(\d[\d_]*)?\.?\d*[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def yaml_load(text: str, name: str = "<config>"):
    """Parse YAML text with :class:`Loader`; a syntax error is one line naming file, line, column."""
    loader = Loader(text)
    loader.name = name  # marks (line, column) name the file
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        problem = err.problem or err.context or "malformed YAML"
        raise ConfigError(f"{where}: malformed YAML: {problem}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{name}: malformed YAML: {str(err).splitlines()[0]}") from None
    finally:
        loader.dispose()


def load_yaml(path: str | os.PathLike) -> dict:
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file {path} is a folder; expected a YAML file")
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    data = yaml_load(path.read_text(), str(path)) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping")
    return data


def parse_overrides(items: list[str]) -> dict:
    """``["train.iterations=200", "sastm.gate=sigmoid"]`` -> nested dict (YAML-typed values)."""
    out: dict = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not of the form key=value")
        key, raw = item.split("=", 1)
        value = yaml_load(raw, f"override '{item}'") if raw != "" else None
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{item}' sets a key inside '{part}', a value")
        if isinstance(node.get(parts[-1]), dict):
            raise ConfigError(
                f"override '{item}' would replace the section '{key}' set by other overrides"
            )
        node[parts[-1]] = value
    return out


_DEFAULTS = yaml_load((Path(__file__).parent / "defaults.yaml").read_text(), "defaults.yaml")
# resolution -> values of the keys that defaults.yaml leaves null (its per_resolution table)
PER_RESOLUTION: dict[int, dict] = _DEFAULTS.pop("per_resolution")
# registered method -> its own defaults, a layer over the package defaults (defaults.yaml)
PER_METHOD: dict[str, dict] = _DEFAULTS.pop("per_method")


def defaults() -> dict:
    return copy.deepcopy(_DEFAULTS)
