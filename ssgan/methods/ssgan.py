"""Self-Sparse GAN (Qian et al. 2021): WGAN-GP whose generator has a SASTM after every
hidden deconvolution (ssgan/models/sastm.py; on the ResNet: ssgan/models/resnet.py); critic, losses and schedule are unchanged."""

from __future__ import annotations

from ssgan.methods.base import register_method
from ssgan.methods.wgan_gp import WGANGP
from ssgan.models import build_generator


@register_method("ssgan")
class SelfSparseGAN(WGANGP):
    unused_sections = ("stu", "sr")

    def build_generator(self, resolution, channels):
        return build_generator(self.cfg["model"], resolution, channels, sastm=self.cfg["sastm"])
