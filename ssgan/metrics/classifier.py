"""Class coverage of generated samples on labelled datasets (MNIST, Fashion-MNIST).

A small CNN, trained once by the suite on the training split and cached, labels the
generated images (class histogram p); fid.json gets

- ``classes_covered``: the classes holding at least ``MIN_SHARE`` of the uniform share, i.e.
  p_c >= 0.1 / C (1% of the samples at C = 10; recorded as ``class_min_share``). Counting a
  class from one sample would saturate at C with 50k samples even for a collapsed generator
  (a few stray samples land in every class);
- ``class_kl`` = KL(p || uniform) = sum_c p_c log(p_c * C) (nats; 0 for a uniform histogram,
  log C = 2.303 when every sample falls in one class);
- ``class_kl_real`` = KL(p || q), q the classifier's own histogram on the real test images:
  the classifier's confusions (and a test split that is not exactly balanced) shift q away from
  uniform, so a generator that matches the data is 0 here, not at the KL to uniform. q is
  floored at half a test sample (1 / (2 n_test)) so that a class the classifier never predicts
  on real images gives a large finite value.

A collapsed generator covers few classes and has a large KL even when its FID looks plausible.

The classifier: three stride-2 conv + BatchNorm + ReLU stages (5x5 to 16 channels, 3x3 to
32 and 64) and a linear layer, on the run's resolution and channels (the generated images'
format), input x / 127.5 - 1; ``EPOCHS`` epochs of Adam (``LR`` decayed linearly to 0,
batch ``BATCH``) over the whole training split, shuffled and initialised from ``SEED`` on the
CPU, so the same inputs give the same network. Measured on 2 CPU cores shared with other
jobs (one thread, load 7-9): 44 s / 41 s of CPU time (100 s / 190 s wall) for MNIST /
Fashion-MNIST, test accuracy 0.9898 / 0.8980; one epoch was not enough for Fashion-MNIST
(0.8795). Its accuracy on the test split is recorded; a classifier below ``MIN_ACCURACY`` of
its dataset is refused (an error, nothing cached), since its labels would not be trusted.

The cache entry ``<cache_dir>/classifier/<key>.pt`` (plain tensors and a JSON string: loads
with ``weights_only=True``) is keyed by everything the network depends on: dataset,
resolution, channels, the sha256 of the training images and labels, the training settings
and ``VERSION``; it is written by atomic rename under an fcntl lock, so parallel FID jobs
train it once.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ssgan import io
from ssgan.data import channels_of, load_images, resolution_of
from ssgan.data.idx import load_labels
from ssgan.metrics.extractor import cache_dir, file_lock
from ssgan.progress import Progress
from ssgan.training.runs import RunError

# Datasets with labels -> the least test accuracy at which the classifier is used.
MIN_ACCURACY = {"mnist": 0.98, "fashion_mnist": 0.88}
CLASSES = 10
MIN_SHARE = 0.1  # a class is covered when its share is >= MIN_SHARE / CLASSES (docs/analysis.md)
VERSION = 1  # bump when the network or its training changes
EPOCHS, BATCH, LR, SEED = 2, 128, 2e-3, 0


def has_labels(dataset: str) -> bool:
    return dataset in MIN_ACCURACY


def network(resolution: int, channels: int) -> nn.Sequential:
    layers, c = [], channels
    for out, k in ((16, 5), (32, 3), (64, 3)):  # each halves the resolution
        layers += [nn.Conv2d(c, out, k, 2, k // 2), nn.BatchNorm2d(out), nn.ReLU()]
        c = out
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * (resolution // 8) ** 2, CLASSES))


def _inputs(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 127.5 - 1


@dataclass
class Classifier:
    net: nn.Sequential
    key: str
    accuracy: float  # on the test split
    cache_hit: bool
    seconds: float  # training (or loading) time
    real_share: torch.Tensor | None = None  # its class histogram on the real test images

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """uint8 N x C x H x W -> int64 N class labels."""
        self.net.eval()
        out = [
            self.net(_inputs(images[i : i + batch_size].cpu())).argmax(1)
            for i in range(0, len(images), batch_size)
        ]
        return torch.cat(out) if out else torch.empty(0, dtype=torch.long)

    def record(self) -> dict:
        return {"classifier_key": self.key, "classifier_accuracy": self.accuracy}


def class_share(labels: torch.Tensor) -> torch.Tensor:
    """The class histogram of labels, as shares (float64, length CLASSES)."""
    return torch.bincount(labels, minlength=CLASSES).double() / len(labels)


def kl(p: torch.Tensor, q: torch.Tensor) -> float:
    """KL(p || q) in nats over the classes with p > 0 (q > 0 there)."""
    nz = p > 0
    return max(float((p[nz] * torch.log(p[nz] / q[nz])).sum()), 0.0)


def class_coverage(labels: torch.Tensor, real_share: torch.Tensor | None = None) -> dict:
    """Classes covered (share >= MIN_SHARE / CLASSES), KL to uniform and, given the real
    histogram, KL to it, of predicted labels; null when there are none."""
    out = {"classes_covered": None, "class_kl": None, "class_kl_real": None}
    out["class_min_share"] = MIN_SHARE
    if len(labels) == 0:
        return out
    p = class_share(labels)
    out["classes_covered"] = int((p >= MIN_SHARE / CLASSES).sum())
    out["class_kl"] = kl(p, torch.full_like(p, 1 / CLASSES))
    if real_share is not None:
        out["class_kl_real"] = kl(p, real_share)
    return out


def real_histogram(clf: Classifier, images: torch.Tensor) -> torch.Tensor:
    """The classifier's class histogram on real images, floored at half a sample."""
    return class_share(clf.predict(images)).clamp(min=0.5 / len(images))


def _split(cfg: dict, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    c = copy.deepcopy(cfg)
    c["data"]["max_images"] = None
    images, labels = load_images(c, split), load_labels(c, split)
    assert len(images) == len(labels), f"{split}: {len(images)} images, {len(labels)} labels"
    return images, labels


def _sha(t: torch.Tensor) -> str:
    return hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()


def key_fields(cfg: dict, images: torch.Tensor, labels: torch.Tensor) -> dict:
    return {
        "version": VERSION,
        "dataset": cfg["dataset"],
        "resolution": resolution_of(cfg),
        "channels": channels_of(cfg),
        "n_train": len(images),
        "images_sha256": _sha(images),
        "labels_sha256": _sha(labels),
        "epochs": EPOCHS,
        "batch": BATCH,
        "lr": LR,
        "seed": SEED,
    }


def train(
    images: torch.Tensor, labels: torch.Tensor, resolution: int, channels: int, name: str = ""
):
    """The classifier trained on (images, labels), seeded and on the CPU, with progress."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        net = network(resolution, channels)
    g = torch.Generator().manual_seed(SEED)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    steps = EPOCHS * math.ceil(len(images) / BATCH)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 - s / steps)  # linear decay to 0
    net.train()
    bar = Progress(steps, f"class-coverage classifier {name}".rstrip(), "batch")
    for _ in range(EPOCHS):
        order = torch.randperm(len(images), generator=g)
        for i in range(0, len(images), BATCH):
            bar.update()
            idx = order[i : i + BATCH]
            loss = nn.functional.cross_entropy(net(_inputs(images[idx])), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    bar.close()
    return net.eval()


def accuracy(net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    clf = Classifier(net, "", math.nan, False, 0.0)
    return float((clf.predict(images) == labels).double().mean())


def _load(path: Path, key: str, resolution: int, channels: int):
    if not path.is_file():
        return None
    try:
        entry = torch.load(path, map_location="cpu", weights_only=True)
        meta = json.loads(entry["meta"])
        if meta.get("key") != key:
            raise ValueError(f"it holds key {meta.get('key')!r}")
        net = network(resolution, channels)
        net.load_state_dict(entry["state"])
        return net.eval(), meta
    except Exception as err:  # noqa: BLE001 - any unreadable entry is retrained
        print(
            f"classifier cache entry {path} rejected ({type(err).__name__}: {str(err)[:200]}); "
            f"retraining it",
            file=sys.stderr,
        )
        return None


def _check(dataset: str, acc: float) -> None:
    least = MIN_ACCURACY[dataset]
    if not acc >= least:
        raise RunError(
            f"class-coverage classifier for {dataset} has test accuracy {acc:.4f}, below the "
            f"{least} required; refused (fid.class_coverage: false evaluates without it)"
        )


def get_classifier(cfg: dict) -> Classifier:
    """The cached classifier of a run config's (labelled) dataset, trained if absent."""
    t0 = time.perf_counter()
    res, ch = resolution_of(cfg), channels_of(cfg)
    images, labels = _split(cfg, "train")
    fields = key_fields(cfg, images, labels)
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
    key = f"{cfg['dataset']}-{res}px-{ch}ch-{digest[:20]}"
    path = cache_dir(cfg["fid"]) / "classifier" / f"{key}.pt"
    entry, hit = _load(path, key, res, ch), True
    if entry is None:
        with file_lock(path.with_suffix(".lock")):
            entry = _load(path, key, res, ch)  # another process may have trained it meanwhile
            if entry is None:
                hit = False
                net = train(images, labels, res, ch, cfg["dataset"])
                acc = accuracy(net, *_split(cfg, "test"))
                _check(cfg["dataset"], acc)  # a refused network is not cached
                meta = {"key": key, **fields, "test_accuracy": acc}
                meta["train_seconds"] = time.perf_counter() - t0
                io.save_torch({"state": net.state_dict(), "meta": json.dumps(meta)}, path)
                entry = net, meta
    net, meta = entry
    _check(cfg["dataset"], meta["test_accuracy"])
    clf = Classifier(net, key, meta["test_accuracy"], hit, 0.0)
    clf.real_share = real_histogram(clf, _split(cfg, "test")[0])
    clf.seconds = time.perf_counter() - t0
    return clf
