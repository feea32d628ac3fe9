"""Real-data FID statistics, computed once and cached.

The reference set is the first ``n_real`` images of the split in dataset order (idx file
order, sorted file names for folders), capped by the split's size; the number used is
recorded. ``fid.n_real`` governs this, not ``data.max_images`` (a training option).
The split is ``--split``, else ``fid.split``, else the training split.

A cache entry ``<cache_dir>/real_stats/<key>.npz`` (mu, sigma, features, meta; loads with
allow_pickle=False) is keyed by everything the numbers depend on: dataset, split,
resolution, channels, n_real used, the sha256 of those uint8 images, extractor, resize,
weights sha256 and torch-fidelity's version. A change of data or protocol changes the key,
so a stale entry is never read. Entries are written by atomic rename; an fcntl lock per key
keeps two processes from computing the same entry twice. The features are kept for KID.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch_fidelity

import ssgan.metrics.distances as distances
from ssgan import io
from ssgan.data import DataError, channels_of, resolution_of, train_split
from ssgan.data.prepared import reference_images
from ssgan.metrics.extractor import EXTRACTOR, FEATURE, RESIZE, Inception, cache_dir, file_lock

CACHE_VERSION = 1  # bump when the entry layout or the computation changes


@dataclass
class RealStats:
    stats: dict  # {"mu", "sigma"} float64
    features: torch.Tensor  # n_real x 2048 float32 (for KID)
    key: str
    path: Path
    cache_hit: bool
    n_real: int
    split: str
    seconds: float


def reference_split(cfg: dict, split: str | None = None) -> str:
    return split or cfg["fid"]["split"] or train_split(cfg)


def real_images(cfg: dict, split: str) -> torch.Tensor:
    """The first ``fid.n_real`` images of ``split`` as uint8 N x C x H x W at the run's
    resolution, read from the prepared array (the one training reads, when it holds them)."""
    return torch.from_numpy(np.array(reference_images(cfg, split, cfg["fid"]["n_real"])))


def stats_key(fields: dict) -> str:
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
    return (
        f"{fields['dataset']}-{fields['split']}-{fields['resolution']}px-{fields['channels']}ch"
        f"-n{fields['n_real']}-{digest[:20]}"
    )


def key_fields(cfg: dict, split: str, images: torch.Tensor, inception: Inception) -> dict:
    return {
        "version": CACHE_VERSION,
        "dataset": cfg["dataset"],
        "split": split,
        "resolution": resolution_of(cfg),
        "channels": channels_of(cfg),
        "n_real": len(images),
        "data_sha256": hashlib.sha256(images.numpy().tobytes()).hexdigest(),
        "extractor": EXTRACTOR,
        "feature": FEATURE,
        "resize": RESIZE,
        "weights_sha256": inception.weights.sha256,
        "torch_fidelity": torch_fidelity.__version__,
    }


def _load(path: Path, key: str):
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("key") != key:
                raise ValueError(f"it holds key {meta.get('key')!r}")
            return {"mu": z["mu"], "sigma": z["sigma"]}, torch.from_numpy(z["features"])
    except (
        OSError,
        ValueError,
        KeyError,
        zipfile.BadZipFile,
    ) as err:  # unreadable or refused: recompute
        print(
            f"real-stats cache entry {path} rejected ({type(err).__name__}: {str(err)[:200]}); "
            f"recomputing it",
            file=sys.stderr,
        )
        return None


def _save(path: Path, key: str, fields: dict, stats: dict, features: torch.Tensor) -> None:
    meta = json.dumps({"key": key, **fields, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    with io.atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                mu=stats["mu"],
                sigma=stats["sigma"],
                features=features.numpy(),
                meta=np.array(meta),
            )


def real_statistics(cfg: dict, inception: Inception, split: str | None = None) -> RealStats:
    """FID statistics of the reference set of a run config, from the cache or computed."""
    t0 = time.perf_counter()
    split = reference_split(cfg, split)
    images = real_images(cfg, split)
    if len(images) < 2:
        raise DataError(
            f"split {split!r} of {cfg['dataset']} has {len(images)} images; FID needs at least 2"
        )
    fields = key_fields(cfg, split, images, inception)
    key = stats_key(fields)
    path = cache_dir(cfg["fid"]) / "real_stats" / f"{key}.npz"
    entry, hit = _load(path, key), True
    if entry is None:
        with file_lock(path.with_suffix(".lock")):
            entry = _load(path, key)  # another process may have written it meanwhile
            if entry is None:
                features = inception.features_shown(
                    images, cfg["fid"]["batch_size"], f"real stats {cfg['label']} {split}"
                )
                entry, hit = (distances.statistics(features), features), False
                _save(path, key, fields, *entry)
    return RealStats(
        entry[0], entry[1], key, path, hit, len(images), split, time.perf_counter() - t0
    )
