"""Several seeds of one cell (dataset, method) trained by one command: ``ssgan train --seeds
0,1,2 --out DIR`` writes DIR/seed0, DIR/seed1, DIR/seed2, each an ordinary run directory (the
layout of the workflow's results/runs/<dataset>/<method>/seed<s>; docs/run_layout.md).

The batched trainer (``ssgan.training.batch``: ``refusal(cfg)`` and ``train_batch(cfgs,
outs)``) trains the seeds as one network in one process, each seed with its own RNG streams,
so each run is the run trained alone. Where it refuses a config (its one-line reason is printed
once), or is not installed, the seeds are trained here one after another with ``loop.train``,
in one process on one GPU slot: the same runs, the same files. Seed batching is an execution
detail like ``train.cuda_graph``: it is not part of a run's config hash.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

from ssgan import config as C
from ssgan.errors import ConfigError
from ssgan.training.loop import EXIT_DIVERGED, EXIT_PREEMPTED, Run, train

TRAINER = "ssgan.training.batch"
NO_TRAINER = "no batched trainer is installed (ssgan/training/batch.py)"


def parse_seeds(text: str) -> list[int]:
    """``--seeds`` "0,1,2" -> [0, 1, 2]: non-negative integers, each once."""
    parts = [p.strip() for p in str(text).split(",")]
    bad = [p for p in parts if not re.fullmatch(r"\d+", p)]
    if bad or not parts:
        raise ConfigError(
            f"--seeds must be comma-separated non-negative integers (e.g. 0,1,2), got {text!r}"
        )
    seeds = [int(p) for p in parts]
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:
        raise ConfigError(f"--seeds lists seed {', '.join(map(str, twice))} more than once")
    return seeds


def seeds_of(args) -> list[int]:
    """The seeds of ``ssgan train``: ``--seed`` S or ``--seeds`` S,S,..., exactly one of them."""
    seed, seeds = getattr(args, "seed", None), getattr(args, "seeds", None)
    if seed is not None and seeds is not None:
        raise ConfigError("give --seed or --seeds, not both")
    if seed is None and seeds is None:
        raise ConfigError("one of --seed or --seeds is required")
    return [seed] if seeds is None else parse_seeds(seeds)


def seed_dir(out: str | Path, seed: int) -> Path:
    return Path(out) / f"seed{seed}"


def refusal(cfg: dict) -> str | None:
    """Why the seeds of ``cfg`` cannot be trained as one network (None: they can)."""
    try:
        batch = importlib.import_module(TRAINER)
    except ModuleNotFoundError as err:
        if err.name != TRAINER:
            raise
        return NO_TRAINER
    return batch.refusal(cfg)


def train_seeds(
    cfgs: list[dict], out: str | Path, supersede: str | Path | None = None
) -> list[int]:
    """Train the runs ``cfgs`` (one cell, seeds differ) into ``out``/seed<s>; per-seed exit
    codes as ``loop.train`` returns them, in the order of ``cfgs``. One after another, a
    preempted run (SIGTERM) stops the rest, which are left untrained (EXIT_PREEMPTED)."""
    outs = [seed_dir(out, c["seed"]) for c in cfgs]
    why = next((r for c in cfgs if (r := refusal(c)) is not None), None) if len(cfgs) > 1 else None
    if len(cfgs) > 1 and why is None:
        batch = importlib.import_module(TRAINER)
        for cfg, path in zip(cfgs, outs):  # another config's result: refused, or moved aside
            Run(cfg, path, supersede).settle()
        return list(batch.train_batch(cfgs, outs))
    if why is not None:
        seeds = ",".join(str(c["seed"]) for c in cfgs)
        print(f"seeds {seeds}: trained one after another: {why}", file=sys.stderr, flush=True)
    codes: list[int] = []
    for cfg, path in zip(cfgs, outs):
        codes.append(train(cfg, path, supersede) if EXIT_PREEMPTED not in codes else EXIT_PREEMPTED)
    return codes


def exit_code(codes: list[int]) -> int:
    """One exit code for a batch: the first that is neither 0 nor EXIT_DIVERGED (preempted:
    rerun the command to resume), else EXIT_DIVERGED if any run diverged (a result), else 0."""
    other = [c for c in codes if c not in (0, EXIT_DIVERGED)]
    if other:
        return other[0]
    return EXIT_DIVERGED if EXIT_DIVERGED in codes else 0


def cli(args) -> int:
    """``ssgan train``: one run (``--seed``), or the seeds of ``--seeds`` into ``--out``/seed<s>."""
    seeds = seeds_of(args)
    file_cfg = C.load_yaml(args.config) if args.config else None
    over = C.parse_overrides(args.overrides)
    cfgs = [C.resolve(args.dataset, args.method, s, file_cfg, over) for s in seeds]
    C.check_devices(cfgs[0], ("train.device",))
    supersede = getattr(args, "supersede", None)
    if getattr(args, "seeds", None) is None:
        return train(cfgs[0], args.out, supersede)
    return exit_code(train_seeds(cfgs, args.out, supersede))
