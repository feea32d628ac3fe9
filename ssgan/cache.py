"""The suite's one cache folder, shared by the CLI, the Python API and the workflow.

``$SSGAN_CACHE_DIR``, else ``~/.cache/ssgan``. It holds what is expensive to recompute and is
keyed by content, so every results folder (and every grid) can share it safely:

  prepared/      decoded, resized datasets (ssgan/data/prepared.py; ``data.prepared_dir``)
  inception/     FID Inception weights converted from a TorchScript (ssgan/metrics/extractor.py)
  real_stats/    real-data FID statistics and features (ssgan/metrics/real_stats.py)
  classifier/    the class-coverage classifiers (ssgan/metrics/classifier.py)

``fid.cache_dir`` moves the last three, ``data.prepared_dir`` the first one; a suite config's
``fid_cache`` sets ``fid.cache_dir`` for its jobs. To move the cache, set ``SSGAN_CACHE_DIR``
(on a cluster: a folder every compute node sees) and copy or remove the old folder: an entry
is found by its key, so a moved cache is used as is and an absent one is rebuilt.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "SSGAN_CACHE_DIR"
DEFAULT = "~/.cache/ssgan"


def cache_root() -> Path:
    """``$SSGAN_CACHE_DIR``, else ``~/.cache/ssgan``."""
    return Path(os.environ.get(ENV) or DEFAULT).expanduser()
