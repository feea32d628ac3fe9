"""Networks: the DCGAN family, the ResNet SN-GAN family and the SASTM module; ``build_generator``
and ``build_critic`` pick the family by ``model.arch``."""

from torch import nn

from ssgan.models.dcgan import Critic, Generator, count_parameters
from ssgan.models.resnet import ResNetCritic, ResNetGenerator
from ssgan.models.sastm import SASTM

ARCHS = ("dcgan", "resnet")


def build_generator(model: dict, resolution: int, channels: int, sastm: dict | None) -> nn.Module:
    """The generator of ``model.arch`` (``model`` is the config's model section)."""
    if model.get("arch", "dcgan") == "resnet":
        return ResNetGenerator(resolution, channels, model["resnet_g_width"], model["z_dim"], sastm)
    sastm = None if sastm is None else {k: v for k, v in sastm.items() if k != "resnet_after"}
    return Generator(resolution, channels, model["width"], model["z_dim"], sastm=sastm)


def build_critic(model: dict, resolution: int, channels: int) -> nn.Module:
    if model.get("arch", "dcgan") == "resnet":
        return ResNetCritic(resolution, channels, model["resnet_d_width"])
    return Critic(resolution, channels, model["width"], norm=model["critic_norm"])


__all__ = [
    "ARCHS",
    "Critic",
    "Generator",
    "ResNetCritic",
    "ResNetGenerator",
    "SASTM",
    "build_critic",
    "build_generator",
    "count_parameters",
]
