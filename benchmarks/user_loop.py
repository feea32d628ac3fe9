"""The eager WGAN-GP loop a researcher would write from the official recipe (Gulrajani et al.
2017, gan_mnist.py and its PyTorch ports): the reference that ``train_step.py`` compares the
package's training step with (``speedup_vs_user_loop``).

Data as ``torchvision.datasets.MNIST`` gives it: one PIL image per index, ``Resize`` to the
resolution, ``ToTensor``, ``Normalize(0.5, 0.5)``, in ``DataLoader`` worker processes
(shuffled, ``drop_last``, pinned memory on CUDA). ``datasets.MNIST`` itself wants the
uncompressed files in ``<root>/MNIST/raw/``; ``$SSGAN_DATA_ROOT`` holds the gzipped IDX files
in ``<root>/mnist/`` (the layout ``ssgan/data/idx.py`` reads), so ``MNISTFiles`` reads them with
numpy and returns items exactly as ``datasets.MNIST.__getitem__`` does. Networks: the package's
DCGAN generator and critic at the same width and resolution (``ssgan.models``), so only the
loop differs; Adam and the gradient penalty as in the recipe, n_critic 5, PyTorch's default
numerics (no precision flags, no determinism), a plain Python loop, no CUDA graphs.
"""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from ssgan import config as C
from ssgan.models import Critic, Generator


class MNISTFiles(Dataset):
    """MNIST's training images from ``<root>/mnist/train-images-idx3-ubyte.gz``, item by item as
    ``torchvision.datasets.MNIST`` returns them (its labels are not needed here)."""

    def __init__(self, root: str | Path, transform, max_images: int | None = None):
        path = Path(root) / "mnist" / "train-images-idx3-ubyte.gz"
        raw = gzip.decompress(path.read_bytes())
        n, h, w = (int.from_bytes(raw[i : i + 4], "big") for i in (4, 8, 12))
        self.data = np.frombuffer(raw, np.uint8, offset=16).reshape(n, h, w)[:max_images]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        img = Image.fromarray(self.data[index], mode="L")  # as datasets.MNIST
        return self.transform(img), 0


def loader(root, resolution: int, batch: int, workers: int, device, max_images=None):
    tf = transforms.Compose(
        [transforms.Resize(resolution), transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))]
    )
    ds = MNISTFiles(root, tf, max_images)
    if len(ds) < batch:
        raise ValueError(f"{len(ds)} images are fewer than one batch of {batch}")
    return DataLoader(
        ds,
        batch_size=batch,
        shuffle=True,
        num_workers=workers,
        drop_last=True,
        pin_memory=torch.device(device).type == "cuda",
        persistent_workers=workers > 0,
    )


def inf_train_gen(dl):
    while True:  # the recipe's endless generator over epochs
        for images, _ in dl:
            yield images


def calc_gradient_penalty(D, real, fake, gp_lambda: float):
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    interpolates = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    out = D(interpolates)
    (grad,) = torch.autograd.grad(out, interpolates, torch.ones_like(out), create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean() * gp_lambda


def seconds_per_iteration(
    width: int,
    resolution: int,
    batch: int,
    device,
    iters: int,
    warmup: int,
    workers: int,
    root: str | Path,
    max_images: int | None = None,
) -> float:
    """Seconds per generator iteration (n_critic critic steps + one generator step, data loading
    included) of the loop, over ``iters`` iterations after ``warmup`` untimed ones."""
    device = torch.device(device)
    # The package's values for this resolution (lr, betas, n_critic, critic norm, z size).
    cfg = C.resolve("mnist", "wgan_gp", 0, overrides={"data": {"resolution": resolution}})
    t, z_dim = cfg["train"], cfg["model"]["z_dim"]
    G = Generator(resolution, 1, width, z_dim).to(device)
    D = Critic(resolution, 1, width, norm=cfg["model"]["critic_norm"]).to(device)
    opt_G = torch.optim.Adam(G.parameters(), lr=t["lr"], betas=(t["beta1"], t["beta2"]))
    opt_D = torch.optim.Adam(D.parameters(), lr=t["lr"], betas=(t["beta1"], t["beta2"]))
    data = inf_train_gen(loader(root, resolution, batch, workers, device, max_images))

    def iteration():
        for p in D.parameters():
            p.requires_grad_(True)
        for _ in range(t["n_critic"]):
            real = next(data).to(device, non_blocking=True)
            with torch.no_grad():
                fake = G(torch.randn(batch, z_dim, device=device))
            D.zero_grad()
            d_cost = D(fake).mean() - D(real).mean()
            d_cost = d_cost + calc_gradient_penalty(D, real, fake, t["gp_lambda"])
            d_cost.backward()
            opt_D.step()
        for p in D.parameters():
            p.requires_grad_(False)
        G.zero_grad()
        g_cost = -D(G(torch.randn(batch, z_dim, device=device))).mean()
        g_cost.backward()
        opt_G.step()

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        iteration()
    sync()
    t0 = time.perf_counter()
    for _ in range(iters):
        iteration()
    sync()
    return (time.perf_counter() - t0) / iters
