"""A stand-in for the batched trainer (``ssgan.training.batch``), for the workflow's dry runs:
as a ``plugins:`` module it takes every config but Self-Sparse GAN's, whose seeds then get one job
each.
It trains nothing."""

import sys
import types

double = types.ModuleType("ssgan.training.batch")
double.refusal = lambda cfg: "stand-in refusal" if cfg["method"] == "ssgan" else None


def _train_batch(cfgs, outs):
    raise RuntimeError("the batched trainer's stand-in trains nothing (dry runs only)")


double.train_batch = _train_batch
sys.modules["ssgan.training.batch"] = double
