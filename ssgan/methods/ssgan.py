"""Self-Sparse GAN (Qian et al. 2021): WGAN-GP whose generator has a SASTM after every
hidden deconvolution (ssgan/models/sastm.py; on the ResNet: ssgan/models/resnet.py); critic, losses and schedule are unchanged."""

from __future__ import annotations

import torch

from ssgan.methods.base import register_method
from ssgan.methods.wgan_gp import WGANGP
from ssgan.models import build_generator
from ssgan.models.sastm import CALIBRATION_BATCH, calibrate
from ssgan.training.seeds import layer_seed


@register_method("ssgan")
class SelfSparseGAN(WGANGP):
    unused_sections = ("stu", "sr")

    def build_generator(self, resolution, channels):
        return build_generator(self.cfg["model"], resolution, channels, sastm=self.cfg["sastm"])

    def build_networks(self, resolution, channels, init_seed):
        """``sastm.init: balanced`` calibrates the seeded SASTMs on a latent batch of their own
        (seed: the init stream and the name ``G.sastm_calibration``), so the calibration uses
        no other stream and a resumed run, which loads the calibrated weights, is unchanged."""
        G, D = super().build_networks(resolution, channels, init_seed)
        if self.cfg["sastm"]["init"] == "balanced":
            gen = torch.Generator().manual_seed(layer_seed(init_seed, "G.sastm_calibration"))
            calibrate(G, torch.randn(CALIBRATION_BATCH, self.cfg["model"]["z_dim"], generator=gen))
        return G, D
