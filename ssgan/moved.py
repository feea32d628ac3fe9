"""The import paths of modules that moved into the stage subpackages keep working.

``import ssgan.train`` (or ``from ssgan import runs``, ``from ssgan.step import Step``) gives the
module at its new place, the same module object, with a ``DeprecationWarning`` naming that place.
Installed by ``ssgan/__init__.py``; remove an entry once nothing imports the old name.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

# old module -> its place since the package was grouped by pipeline stage
MOVED = {
    "ssgan.train": "ssgan.training.loop",
    "ssgan.step": "ssgan.training.step",
    "ssgan.checkpoint": "ssgan.training.checkpoint",
    "ssgan.runtime": "ssgan.training.runtime",
    "ssgan.run_files": "ssgan.training.run_files",
    "ssgan.seeds": "ssgan.training.seeds",
    "ssgan.runs": "ssgan.training.runs",
    "ssgan.config_yaml": "ssgan.config.yaml_io",
    "ssgan.suite": "ssgan.config.suite",
    "ssgan.run_identity": "ssgan.config.identity",
    "ssgan.spectral": "ssgan.probes.spectral",
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name not in MOVED:
            return None
        return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec):
        new = MOVED[spec.name]
        warnings.warn(
            f"{spec.name} moved to {new}; import that instead", DeprecationWarning, stacklevel=2
        )
        return importlib.import_module(new)

    def exec_module(self, module):  # the module at its new place is already executed
        pass


def install() -> None:
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.insert(0, _Alias())
