"""FID/KID of a run's generator against cached real statistics; writes fid.json (and the
FID-over-training curve). See docs/run_layout.md for the fields.

Generated samples: ``fid.n_fake`` latents z ~ N(0, I) drawn at once on the CPU from
``torch.Generator().manual_seed(latent_seed(seed))``, the run seed's ``eval`` stream
(ssgan/training/seeds.py; so both methods of a seed see the same latents, and the same run always
gives the same FID), tanh output mapped to uint8 by round((x + 1) * 127.5) clamped to
[0, 255] (the inverse of the training map x / 127.5 - 1). G's BatchNorm (``fid.bn_mode``):
``eval`` uses the running statistics, so the number does not depend on ``fid.batch_size``
(latents are drawn before batching, G and Inception act per sample); ``batch`` uses each
batch's own statistics, as the reference WGAN-GP code samples, over batches of exactly
``fid.batch_size`` latents (n_fake must be a multiple), on a copy of G whose running
statistics stay untouched; then the batch size is part of the result.
KID's random subsets are drawn by torch-fidelity with numpy's RandomState(latent seed).
Mode-collapse measures on the same samples: precision/recall/density/coverage on their
features (``fid.manifold``; ssgan/metrics/manifold.py) and, on labelled datasets, class
coverage of their images (``fid.class_coverage``; ssgan/metrics/classifier.py). They are
recorded with their settings; of those only the reals' subset (``fid.manifold_seed``) is part
of the protocol id, so that measures on different reference subsets are never averaged.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path

import torch
import torch_fidelity

import ssgan.metrics.distances as distances
import ssgan.metrics.manifold as manifold
from ssgan import config as C
from ssgan import io, provenance
from ssgan.data import channels_of, resolution_of
from ssgan.metrics.classifier import Classifier, class_coverage, get_classifier, has_labels
from ssgan.metrics.extractor import (
    EXTRACTOR,
    FEATURE,
    RESIZE,
    Inception,
    exact_gpu,
    resolve_weights,
)
from ssgan.metrics.generators import check_output
from ssgan.metrics.real_stats import RealStats, real_statistics, reference_split
from ssgan.progress import Progress
from ssgan.training import gpu_slots, seeds
from ssgan.training.runs import RunError, generator_path, load_generator, read_run

HISTORY = "fid_history.jsonl"  # earlier evaluations replaced in fid.json, one JSON per line
CURVE_COLUMNS = ["iteration", "fid", "kid_mean", "kid_std"]


def latent_seed(seed: int) -> int:
    """Seed of the FID latents: the run seed's ``eval`` stream."""
    return seeds.stream_seed(seed, "eval")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def eval_config(run: dict, file_cfg: dict | None = None, overrides: dict | None = None) -> dict:
    """The run's config with its FID protocol: run.json's ``fid`` <- the ``fid`` section resolved
    from ``file_cfg`` for the run's (dataset label, method, seed) <- ``overrides``.
    Only ``fid.*`` and ``data.root`` (where the real data lies on this machine) may change."""
    overrides = overrides or {}
    bad = [k for k in overrides if k not in ("fid", "data")] + [
        f"data.{k}" for k in overrides.get("data", {}) if k != "root"
    ]
    if bad:
        raise C.ConfigError(
            f"ssgan fid accepts only fid.* and data.root overrides, got: {', '.join(bad)}"
        )
    cfg = copy.deepcopy(run["config"])
    if file_cfg:
        r = C.resolve(run["dataset"], run["method"], run["seed"], file_cfg, overrides)
        cfg["fid"] = r["fid"]
        cfg["data"]["root"] = r["data"]["root"] or cfg["data"]["root"]
        return cfg
    return C.validate(C.merge(cfg, overrides))


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] -> uint8 [0, 255]."""
    return ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def with_bn_mode(G: torch.nn.Module, bn_mode: str) -> torch.nn.Module:
    """G for sampling: ``eval`` -> G in eval mode; ``batch`` -> a copy in train mode whose
    BatchNorms normalise with batch statistics and do not update running ones (momentum 0)."""
    if bn_mode == "eval":
        return G.eval()
    Gb = copy.deepcopy(G).train()
    for m in Gb.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = 0.0
    return Gb


@torch.no_grad()
def fake_features(
    G: torch.nn.Module,
    n: int,
    z_dim: int,
    seed: int,
    inception: Inception,
    batch_size: int,
    bn_mode: str = "eval",
    classifier: Classifier | None = None,
    expect: tuple[int, int, int] | None = None,
    what: str = "the FID protocol",
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Pool3 features of n generated images, and their classes when a classifier is given.
    Each batch is checked: C x H x W ``expect`` and values in [-1, 1] (a clear error, not a
    clamped, wrong FID; ssgan/metrics/generators.py)."""
    z = torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))
    G = with_bn_mode(G, bn_mode)
    out, labels = [], []
    with Progress(n, f"fid fake features ({bn_mode} BN)", "img") as bar:
        for i in range(0, n, batch_size):
            with exact_gpu():
                x = G(z[i : i + batch_size].to(inception.device))
            check_output(x, expect, what)
            images = to_uint8(x)
            out.append(inception.features(images, batch_size))
            if classifier is not None:
                labels.append(classifier.predict(images))
            bar.update(len(images))
    return torch.cat(out), torch.cat(labels) if classifier is not None else None


def protocol(cfg: dict, run: dict) -> dict:
    f = cfg["fid"]
    return {
        "n_fake": f["n_fake"],
        "n_real": None,
        "split": reference_split(cfg),
        "resolution": resolution_of(cfg),
        "latent_seed": latent_seed(run["seed"]),
        "batch_size": f["batch_size"],
        "batch_size_affects_result": f["bn_mode"] == "batch",
        "bn_mode": f["bn_mode"],
        "generator": f["generator"],  # final | ema (G's moving average)
        "kid_subset_size": None,
        "kid_subsets": distances.KID_SUBSETS,
    }


# The fields of a fid.json that define its FID protocol: two FIDs are comparable (pairable,
# averageable) only when these agree. The latent seed is per run by design and not part of it;
# a field missing from an older record takes the value it had before the field existed.
PROTOCOL_FIELDS = {
    "n_fake": None,
    "n_real": None,
    "split": None,
    "resolution": None,
    "kid_subset_size": None,
    "extractor": None,
    "feature": None,
    "resize": None,
    "weights_sha256": None,
    "bn_mode": "eval",
    "manifold_seed": None,  # the manifold measures' real subset; older records: the first n
    "generator": "final",  # the weights evaluated: final | ema
}
# Fields added after protocol ids were recorded: left out of the id at this value, so every
# earlier id (and the pairs built on it) stays as it was.
PROTOCOL_OMITTED_AT = {"generator": "final"}


def protocol_id(rec: dict) -> str:
    """A short, stable name of a fid.json's protocol (12 hex digits of a sha256)."""
    fields = {k: rec.get(k, default) for k, default in PROTOCOL_FIELDS.items()}
    for key, value in PROTOCOL_OMITTED_AT.items():
        if fields.get(key) == value:
            del fields[key]
    blob = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def write_result(path: Path, rec: dict) -> str | None:
    """Write a fid.json record with its ``protocol_id`` and append it to fid_history.jsonl,
    which keeps every evaluation (Snakemake deletes fid.json before it reruns the job, so the
    history is where an earlier protocol's number survives); an unreadable fid.json found here
    goes there verbatim. Returns a note when the record replaced one of another protocol."""
    rec["protocol_id"] = protocol_id(rec)
    history = path.with_name(HISTORY)
    lines = history.read_text().splitlines(keepends=True) if history.is_file() else []
    note, old_id = None, None
    if path.is_file():
        text = path.read_text(errors="replace")
        try:
            old = json.loads(text)
            old_id = protocol_id(old) if isinstance(old, dict) else "unreadable"
        except ValueError:
            old_id = "unreadable"
        if old_id == "unreadable":
            lines.append(_history_line(path, old_id, {"unreadable": text}))
    else:  # removed (e.g. by Snakemake before a rerun): the last evaluation of this file
        for line in reversed(lines):
            try:
                entry = json.loads(line)
            except ValueError:  # a damaged line stays as it is; the rest is still read
                continue
            if isinstance(entry, dict) and entry.get("file") == path.name:
                old_id = entry.get("protocol_id")
                break
    if old_id is not None and old_id != rec["protocol_id"]:
        note = (
            f"{path.name} now holds protocol {rec['protocol_id']} (the one the tables use); "
            f"the earlier record (protocol {old_id}) is kept in {history.name}"
        )
    io.write_text(history, "".join(lines) + _history_line(path, rec["protocol_id"], rec))
    io.write_json(path, rec)
    return note


def _history_line(path: Path, pid: str, rec: dict) -> str:
    entry = {"file": path.name, "protocol_id": pid, "record": io._jsonable(rec)}
    return json.dumps(entry, default=str) + "\n"


def record(run: dict, cfg: dict, **fields) -> dict:
    """A fid.json record: every field of docs/run_layout.md, in its order, plus protocol extras."""
    rec = {
        "status": "ok",
        "reason": None,
        "fid": None,
        "kid_mean": None,
        "kid_std": None,
        "iteration": run.get("iteration"),
        **protocol(cfg, run),
        "extractor": EXTRACTOR,
        "feature": FEATURE,
        "resize": RESIZE,
        "weights": None,
        "weights_sha256": None,
        "weights_source": None,
        "weights_converted_from": None,
        "weights_converted_from_sha256": None,
        "torch_fidelity": torch_fidelity.__version__,
        "real_stats_key": None,
        "real_stats_cache_hit": None,
        "real_stats_seconds": None,
        "seconds": None,
        "fid_by_bn_mode": None,
        **dict.fromkeys(manifold.FIELDS),  # mode collapse (fid.manifold), null when off
        "manifold_n": None,
        "manifold_seed": None,  # the reals' subset (fid.manifold_seed; null: the first n)
        "prc_k": None,
        "dc_k": None,
        "classes_covered": None,  # labelled datasets with fid.class_coverage, else null
        "class_kl": None,  # KL(class histogram || uniform)
        "class_kl_real": None,  # KL(class histogram || the classifier's on real test images)
        "class_min_share": None,  # classes_covered counts shares >= this x 1 / classes
        "classifier_key": None,
        "classifier_accuracy": None,
        "dataset": run.get("dataset"),
        "method": run.get("method"),
        "seed": run.get("seed"),
        # the state of the run this record evaluated: a later state makes it stale (tables)
        "run_status": run.get("status"),
        "run_config_hash": run.get("config_hash"),
        "generator_sha256": None,  # of the weight file evaluated; identical runs, equal hashes
    }
    rec.update(fields)
    return rec


def evaluate_generator(
    G: torch.nn.Module,
    cfg: dict,
    run: dict,
    real: RealStats,
    inception: Inception,
    iteration: int | None,
    compare: bool = False,
    classifier: Classifier | None = None,
) -> dict:
    """FID/KID of one generator against ``real``; the fid.json record (without provenance).
    ``compare``: also the FIDs in the ``fid.compare_bn_modes`` (same latents) ->
    ``fid_by_bn_mode`` (the flat fields are always those of ``fid.bn_mode``).
    Also the mode-collapse measures: ``fid.manifold`` and, with ``classifier``, class coverage."""
    t0 = time.perf_counter()
    f = cfg["fid"]
    seed = latent_seed(run["seed"])

    expect = (channels_of(cfg), resolution_of(cfg), resolution_of(cfg))

    def features(bn_mode, clf=None):
        return fake_features(
            G, f["n_fake"], cfg["model"]["z_dim"], seed, inception, f["batch_size"], bn_mode, clf,
            expect,
        )  # fmt: skip

    feats, labels = features(f["bn_mode"], classifier)
    by_mode = None
    if compare and f["compare_bn_modes"]:
        fid = distances.fid(distances.statistics(feats), real.stats)
        by_mode = {
            mode: fid
            if mode == f["bn_mode"]
            else distances.fid(distances.statistics(features(mode)[0]), real.stats)
            for mode in dict.fromkeys([f["bn_mode"], *f["compare_bn_modes"]])
        }
    return score(feats, labels, cfg, run, real, inception, t0, iteration, by_mode, classifier)


def score(
    feats: torch.Tensor,
    labels: torch.Tensor | None,
    cfg: dict,
    run: dict,
    real: RealStats,
    inception: Inception,
    t0: float,
    iteration: int | None = None,
    by_mode: dict | None = None,
    classifier: Classifier | None = None,
) -> dict:
    """The fid.json record (without provenance) of generated images' features (and their
    classes by ``classifier``): FID/KID against ``real`` and the mode-collapse measures; ``t0``
    is when generation began.
    KID's subsets are drawn with the run seed's latent seed."""
    f = cfg["fid"]
    fid = distances.fid(distances.statistics(feats), real.stats)
    kid_mean, kid_std, kid_size = distances.kid(
        feats, real.features, f["kid_subset_size"], seed=latent_seed(run["seed"])
    )
    collapse = manifold.measures(real.features, feats, f) if f["manifold"] else {}
    if classifier is not None:
        collapse.update(class_coverage(labels, classifier.real_share), **classifier.record())
    return record(
        run,
        cfg,
        **collapse,
        fid=fid,
        fid_by_bn_mode=by_mode,
        kid_mean=kid_mean,
        kid_std=kid_std,
        iteration=iteration,
        n_real=real.n_real,
        split=real.split,
        kid_subset_size=kid_size,
        **inception.record(),
        real_stats_key=real.key,
        real_stats_cache_hit=real.cache_hit,
        real_stats_seconds=real.seconds,
        seconds=time.perf_counter() - t0 + real.seconds,
    )


def evaluate_run(
    run_dir: str | Path, cfg: dict | None = None, iterations: Sequence[int | None] = (None,)
) -> list[dict]:
    """Records for the given generator iterations of a completed run (None = the final one);
    the last one also gets the ``fid.compare_bn_modes`` comparison.
    The real statistics are fetched once and shared; ``seconds`` of each record = its own
    generation + features + distances, plus the real-statistics time (``real_stats_seconds``)."""
    run = read_run(run_dir)
    cfg = cfg or run["config"]
    device, _ = gpu_slots.claim(cfg["fid"]["device"], whole=True)  # a whole GPU per FID job
    inception = Inception(resolve_weights(cfg["fid"]), device)
    real = real_statistics(cfg, inception)
    labelled = cfg["fid"]["class_coverage"] and has_labels(cfg["dataset"])
    classifier = get_classifier(cfg) if labelled else None
    out, ema = [], cfg["fid"]["generator"] == "ema"
    for i, it in enumerate(iterations):
        G, _ = load_generator(run_dir, it, device, ema)
        rec = evaluate_generator(
            G,
            cfg,
            run,
            real,
            inception,
            run["iteration"] if it is None else it,
            compare=i == len(iterations) - 1,  # the main record (fid.json or fid_XXXXXXXX.json)
            classifier=classifier,
        )
        digest = io.sha256_file(generator_path(run_dir, it, ema))
        out.append({**rec, "generator_sha256": digest, "provenance": provenance.collect(device)})
    return out


def run_fid(run_dir: str | Path, cfg: dict | None = None, checkpoint: int | None = None) -> dict:
    """Evaluate a run directory and write its results (atomically); returns the main record.

    ``checkpoint``: only that snapshot -> ``fid_XXXXXXXX.json``. Otherwise the final generator
    -> ``fid.json``, and with ``fid.checkpoints`` also those snapshots -> ``fid_curve.csv``
    (header only when the run is skipped). A run whose status is not ``completed`` gets a
    ``skipped`` record with the reason, so the workflow goes on and the run stays in tables."""
    run_dir = Path(run_dir)
    run = read_run(run_dir)
    cfg = cfg or run["config"]
    main = run_dir / (f"fid_{checkpoint:08d}.json" if checkpoint is not None else "fid.json")
    checkpoints = sorted(set(cfg["fid"]["checkpoints"] or [])) if checkpoint is None else []
    if run.get("status") != "completed":
        rec = record(
            run,
            cfg,
            status="skipped",
            reason=f"run status is {run.get('status')!r}, not 'completed'",
            iteration=checkpoint if checkpoint is not None else run.get("iteration"),
            provenance=provenance.collect(resolve_device(cfg["fid"]["device"])),
        )
        rec["replaced"] = write_result(main, rec)
        if checkpoints:
            io.write_csv(run_dir / "fid_curve.csv", [], CURVE_COLUMNS)
        return rec
    final = run.get("iteration")
    if checkpoint is not None:
        iterations = [checkpoint]
    else:
        iterations = [it for it in checkpoints if it != final] + [None]
    ema = cfg["fid"]["generator"] == "ema"
    for it in iterations:
        path = generator_path(run_dir, it, ema)
        if it is not None and not path.is_file():
            raise RunError(
                f"{run_dir}: no generator snapshot of iteration {it} (snapshots/{path.name})"
            )
    recs = evaluate_run(run_dir, cfg, iterations)
    note = write_result(main, recs[-1])
    if cfg.get("log", {}).get("tensorboard") and checkpoint is None:
        from ssgan.training.curves import fid_curve

        fid_curve(run_dir, recs)
    if checkpoints:
        rows = [{k: r[k] for k in CURVE_COLUMNS} for r in recs]
        io.write_csv(
            run_dir / "fid_curve.csv", sorted(rows, key=lambda r: r["iteration"]), CURVE_COLUMNS
        )
    return {**recs[-1], "replaced": note}
