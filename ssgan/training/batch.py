"""A seed batch: the seeds of one cell (same dataset, method and config) trained in one process.

``train_batch(cfgs, outs)`` opens one ordinary run (ssgan/training/loop.py ``Run``) per seed,
each in its own directory with its own run.json, logs, probes, samples, snapshots, checkpoints
and weights, and advances them in lockstep: iteration i of every seed, then iteration i + 1.
Each seed keeps its own networks, optimizers, method state and RNG streams (initialisation,
data order, latents, interpolation weights: ssgan/training/seeds.py), so a seed trained in a
batch computes exactly what it computes alone (bitwise on the CPU: tests/test_seed_batch.py),
whichever other seeds share its batch. Batching is an execution detail: the config hash is
the lone run's; run.json records the batch under ``execution`` (``seed_batch``,
``batch_index``, ``batched``).

Two ways to run a batch. Where ``stacked.refusal(cfg)`` is None (WGAN-GP and Self-Sparse GAN
on either architecture, fp32 or tf32, with or without lr decay; no accumulation, EMA of G or
TensorBoard) the seeds are stacked into
one network (ssgan/training/stacked.py: ``torch.func`` stacking with ``vmap``, one kernel for
the K seeds' work, replayed as one CUDA graph where graphs are on; losses equal a lone run's
to float tolerance).
Otherwise, or with ``SSGAN_SEED_BATCH=lockstep``, this module's lockstep executor: what it shares between seeds is the process (one
start-up, one CUDA context, one copy of the training images, one job); each seed's iteration
is its own sequence of kernels (its own CUDA graph where graphs are on), bitwise its lone run.

On a machine with several GPUs the first seed takes a GPU slot (ssgan/training/gpu_slots.py)
and the others run on its device: a batch is one training job.

A seed that diverges is marked ``diverged`` and leaves the batch; the others go on. SIGTERM or
SIGINT makes every seed write its checkpoint at the end of the current iteration and exit
with EXIT_PREEMPTED; rerunning the batch resumes each seed from its own newest checkpoint. A
seed whose run is already complete (or diverged) is kept as it is and not trained again.
"""

from __future__ import annotations

import copy
import os
import signal
from pathlib import Path

from ssgan.errors import ConfigError
from ssgan.methods import METHODS
from ssgan.training import stacked
from ssgan.training.loop import Run

# Methods whose iterations every seed of a batch can run: all of them, since each seed runs
# its own method instance; a method listed here with a reason is trained singly instead.
REFUSED: dict[str, str] = {}


def refusal(cfg: dict) -> str | None:
    """None if this run config can be trained in a seed batch, else a one-line reason."""
    method = cfg.get("method")
    if method not in METHODS:
        return f"unknown method {method!r}"
    return REFUSED.get(method)


def _identity(cfg: dict) -> dict:
    """The config without what may differ between the seeds of one batch (seed; debug.*,
    fault injection for tests)."""
    rest = copy.deepcopy(cfg)
    rest.pop("seed", None)
    rest.pop("debug", None)
    return rest


def check_batch(cfgs: list[dict], outs: list[Path]) -> None:
    if not cfgs or len(cfgs) != len(outs):
        raise ConfigError(f"a seed batch needs one --out per seed ({len(cfgs)} vs {len(outs)})")
    seeds = [c["seed"] for c in cfgs]
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"a seed batch lists a seed twice: {seeds}")
    if len({str(Path(o).resolve()) for o in outs}) != len(outs):
        raise ConfigError("a seed batch writes two seeds into one directory")
    first = _identity(cfgs[0])
    for c in cfgs[1:]:
        if _identity(c) != first:
            raise ConfigError(
                f"the configs of a seed batch may differ only in seed (seed {c['seed']} differs "
                f"from seed {cfgs[0]['seed']})"
            )
    why = refusal(cfgs[0])
    if why is not None:
        raise ConfigError(f"method {cfgs[0]['method']!r} cannot be trained in a seed batch: {why}")


class BatchedRun(Run):
    """One seed's run in a batch: an ordinary run whose record says which batch trained it."""

    def __init__(self, cfg: dict, out: str | Path, seeds: list[int], index: int):
        super().__init__(cfg, out)
        self.batch = {"seed_batch": list(seeds), "batch_index": index, "batched": True}

    def execution(self) -> dict:
        return {**super().execution(), **self.batch}


def mode() -> str:
    """``$SSGAN_SEED_BATCH``: ``stacked`` (default: one stacked network where the config allows
    it) or ``lockstep`` (always this module's executor: every seed bitwise its lone run)."""
    value = os.environ.get("SSGAN_SEED_BATCH", "stacked").strip() or "stacked"
    if value not in ("stacked", "lockstep"):
        raise ConfigError(f"SSGAN_SEED_BATCH must be 'stacked' or 'lockstep', got {value!r}")
    return value


def train_batch(cfgs: list[dict], outs: list[Path]) -> list[int]:
    """Train the seeds of ``cfgs`` (configs that differ only in seed) in one process into
    ``outs``; returns each seed's exit status as ``loop.train`` does (0, EXIT_DIVERGED,
    EXIT_PREEMPTED)."""
    check_batch(cfgs, outs)
    if mode() == "stacked" and stacked.refusal(cfgs[0]) is None:  # the seeds' kernels fused
        return stacked.train_batch(cfgs, outs)
    seeds = [c["seed"] for c in cfgs]
    runs = [BatchedRun(cfgs[0], outs[0], seeds, 0)]
    for k, (c, o) in enumerate(zip(cfgs[1:], outs[1:]), start=1):
        if runs[0].gpu_slot is not None:  # one GPU slot for the batch (not hashed: train.device)
            c = {**c, "train": {**c["train"], "device": str(runs[0].device)}}
        runs.append(BatchedRun(c, o, seeds, k))
    codes: list[int | None] = [None] * len(runs)
    opened: list[int] = []

    def on_signal(_signum, _frame) -> None:
        for r in runs:
            r.stop_requested = True

    old_handlers = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for k, r in enumerate(runs):
            codes[k] = r.open()
            if codes[k] is None:
                opened.append(k)
        its = {k: runs[k].start for k in opened}
        for k in opened:
            runs[k].begin(its[k])
        live = list(opened)
        while live:
            for k in list(live):
                r = runs[k]
                if its[k] >= r.cfg["train"]["iterations"]:
                    codes[k] = r.end()
                else:
                    its[k] += 1
                    codes[k] = r.advance(its[k], r.step(its[k]))
                if codes[k] is not None:
                    live.remove(k)
    except Exception as err:
        for k in opened:
            if codes[k] is None:  # every seed still training is marked failed, not left running
                runs[k].failed(err)
        raise
    finally:
        for s, h in old_handlers.items():
            signal.signal(s, h)
        for k in opened:
            runs[k].close()
    return [int(c) for c in codes]
