"""Training of one run (one dataset, one method, one seed) into one directory.

Reproducible: the seed fixes every RNG. Initialisation (per layer), training noise, data order
(ssgan/data/stream.py), probe and sample latents (and FID latents, ssgan/metrics) each draw
from their own stream derived from the seed (ssgan/training/seeds.py; the layout is in run.json). Resumable: a
checkpoint (ssgan/training/checkpoint.py) holds models, optimizers, RNG states, data position and
iteration; starting the same command again continues from the newest good checkpoint and,
on CPU, ends bitwise identical to an uninterrupted run. SIGTERM/SIGINT (SLURM preemption)
write a checkpoint and exit with EXIT_PREEMPTED. A non-finite loss ends the run with status
``diverged`` (EXIT_DIVERGED). The files a run writes are listed in docs/run_layout.md.
"""

from __future__ import annotations

import copy
import os
import signal
import sys
import time
from pathlib import Path

import torch

from ssgan import config as C
from ssgan import io, probes, provenance
from ssgan.data import BatchStream, channels_of, resolution_of
from ssgan.data.prepared import training_images
from ssgan.methods import get_method
from ssgan.methods.base import Models
from ssgan.training import checkpoint, curves, gpu_slots, runs, seeds
from ssgan.training.run_files import CSV_FILES, RunFiles, io_save, now, read_csv_upto
from ssgan.training.runs import RunError
from ssgan.training.runtime import (
    resolve_device,
    rng_state,
    seed_everything,
    set_rng_state,
    without_effect,
)
from ssgan.training.step import Step, set_precision, use_graph

EXIT_DIVERGED = 3
EXIT_PREEMPTED = 75  # EX_TEMPFAIL: rerun the same command to resume
__all__ = ["EXIT_DIVERGED", "EXIT_PREEMPTED", "Run", "resolve_device", "train"]
STATE_KEYS = {"iteration", "config_hash", "G", "D", "opt_G", "opt_D", "rng"}


class Run(RunFiles):
    """One run directory and its training state."""

    def __init__(self, cfg: dict, out: str | Path, supersede: str | Path | None = None):
        self.cfg, self.out = copy.deepcopy(cfg), Path(out)  # without_effect may edit it
        self.supersede = Path(supersede) if supersede is not None else None
        self.ckpt_dir = self.out / "checkpoints"
        t = cfg["train"]
        self.device, self.gpu_slot = gpu_slots.claim(t["device"])  # one GPU per local job
        self.notes = without_effect(self.cfg, self.device)  # may normalise cfg: before the hash
        self.hash = C.config_hash(self.cfg)
        self.stop_requested = False
        self.tensorboard = bool(cfg.get("log", {}).get("tensorboard"))
        if self.tensorboard:
            curves.require()  # before anything is built or written

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

    # --- checkpoints --------------------------------------------------------------------
    def state(self, iteration: int) -> dict:
        return {
            "iteration": iteration,
            "config_hash": self.hash,
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
            self.ckpt_dir,
            iteration,
            self.state(iteration),
            self.cfg["train"]["keep_checkpoints"],
            meta={"wall_time_s": self.wall_time()},
        )

    def restore(self) -> int:
        """Load the newest good checkpoint; returns the iteration to continue from."""
        state, rejected = checkpoint.load_latest(self.ckpt_dir, check=self.check_state)
        for ev in rejected:
            self.event(ev["kind"], ev["iteration"], ev["detail"])
            older = "an older one" if state is not None or ev is not rejected[-1] else "scratch"
            print(
                f"{self.out}: checkpoint rejected: {ev['detail']}; resuming from {older}",
                file=sys.stderr,
            )
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
        meta = checkpoint.read_meta(self.ckpt_dir, int(state["iteration"]))
        # Older checkpoints carry their wall time inside; a lost sidecar only loses the clock.
        self.wall_before = float(state.get("wall_time_s", meta.get("wall_time_s", 0.0)))
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

    # --- the loop -----------------------------------------------------------------------
    def settle(self) -> tuple[dict | None, bool]:
        """The run record found in ``out`` (and whether it was read from its copy), after a
        result of another config there is refused or, with ``supersede``, moved aside."""
        if self.out.exists() and not self.out.is_dir():
            raise RunError(f"--out {self.out} is a file, not a run directory")
        if self.supersede is not None:  # before anything moves or is created
            runs.check_supersede(self.out, self.supersede)
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
        return existing, from_copy

    def run(self) -> int:
        done = self.open()
        if done is not None:
            return done
        old_handlers = {
            s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            return self._loop(self.start)
        except Exception as err:
            self.failed(err)
            raise
        finally:
            for s, h in old_handlers.items():
                signal.signal(s, h)
            self.close()

    def open(self) -> int | None:
        """Everything before the first iteration: checks the directory, builds, resumes and
        writes the record. Returns the exit code when there is nothing to train (completed,
        diverged), else None with ``self.start`` the iteration to continue from. A failure
        once the record says "running" is recorded as "failed", never left running."""
        existing, from_copy = self.settle()
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
        self.mark_running()
        self.t0, self.wall_before = time.monotonic(), 0.0
        try:
            start = self.restore()
            # From scratch (start 0, e.g. every checkpoint rejected) the loop retakes the
            # iteration-0 probes: rows left by an earlier attempt are dropped, not kept next to
            # their duplicates.
            self.rows = {
                name: read_csv_upto(self.out / name, start) if start > 0 else []
                for name in self.csv_files
            }
            self.write_record()
            if self.tensorboard:
                self.curves = curves.Curves(self.out, start, self.cfg["train"])
        except Exception as err:
            self.failed(err)
            self.close()
            raise
        self.start = start
        return None

    def mark_running(self) -> None:
        """This attempt in the record (status, attempt count, provenance, how it runs, the
        SLURM job), and the config's notes said once."""
        self.record.update(
            status="running",
            attempts=self.record["attempts"] + 1,
            provenance=provenance.collect(self.device),
            execution=self.execution(),
            settings_without_effect=self.notes,
        )
        for note in self.notes:
            print(f"{self.out}: note: {note}", file=sys.stderr)
        if os.environ.get("SLURM_JOB_ID"):
            self.record["slurm_job_ids"].append(os.environ["SLURM_JOB_ID"])

    def failed(self, err: Exception) -> None:
        self.record.update(status="failed", wall_time_s=self.wall_time())
        self.event("failed", self.record["iteration"], f"{type(err).__name__}: {err}")
        self.write_record()

    def close(self) -> None:
        if self.curves is not None:
            self.curves.close()
            self.curves = None

    def _on_signal(self, signum, _frame) -> None:
        self.stop_requested = True

    def _loop(self, start: int) -> int:
        self.begin(start)
        it = start
        while it < self.cfg["train"]["iterations"]:
            it += 1
            code = self.advance(it, self.step(it))
            if code is not None:
                return code
        return self.end()

    def begin(self, start: int) -> None:
        """Before the first iteration of this attempt: iteration 0's probes, the progress bar."""
        cfg = self.cfg
        if start == 0:
            self.take_probes(0)
            self.rows["weight_hist.csv"] += probes.histogram_rows(
                self.m.G, "start", 0, cfg["probe"]["hist_bins"]
            )
        self.pending: list = []
        self.bar = _progress(
            cfg["train"]["iterations"],
            start,
            f"{cfg['label']}/{cfg['method_label']}/seed{cfg['seed']}",
        )

    def advance(self, it: int, stats: dict) -> int | None:
        """Everything after iteration ``it``'s step (its scalars ``stats``): logs, probes,
        samples, snapshots, checkpoints. Returns an exit code where the run stops here."""
        cfg, t, start = self.cfg, self.cfg["train"], self.start
        total, every_probe = t["iterations"], cfg["probe"]["every"]
        if cfg["debug"]["nan_at"] == it:  # fault injection (tests)
            stats["critic_loss"] = stats["critic_loss"] * float("nan")
        self.pending.append((it, stats))
        at_checkpoint = it % t["checkpoint_every"] == 0
        if it % t["log_every"] == 0 or at_checkpoint or it == total or self.stop_requested:
            bad = self.flush(self.pending)
            if bad is not None:
                return self.diverged(bad)
            if self.bar.disable and (it % t["log_every"] == 0 or it == total):
                self.progress_line(it, start)
        if it % every_probe == 0:
            self.take_probes(it)
        if it % t["sample_every"] == 0:
            self.save_samples(it)
        if it in set(cfg["fid"]["checkpoints"] or []):
            self.save_generator(it)
        if at_checkpoint or self.stop_requested:
            self.save_checkpoint(it)
        self.bar.update(1)
        if self.stop_requested:
            self.bar.close()
            self.record["status"] = "preempted"
            self.event("preempted", it, "signal received; checkpoint written")
            self.write_record()
            print(
                f"{self.out}: stopped by signal at iteration {it}; rerun to resume",
                file=sys.stderr,
            )
            return EXIT_PREEMPTED
        return None

    def end(self) -> int:
        self.bar.close()
        return self.finish(self.cfg["train"]["iterations"])

    def save_generator(self, it: int | None) -> None:
        """G's weights (final: ``it`` None, else a snapshot) and, with a moving average
        (train.ema_decay), the average's beside them (runs.generator_path)."""
        io_save(self.m.G.state_dict(), runs.generator_path(self.out, it))
        if self.method.ema:
            io_save(dict(self.method.ema), runs.generator_path(self.out, it, ema=True))

    def progress_line(self, it: int, start: int) -> None:
        """One line per log interval on a non-TTY stderr (job logs), where tqdm's bar is off."""
        c, row = self.cfg, self.rows["train_log.csv"][-1]
        done = self.wall_time() - self.wall_before
        rate = (it - start) / done if done > 0 else float("nan")
        left = (c["train"]["iterations"] - it) / rate if rate > 0 else float("nan")
        eta = (
            f"{int(left) // 3600}:{int(left) % 3600 // 60:02d}:{int(left) % 60:02d}"
            if left == left
            else "?"
        )
        print(
            f"{c['label']}/{c['method']}/seed{c['seed']}: iteration {it}/{c['train']['iterations']}"
            f"  critic_loss {row['critic_loss']:.4f}  generator_loss {row['generator_loss']:.4f}"
            f"  {rate:.2f} it/s  ETA {eta}",
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
        self.save_generator(None)
        io_save(self.m.D.state_dict(), self.out / "critic.pt")
        self.write_csvs(total)
        self.record.update(
            status="completed", iteration=total, wall_time_s=self.wall_time(), finished=now()
        )
        self.write_record()
        return 0


def _progress(total: int, initial: int, desc: str):
    from tqdm import tqdm

    return tqdm(
        total=total, initial=initial, desc=desc, disable=not sys.stderr.isatty(), dynamic_ncols=True
    )


def train(cfg: dict, out: str | Path, supersede: str | Path | None = None) -> int:
    """Train (or resume, or confirm) the run; returns the exit code (0, EXIT_DIVERGED, EXIT_PREEMPTED).
    A directory holding another run's result is refused, or with ``supersede`` moved there."""
    return Run(cfg, out, supersede).run()
