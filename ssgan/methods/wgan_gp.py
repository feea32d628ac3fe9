"""WGAN-GP (Gulrajani et al. 2017): the paper's baseline.

Critic loss   L_D = E[D(G(z))] - E[D(x)] + lambda * E[(||grad_xhat D(xhat)||_2 - 1)^2],
              xhat = alpha * x + (1 - alpha) * G(z), alpha ~ U[0, 1] per sample;
generator     L_G = -E[D(G(z))];  n_critic critic steps per generator step.
"""

from __future__ import annotations

import torch

from ssgan.methods.base import Method, Models, register_method
from ssgan.models import Critic, Generator


def gradient_penalty(
    D, real: torch.Tensor, fake: torch.Tensor, gen: torch.Generator
) -> torch.Tensor:
    """E[(||grad D(xhat)||_2 - 1)^2] on uniform interpolates of real and fake samples."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, generator=gen, device=real.device)
    xhat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(xhat).sum(), xhat, create_graph=True)
    return ((grad.float().flatten(1).norm(2, dim=1) - 1) ** 2).mean()  # fp32 under bf16


@register_method("wgan_gp")
class WGANGP(Method):
    unused_sections = ("sastm", "stu", "sr")

    def build_generator(self, resolution, channels):
        m = self.cfg["model"]
        return Generator(resolution, channels, m["width"], m["z_dim"], sastm=None)

    def build_critic(self, resolution, channels):
        m = self.cfg["model"]
        return Critic(resolution, channels, m["width"], norm=m["critic_norm"])

    def sample_z(self, n: int, gen: torch.Generator, device) -> torch.Tensor:
        return torch.randn(n, self.cfg["model"]["z_dim"], generator=gen, device=device)

    def critic_step(self, m: Models, real: torch.Tensor, gen: torch.Generator) -> dict:
        with torch.no_grad():
            fake = m.G(self.sample_z(real.shape[0], gen, real.device))
        wasserstein = m.D(real).float().mean() - m.D(fake).float().mean()
        gp = gradient_penalty(m.D, real, fake, gen)
        loss = -wasserstein + self.cfg["train"]["gp_lambda"] * gp
        m.opt_D.zero_grad(set_to_none=False)  # in place: see Method.eager_iteration
        loss.backward()
        m.opt_D.step()
        return {
            "critic_loss": loss.detach(),
            "gradient_penalty": gp.detach(),
            "wasserstein": wasserstein.detach(),
        }

    def generator_step(self, m: Models, batch_size: int, gen: torch.Generator, device) -> dict:
        for p in m.D.parameters():  # no critic gradients are needed for the generator step
            p.requires_grad_(False)
        try:
            loss = -m.D(m.G(self.sample_z(batch_size, gen, device))).float().mean()
            m.opt_G.zero_grad(set_to_none=False)
            loss.backward()
            m.opt_G.step()
        finally:  # else an exception here leaves a critic that later steps cannot train
            for p in m.D.parameters():
                p.requires_grad_(True)
        return {"generator_loss": loss.detach()}

    def train_iteration(self, m, next_batch, gen, iteration):
        for _ in range(self.cfg["train"]["n_critic"]):
            real = next_batch()
            stats = self.critic_step(m, real, gen)
            self.after_critic_step(m, iteration)
        stats.update(self.generator_step(m, real.shape[0], gen, real.device))
        self.after_generator_step(m, iteration)
        return stats
