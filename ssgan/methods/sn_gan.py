"""SN-GAN (Miyato et al. 2018), SR-GAN's baseline: the same DCGAN networks, spectral
normalisation on every critic layer, hinge loss, no gradient penalty.

Spectral norm: PyTorch's parametrization, W_mat = W reshaped to (out, -1), one power iteration
per forward in training mode with a persistent u (a buffer: in the state dict, hence in every
checkpoint), the layer uses W / sigma. Hinge loss:
    critic     L_D = E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]
    generator  L_G = -E[D(G(z))]
Adam 2e-4, betas (0, 0.9), n_critic 5 and no normalisation layer in the critic are this
method's own defaults (``per_method`` in ssgan/config/defaults.yaml), so a suite can change them.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ssgan.methods.base import Models, register_method
from ssgan.methods.wgan_gp import WGANGP
from ssgan.training.seeds import init_layers, layer_seed


def hinge_critic_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    return torch.relu(1 - d_real).mean() + torch.relu(1 + d_fake).mean()


def add_spectral_norm(D: nn.Module, init_seed: int | None = None) -> nn.Module:
    """Spectral normalisation on every convolution and linear layer of D (in place). With
    ``init_seed`` the power iteration's starting vectors u, v are drawn from the layer's own
    seed and the global RNG is left as it was (ssgan/training/seeds.py); without, from the global RNG."""
    for name, m in D.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if init_seed is None:
                spectral_norm(m, n_power_iterations=1)
                continue
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(layer_seed(init_seed, f"D.{name}.sn"))
                spectral_norm(m, n_power_iterations=1)
    return D


@register_method("sn_gan")
class SNGAN(WGANGP):
    unused_sections = ("sastm", "stu", "sr")

    def build_critic(self, resolution, channels):
        return add_spectral_norm(super().build_critic(resolution, channels))

    def build_networks(self, resolution, channels, init_seed):
        """The critic's weights are initialised before the parametrization wraps them, layer by
        layer as WGAN-GP's (same names: a paired run starts from the same critic weights)."""
        G = init_layers(self.build_generator(resolution, channels), init_seed, "G")
        D = init_layers(super().build_critic(resolution, channels), init_seed, "D")
        return G, add_spectral_norm(D, init_seed)

    def critic_loss(self, m: Models, real: torch.Tensor, gen: torch.Generator):
        with torch.no_grad():
            fake = m.G(self.sample_z(real.shape[0], gen, real.device))
        d_real, d_fake = m.D(real).float(), m.D(fake).float()  # fp32 losses under bf16
        return hinge_critic_loss(d_real, d_fake), {
            "gradient_penalty": torch.zeros((), device=real.device),  # none: a log column
            "wasserstein": d_real.mean() - d_fake.mean(),
        }
