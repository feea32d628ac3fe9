"""Measurements for the paper's three mechanistic claims, taken during training.

- sparsity (claim 1), at the same place in every generator: fraction of exact zeros in the
  post-ReLU feature map fed to each deconvolution (``probe_feature_sparsity.csv``: ``block0``
  after fc -> BN -> ReLU feeds deconv1, ``block{i}`` = output of hidden block i feeds
  deconv{i+1}); Self-Sparse GAN only: exact zeros in each SASTM's channel coefficients a,
  spatial coefficients s and output Y, and its *dead* gates: the fraction of channels whose
  a is 0 for every sample of the probe batch, and of spatial positions whose s is;
- weight signs (claim 3): fraction of negative weights among the nonzero ones (``neg_frac``;
  a masked-out weight of STU-GAN is an exact 0 and has no sign: counted among all weights, its
  masked zeros put STU-GAN at ~0.04 against ~0.5), the fraction of exact zeros
  (``zero_frac``), mean, std and quantiles of every generator deconvolution
  (``generator_convolutions``: every convolution of a ResNet G), plus histograms of the nonzero
  weights at the start and the end of training;
- dead units (claim 2), per generator BatchNorm: ``dead_frac``, the fraction of post-BN, pre-ReLU
  activations <= 0 (each passes no gradient through the following ReLU), and
  ``dead_channel_frac``, the fraction of BN channels that are <= 0 for every sample and position
  of the probe batch: channels whose ReLU output is 0 throughout, so that no gradient reaches the
  channel's BN scale and shift nor anything that feeds it. With SASTM before BatchNorm
  ``dead_frac`` of bn{i} *is* the zero fraction of block{i} (claim 1), so claim 2 reads
  ``dead_channel_frac`` (docs/assumptions.md).

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
    "channel_dead_frac",
    "spatial_dead_frac",
]
FEATURE_SPARSITY_COLUMNS = ["iteration", "layer", "zero_frac"]
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
    "zero_frac",
]
DEAD_COLUMNS = ["iteration", "layer", "dead_frac", "dead_channel_frac"]
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


def generator_convolutions(G: nn.Module) -> list[tuple[str, nn.Module]]:
    """G's own convolutions in forward order (SASTM's 1x1 convolutions excluded): deconv1, ...
    in the DCGAN family (every one upsamples); conv1, ... in the ResNet family (per up-block:
    conv1, conv2, its 1x1 shortcut; then the output convolution)."""
    inside = {id(c) for s in G.modules() if isinstance(s, SASTM) for c in s.modules()}
    convs = [
        m
        for m in G.modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and id(m) not in inside
    ]
    deconv = all(isinstance(m, nn.ConvTranspose2d) for m in convs)
    return [(f"{'deconv' if deconv else 'conv'}{i + 1}", m) for i, m in enumerate(convs)]


def _r(x: float) -> float:
    return round(float(x), 8)


@torch.no_grad()
def weight_rows(G: nn.Module, iteration: int) -> list[dict]:
    rows = []
    for name, conv in generator_convolutions(G):
        w = conv.weight.detach().flatten().float().cpu()
        q = torch.quantile(w, torch.tensor(QUANTILES))
        nonzero = int((w != 0).sum())
        rows.append(
            {
                "iteration": iteration,
                "layer": name,
                "neg_frac": _r((w < 0).sum() / nonzero) if nonzero else "",
                "mean": _r(w.mean()),
                "std": _r(w.std()),
                **{f"q{int(p * 100):02d}": _r(v) for p, v in zip(QUANTILES, q)},
                "zero_frac": _r(1 - nonzero / w.numel()),
            }
        )
    return rows


@torch.no_grad()
def histogram_rows(G: nn.Module, stage: str, iteration: int, bins: int) -> list[dict]:
    """Histograms of the nonzero weights: the exact zeros of a masked layer (STU-GAN) are no
    weights of the trained network, and their spike at 0 flattened every other curve."""
    rows = []
    for name, conv in generator_convolutions(G):
        w = conv.weight.detach().flatten().float().cpu()
        w = w[w != 0]
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


def zero_frac(t: torch.Tensor | None):
    """Fraction of exact zeros; "" when the tensor does not exist (branch absent)."""
    return "" if t is None else _r((t == 0).float().mean())


def dead_frac(t: torch.Tensor | None):
    """Fraction of entries (channels, or spatial positions) that are 0 for every sample of the
    batch (dimension 0); "" when the branch is absent."""
    return "" if t is None else _r((t == 0).all(dim=0).float().mean())


def dead_channel_frac(out: torch.Tensor) -> float:
    """Fraction of channels (dimension 1) whose every entry, over all samples and positions, is
    <= 0: after ReLU they are 0 for the whole batch and pass no gradient."""
    return _r((out <= 0).transpose(0, 1).flatten(1).all(dim=1).float().mean())


def dead_units(out: torch.Tensor) -> dict:
    """The dead-unit columns of one BatchNorm output."""
    return {"dead_frac": _r((out <= 0).float().mean()), "dead_channel_frac": dead_channel_frac(out)}


@torch.no_grad()
def activation_rows(
    G: nn.Module, z: torch.Tensor, iteration: int
) -> tuple[list[dict], list[dict], list[dict]]:
    """(SASTM sparsity rows, dead-unit rows, feature-sparsity rows) from one forward pass of a
    copy of G on ``z``."""
    Gc = copy.deepcopy(G).train()
    dead: dict[str, dict] = {}
    features: dict[str, float] = {}
    hooks = []
    for name, bn in named_layers(Gc, nn.BatchNorm2d):
        hooks.append(
            bn.register_forward_hook(
                lambda _m, _i, out, name=name: dead.__setitem__(name, dead_units(out))
            )
        )
    for i, (_, deconv) in enumerate(generator_convolutions(Gc)):
        hooks.append(  # the map fed to deconvolution i + 1 is block{i}
            deconv.register_forward_pre_hook(
                lambda _m, inp, name=f"block{i}": features.__setitem__(name, zero_frac(inp[0]))
            )
        )
    sastms = named_layers(Gc, SASTM)
    for _, m in sastms:
        m.record = True
    Gc(z)
    for h in hooks:
        h.remove()

    sparsity = [
        {
            "iteration": iteration,
            "layer": name,
            "channel_zero_frac": zero_frac(m.last["channel"]),
            "spatial_zero_frac": zero_frac(m.last["spatial"]),
            "output_zero_frac": zero_frac(m.last["output"]),
            "channel_dead_frac": dead_frac(m.last["channel"]),
            "spatial_dead_frac": dead_frac(m.last["spatial"]),
        }
        for name, m in sastms
    ]
    dead_rows = [{"iteration": iteration, "layer": k, **v} for k, v in dead.items()]
    feature_rows = [
        {"iteration": iteration, "layer": k, "zero_frac": v} for k, v in features.items()
    ]
    return sparsity, dead_rows, feature_rows
