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
spatial positions start that way. ``init = "open"`` sets the last layer of each
branch (W2, the 1x1 convolution) to weight 0 and bias 1, so every coefficient starts at
gate(1) -- open for every sample and position (with ReLU gates SASTM starts as the identity
and sparsity must be learnt); ``init = "default"`` keeps PyTorch's initialisation.
``init = "balanced"`` starts from PyTorch's initialisation and then calibrates every
pre-activation of SASTM on a batch of generator inputs (``calibrate``, called by the method
after seeding; data-dependent, as LSUV): each hidden unit of the channel branch and each
gate's pre-activation gets its median over the batch (channel gate c: over samples; the
spatial gate: over samples and positions) subtracted through its bias, and each gate's last
layer is rescaled so its open coefficients average 1. Every gate is then closed for about
half of the inputs and open for the others: exact zeros that depend on the input from the
first step, almost no gate dead for a whole batch, and features passed at their scale.
``balanced`` is a suite variant; the suite's default is the paper's literal reading,
``PAPER_FORM`` (ssgan/config/defaults.yaml, docs/assumptions.md); the module's own default
stays ``open``, which needs no calibration. ``form_name`` names a form by how it differs from
the paper's, for every table, figure and report label (ssgan/analysis/runs.py).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

GATES = {"relu": nn.functional.relu, "sigmoid": torch.sigmoid}
INITS = ("open", "default", "balanced")
CALIBRATION_BATCH = 256  # latents of the balanced init's calibration batch
# The paper's literal reading (docs/assumptions.md): deconv -> SASTM -> BN -> ReLU after every
# hidden deconvolution, ReLU gates, both branches, product, PyTorch's initialisation.
PAPER_FORM = {
    "init": "default",
    "position": "before_bn",
    "gate": "relu",
    "branches": "both",
    "reduction": 4,
    "recombination": "product",
    "on_output": False,
    "resnet_after": "conv1",
}
PAPER_FORM_NAME = "paper form"
_WORDS = {  # option -> value -> words; other values: "option value"
    "init": {"balanced": "balanced", "open": "open gates"},
    "position": {"after_bn": "after BN", "before_bn": "before BN"},
    "gate": {"sigmoid": "sigmoid gate"},
    "branches": {"channel": "channel branch only", "spatial": "spatial branch only"},
    "recombination": {"sum": "sum recombination", "product": "product recombination"},
    "on_output": {True: "also on the output deconvolution", False: "not on the output"},
    "resnet_after": {"block": "on each block's output"},
}


def form_name(opts: dict) -> str:
    """``PAPER_FORM_NAME`` for the paper's form, else what differs from it, in words
    ("balanced, after BN"). Options a record lacks (older runs) are not compared."""
    words = [
        _WORDS.get(k, {}).get(opts[k]) or f"{'r' if k == 'reduction' else k} = {opts[k]}"
        for k, v in PAPER_FORM.items()
        if k in opts and opts[k] != v
    ]
    return ", ".join(words) or PAPER_FORM_NAME


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

    @torch.no_grad()
    def calibrate(self, x: torch.Tensor) -> None:
        """``init = "balanced"``: centre each pre-activation at its median over ``x`` (a batch
        of this module's inputs) and scale each gate's last layer so that the open
        coefficients average 1 over the batch."""
        if self.use_channel:
            pooled = x.mean(dim=(2, 3))
            self.fc1.bias -= self.fc1(pooled).median(dim=0).values
            _centre_scale(self.fc2, self.fc2(nn.functional.relu(self.fc1(pooled))), self.gate)
        if self.use_spatial:
            pre = self.spatial(x).transpose(0, 1).flatten(1)  # 1 x (B*H*W)
            _centre_scale(self.spatial, pre.T, self.gate)

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


def _centre_scale(layer: nn.Module, pre: torch.Tensor, gate) -> None:
    """Subtract the median over dimension 0 from each output of ``layer`` (rows of ``pre``,
    N x outputs); with the ReLU gate, also divide the row by the mean of its open coefficients
    (left unscaled where nothing is open: a constant pre-activation)."""
    median = pre.median(dim=0).values
    layer.bias -= median
    if gate is not nn.functional.relu:  # sigmoid: centred only (every coefficient is open)
        return
    open_ = gate(pre - median)
    mask = open_ > 0
    mean_open = (open_ * mask).sum(0) / mask.sum(0).clamp(min=1)
    scale = torch.where(mean_open > 0, mean_open, torch.ones_like(mean_open))
    layer.weight /= scale.view(-1, *([1] * (layer.weight.dim() - 1)))
    layer.bias /= scale


@torch.no_grad()
def calibrate(G: nn.Module, z: torch.Tensor) -> nn.Module:
    """Calibrate every SASTM of ``G`` whose init is ``balanced``, in forward order (each on the
    inputs it receives once the earlier ones are calibrated), from forward passes of a copy
    of ``G`` in training mode on ``z``: G's own BatchNorm statistics are untouched."""
    Gc = copy.deepcopy(G).train()
    names = [n for n, m in Gc.named_modules() if isinstance(m, SASTM) and m.init == "balanced"]
    for name in names:
        m = Gc.get_submodule(name)
        seen = {}
        hook = m.register_forward_pre_hook(lambda _m, inp, seen=seen: seen.__setitem__("x", inp[0]))
        Gc(z)
        hook.remove()
        m.calibrate(seen["x"])
    for name in names:
        G.get_submodule(name).load_state_dict(Gc.get_submodule(name).state_dict())
    return G
