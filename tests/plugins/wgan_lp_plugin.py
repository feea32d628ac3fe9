"""A method from outside the package, written as a user's plugin module is (ssgan/plugins.py):
WGAN-LP (Petzka, Fischer, Lukovnikov 2018), WGAN-GP with the one-sided Lipschitz penalty
    critic     L_D = E[D(G(z))] - E[D(x)] + lambda * E[max(0, ||grad_xhat D(xhat)||_2 - 1)^2]
    generator  L_G = -E[D(G(z))]
on the same interpolates xhat. It overrides one hook, ``critic_loss`` (the loss of one
micro-batch), and inherits everything else from WGAN-GP, so every recipe option
(``train.accumulate``, ``g_batch_size``, ``lr_decay``, ``ema_decay``, ``precision``, CUDA
graphs) works as for WGAN-GP. It registers itself on import and carries what the tests and the
tables need (display name, colour, the losses in closed form for a linear critic), with no
entry anywhere else. Tests name it ``tests.plugins.wgan_lp_plugin`` or, with this folder on
PYTHONPATH, ``wgan_lp_plugin`` (config key ``plugins: [wgan_lp_plugin]``).
"""

from __future__ import annotations

import torch

from ssgan.methods import register_method
from ssgan.methods.base import Models
from ssgan.methods.wgan_gp import WGANGP


def lipschitz_penalty(D, real, fake, alpha: torch.Tensor) -> torch.Tensor:
    """E[max(0, ||grad D(xhat)|| - 1)^2] on the interpolates of weights ``alpha`` (B x 1 x 1 x 1)."""
    xhat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(xhat).sum(), xhat, create_graph=True)
    return torch.relu(grad.float().flatten(1).norm(2, dim=1) - 1).square().mean()  # fp32 norm


def linear_critic_losses(cfg, w, b, real, fake_critic, fake_generator) -> dict:
    """D(x) = <w, x> + b: its gradient is w everywhere, so the penalty is max(0, ||w|| - 1)^2."""

    def D(x):
        return x.flatten(1) @ w + b

    wasserstein = D(real).mean() - D(fake_critic).mean()
    penalty = torch.relu(w.norm() - 1) ** 2
    return {
        "wasserstein": wasserstein,
        "gradient_penalty": penalty,
        "critic_loss": -wasserstein + cfg["train"]["gp_lambda"] * penalty,
        "generator_loss": -D(fake_generator).mean(),
    }


@register_method("wgan_lp")
class WGANLP(WGANGP):
    display_name = "WGAN-LP"
    color = "#937860"
    reference_losses = staticmethod(linear_critic_losses)

    def critic_loss(self, m: Models, real: torch.Tensor, gen: torch.Generator):
        """The loss of one (micro-)batch: WGAN-GP's ``critic_step`` sums these over
        ``train.accumulate`` micro-batches and steps once; the generator step, the learning-rate
        schedule, the moving average, precision and CUDA graphs are WGAN-GP's as well."""
        with torch.no_grad():
            fake = m.G(self.sample_z(real.shape[0], gen, real.device))
        wasserstein = m.D(real).float().mean() - m.D(fake).float().mean()
        alpha = self.interpolation_weights(real.shape[0], gen, real.device)
        penalty = lipschitz_penalty(m.D, real, fake, alpha)
        loss = -wasserstein + self.cfg["train"]["gp_lambda"] * penalty
        return loss, {"gradient_penalty": penalty, "wasserstein": wasserstein}
