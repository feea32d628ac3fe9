"""Independent random streams of a run, all derived from its seed.

One seed would otherwise feed several consumers through the same generator (on the CPU,
``torch.manual_seed(s)`` and ``torch.Generator().manual_seed(s)`` give the same numbers), so
the first training-noise draws would repeat the draws that initialised the critic. Each
consumer gets its own stream instead: ``numpy.random.SeedSequence(seed).spawn(len(STREAMS))``,
child i -> ``generate_state(1)[0]`` (a 32-bit integer, usable by torch and numpy alike).

Network initialisation is seeded *per layer* from the ``init`` stream and the layer's name
(``G.blocks.0.0``, ``D.fc``, ...): a layer that two methods share (same name, same shape)
gets the same initial weights in both, whatever other modules (SASTMs) one of them adds.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch
from torch import nn

# Order matters (it is the spawn order); append new streams at the end.
STREAMS = ("init", "noise", "data", "eval", "probe", "sample")
DERIVATION = "numpy.random.SeedSequence(seed).spawn(6)[i].generate_state(1)[0]"


def stream_seeds(seed: int) -> dict[str, int]:
    """{stream name: 32-bit seed} for a run seed."""
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {name: int(ss.generate_state(1)[0]) for name, ss in zip(STREAMS, children)}


def stream_seed(seed: int, name: str) -> int:
    return stream_seeds(seed)[name]


def layout(seed: int) -> dict:
    """The stream layout recorded in run.json."""
    return {"derivation": DERIVATION, "streams": list(STREAMS), **stream_seeds(seed)}


def layer_seed(init_seed: int, name: str) -> int:
    """Seed of one layer: the init stream and a stable hash (crc32) of the layer's name."""
    return int(np.random.SeedSequence([init_seed, zlib.crc32(name.encode())]).generate_state(1)[0])


def init_layers(module: nn.Module, init_seed: int, prefix: str) -> nn.Module:
    """Re-initialise every layer that owns parameters with its own seed (``layer_seed``), then
    let modules with an initialisation of their own (SASTM's ``init_gates``) apply it.
    The global torch RNG is left as it was. Call before moving the module to a device."""
    for name, m in module.named_modules():
        if hasattr(m, "reset_parameters") and any(True for _ in m.parameters(recurse=False)):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(layer_seed(init_seed, f"{prefix}.{name}" if name else prefix))
                m.reset_parameters()
    for m in module.modules():
        if hasattr(m, "init_gates"):
            m.init_gates()
    return module
