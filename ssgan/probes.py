"""Measurements for the paper's three mechanistic claims, taken during training.

- sparsity (claim 1): fraction of exact zeros in each SASTM's channel coefficients a,
  spatial coefficients s and output Y;
- weight signs (claim 3): fraction of negative weights, mean, std and quantiles of every
  generator deconvolution, plus histograms at the start and the end of training;
- dead units (claim 2): fraction of post-BN, pre-ReLU activations <= 0 per generator
  BatchNorm (these units pass no gradient through the following ReLU).

Activation probes run a deep copy of G in training mode (batch statistics, as during
training) on a fixed latent batch, so they change neither the model nor any RNG.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ssgan.models import SASTM

SPARSITY_COLUMNS = [
    "iteration",
    "layer",
    "channel_zero_frac",
    "spatial_zero_frac",
    "output_zero_frac",
]
WEIGHT_COLUMNS = [
    "iteration",
    "layer",
    "neg_frac",
    "mean",
    "std",
    "q05",
    "q25",
    "q50",
    "q75",
    "q95",
]
DEAD_COLUMNS = ["iteration", "layer", "dead_frac"]
HIST_COLUMNS = ["stage", "iteration", "layer", "bin_left", "bin_right", "count"]
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def named_layers(G: nn.Module, kind: type) -> list[tuple[str, nn.Module]]:
    """Layers of one kind in forward order: deconv1.., bn0 (after the linear layer), bn1.., sastm1.."""
    prefix = {nn.ConvTranspose2d: "deconv", SASTM: "sastm"}
    if kind is nn.BatchNorm2d:  # BatchNorm1d after the linear layer is bn0
        bns = [m for m in G.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
        return [(f"bn{i}", m) for i, m in enumerate(bns)]
    mods = [m for m in G.modules() if isinstance(m, kind)]
    return [(f"{prefix[kind]}{i + 1}", m) for i, m in enumerate(mods)]


def _r(x: float) -> float:
    return round(float(x), 8)


@torch.no_grad()
def weight_rows(G: nn.Module, iteration: int) -> list[dict]:
    rows = []
    for name, conv in named_layers(G, nn.ConvTranspose2d):
        w = conv.weight.detach().flatten().float().cpu()
        q = torch.quantile(w, torch.tensor(QUANTILES))
        rows.append(
            {
                "iteration": iteration,
                "layer": name,
                "neg_frac": _r((w < 0).float().mean()),
                "mean": _r(w.mean()),
                "std": _r(w.std()),
                **{f"q{int(p * 100):02d}": _r(v) for p, v in zip(QUANTILES, q)},
            }
        )
    return rows


@torch.no_grad()
def histogram_rows(G: nn.Module, stage: str, iteration: int, bins: int) -> list[dict]:
    rows = []
    for name, conv in named_layers(G, nn.ConvTranspose2d):
        w = conv.weight.detach().flatten().float().cpu()
        lim = float(w.abs().max()) or 1.0
        counts = torch.histc(w, bins=bins, min=-lim, max=lim)
        edges = torch.linspace(-lim, lim, bins + 1)
        rows += [
            {
                "stage": stage,
                "iteration": iteration,
                "layer": name,
                "bin_left": _r(edges[i]),
                "bin_right": _r(edges[i + 1]),
                "count": int(counts[i]),
            }
            for i in range(bins)
        ]
    return rows


@torch.no_grad()
def activation_rows(G: nn.Module, z: torch.Tensor, iteration: int) -> tuple[list[dict], list[dict]]:
    """(sparsity rows, dead-unit rows) from one forward pass of a copy of G on ``z``."""
    Gc = copy.deepcopy(G).train()
    dead: dict[str, float] = {}
    hooks = []
    for name, bn in named_layers(Gc, nn.BatchNorm2d):
        hooks.append(
            bn.register_forward_hook(
                lambda _m, _i, out, name=name: dead.__setitem__(name, _r((out <= 0).float().mean()))
            )
        )
    sastms = named_layers(Gc, SASTM)
    for _, m in sastms:
        m.record = True
    Gc(z)
    for h in hooks:
        h.remove()

    def zero_frac(t):
        return "" if t is None else _r((t == 0).float().mean())

    sparsity = [
        {
            "iteration": iteration,
            "layer": name,
            "channel_zero_frac": zero_frac(m.last["channel"]),
            "spatial_zero_frac": zero_frac(m.last["spatial"]),
            "output_zero_frac": zero_frac(m.last["output"]),
        }
        for name, m in sastms
    ]
    dead_rows = [{"iteration": iteration, "layer": k, "dead_frac": v} for k, v in dead.items()]
    return sparsity, dead_rows
