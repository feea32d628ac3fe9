"""``ssgan prepare-data``: make a dataset available (download where allowed) and record what
is there, before any compute job needs it (the workflow runs this on the login node)."""

from __future__ import annotations

import hashlib

from ssgan import config as C
from ssgan import io
from ssgan.data.registry import (
    DATASETS,
    channels_of,
    load_images,
    notes,
    resolution_of,
    train_split,
)
from ssgan.runs import out_file


def describe(cfg: dict, split: str) -> dict:
    images = load_images(cfg, split)
    record = {"split": split, "n_images": len(images), **notes}
    if hasattr(images, "numpy"):  # in memory: a content hash of exactly what training sees
        record["sha256"] = hashlib.sha256(images.numpy().tobytes()).hexdigest()
    return record


def cli(args) -> int:
    if args.out:
        out_file(args.out, "JSON")
    file_cfg = C.load_yaml(args.config) if args.config else None
    cfg = C.resolve(args.dataset, "wgan_gp", 0, file_cfg, C.parse_overrides(args.overrides))
    splits = sorted({train_split(cfg), cfg["fid"]["split"] or train_split(cfg)})
    record = {
        "dataset": cfg["label"],
        "dataset_kind": cfg["dataset"],
        "data_root": str(C.data_root(cfg)),
        "resolution": resolution_of(cfg),
        "channels": channels_of(cfg),
        "obtain": DATASETS[cfg["dataset"]].obtain,
        "splits": [describe(cfg, s) for s in splits],
    }
    if args.out:
        io.write_json(args.out, record)
    return 0
