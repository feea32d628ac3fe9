"""Deterministic, resumable batches: epoch e visits the images in the order of a permutation
seeded by (seed, e); the state is just (epoch, position), so a resumed run sees exactly the
batches an uninterrupted one would. The last incomplete batch of an epoch is dropped.

Images held in memory (a tensor) are moved whole onto the training device and indexed there.
Anything else indexable (a prepared array's memory map, a list of tensors) is read by index on
a background thread one batch ahead, into one of two reused host buffers (pinned when the
device is a GPU), and copied to the device with ``non_blocking=True``. The batch read ahead is
the one the state says comes next; after ``load_state_dict`` a read-ahead batch that is no
longer next is discarded, so order and state are the same on every path.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from ssgan.data.registry import DataError


class BatchStream:
    def __init__(self, images, batch_size: int, seed: int, device):
        if len(images) < batch_size:  # DataError: the CLI reports it (exit 2), no traceback
            raise DataError(
                f"the dataset has {len(images)} images, fewer than one batch of {batch_size}"
            )
        self.images, self.batch_size, self.seed, self.device = (
            images,
            batch_size,
            seed,
            torch.device(device),
        )
        self.in_memory = isinstance(images, torch.Tensor)
        if self.in_memory:  # decoded once, held on the training device
            self.images = images.to(self.device)
        self.epoch, self.pos = 0, 0
        self._perm_epoch, self._perm = None, None
        self._reader: ThreadPoolExecutor | None = None
        self._ahead = None  # (indices, slot, future) of the batch being read ahead
        self._slot = 0
        self._buffers: list[torch.Tensor] = []
        self._table = None  # a memory-mapped array as a tensor (no copy)
        self._copied: list = [None, None]  # CUDA events: a buffer's copy to the device is done

    def permutation(self, epoch: int) -> torch.Tensor:
        if self._perm_epoch != epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm, self._perm_epoch = torch.randperm(len(self.images), generator=g), epoch
        return self._perm

    def _following(self, epoch: int, pos: int) -> tuple[torch.Tensor, int, int]:
        """The indices of the batch at state (epoch, pos), and the state after it."""
        if pos + self.batch_size > len(self.images):
            epoch, pos = epoch + 1, 0
        idx = self.permutation(epoch)[pos : pos + self.batch_size]
        return idx, epoch, pos + self.batch_size

    def next_indices(self) -> torch.Tensor:
        """The image indices of the next batch (on the CPU); advances the state."""
        idx, self.epoch, self.pos = self._following(self.epoch, self.pos)
        return idx

    def next_uint8(self) -> torch.Tensor:
        """The next batch as stored (uint8) on the device."""
        idx = self.next_indices()
        if self.in_memory:
            return self.images.index_select(0, idx.to(self.device))  # (faster than [idx] on CPUs)
        return self._fetch(idx)

    def next(self) -> torch.Tensor:
        """The next batch as float in [-1, 1] on the device."""
        return self.next_uint8().float().div_(127.5).sub_(1.0)

    # --- reading by index, one batch ahead ---------------------------------------------------
    def _fetch(self, idx: torch.Tensor) -> torch.Tensor:
        if self._reader is None:
            self._reader = ThreadPoolExecutor(1, thread_name_prefix="batch-reader")
        ahead, self._ahead = self._ahead, None
        if ahead is not None and torch.equal(ahead[0], idx):
            slot, host = ahead[1], ahead[2].result()
        else:
            if ahead is not None:
                ahead[2].result()  # finish with its buffer before reusing the slots
            slot = self._slot = 1 - self._slot
            host = self._gather(idx, slot)
        batch = host.to(self.device, non_blocking=True)
        if self.device.type == "cuda":
            self._copied[slot] = torch.cuda.Event()
            self._copied[slot].record()
        # On the CPU ``batch`` is the buffer itself: next() converts it to float before the
        # read-ahead below can touch it (that one fills the other buffer).
        nidx = self._following(self.epoch, self.pos)[0]
        self._slot = 1 - slot
        self._ahead = (nidx, self._slot, self._reader.submit(self._gather, nidx, self._slot))
        return batch

    def _gather(self, idx: torch.Tensor, slot: int) -> torch.Tensor:
        """Images ``idx`` into host buffer ``slot`` (after its last copy to the device ended)."""
        if not self._buffers:
            shape = (self.batch_size, *self.images[0].shape)
            pin = self.device.type == "cuda"
            self._buffers = [torch.empty(shape, dtype=torch.uint8, pin_memory=pin) for _ in "ab"]
        if self._copied[slot] is not None:
            self._copied[slot].synchronize()
        buf = self._buffers[slot]
        if isinstance(self.images, np.ndarray):  # a memory map: one gather, no per-item calls
            if self._table is None:
                with warnings.catch_warnings():  # read-only map: torch warns; it is only read
                    warnings.simplefilter("ignore", UserWarning)
                    self._table = torch.from_numpy(self.images)
            torch.index_select(self._table, 0, idx, out=buf)
        else:
            torch.stack([torch.as_tensor(self.images[int(i)]) for i in idx], out=buf)
        return buf

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.pos = int(state["epoch"]), int(state["pos"])
