"""ResNet SN-GAN generator and critic (Miyato et al. 2018), as in the STU-GAN and SR-GAN
reference code and Mimicry's ``sngan_32``: the networks of the seed papers' own tables.

Generator (G width Wg, reference 256):
    z -> Linear(z, Wg*b*b) -> (Wg x b x b)
      -> [up-block] x 3 -> BN -> ReLU -> Conv3x3(Wg -> C) -> tanh
    up-block(x) = Conv3x3(ReLU(BN(Conv3x3(up(ReLU(BN(x))))))) + Conv1x1(up(x))
with ``up`` the nearest-neighbour 2x upsampling and the 1x1 shortcut learnable (the block
upsamples). Critic (D width Wd, reference 128):
    x -> optimized block -> [block, downsampling] -> block -> block -> ReLU -> sum over (H, W)
      -> Linear(Wd -> 1, no bias)
    optimized block(x) = pool(Conv3x3(ReLU(Conv3x3(x)))) + Conv1x1(pool(x))
    block(x)           = [pool](Conv3x3(ReLU(Conv3x3(ReLU(x))))) + shortcut(x)
with ``pool`` 2x2 average pooling; the shortcut is a learnable 1x1 convolution (then pool) in
the downsampling block and the identity in the other two. Convolutions and linear layers have
biases except the critic's last. At 32 px RGB with the reference widths G has 4,276,739
parameters (3,742,464 in convolution kernels, 528,384 in the linear layer) and D 1,053,824
(1,052,416 in convolution kernels), the reference's counts (tests/test_resnet.py).

Resolutions: 32 px, b = 4; 48 px (STL-10), b = 6 with the same three blocks, as this suite's
DCGAN (the SN-GAN STL-10 convention of a 6x6 base); the critic is the same network, its sum
pooling reads any size. This is *not* the wider 48 px layout of Miyato et al. (G 512, D five
blocks to 1024 channels); set the widths to approach it.

Initialisation: Xavier-uniform weights, gain sqrt(2) for the convolutions of the residual
paths and 1 for the shortcuts, the linear layers and the output convolution (the reference,
Mimicry's ``nn.init.xavier_uniform_`` calls); biases keep PyTorch's default. Each layer is
re-initialised from its own seed by ssgan/training/seeds.py ``init_layers`` (through
``reset_parameters``), so layers that two methods share start equal.

SASTM (Self-Sparse GAN) placement, ``sastm.resnet_after``: ``conv1`` puts one after the first
convolution of every up-block, the convolution that reads the upsampled map (with
``sastm.position``: before or after that block's second BN); ``block`` puts one on every
up-block's output (residual plus shortcut). ``sastm.on_output`` adds one after the output
convolution.
"""

from __future__ import annotations

import math

from torch import nn
from torch.nn import functional as F

from ssgan.models.sastm import SASTM

LAYOUT = {32: 4, 48: 6}  # resolution -> base size of the generator (three up-blocks)
SASTM_PLACES = ("conv1", "block")


def base_size(resolution: int) -> int:
    if resolution not in LAYOUT:
        raise ValueError(f"the ResNet family has resolutions {sorted(LAYOUT)}, got {resolution}")
    return LAYOUT[resolution]


class XavierConv2d(nn.Conv2d):
    """A convolution whose ``reset_parameters`` draws Xavier-uniform weights with ``gain``."""

    def __init__(self, *args, gain: float = 1.0, **kwargs):
        self.gain = gain
        super().__init__(*args, **kwargs)

    def reset_parameters(self) -> None:
        super().reset_parameters()  # the bias keeps PyTorch's default
        nn.init.xavier_uniform_(self.weight, self.gain)


class XavierLinear(nn.Linear):
    def __init__(self, *args, gain: float = 1.0, **kwargs):
        self.gain = gain
        super().__init__(*args, **kwargs)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        nn.init.xavier_uniform_(self.weight, self.gain)


RES_GAIN = math.sqrt(2.0)


def _conv(c_in: int, c_out: int, k: int, gain: float, bias: bool = True) -> XavierConv2d:
    return XavierConv2d(c_in, c_out, k, 1, k // 2, bias=bias, gain=gain)


class UpBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, sastm: dict | None = None):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(c_in), nn.BatchNorm2d(c_out)
        self.conv1 = _conv(c_in, c_out, 3, RES_GAIN)
        self.conv2 = _conv(c_out, c_out, 3, RES_GAIN)
        self.shortcut = _conv(c_in, c_out, 1, 1.0)
        opts = dict(sastm or {})
        position = opts.pop("position", "before_bn")
        place = opts.pop("resnet_after", "conv1")
        opts.pop("on_output", None)
        self.sastm_pre_bn = self.sastm_post_bn = self.sastm_out = None
        if sastm is not None:
            if place == "block":
                self.sastm_out = SASTM(c_out, **opts)
            elif position == "before_bn":
                self.sastm_pre_bn = SASTM(c_out, **opts)
            else:
                self.sastm_post_bn = SASTM(c_out, **opts)

    def forward(self, x):
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2, mode="nearest")
        h = self.conv1(h)
        if self.sastm_pre_bn is not None:
            h = self.sastm_pre_bn(h)
        h = self.bn2(h)
        if self.sastm_post_bn is not None:
            h = self.sastm_post_bn(h)
        h = self.conv2(F.relu(h))
        out = h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))
        return out if self.sastm_out is None else self.sastm_out(out)


class ResNetGenerator(nn.Module):
    def __init__(
        self,
        resolution: int = 32,
        channels: int = 3,
        width: int = 256,
        z_dim: int = 128,
        sastm: dict | None = None,
    ):
        """``sastm``: None, else the SASTM options (defaults.yaml) incl. ``resnet_after``."""
        super().__init__()
        self.base, self.z_dim, self.width = base_size(resolution), z_dim, width
        if sastm is not None and sastm.get("resnet_after", "conv1") not in SASTM_PLACES:
            raise ValueError(
                f"sastm.resnet_after must be one of {list(SASTM_PLACES)}, "
                f"got {sastm['resnet_after']!r}"
            )
        self.fc = XavierLinear(z_dim, width * self.base * self.base, gain=1.0)
        self.blocks = nn.Sequential(*(UpBlock(width, width, sastm) for _ in range(3)))
        self.out_bn = nn.BatchNorm2d(width)
        out = [_conv(width, channels, 3, 1.0)]
        if sastm is not None and sastm.get("on_output", False):
            opts = {k: v for k, v in sastm.items() if k not in ("position", "on_output")}
            opts.pop("resnet_after", None)
            out.append(SASTM(channels, **opts))
        self.out = nn.Sequential(*out)

    def forward(self, z):
        h = self.fc(z).view(z.shape[0], self.width, self.base, self.base)
        h = self.blocks(h)
        return self.out(F.relu(self.out_bn(h))).tanh()


class DownBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, downsample: bool, optimized: bool = False):
        super().__init__()
        self.optimized, self.downsample = optimized, downsample
        self.conv1 = _conv(c_in, c_out, 3, RES_GAIN)
        self.conv2 = _conv(c_out, c_out, 3, RES_GAIN)
        learnable = optimized or downsample or c_in != c_out
        self.shortcut = _conv(c_in, c_out, 1, 1.0) if learnable else None

    def forward(self, x):
        h = x if self.optimized else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        if self.optimized:  # pool, then the 1x1 convolution
            sc = self.shortcut(F.avg_pool2d(x, 2))
        elif self.shortcut is not None:
            sc = self.shortcut(x)
            sc = F.avg_pool2d(sc, 2) if self.downsample else sc
        else:
            sc = x
        return h + sc


class ResNetCritic(nn.Module):
    def __init__(self, resolution: int = 32, channels: int = 3, width: int = 128):
        super().__init__()
        base_size(resolution)
        self.blocks = nn.Sequential(
            DownBlock(channels, width, downsample=True, optimized=True),
            DownBlock(width, width, downsample=True),
            DownBlock(width, width, downsample=False),
            DownBlock(width, width, downsample=False),
        )
        self.fc = XavierLinear(width, 1, bias=False, gain=1.0)

    def forward(self, x):
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))  # global sum pooling
        return self.fc(h).squeeze(1)
