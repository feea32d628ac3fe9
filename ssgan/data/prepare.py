"""``ssgan prepare-data``: make a dataset available (download where allowed), decode it once
into the prepared arrays that training and FID read (``ssgan.data.prepared``), and record what
is there, before any compute job needs it (the workflow runs this on the login node)."""

from __future__ import annotations

from ssgan import config as C
from ssgan import io
from ssgan.data.prepared import Prepared, prepare, reference
from ssgan.data.registry import DATASETS, channels_of, data_root, resolution_of, train_split
from ssgan.training.runs import out_file


def describe(p: Prepared, split: str, use: str) -> dict:
    r = p.record
    return {
        "split": split,
        "use": use,
        "n_images": r["count"],
        "sha256": r["sha256"],  # of exactly the uint8 images training (or FID) reads
        "prepared": str(p.path),
        "built": p.built,
        "small_images": r["small_images"],
        "source_files": r["source_files"],
    }


def cli(args) -> int:
    if args.out:
        out_file(args.out, "JSON")
    file_cfg = C.load_yaml(args.config) if args.config else None
    cfg = C.resolve(args.dataset, "wgan_gp", 0, file_cfg, C.parse_overrides(args.overrides))
    train = train_split(cfg)
    fid_split = cfg["fid"]["split"] or train
    training = prepare(cfg, train)
    ref = reference(cfg, fid_split, cfg["fid"]["n_real"])
    splits = [describe(training, train, "training")]
    if ref.path != training.path:
        splits.append(describe(ref, fid_split, "fid reference"))
    record = {
        "dataset": cfg["label"],
        "dataset_kind": cfg["dataset"],
        "data_root": str(data_root(cfg)),
        "resolution": resolution_of(cfg),
        "channels": channels_of(cfg),
        "obtain": DATASETS[cfg["dataset"]].obtain,
        "splits": splits,
    }
    if args.out:
        io.write_json(args.out, record)
    return 0
