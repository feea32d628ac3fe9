"""Methods, datasets and claims from outside the package.

A plugin is a module that registers what it adds when imported: a method with
``@register_method`` (its ``display_name``, ``color``, ``claims`` and ``reference_losses`` as
class attributes, ssgan/methods/base.py), a dataset with ``register_dataset``, a claim as a
``Claim`` in ``ssgan.analysis.claims.CLAIMS`` (named in its method's ``claims``). The suite
imports two kinds, before it resolves a config:

* installed packages naming a module in the entry-point group ``ssgan.plugins``
  (``[project.entry-points."ssgan.plugins"] ls_gan = "my_pkg.ls_gan"``): loaded by every
  ``ssgan`` command, the workflow and ``ssgan.resolve_config``;
* modules on the Python path named by the config key ``plugins: [module, ...]`` (a suite
  config's top level, a run config, or ``plugins=[module]`` on the command line): imported when
  a config naming them is resolved and when a run recording them is read back, so
  ``ssgan fid``, ``ssgan sample`` and the tables find the run's method.

A plugin that cannot be imported is a one-line ``ConfigError`` naming it.
"""

from __future__ import annotations

import importlib
from importlib import metadata

from ssgan.errors import ConfigError

GROUP = "ssgan.plugins"
_entry_points_loaded = False


def load_entry_points() -> list[str]:
    """Import every installed ``ssgan.plugins`` entry point (once per process); their names."""
    global _entry_points_loaded
    names = []
    for ep in metadata.entry_points(group=GROUP):
        names.append(ep.name)
        if not _entry_points_loaded:
            try:
                ep.load()
            except Exception as err:  # noqa: BLE001 - any failure names the plugin
                raise ConfigError(
                    f"plugin {ep.name!r} (entry point {ep.value!r} of group {GROUP!r}) "
                    f"cannot be loaded: {type(err).__name__}: {err}"
                ) from None
    _entry_points_loaded = True
    return names


def load(modules=None) -> list[str]:
    """The entry points, then each module of the config key ``plugins`` (imported once; the
    import system keeps them); the modules' names."""
    load_entry_points()
    if modules is None:
        return []
    if not isinstance(modules, list | tuple) or not all(isinstance(m, str) and m for m in modules):
        raise ConfigError(f"config key 'plugins' must be a list of module names, got {modules!r}")
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise ConfigError(
                f"plugin module {name!r} (config key 'plugins') cannot be imported: {err} "
                f"(is its folder on PYTHONPATH?)"
            ) from None
    return list(modules)
