"""Live training curves in TensorBoard (config ``log.tensorboard: true``), written with PyTorch's
``SummaryWriter`` into ``<run>/tensorboard/``: the losses of every ``train_log.csv`` row
(``loss/*``), the sparsity and dead-unit probes per layer (``sparsity/*``, ``dead/*``), the
critic's spectrum summary (``spectrum/*``), the sample grids (``samples``) and, from
``ssgan fid``, FID/KID at the evaluated iterations (``<run>/tensorboard/fid/``).

Resume: the run continues the same event stream from its checkpoint. The writer opens with
``purge_step = checkpoint + 1``, so TensorBoard drops what an interrupted attempt logged after
the checkpoint and each step is shown once. Each FID evaluation purges the earlier one
(``purge_step = 0`` in its own folder, so the training curves stay).

The package ``tensorboard`` is optional: with ``log.tensorboard: true`` and no package (or
one that fails to import), the run stops before training with a one-line error naming it.
"""

from __future__ import annotations

import importlib.util
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


def _writer(folder: Path, purge_step: int | None):
    require()
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(folder), purge_step=purge_step)


class Curves:
    """The run's event stream from iteration ``start`` on (0: a new run)."""

    def __init__(self, run_dir: Path, start: int):
        self.writer = _writer(Path(run_dir) / FOLDER, start + 1 if start > 0 else None)

    def losses(self, rows: list[dict]) -> None:
        for row in rows:
            for key in LOSSES:
                if key in row:
                    self.writer.add_scalar(f"loss/{key}", row[key], row["iteration"])

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


def fid_curve(run_dir: Path, records: list[dict]) -> None:
    """FID and KID of an evaluation's records (one per iteration), replacing the earlier ones."""
    writer = _writer(Path(run_dir) / FOLDER / "fid", 0)
    try:
        for rec in sorted(records, key=lambda r: r["iteration"]):
            for key in ("fid", "kid_mean"):
                if rec.get(key) is not None:
                    writer.add_scalar(f"fid/{key}", rec[key], rec["iteration"])
    finally:
        writer.close()
