"""Deterministic, resumable batches: epoch e visits the images in the order of a permutation
seeded by (seed, e); the state is just (epoch, position), so a resumed run sees exactly the
batches an uninterrupted one would. The last incomplete batch of an epoch is dropped.
"""

from __future__ import annotations

import torch

from ssgan.data.registry import DataError


class BatchStream:
    def __init__(self, images, batch_size: int, seed: int, device, num_workers: int = 0):
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
        self.num_workers = num_workers
        self.in_memory = isinstance(images, torch.Tensor)
        if self.in_memory:  # decoded once, held on the training device
            self.images = images.to(self.device)
        self.epoch, self.pos = 0, 0
        self._perm_epoch, self._perm = None, None

    def permutation(self, epoch: int) -> torch.Tensor:
        if self._perm_epoch != epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm, self._perm_epoch = torch.randperm(len(self.images), generator=g), epoch
        return self._perm

    def next(self) -> torch.Tensor:
        """The next batch as float in [-1, 1] on the device."""
        if self.pos + self.batch_size > len(self.images):
            self.epoch, self.pos = self.epoch + 1, 0
        idx = self.permutation(self.epoch)[self.pos : self.pos + self.batch_size]
        self.pos += self.batch_size
        if self.in_memory:
            batch = self.images[idx.to(self.device)]
        else:
            batch = self._fetch(idx)
        return batch.float().div_(127.5).sub_(1.0)

    def _fetch(self, idx: torch.Tensor) -> torch.Tensor:
        if self.num_workers == 0:
            return torch.stack([self.images[int(i)] for i in idx]).to(self.device)
        loader = torch.utils.data.DataLoader(
            torch.utils.data.Subset(self.images, idx.tolist()),
            batch_size=len(idx),
            num_workers=self.num_workers,
        )
        return next(iter(loader)).to(self.device)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.pos = int(state["epoch"]), int(state["pos"])
