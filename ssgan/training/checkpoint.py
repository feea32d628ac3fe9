"""Resumable training checkpoints: atomic, checksummed, loaded without executing pickles.

``ckpt_XXXXXXXX.pt`` holds tensors and plain values only (models, optimizers, RNG states,
data position, iteration) and is read with ``torch.load(weights_only=True)``, which refuses
pickled code. Its sha256 sits beside it in ``ckpt_XXXXXXXX.pt.sha256``, written before the
checkpoint is renamed into place, so a checkpoint without a matching checksum is never
trusted. Loading walks back from the newest to the first good one.

The checkpoint holds only what training computes, so two identical runs write byte-identical
checkpoints (saved into memory, ``io.torch_bytes``); what differs between them, the wall time
so far, sits in ``ckpt_XXXXXXXX.pt.json`` (``read_meta``), outside the checksummed bytes.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import torch

from ssgan import io

PATTERN = re.compile(r"^ckpt_(\d{8})\.pt$")


def path_for(ckpt_dir: Path, iteration: int) -> Path:
    return Path(ckpt_dir) / f"ckpt_{iteration:08d}.pt"


def list_checkpoints(ckpt_dir: Path) -> list[tuple[int, Path]]:
    """(iteration, path), newest first."""
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in ckpt_dir.iterdir() if (m := PATTERN.match(p.name))]
    return sorted(found, reverse=True)


SIDECARS = (".sha256", ".json")


def save(
    ckpt_dir: Path,
    iteration: int,
    state: dict,
    keep: int,
    protect: set[int] = frozenset(),
    meta: dict | None = None,
) -> Path:
    """Write ``state`` (deterministic content only) and, beside it, its checksum and ``meta``
    (plain values that may differ between identical runs, e.g. wall time)."""
    path = path_for(ckpt_dir, iteration)
    data = io.torch_bytes(state)  # in memory: the same state gives the same bytes
    with io.atomic_path(path) as tmp:
        tmp.write_bytes(data)
        io.write_json(path.with_name(path.name + ".json"), meta or {})
        digest = hashlib.sha256(data).hexdigest()
        io.write_text(path.with_name(path.name + ".sha256"), digest + "\n")
    for it, old in list_checkpoints(ckpt_dir)[keep:]:
        if it not in protect:
            old.unlink(missing_ok=True)
            for suffix in SIDECARS:
                old.with_name(old.name + suffix).unlink(missing_ok=True)
    return path


def read_meta(ckpt_dir: Path, iteration: int) -> dict:
    """The plain values saved beside a checkpoint ({} if missing or unreadable)."""
    path = path_for(ckpt_dir, iteration)
    try:
        meta = io.read_json(path.with_name(path.name + ".json"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


class CheckpointError(RuntimeError):
    pass


def load_file(path: Path, map_location="cpu") -> dict:
    """Verify the checksum, then load with weights_only=True; CheckpointError if either fails."""
    path = Path(path)
    sidecar = path.with_name(path.name + ".sha256")
    if not sidecar.is_file():
        raise CheckpointError(f"{path.name}: no checksum file")
    expected = sidecar.read_text().strip()
    actual = io.sha256_file(path)
    if actual != expected:
        raise CheckpointError(f"{path.name}: checksum mismatch (truncated or corrupt)")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means "not loadable"
        raise CheckpointError(
            f"{path.name}: refused by the safe loader: {type(err).__name__}: "
            f"{str(err).splitlines()[0][:200]}"
        ) from None


def load_latest(ckpt_dir: Path, map_location="cpu", check=None) -> tuple[dict | None, list[dict]]:
    """The newest good checkpoint (or None) and the events of the ones skipped on the way.
    ``check(state)`` may reject a loadable one whose content does not fit (CheckpointError)."""
    events = []
    for iteration, path in list_checkpoints(ckpt_dir):
        try:
            state = load_file(path, map_location)
            if check is not None:
                try:
                    check(state)
                except CheckpointError as err:
                    raise CheckpointError(f"{path.name}: {err}") from None
            return state, events
        except CheckpointError as err:
            events.append(
                {"kind": "checkpoint_rejected", "iteration": iteration, "detail": str(err)}
            )
    return None, events
