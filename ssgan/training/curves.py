"""Live training curves in TensorBoard (config ``log.tensorboard: true``), written with PyTorch's
``SummaryWriter`` into ``<run>/tensorboard/``: the losses of every ``train_log.csv`` row
(``loss/*``) with the learning rate at that iteration (``train/lr``), the sparsity and
dead-unit probes per layer (``sparsity/*``, ``dead/*``), the critic's spectrum summary
(``spectrum/*``), the sample grids (``samples``) and, from ``ssgan fid``, FID and KID at the
iterations they measure (``fid/fid``, ``fid/kid_mean``) with the run's hyperparameters and
final FID/KID as TensorBoard's HParams entry: all in the one event stream of the run, so FID
lines up with the losses at the same steps.

Resume: the run continues the same event stream from its checkpoint. The writer opens with
``purge_step = checkpoint + 1``, so TensorBoard drops what an interrupted attempt logged after
the checkpoint and each step is shown once. An FID evaluation writes its own event file
(``*.fid``) in the same folder and deletes the earlier evaluation's file, so a re-evaluation
replaces the FID points instead of adding a second set (a purge step would drop the losses).

The package ``tensorboard`` is optional: with ``log.tensorboard: true`` and no package (or
one that fails to import), the run stops before training with a one-line error naming it.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from ssgan.errors import ConfigError

FOLDER = "tensorboard"
LOSSES = ("critic_loss", "generator_loss", "wasserstein", "gradient_penalty")
PROBES = {  # CSV of the probes -> (tag prefix, value column)
    "probe_sparsity.csv": ("sparsity", "channel_zero_frac"),
    "probe_dead_units.csv": ("dead", "dead_frac"),
    "probe_spectrum_summary.csv": ("spectrum", "sigma1"),
}


def require() -> None:
    """Import what the run's writer imports (``torch.utils.tensorboard.SummaryWriter``, which
    imports the package ``tensorboard``): a missing or broken install is one line, before the
    run builds or writes anything."""
    if importlib.util.find_spec("tensorboard") is None:
        raise ConfigError(
            "config key 'log.tensorboard' is true but the package 'tensorboard' is not "
            "installed (pip install tensorboard), or set log.tensorboard=false"
        )
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except Exception as err:  # noqa: BLE001 - a broken install fails in many ways
        text = " ".join(str(err).split())
        raise ConfigError(
            "config key 'log.tensorboard' is true but torch.utils.tensorboard cannot be "
            f"imported: {type(err).__name__}: {text} (reinstall tensorboard), or set "
            "log.tensorboard=false"
        ) from None


FID_SUFFIX = ".fid"  # the event file of the latest FID evaluation
FID_TAGS = {"fid": "fid/fid", "kid_mean": "fid/kid_mean"}


def _writer(folder: Path, purge_step: int | None, suffix: str = ""):
    require()
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(folder), purge_step=purge_step, filename_suffix=suffix)


class Curves:
    """The run's event stream from iteration ``start`` on (0: a new run); ``train``: the run's
    ``train`` config section (for the learning rate of each logged iteration)."""

    def __init__(self, run_dir: Path, start: int, train: dict | None = None):
        self.writer = _writer(Path(run_dir) / FOLDER, start + 1 if start > 0 else None)
        self.train = train

    def losses(self, rows: list[dict]) -> None:
        from ssgan.methods.base import learning_rate

        for row in rows:
            for key in LOSSES:
                if key in row:
                    self.writer.add_scalar(f"loss/{key}", row[key], row["iteration"])
            if self.train is not None:  # G and D share train.lr and its decay
                lr = learning_rate(self.train, row["iteration"])
                self.writer.add_scalar("train/lr", lr, row["iteration"])

    def probes(self, name: str, rows: list[dict]) -> None:
        if name not in PROBES:
            return
        prefix, column = PROBES[name]
        for row in rows:
            self.writer.add_scalar(f"{prefix}/{row['layer']}", row[column], row["iteration"])

    def samples(self, images, iteration: int) -> None:
        """``images``: N x C x H x W in [-1, 1], drawn as one grid."""
        from torchvision.utils import make_grid

        grid = make_grid(images, nrow=int(len(images) ** 0.5), normalize=True, value_range=(-1, 1))
        self.writer.add_image("samples", grid, iteration)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def hparams(cfg: dict) -> dict:
    """The run config's settings as flat HParams values (``train.lr``: 1e-4, ...): numbers,
    strings and booleans as they are, lists and None as text."""
    out = {}

    def walk(prefix, value):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, (bool, int, float, str)):
            out[prefix] = value
        else:
            out[prefix] = json.dumps(value)

    walk("", cfg)
    return out


def fid_curve(run_dir: Path, records: list[dict]) -> None:
    """FID and KID of an evaluation's records (one per iteration) into the run's own event
    stream, replacing an earlier evaluation's, and the HParams entry: the run's config (from
    run.json) with the final record's FID and KID as its metrics."""
    from torch.utils.tensorboard.summary import hparams as hparams_summary

    folder = Path(run_dir) / FOLDER
    for old in folder.glob(f"events.out.tfevents.*{FID_SUFFIX}"):
        old.unlink()
    legacy = folder / "fid"  # where FID was written before it joined the run's stream
    for old in legacy.glob("events.out.tfevents.*"):
        old.unlink()
    if legacy.is_dir() and not any(legacy.iterdir()):
        legacy.rmdir()
    writer = _writer(folder, None, FID_SUFFIX)
    try:
        records = sorted(records, key=lambda r: r["iteration"])
        for rec in records:
            for key, tag in FID_TAGS.items():
                if rec.get(key) is not None:
                    writer.add_scalar(tag, rec[key], rec["iteration"])
        run = json.loads((Path(run_dir) / "run.json").read_text())
        final = records[-1] if records else {}
        metrics = {tag: final[k] for k, tag in FID_TAGS.items() if final.get(k) is not None}
        if metrics:
            for summary in hparams_summary(hparams(run.get("config", {})), metrics):
                writer.file_writer.add_summary(summary, final["iteration"])
    finally:
        writer.close()
