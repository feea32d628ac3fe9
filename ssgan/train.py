"""Training of one run (one dataset, one method, one seed) into one directory.

Reproducible: the seed fixes every RNG. Initialisation (per layer), training noise, data order
(ssgan/data/stream.py), probe and sample latents (and FID latents, ssgan/metrics) each draw
from their own stream derived from the seed (ssgan/seeds.py; the layout is in run.json). Resumable: a
checkpoint (ssgan/checkpoint.py) holds models, optimizers, RNG states, data position and
iteration; starting the same command again continues from the newest good checkpoint and,
on CPU, ends bitwise identical to an uninterrupted run. SIGTERM/SIGINT (SLURM preemption)
write a checkpoint and exit with EXIT_PREEMPTED. A non-finite loss ends the run with status
``diverged`` (EXIT_DIVERGED). The files a run writes are listed in docs/run_layout.md.
"""

from __future__ import annotations

import csv
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

from ssgan import checkpoint, io, probes, provenance, runs, seeds, spectral
from ssgan import config as C
from ssgan.data import BatchStream, channels_of, resolution_of
from ssgan.data.prepared import training_images
from ssgan.methods import get_method
from ssgan.methods.base import Models
from ssgan.models import SASTM, count_parameters
from ssgan.runs import RunError
from ssgan.runtime import resolve_device, rng_state, seed_everything, set_rng_state
from ssgan.step import Step, set_precision, use_graph

EXIT_DIVERGED = 3
EXIT_PREEMPTED = 75  # EX_TEMPFAIL: rerun the same command to resume
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
    "weight_hist.csv": probes.HIST_COLUMNS,
    "probe_spectrum.csv": spectral.SPECTRUM_COLUMNS,  # critic spectra, every method
    "probe_spectrum_summary.csv": spectral.SPECTRUM_SUMMARY_COLUMNS,
}
RECORD_BACKUP = "run.json"  # checkpoints/run.json: a copy of the run record
__all__ = ["EXIT_DIVERGED", "EXIT_PREEMPTED", "Run", "cli", "resolve_device", "train"]
STATE_KEYS = {"iteration", "config_hash", "wall_time_s", "G", "D", "opt_G", "opt_D", "rng"}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_csv_upto(path: Path, iteration: int) -> list[dict]:
    """Rows of a run CSV up to ``iteration`` (rows after the checkpoint are redone)."""
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return [row for row in csv.DictReader(fh) if int(row["iteration"]) <= iteration]


class Run:
    """One run directory and its training state."""

    def __init__(self, cfg: dict, out: str | Path, supersede: str | Path | None = None):
        self.cfg, self.out = cfg, Path(out)
        self.supersede = Path(supersede) if supersede is not None else None
        self.ckpt_dir = self.out / "checkpoints"
        t = cfg["train"]
        self.device = resolve_device(t["device"])
        self.hash = C.config_hash(cfg)
        self.stop_requested = False

    # --- setup --------------------------------------------------------------------------
    def build(self) -> None:
        cfg, seed = self.cfg, self.cfg["seed"]
        seed_everything(seed, cfg["train"]["deterministic"])
        self.images = training_images(cfg)  # prepared once (ssgan/data/prepared.py)
        self.resolution, self.channels = resolution_of(cfg), channels_of(cfg)
        self.method = get_method(cfg["method"], cfg)
        self.csv_files = {**CSV_FILES, **self.method.record_files}
        streams = seeds.stream_seeds(seed)
        G, D = self.method.build_networks(self.resolution, self.channels, streams["init"])
        G, D = G.to(self.device), D.to(self.device)
        self.m = Models(G, D, *self.method.optimizers(G, D))
        self.stream = BatchStream(
            self.images,
            cfg["train"]["batch_size"],
            streams["data"],
            self.device,
        )
        self.gen = torch.Generator(self.device).manual_seed(streams["noise"])
        t = cfg["train"]
        set_precision(t["precision"])
        graph = use_graph(t["cuda_graph"], self.device)
        self.step = Step(
            self.method, self.m, self.stream, self.gen, self.device, t["precision"], graph
        )
        z_dim = cfg["model"]["z_dim"]
        self.sample_z = torch.randn(
            cfg["train"]["sample_grid"],
            z_dim,
            generator=torch.Generator().manual_seed(streams["sample"]),
        ).to(self.device)
        self.probe_z = torch.randn(
            cfg["probe"]["batch_size"],
            z_dim,
            generator=torch.Generator().manual_seed(streams["probe"]),
        ).to(self.device)

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
        }

    # --- checkpoints --------------------------------------------------------------------
    def state(self, iteration: int) -> dict:
        return {
            "iteration": iteration,
            "config_hash": self.hash,
            "wall_time_s": self.wall_time(),
            "G": self.m.G.state_dict(),
            "D": self.m.D.state_dict(),
            "opt_G": self.m.opt_G.state_dict(),
            "opt_D": self.m.opt_D.state_dict(),
            "method": self.method.state_dict(),
            "rng": rng_state(self.gen),
            "stream": self.stream.state_dict(),
        }

    def save_checkpoint(self, iteration: int) -> None:
        # CSVs first: a checkpoint never refers to rows that are not on disk.
        self.write_csvs(iteration)
        self.record.update(iteration=iteration, wall_time_s=self.wall_time())
        self.write_record()
        checkpoint.save(
            self.ckpt_dir, iteration, self.state(iteration), self.cfg["train"]["keep_checkpoints"]
        )

    def restore(self) -> int:
        """Load the newest good checkpoint; returns the iteration to continue from."""
        state, rejected = checkpoint.load_latest(self.ckpt_dir, check=self.check_state)
        for ev in rejected:
            self.event(ev["kind"], ev["iteration"], ev["detail"])
        if state is None:
            if rejected or self.record["iteration"] > 0:
                self.event("restarted_from_scratch", 0, "no good checkpoint")
            return 0
        self.m.G.load_state_dict(state["G"])
        self.m.D.load_state_dict(state["D"])
        self.m.opt_G.load_state_dict(state["opt_G"])
        self.m.opt_D.load_state_dict(state["opt_D"])
        self.method.load_state_dict(state["method"])
        set_rng_state(self.gen, state["rng"])
        self.stream.load_state_dict(state["stream"])
        self.step.restored()
        self.wall_before = float(state["wall_time_s"])
        self.event("resumed", state["iteration"])
        return int(state["iteration"])

    def check_state(self, state: dict) -> None:
        """A checkpoint must belong to this run: its config hash, keys and tensor shapes
        (a foreign or hand-edited one is rejected like a corrupt one, before any of it loads)."""
        if not isinstance(state, dict) or not STATE_KEYS <= set(state):
            missing = sorted(STATE_KEYS - set(state)) if isinstance(state, dict) else ["all"]
            raise checkpoint.CheckpointError(f"not a training checkpoint (missing {missing})")
        if state["config_hash"] != self.hash:
            raise checkpoint.CheckpointError(
                f"made with another config (hash {str(state['config_hash'])[:12]} != "
                f"{self.hash[:12]})"
            )
        for name, model in (("G", self.m.G), ("D", self.m.D)):
            want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
            got = state[name]
            got = (
                {k: tuple(getattr(v, "shape", ())) for k, v in got.items()}
                if isinstance(got, dict)
                else {}
            )
            if want != got:
                raise checkpoint.CheckpointError(
                    f"its {name} weights do not fit this run's network"
                )

    def wall_time(self) -> float:
        return round(self.wall_before + time.monotonic() - self.t0, 3)

    # --- periodic outputs ---------------------------------------------------------------
    def take_probes(self, iteration: int) -> None:
        self.add_method_rows(iteration, probe=True)
        sparsity, dead, features = probes.activation_rows(self.m.G, self.probe_z, iteration)
        self.rows["probe_sparsity.csv"] += sparsity
        self.rows["probe_feature_sparsity.csv"] += features
        self.rows["probe_dead_units.csv"] += dead
        self.rows["probe_weights.csv"] += probes.weight_rows(self.m.G, iteration)
        spectrum, summary = spectral.spectrum_rows(self.m.D, iteration)
        self.rows["probe_spectrum.csv"] += spectrum
        self.rows["probe_spectrum_summary.csv"] += summary

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

    @torch.no_grad()
    def save_samples(self, iteration: int) -> None:
        from torchvision.utils import save_image

        self.m.G.eval()  # running BN statistics: sampling must not change the training state
        x = self.m.G(self.sample_z).cpu()
        self.m.G.train()
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
        for it, row in zip(its, values.tolist()):
            if it % log_every == 0 or it == self.cfg["train"]["iterations"]:
                self.rows["train_log.csv"].append(
                    {"iteration": it, **dict(zip(keys, row)), "seconds": seconds}
                )
        if not finite.all():
            return its[int((~finite).nonzero()[0])]
        return None

    # --- the loop -----------------------------------------------------------------------
    def run(self) -> int:
        if self.out.exists() and not self.out.is_dir():
            raise RunError(f"--out {self.out} is a file, not a run directory")
        existing, from_copy = self.read_record() if self.out.is_dir() else (None, False)
        why = runs.foreign_result(self.out, existing, self.cfg, self.hash)
        if why and self.supersede is None:
            raise C.ConfigError(
                f"{self.out}: {why}; use a new --out directory, or move it away "
                f"(the workflow moves superseded runs to results/superseded/)"
            )
        if why:
            dest = runs.move_aside(self.out, existing, self.cfg, self.supersede)
            print(f"{self.out}: {why}; moved to {dest}", file=sys.stderr)
            existing, from_copy = None, False
        finished = existing and (
            existing["status"] == "diverged"
            or (existing["status"] == "completed" and (self.out / "generator.pt").is_file())
        )
        if finished and from_copy:
            io.write_json(self.out / "run.json", existing)  # the workflow's output, restored
        if existing and existing["status"] == "completed" and (self.out / "generator.pt").is_file():
            print(f"{self.out}: already completed", file=sys.stderr)
            return 0
        if existing and existing["status"] == "diverged":
            print(
                f"{self.out}: diverged at iteration {existing['diverged_at']} (deterministic; not rerun)",
                file=sys.stderr,
            )
            return EXIT_DIVERGED
        self.build()  # data and networks first: bad data leaves no directory behind
        self.out.mkdir(parents=True, exist_ok=True)
        self.record = existing or self.new_record()
        self.record.update(
            status="running",
            attempts=self.record["attempts"] + 1,
            provenance=provenance.collect(self.device),
            execution=self.execution(),
        )
        if os.environ.get("SLURM_JOB_ID"):
            self.record["slurm_job_ids"].append(os.environ["SLURM_JOB_ID"])
        self.t0, self.wall_before = time.monotonic(), 0.0
        start = self.restore()
        # From scratch (start 0, e.g. every checkpoint rejected) the loop retakes the iteration-0
        # probes: rows left by an earlier attempt are dropped, not kept next to their duplicates.
        self.rows = {
            name: read_csv_upto(self.out / name, start) if start > 0 else []
            for name in self.csv_files
        }
        self.write_record()
        old_handlers = {
            s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            return self._loop(start)
        except Exception as err:
            self.record.update(status="failed", wall_time_s=self.wall_time())
            self.event("failed", self.record["iteration"], f"{type(err).__name__}: {err}")
            self.write_record()
            raise
        finally:
            for s, h in old_handlers.items():
                signal.signal(s, h)

    def _on_signal(self, signum, _frame) -> None:
        self.stop_requested = True

    def _loop(self, start: int) -> int:
        cfg, t = self.cfg, self.cfg["train"]
        total, every_probe = t["iterations"], cfg["probe"]["every"]
        snapshots = set(cfg["fid"]["checkpoints"] or [])
        if start == 0:
            self.take_probes(0)
            self.rows["weight_hist.csv"] += probes.histogram_rows(
                self.m.G, "start", 0, cfg["probe"]["hist_bins"]
            )
        pending: list = []
        bar = _progress(total, start, f"{cfg['label']}/{cfg['method_label']}/seed{cfg['seed']}")
        it = start
        while it < total:
            it += 1
            stats = self.step(it)
            if cfg["debug"]["nan_at"] == it:  # fault injection (tests)
                stats["critic_loss"] = stats["critic_loss"] * float("nan")
            pending.append((it, stats))
            at_checkpoint = it % t["checkpoint_every"] == 0
            if it % t["log_every"] == 0 or at_checkpoint or it == total or self.stop_requested:
                bad = self.flush(pending)
                if bad is not None:
                    return self.diverged(bad)
                if bar.disable and (it % t["log_every"] == 0 or it == total):
                    self.progress_line(it, start)
            if it % every_probe == 0:
                self.take_probes(it)
            if it % t["sample_every"] == 0:
                self.save_samples(it)
            if it in snapshots:
                io_save(self.m.G.state_dict(), self.out / "snapshots" / f"generator_{it:08d}.pt")
            if at_checkpoint or self.stop_requested:
                self.save_checkpoint(it)
            bar.update(1)
            if self.stop_requested:
                bar.close()
                self.record["status"] = "preempted"
                self.event("preempted", it, "signal received; checkpoint written")
                self.write_record()
                print(
                    f"{self.out}: stopped by signal at iteration {it}; rerun to resume",
                    file=sys.stderr,
                )
                return EXIT_PREEMPTED
        bar.close()
        return self.finish(total)

    def progress_line(self, it: int, start: int) -> None:
        """One line per log interval on a non-TTY stderr (job logs), where tqdm's bar is off."""
        c, row = self.cfg, self.rows["train_log.csv"][-1]
        done = self.wall_time() - self.wall_before
        rate = (it - start) / done if done > 0 else float("nan")
        print(
            f"{c['label']}/{c['method']}/seed{c['seed']}: iteration {it}/{c['train']['iterations']}"
            f"  critic_loss {row['critic_loss']:.4f}  generator_loss {row['generator_loss']:.4f}"
            f"  {rate:.2f} it/s",
            file=sys.stderr,
            flush=True,
        )

    def diverged(self, at: int) -> int:
        self.record.update(
            status="diverged",
            diverged_at=at,
            iteration=at,
            wall_time_s=self.wall_time(),
            finished=now(),
        )
        self.event("diverged", at, "non-finite loss")
        self.write_csvs(at)
        self.write_record()
        print(f"{self.out}: diverged (non-finite loss at iteration {at})", file=sys.stderr)
        return EXIT_DIVERGED

    def finish(self, total: int) -> int:
        cfg = self.cfg
        if total % cfg["probe"]["every"] != 0:
            self.take_probes(total)
        self.rows["weight_hist.csv"] += probes.histogram_rows(
            self.m.G, "end", total, cfg["probe"]["hist_bins"]
        )
        if total % cfg["train"]["sample_every"] != 0:
            self.save_samples(total)
        io_save(self.m.G.state_dict(), self.out / "generator.pt")
        io_save(self.m.D.state_dict(), self.out / "critic.pt")
        self.write_csvs(total)
        self.record.update(
            status="completed", iteration=total, wall_time_s=self.wall_time(), finished=now()
        )
        self.write_record()
        return 0


def io_save(obj, path: Path) -> None:
    with io.atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _progress(total: int, initial: int, desc: str):
    from tqdm import tqdm

    return tqdm(
        total=total, initial=initial, desc=desc, disable=not sys.stderr.isatty(), dynamic_ncols=True
    )


def train(cfg: dict, out: str | Path, supersede: str | Path | None = None) -> int:
    """Train (or resume, or confirm) the run; returns the exit code (0, EXIT_DIVERGED, EXIT_PREEMPTED).
    A directory holding another run's result is refused, or with ``supersede`` moved there."""
    return Run(cfg, out, supersede).run()


def cli(args) -> int:
    file_cfg = C.load_yaml(args.config) if args.config else None
    cfg = C.resolve(
        args.dataset, args.method, args.seed, file_cfg, C.parse_overrides(args.overrides)
    )
    C.check_devices(cfg, ("train.device",))
    return train(cfg, args.out, getattr(args, "supersede", None))
