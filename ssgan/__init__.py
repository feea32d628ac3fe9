"""ssgan-bench: Self-Sparse GAN vs WGAN-GP reproducibility suite.

The Python interface (``ssgan.resolve_config``, ``train_run``, ``fid``, ``load_run``, ``runs_table``,
``compare``; docs/api.md) lives in ``ssgan.api`` and is loaded on first use, so ``import ssgan``
stays as light as it was (no torch).
"""

from __future__ import annotations

import importlib

from ssgan import moved as _moved

__version__ = "0.1.0"

API = (
    "FIDResult",
    "Run",
    "compare",
    "fid",
    "load_run",
    "resolve_config",
    "runs_table",
    "train_run",
)
__all__ = ["__version__", *API]  # the same names as ssgan.api.__all__ (tests/test_api.py)

_moved.install()  # ssgan.train, ssgan.runs, ... still import (ssgan/moved.py)


def __getattr__(name: str):
    # A lazy attribute (PEP 562): it runs after the package is initialised, so it is no import
    # edge of ``ssgan`` (tests/test_imports.py) and ``import ssgan`` does not load torch.
    if name in API:
        return getattr(importlib.import_module("ssgan.api"), name)
    raise AttributeError(f"module 'ssgan' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *API])
