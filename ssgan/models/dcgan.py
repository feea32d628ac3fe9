"""DCGAN-style generator and critic for WGAN-GP, one family for 32x32, 48x48 and 64x64.

Generator (assumed architecture, ../shared/PAPER.md):
    z -> Linear -> BN -> ReLU -> (C0 x b x b) -> [Deconv(4, s2) -> (SASTM) -> BN -> ReLU] x n
      -> Deconv(4, s2) -> tanh
with b = 4 for 32/64 and b = 6 for 48 (the SN-GAN STL-10 convention); channels halve at
each upsampling and end at the width W. Critic: [Conv(4, s2) -> (norm) -> LeakyReLU(0.2)] x m
-> Linear; ``norm`` is "none" (the official WGAN-GP 32 px scripts) or "layernorm" (its 64 px
script: layer normalisation over (C, H, W) with a per-channel scale and shift, = GroupNorm
with one group, after every convolution but the first). Never BatchNorm: the gradient
penalty is per-sample.
"""

from __future__ import annotations

from torch import nn

from ssgan.models.sastm import SASTM

LAYOUT = {32: (4, 3), 48: (6, 3), 64: (4, 4)}  # resolution -> (base size, stride-2 layers)
CRITIC_NORMS = ("none", "layernorm")


def layout(resolution: int) -> tuple[int, int]:
    if resolution not in LAYOUT:
        raise ValueError(f"resolution must be one of {sorted(LAYOUT)}, got {resolution}")
    return LAYOUT[resolution]


class Generator(nn.Module):
    def __init__(
        self,
        resolution: int = 32,
        channels: int = 3,
        width: int = 64,
        z_dim: int = 128,
        sastm: dict | None = None,
    ):
        """``sastm``: None for the WGAN-GP generator, else the SASTM options (see defaults.yaml)."""
        super().__init__()
        base, n_up = layout(resolution)
        widths = [width * 2**i for i in reversed(range(n_up))]  # e.g. [4W, 2W, W]
        self.base, self.z_dim = base, z_dim
        self.fc = nn.Linear(z_dim, widths[0] * base * base)
        self.fc_bn = nn.BatchNorm1d(widths[0] * base * base)
        opts = dict(sastm or {})
        position = opts.pop("position", "before_bn")
        on_output = opts.pop("on_output", False)
        blocks = []
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers = [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1)]
            bn = nn.BatchNorm2d(c_out)
            if sastm is not None:
                layers += (
                    [SASTM(c_out, **opts), bn]
                    if position == "before_bn"
                    else [bn, SASTM(c_out, **opts)]
                )
            else:
                layers.append(bn)
            layers.append(nn.ReLU())
            blocks.append(nn.Sequential(*layers))
        self.blocks = nn.Sequential(*blocks)
        out = [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1)]
        if sastm is not None and on_output:
            out.append(SASTM(channels, **opts))
        out.append(nn.Tanh())
        self.out = nn.Sequential(*out)

    def forward(self, z):
        h = nn.functional.relu(self.fc_bn(self.fc(z)))
        h = h.view(z.shape[0], -1, self.base, self.base)
        return self.out(self.blocks(h))


class Critic(nn.Module):
    def __init__(
        self, resolution: int = 32, channels: int = 3, width: int = 64, norm: str = "none"
    ):
        super().__init__()
        if norm not in CRITIC_NORMS:
            raise ValueError(f"critic norm must be one of {list(CRITIC_NORMS)}, got {norm!r}")
        base, n_down = layout(resolution)
        widths = [channels] + [width * 2**i for i in range(n_down)]  # C, W, 2W, 4W(, 8W)
        layers = []
        for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Conv2d(c_in, c_out, 4, 2, 1))
            if norm == "layernorm" and i > 0:
                layers.append(nn.GroupNorm(1, c_out))  # LayerNorm over (C, H, W)
            layers.append(nn.LeakyReLU(0.2))
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(widths[-1] * base * base, 1)

    def forward(self, x):
        return self.fc(self.features(x).flatten(1)).squeeze(1)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
