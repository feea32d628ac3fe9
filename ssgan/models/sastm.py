"""Self-Adaptive Sparse Transform Module (SASTM), Qian et al. 2021 (arXiv 2101.10556).

Confirmed by the paper's abstract: SASTM sits after every deconvolution of the generator and
turns multi-channel feature maps into sparse ones by *sparsity decomposition* followed by
*feature-map recombination*. The exact equations are not public; the default form below is
**assumed** (../shared/PAPER.md, section 1), with every choice exposed as an option:

    X  in R^{B x C x H x W}                      (deconvolution output)
    a  = gate(W2 . ReLU(W1 . GAP(X)))   in R^{B x C}      channel branch, W1: C -> C/r
    s  = gate(Conv1x1_{C->1}(X))        in R^{B x 1 x H x W}   spatial branch
    Y  = X * a * s          (recombination = product, default)
    Y  = X * (a + s)        (recombination = sum)

With ``gate = relu`` the coefficients are exactly zero wherever the pre-activation is
negative, which is what makes the output *sparse*; ``gate = sigmoid`` (SE/CBAM-style
attention) never produces exact zeros and is the natural ablation.

Initialisation (``init``, assumed): with ReLU gates and PyTorch's default initialisation a
gate whose pre-activation is negative for every sample is *dead* from the start (no
gradient reaches its row), and 38-50% of the channels and, in some seeds, nearly all
spatial positions start that way. ``init = "open"`` (the default) sets the last layer of each
branch (W2, the 1x1 convolution) to weight 0 and bias 1, so every coefficient starts at
gate(1) -- open for every sample and position (with ReLU gates SASTM starts as the identity
and sparsity must be learnt); ``init = "default"`` keeps PyTorch's initialisation.
"""

from __future__ import annotations

import torch
from torch import nn

GATES = {"relu": nn.functional.relu, "sigmoid": torch.sigmoid}
INITS = ("open", "default")


class SASTM(nn.Module):
    def __init__(
        self,
        channels: int,
        gate: str = "relu",
        branches: str = "both",
        reduction: int = 4,
        recombination: str = "product",
        init: str = "open",
    ):
        super().__init__()
        if gate not in GATES:
            raise ValueError(f"SASTM gate must be one of {list(GATES)}, got {gate!r}")
        if branches not in ("both", "channel", "spatial"):
            raise ValueError(f"SASTM branches must be both|channel|spatial, got {branches!r}")
        if recombination not in ("product", "sum"):
            raise ValueError(f"SASTM recombination must be product|sum, got {recombination!r}")
        if init not in INITS:
            raise ValueError(f"SASTM init must be one of {list(INITS)}, got {init!r}")
        self.gate_name, self.branches, self.recombination = gate, branches, recombination
        self.init = init
        self.gate = GATES[gate]
        self.use_channel = branches in ("both", "channel")
        self.use_spatial = branches in ("both", "spatial")
        if self.use_channel:
            hidden = max(1, channels // reduction)
            self.fc1 = nn.Linear(channels, hidden)
            self.fc2 = nn.Linear(hidden, channels)
        if self.use_spatial:
            self.spatial = nn.Conv2d(channels, 1, kernel_size=1)
        self.init_gates()
        # Set by probes: the last coefficients are kept for sparsity measurements.
        self.record = False
        self.last: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def init_gates(self) -> None:
        """``init = "open"``: each gate's last pre-activation is 1 for every input."""
        if self.init != "open":
            return
        lasts = ([self.fc2] if self.use_channel else []) + (
            [self.spatial] if self.use_spatial else []
        )
        for last in lasts:
            last.weight.zero_()
            last.bias.fill_(1.0)

    def coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Sparsity decomposition: (channel coefficients B x C x 1 x 1, spatial B x 1 x H x W)."""
        a = s = None
        if self.use_channel:
            pooled = x.mean(dim=(2, 3))  # GAP(X)
            a = self.gate(self.fc2(nn.functional.relu(self.fc1(pooled))))  # gate(W2 ReLU(W1 .))
            a = a[:, :, None, None]
        if self.use_spatial:
            s = self.gate(self.spatial(x))  # gate(Conv1x1(X))
        return a, s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, s = self.coefficients(x)
        # Feature-map recombination.
        if a is not None and s is not None:
            y = x * a * s if self.recombination == "product" else x * (a + s)
        else:
            y = x * (a if a is not None else s)
        if self.record:
            self.last = {"channel": a, "spatial": s, "output": y}
        return y

    def extra_repr(self) -> str:
        return (
            f"gate={self.gate_name}, branches={self.branches}, "
            f"recombination={self.recombination}, init={self.init}"
        )
