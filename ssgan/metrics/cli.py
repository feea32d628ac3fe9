"""``ssgan real-stats`` and ``ssgan fid``: thin wrappers around real_stats and evaluate."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ssgan import config as C
from ssgan import io
from ssgan.metrics.classifier import get_classifier, has_labels
from ssgan.metrics.evaluate import eval_config, run_fid
from ssgan.metrics.extractor import Inception, resolve_weights
from ssgan.metrics.real_stats import real_statistics
from ssgan.training import gpu_slots
from ssgan.training.runs import RunError, out_file, read_run


def _file_cfg(args) -> dict | None:
    return C.load_yaml(args.config) if args.config else None


def real_stats_cli(args) -> int:
    """Compute (or find) the cached real statistics of a dataset's FID reference split;
    with ``args.out`` (if the parser has it) also write a JSON record of the entry."""
    if getattr(args, "out", None):
        out_file(args.out, "JSON")
    cfg = C.resolve(args.dataset, "wgan_gp", 0, _file_cfg(args), C.parse_overrides(args.overrides))
    C.check_devices(cfg, ("fid.device",))
    inception = Inception(
        resolve_weights(cfg["fid"]), gpu_slots.claim(cfg["fid"]["device"], whole=True)[0]
    )
    real = real_statistics(cfg, inception, args.split)
    # the class-coverage classifier too, so that the FID jobs after this one find it cached
    clf = (
        get_classifier(cfg) if cfg["fid"]["class_coverage"] and has_labels(cfg["dataset"]) else None
    )
    if getattr(args, "out", None):  # a record of the entry, for a workflow rule's output
        io.write_json(
            args.out,
            {
                "dataset": args.dataset,
                "split": real.split,
                "n_real": real.n_real,
                "key": real.key,
                "path": str(real.path),
                "cache_hit": real.cache_hit,
                "seconds": real.seconds,
                **inception.record(),
                **(clf.record() if clf else {"classifier_key": None, "classifier_accuracy": None}),
            },
        )
    how = "cache hit" if real.cache_hit else f"computed in {real.seconds:.1f} s"
    print(
        f"real-stats {args.dataset} split={real.split} n_real={real.n_real}: {how}\n"
        f"  key {real.key}\n  file {real.path}\n  weights {inception.weights.path} "
        f"(sha256 {inception.weights.sha256[:16]}..., {inception.weights.source})"
    )
    if clf is not None:
        how = "cache hit" if clf.cache_hit else f"trained in {clf.seconds:.1f} s"
        print(f"  class-coverage classifier {clf.key}: test accuracy {clf.accuracy:.4f} ({how})")
    return 0


def fid_cli(args) -> int:
    """Evaluate a run directory; writes fid.json (or fid_XXXXXXXX.json) and fid_curve.csv.
    With ``--fake``: score anything against anything (fake_fid_cli)."""
    if getattr(args, "fake", None) is not None:
        return fake_fid_cli(args)
    for flag in ("real", "out", "z_dim", "isc"):
        if getattr(args, flag, None):
            raise RunError(f"--{flag.replace('_', '-')} goes with --fake, not with --run")
    run = read_run(args.run)
    cfg = eval_config(run, _file_cfg(args), C.parse_overrides(args.overrides))
    C.check_devices(cfg, ("fid.device",))
    rec = run_fid(args.run, cfg, args.checkpoint)
    if rec["status"] == "skipped":
        print(f"fid {args.run}: skipped ({rec['reason']})")
    else:
        print(
            f"fid {args.run}: FID {rec['fid']:.4f}  KID {rec['kid_mean']:.5f} +- {rec['kid_std']:.5f}  "
            f"(iteration {rec['iteration']}, n_fake {rec['n_fake']}, n_real {rec['n_real']} {rec['split']}, "
            f"real stats {'cached' if rec['real_stats_cache_hit'] else 'computed'}, {rec['seconds']:.1f} s)"
            f"  protocol {rec['protocol_id']}"
        )
        if rec["precision"] is not None:
            print(
                f"  precision {rec['precision']:.3f}  recall {rec['recall']:.3f}  density "
                f"{rec['density']:.3f}  coverage {rec['coverage']:.3f}  (n {rec['manifold_n']}, "
                f"k {rec['prc_k']}/{rec['dc_k']})"
            )
        if rec["classes_covered"] is not None:
            to_real = rec.get("class_kl_real")
            print(
                f"  classes covered {rec['classes_covered']}/10 (share >= "
                f"{rec['class_min_share']} x 1/10)  KL to uniform {rec['class_kl']:.3f}"
                + (f", to the real test histogram {to_real:.3f}" if to_real is not None else "")
                + f"  (classifier test accuracy {rec['classifier_accuracy']:.4f})"
            )
    if rec.get("replaced"):
        print(f"fid {args.run}: {rec['replaced']}")
    return 0


def default_out(fake: str, real: str) -> Path:
    """<fake>.fid-<real>.json beside the fake input (a folder, run directory or file)."""
    path = Path(fake.rpartition(".py:")[0] + ".py" if ".py:" in fake else fake).expanduser()
    stem = path.name if path.is_dir() else path.stem
    return path.parent / f"{stem}.fid-{Path(real).name or real}.json"


def fake_fid_cli(args) -> int:
    """``ssgan fid --fake PATH --real DATASET|FOLDER``: ssgan/metrics/external.py."""
    from ssgan.metrics import external

    if args.checkpoint is not None:
        raise RunError("--checkpoint goes with --run (a run's snapshot); --fake scores one input")
    file_cfg = _file_cfg(args)
    overrides = C.parse_overrides(args.overrides)
    if args.out not in (None, "-"):
        out_file(args.out, "JSON")
    fake = external.open_fake(args.fake, args.z_dim)
    cfg, real_folder, seed = external.resolve(fake, args.real, args.seed, file_cfg, overrides)
    C.check_devices(cfg, ("fid.device",))
    n_given = "n_fake" in overrides.get("fid", {}) or fake.kind != "folder"
    rec = external.evaluate(fake, cfg, real_folder, seed, args.isc, n_given)
    note = rec["real"]
    line = (
        f"fid {args.fake} vs {note}: FID {rec['fid']:.4f}  KID {rec['kid_mean']:.5f} +- "
        f"{rec['kid_std']:.5f}"
        + (f"  IS {rec['isc_mean']:.4f} +- {rec['isc_std']:.4f}" if args.isc else "")
        + f"  (n_fake {rec['n_fake']}, n_real {rec['n_real']}, real stats "
        f"{'cached' if rec['real_stats_cache_hit'] else 'computed'}, {rec['seconds']:.1f} s)"
        f"  protocol {rec['protocol_id']}"
    )
    if args.out == "-":
        print(line, file=sys.stderr)
        print(json.dumps(io._jsonable(rec), indent=1, default=str))
        return 0
    out = Path(args.out) if args.out else default_out(args.fake, rec["real"])
    io.write_json(out, rec)
    print(f"{line}\n  record {out}")
    return 0
