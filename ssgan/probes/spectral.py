"""Spectra of the critic's convolutions: the monitor every method records, and SR-GAN's
compensation (Liu et al., ICCV 2019; ../shared/PAPER.md section 3).

A convolution weight W (out, in, k, k) is read as the matrix W_mat = W reshaped to
out x (in*k*k), the matrix spectral normalisation divides by its largest singular value s_1.
Everything here works on the *raw* stored weight: under PyTorch's spectral-norm
parametrization that is ``parametrizations.weight.original`` (reading ``conv.weight`` would run
a power iteration and change the persistent vector u, i.e. the training state).
"""

from __future__ import annotations

import torch
from torch import nn

SPECTRUM_COLUMNS = ["iteration", "layer", "index", "value"]
SPECTRUM_SUMMARY_COLUMNS = ["iteration", "layer", "sigma1", "frac_above_half"]
COLLAPSE_LEVEL = 0.5  # SR-GAN's figures: healthy spectra sit at ~0.5-1, collapsed ones below ~0.4


def raw_weight(conv: nn.Module) -> torch.Tensor:
    """The stored weight of a (possibly spectrally normalised) layer, without side effects."""
    p = getattr(conv, "parametrizations", None)
    return p.weight.original if p is not None and "weight" in p else conv.weight


def critic_convolutions(D: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """The critic's convolutions in forward order: conv1, conv2, ... (linear layers excluded)."""
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    return [(f"conv{i + 1}", m) for i, m in enumerate(convs)]


def as_matrix(w: torch.Tensor) -> torch.Tensor:
    return w.detach().reshape(w.shape[0], -1).double()


@torch.no_grad()
def normalised_spectrum(w: torch.Tensor) -> tuple[torch.Tensor, float]:
    """(singular values of W_mat / s_1, sorted descending; s_1)."""
    s = torch.linalg.svdvals(as_matrix(w).cpu())
    s1 = float(s[0])
    return (s / s1 if s1 > 0 else s), s1


@torch.no_grad()
def spectrum_rows(D: nn.Module, iteration: int) -> tuple[list[dict], list[dict]]:
    """(one row per singular value of every critic convolution, one summary row per layer)."""
    rows, summary = [], []
    for name, conv in critic_convolutions(D):
        s, s1 = normalised_spectrum(raw_weight(conv))
        rows += [
            {"iteration": iteration, "layer": name, "index": i, "value": round(float(v), 8)}
            for i, v in enumerate(s.tolist())
        ]
        summary.append(
            {
                "iteration": iteration,
                "layer": name,
                "sigma1": round(s1, 8),
                "frac_above_half": round(float((s > COLLAPSE_LEVEL).double().mean()), 8),
            }
        )
    return rows, summary


@torch.no_grad()
def compensate_static(w: torch.Tensor) -> None:
    """SR-GAN static compensation, in place: W_mat = U diag(s) V^T; s <- s / s_1; the top
    floor(k/2) values set to 1 (k = min(out, in*kh*kw)); W <- U diag(s) V^T (so s_1 = 1)."""
    mat = as_matrix(w)
    U, s, Vh = torch.linalg.svd(mat, full_matrices=False)
    s = s / s[0]
    s[: s.numel() // 2] = 1.0
    w.copy_(((U * s) @ Vh).reshape(w.shape).to(w.dtype))


@torch.no_grad()
def compensate_dynamic(w: torch.Tensor, gamma: torch.Tensor | None) -> torch.Tensor:
    """SR-GAN dynamic compensation, in place: gamma <- max(gamma, s / s_1) element-wise (s / s_1
    at the first call), W <- U diag(s_1 gamma) V^T (scale kept). Returns the new gamma."""
    U, s, Vh = torch.linalg.svd(as_matrix(w), full_matrices=False)
    r = s / s[0]
    gamma = r if gamma is None else torch.maximum(gamma.to(r), r)
    w.copy_(((U * (s[0] * gamma)) @ Vh).reshape(w.shape).to(w.dtype))
    return gamma
