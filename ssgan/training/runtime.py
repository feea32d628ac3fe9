"""The process around a run: its device, its global RNGs (seeded, saved in checkpoints and
restored bitwise) and the deterministic-algorithm switch."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from ssgan.config.yaml_io import defaults
from ssgan.errors import ConfigError


def uses_section(method: str, section: str) -> bool:
    """Whether the registered ``method`` reads the config ``section`` (not in its
    ``unused_sections``)."""
    from ssgan.methods import METHODS

    cls = METHODS.get(method)
    return cls is not None and section not in cls.unused_sections


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"config key 'train.device' is {name!r} but no CUDA device is available")
    return device


def seed_everything(seed: int, deterministic: bool) -> None:
    """Global RNGs (a fallback for library code: nothing in training draws from them) and the
    deterministic-algorithm switch, set both ways (a run with ``train.deterministic: false``
    after one with true in the same process is not deterministic).

    Deterministic mode leaves PyTorch's ``fill_uninitialized_memory`` off: on, every ``empty``
    inside every operator is filled with NaN (one more kernel per allocation, hundreds per
    iteration), which changes no result of an operator that writes its whole output, and every
    operator training calls does (docs/determinism.md; tests/test_determinism.py)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.utils.deterministic.fill_uninitialized_memory = False
        torch.backends.cudnn.benchmark = False


def rng_state(gen: torch.Generator) -> dict:
    np_state = np.random.get_state()
    state = {
        "gen": gen.get_state(),
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached": float(np_state[4]),
        },
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(gen: torch.Generator, state: dict) -> None:
    gen.set_state(state["gen"])
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"])
    )
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def without_effect(cfg: dict, device: torch.device) -> list[str]:
    """Settings this run cannot act on, as notes for its record (docs/reliability.md). A
    setting that changes nothing on this device is also normalised in ``cfg`` (before the
    config hash), so such a run keeps the hash, and the pairs, of the runs without it."""
    notes, t = [], cfg["train"]
    if t["precision"] == "tf32" and device.type != "cuda":
        t["precision"] = "fp32"
        notes.append(
            f"train.precision tf32 has no effect on {device.type} (a CUDA tensor-core mode): "
            "the run computes, and is recorded, as fp32"
        )
    m = cfg["model"]
    width = defaults()["model"]["width"]
    if m.get("arch") == "resnet" and m["width"] != width:
        notes.append(
            f"model.width ({m['width']}) has no effect with model.arch resnet, whose widths are "
            f"model.resnet_g_width ({m['resnet_g_width']}) and model.resnet_d_width "
            f"({m['resnet_d_width']}): the run is hashed as with the default {width}"
        )
    if t.get("ema_decay") is not None and t["ema_start"] >= t["iterations"]:
        notes.append(
            f"train.ema_start ({t['ema_start']}) >= train.iterations ({t['iterations']}): the "
            "moving average of G is a copy of G throughout; generator_ema.pt equals generator.pt"
        )
    stu = cfg.get("stu") or {}
    explores = uses_section(cfg["method"], "stu") and stu.get("explore", True)
    if explores and stu.get("update_every", 0) >= t["iterations"]:
        notes.append(
            f"stu.update_every ({stu['update_every']}) >= train.iterations ({t['iterations']}): "
            "STU-GAN never explores; its sparse mask stays the initial one"
        )
    return notes
