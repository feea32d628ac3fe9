"""What a run writes besides its checkpoints: the run record (run.json and its copy beside the
checkpoints), the CSVs (rows kept in memory, rewritten atomically at every checkpoint, so they
never hold rows the checkpoint does not know), probes, sample grids and weight files. ``RunFiles``
is the part of ``ssgan.training.loop.Run`` that keeps them; the files are listed in docs/run_layout.md."""

from __future__ import annotations

import csv
import sys
from datetime import UTC, datetime
from pathlib import Path

import torch

from ssgan import io, probes, provenance
from ssgan.models import SASTM, count_parameters
from ssgan.probes import gradients, spectral
from ssgan.training import seeds

LOG_COLUMNS = [
    "iteration",
    "critic_loss",
    "generator_loss",
    "gradient_penalty",
    "wasserstein",
    "seconds",
]
CSV_FILES = {  # file -> columns; rows are rewritten atomically at every checkpoint
    "train_log.csv": LOG_COLUMNS,
    "probe_sparsity.csv": probes.SPARSITY_COLUMNS,
    "probe_feature_sparsity.csv": probes.FEATURE_SPARSITY_COLUMNS,
    "probe_weights.csv": probes.WEIGHT_COLUMNS,
    "probe_dead_units.csv": probes.DEAD_COLUMNS,
    "probe_gradients.csv": gradients.GRADIENT_COLUMNS,  # claims C1, C2: every method
    "weight_hist.csv": probes.HIST_COLUMNS,
    "probe_spectrum.csv": spectral.SPECTRUM_COLUMNS,  # critic spectra, every method
    "probe_spectrum_summary.csv": spectral.SPECTRUM_SUMMARY_COLUMNS,
}
RECORD_BACKUP = "run.json"  # checkpoints/run.json: a copy of the run record


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_csv_upto(path: Path, iteration: int) -> list[dict]:
    """Rows of a run CSV up to ``iteration`` (rows after the checkpoint are redone)."""
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return [row for row in csv.DictReader(fh) if int(row["iteration"]) <= iteration]


def io_save(obj, path: Path) -> None:
    io.save_torch(obj, path)


class RunFiles:
    """Record, CSV rows, probes and samples of a ``Run`` (which holds cfg, out, m, method...)."""

    curves = None  # ssgan.training.curves.Curves while a run with log.tensorboard trains

    def params(self) -> dict:
        sastm = sum(count_parameters(m) for m in self.m.G.modules() if isinstance(m, SASTM))
        return {
            "generator": count_parameters(self.m.G),
            "critic": count_parameters(self.m.D),
            "sastm": sastm,
        }

    # --- record -------------------------------------------------------------------------
    def write_record(self) -> None:
        io.write_json(self.out / "run.json", self.record)
        # A copy beside the checkpoints: Snakemake deletes run.json (the rule's output) when a
        # job fails or is rerun with --rerun-incomplete; the run's history must survive that.
        io.write_json(self.ckpt_dir / RECORD_BACKUP, self.record)

    def read_record(self) -> tuple[dict | None, bool]:
        """(run.json, else its copy beside the checkpoints, else None; whether it is the copy)."""
        for path in (self.out / "run.json", self.ckpt_dir / RECORD_BACKUP):
            if path.is_file():
                try:
                    record = io.read_json(path)
                except ValueError:  # not JSON (damaged outside the atomic writer): try the copy
                    record = None
                if isinstance(record, dict) and {"status", "config_hash"} <= set(record):
                    return record, path != self.out / "run.json"
                print(f"{path}: unreadable run record; ignored", file=sys.stderr)
        return None, False

    def event(self, kind: str, iteration: int, detail: str = "") -> None:
        self.record["events"].append(
            {"time": now(), "kind": kind, "iteration": iteration, "detail": detail}
        )

    def new_record(self) -> dict:
        cfg = self.cfg
        return {
            "dataset": cfg["label"],
            "dataset_kind": cfg["dataset"],
            "method": cfg["method_label"],  # the label (a variant's name), as dataset
            "method_kind": cfg["method"],  # the registered method
            "seed": cfg["seed"],
            "status": "running",
            "iteration": 0,
            "iterations": cfg["train"]["iterations"],
            "diverged_at": None,
            "resolution": self.resolution,
            "channels": self.channels,
            "params": self.params(),
            "rng": seeds.layout(cfg["seed"]),
            "config": cfg,
            "config_hash": self.hash,
            "wall_time_s": 0.0,
            "started": now(),
            "finished": None,
            "attempts": 0,
            "slurm_job_ids": [],
            "events": [],
            "provenance": provenance.collect(self.device),
            "execution": self.execution(),
        }

    def execution(self) -> dict:
        """How the iterations ran (not part of the run's identity, except the precision)."""
        return {
            "precision": self.cfg["train"]["precision"],
            "cuda_graph": self.step.graph,
            "graph_captures": self.step.captures,
            "graph_error": self.step.graph_error,
            "gpu_slot": getattr(self, "gpu_slot", None),  # ssgan/training/gpu_slots.py
        }

    # --- periodic outputs ---------------------------------------------------------------
    def take_probes(self, iteration: int) -> None:
        self.add_method_rows(iteration, probe=True)
        sparsity, dead, features = probes.activation_rows(self.m.G, self.probe_z, iteration)
        self.rows["probe_sparsity.csv"] += sparsity
        self.rows["probe_feature_sparsity.csv"] += features
        self.rows["probe_dead_units.csv"] += dead
        self.rows["probe_weights.csv"] += probes.weight_rows(self.m.G, iteration)
        self.rows["probe_gradients.csv"] += gradients.gradient_rows(
            self.m.G, self.m.D, self.probe_z, iteration
        )
        spectrum, summary = self.method.critic_spectrum(self.m, iteration)
        self.rows["probe_spectrum.csv"] += spectrum
        self.rows["probe_spectrum_summary.csv"] += summary
        if self.curves is not None:
            self.curves.probes("probe_sparsity.csv", sparsity)
            self.curves.probes("probe_dead_units.csv", dead)
            self.curves.probes("probe_spectrum_summary.csv", summary)

    def add_method_rows(self, iteration: int, probe: bool = False) -> None:
        for name, rows in self.method.drain_rows(self.m, iteration, probe).items():
            self.rows[name] += rows

    def write_csvs(self, iteration: int) -> None:
        """The method's pending rows, then every CSV, atomically; the method's summary."""
        self.add_method_rows(iteration)
        for name, columns in self.csv_files.items():
            io.write_csv(self.out / name, self.rows[name], columns)
        self.record["method_summary"] = self.method.summary(self.m)
        self.record["execution"] = self.execution()
        if self.curves is not None:  # on disk with the checkpoint: resume purges what follows
            self.curves.flush()

    @torch.no_grad()
    def save_samples(self, iteration: int) -> None:
        from torchvision.utils import save_image

        self.m.G.eval()  # running BN statistics: sampling must not change the training state
        x = self.m.G(self.sample_z).cpu()
        self.m.G.train()
        if self.curves is not None:
            self.curves.samples(x, iteration)
        with io.atomic_path(self.out / "samples" / f"iter_{iteration:08d}.png") as tmp:
            save_image(
                x, tmp, format="png", nrow=int(len(x) ** 0.5), normalize=True, value_range=(-1, 1)
            )

    def flush(self, pending: list) -> int | None:
        """Move pending per-iteration losses to the log; returns the first non-finite iteration."""
        if not pending:
            return None
        its = [it for it, _ in pending]
        keys = LOG_COLUMNS[1:-1]
        values = torch.stack([torch.stack([s[k].float() for k in keys]) for _, s in pending]).cpu()
        pending.clear()
        finite = torch.isfinite(values).all(dim=1)
        seconds = self.wall_time()
        log_every = self.cfg["train"]["log_every"]
        logged = []
        for it, row in zip(its, values.tolist()):
            if it % log_every == 0 or it == self.cfg["train"]["iterations"]:
                logged.append({"iteration": it, **dict(zip(keys, row)), "seconds": seconds})
        self.rows["train_log.csv"] += logged
        if self.curves is not None:
            self.curves.losses(logged)
        if not finite.all():
            return its[int((~finite).nonzero()[0])]
        return None
