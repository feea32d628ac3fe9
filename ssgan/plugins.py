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

Whatever goes wrong while a plugin is imported (the module not found, a module it needs not
installed, any exception its code raises, a name that a built-in method or dataset already
has) is one ``ConfigError`` line naming the plugin, its module and the error.

A plugin's code is part of the identity of the runs that use it: ``code_identity`` gives the
sha256 of the source file of a plugin method's (and dataset's) module and, when it comes from
an installed distribution, its name and version; the resolved run config records it under
``plugin_code`` (in run.json and in the config hash), so an edit of the plugin reruns exactly
the runs of its method or dataset, and a built-in run's config and hash have no such key.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
import traceback
from functools import cache
from importlib import metadata
from pathlib import Path

from ssgan.errors import ConfigError

GROUP = "ssgan.plugins"
_entry_points_loaded = False
_PACKAGE = Path(__file__).resolve().parent


def _failure(err: BaseException, module: str, not_found: str) -> str:
    """One line saying why ``module`` could not be imported (``not_found``: the hint when the
    module itself is not there)."""
    missing = getattr(err, "name", None) if isinstance(err, ModuleNotFoundError) else None
    if missing and not (module == missing or module.startswith(f"{missing}.")):
        return (
            f"it needs the module {missing!r}, which is not installed "
            f"(install the plugin's dependencies)"
        )
    if missing:
        return f"ModuleNotFoundError: no module named {missing!r} ({not_found})"
    where = ""
    if isinstance(err, SyntaxError) and err.filename:
        where = f" ({err.filename}:{err.lineno})"
    else:  # the deepest line of the plugin's own code (a refusal is raised inside ssgan)
        frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename[0] != "<"]
        own = [f for f in frames if not Path(f.filename).is_relative_to(_PACKAGE)] or frames
        if own:
            where = f" ({own[-1].filename}:{own[-1].lineno})"
    text = " ".join(str(err).split()) or "(no message)"
    return f"{type(err).__name__}: {text}{where}"


def load_entry_points() -> list[str]:
    """Import every installed ``ssgan.plugins`` entry point (once per process); their names.
    A broken one is a ``ConfigError`` each time it is asked for (the commands that load plugins
    report it; ``ssgan --help`` and ``--version`` answer regardless, ssgan/cli.py)."""
    global _entry_points_loaded
    try:
        found = list(metadata.entry_points(group=GROUP))
    except Exception as err:  # noqa: BLE001 - a broken distribution's metadata
        raise ConfigError(
            f"the installed plugins (entry-point group {GROUP!r}) cannot be listed: "
            f"{type(err).__name__}: {err}"
        ) from None
    names = []
    for ep in found:
        names.append(ep.name)
        if not _entry_points_loaded:
            try:
                ep.load()
            except Exception as err:  # noqa: BLE001 - any failure names the plugin
                raise ConfigError(
                    f"plugin {ep.name!r} (entry point {ep.value!r} of group {GROUP!r}) "
                    f"cannot be loaded: {_failure(err, ep.module, 'is its package installed whole?')}"
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
        except Exception as err:  # noqa: BLE001 - SyntaxError, RuntimeError, a name clash...
            raise ConfigError(
                f"plugin module {name!r} (config key 'plugins') cannot be imported: "
                f"{_failure(err, name, 'is its folder on PYTHONPATH?')}"
            ) from None
    return list(modules)


@cache
def module_identity(module: str) -> dict:
    """What identifies a plugin module's code: the sha256 of its source file and, when it
    comes from an installed distribution, that distribution's name and version."""
    mod = sys.modules.get(module)
    path = getattr(mod, "__file__", None)
    out: dict = {"module": module}
    if path and Path(path).is_file():
        out["source_sha256"] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    if path:
        installed = _distribution_of(Path(path).resolve(), module.split(".")[0])
        if installed:
            out["distribution"] = installed
    return out


def _distribution_of(path: Path, top: str) -> str | None:
    """``"name version"`` of the installed distribution that holds the file ``path``."""
    for name in metadata.packages_distributions().get(top) or []:
        dist = metadata.distribution(name)
        for f in dist.files or ():
            if f.name == path.name and Path(dist.locate_file(f)).resolve() == path:
                return f"{dist.metadata['Name']} {dist.version}"
    return None


def code_identity(modules: dict[str, str]) -> dict:
    """``{"method": module_identity(...), "dataset": ...}`` of the parts of a run that come from
    plugins (``modules``: part -> the module defining it); empty for a built-in run."""
    return {part: module_identity(module) for part, module in modules.items()}
