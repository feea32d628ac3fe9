"""WGAN-GP (Gulrajani et al. 2017): the paper's baseline.

Critic loss   L_D = E[D(G(z))] - E[D(x)] + lambda * E[(||grad_xhat D(xhat)||_2 - 1)^2],
              xhat = alpha * x + (1 - alpha) * G(z), alpha ~ U[0, 1] per sample;
generator     L_G = -E[D(G(z))];  n_critic critic steps per generator step.

Recipe options every method inherits (``train.*``): the generator step's batch
(``g_batch_size``, null = ``batch_size``, the critic's); gradient accumulation (``accumulate``
= k: each critic and generator step sums the gradients of k micro-batches, each loss divided
by k, then steps once: the gradient of one batch k times the size); the learning rate of both
optimizers (``lr_decay: linear``: lr * (1 - (i - 1) / iterations) at generator iteration i,
from lr at the first to lr / iterations at the last, as Mimicry and the SR-GAN code decay it);
an exponential moving average of G (``ema_decay``, null = none; ``ema_start``): after each
generator step, every floating-point parameter and buffer e <- G's value while the iteration
is <= ema_start, else e <- decay * e + (1 - decay) * G's value (integer buffers copied). It is
part of the method's state (``state_dict``: in every checkpoint, resumed bitwise). Both are
CUDA-graph safe: the learning rate and the average's weight (1 up to ema_start, a lerp of
weight 1 being an exact copy; then 1 - decay) are device tensors set before each iteration
(``before_iteration``), and the average is updated in place with that weight, eagerly or
replayed: the same arithmetic either way.
"""

from __future__ import annotations

import torch

from ssgan.methods.base import Method, Models, register_method
from ssgan.models import build_critic, build_generator


def gradient_penalty(
    D, real: torch.Tensor, fake: torch.Tensor, gen: torch.Generator, alpha=None
) -> torch.Tensor:
    """E[(||grad D(xhat)||_2 - 1)^2] on uniform interpolates of real and fake samples
    (``alpha``: the interpolation weights, B x 1 x 1 x 1; drawn from ``gen`` when None)."""
    if alpha is None:
        alpha = torch.rand(real.shape[0], 1, 1, 1, generator=gen, device=real.device)
    xhat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(xhat).sum(), xhat, create_graph=True)
    return ((grad.float().flatten(1).norm(2, dim=1) - 1) ** 2).mean()  # fp32 under bf16


@register_method("wgan_gp")
class WGANGP(Method):
    unused_sections = ("sastm", "stu", "sr")

    def build_generator(self, resolution, channels):
        return build_generator(self.cfg["model"], resolution, channels, sastm=None)

    def build_critic(self, resolution, channels):
        return build_critic(self.cfg["model"], resolution, channels)

    def sample_z(self, n: int, gen: torch.Generator, device) -> torch.Tensor:
        return torch.randn(n, self.cfg["model"]["z_dim"], generator=gen, device=device)

    def interpolation_weights(self, n: int, gen: torch.Generator, device) -> torch.Tensor:
        return torch.rand(n, 1, 1, 1, generator=gen, device=device)

    def critic_loss(self, m: Models, real: torch.Tensor, gen: torch.Generator):
        """(loss, its log scalars) of one (micro-)batch of real images."""
        with torch.no_grad():
            fake = m.G(self.sample_z(real.shape[0], gen, real.device))
        wasserstein = m.D(real).float().mean() - m.D(fake).float().mean()
        alpha = self.interpolation_weights(real.shape[0], gen, real.device)
        gp = gradient_penalty(m.D, real, fake, gen, alpha)
        loss = -wasserstein + self.cfg["train"]["gp_lambda"] * gp
        return loss, {"gradient_penalty": gp, "wasserstein": wasserstein}

    def critic_step(self, m: Models, real, gen: torch.Generator) -> dict:
        """One critic optimizer step on ``real``: a batch, or a list of micro-batches whose
        gradients are accumulated (each loss divided by their number). Logs their means."""
        batches = real if isinstance(real, list) else [real]
        m.opt_D.zero_grad(set_to_none=False)  # in place: see Method.eager_iteration
        total: dict[str, torch.Tensor] = {}
        for x in batches:
            loss, stats = self.critic_loss(m, x, gen)
            (loss / len(batches)).backward()
            for key, value in {"critic_loss": loss, **stats}.items():
                total[key] = total.get(key, 0) + value.detach() / len(batches)
        m.opt_D.step()
        return total

    def generator_step(self, m: Models, batch_size: int, gen: torch.Generator, device) -> dict:
        """One generator optimizer step on ``train.accumulate`` micro-batches of ``batch_size``."""
        k = self.cfg["train"]["accumulate"]
        for p in m.D.parameters():  # no critic gradients are needed for the generator step
            p.requires_grad_(False)
        try:
            m.opt_G.zero_grad(set_to_none=False)
            total = 0
            for _ in range(k):
                loss = -m.D(m.G(self.sample_z(batch_size, gen, device))).float().mean()
                (loss / k).backward()
                total = total + loss.detach() / k
            m.opt_G.step()
        finally:  # else an exception here leaves a critic that later steps cannot train
            for p in m.D.parameters():
                p.requires_grad_(True)
        return {"generator_loss": total}

    def __init__(self, cfg: dict):
        super().__init__(cfg)
        self.ema: dict[str, torch.Tensor] = {}  # G's state_dict keys -> the moving average
        self.ema_weight: torch.Tensor | None = None  # this iteration's lerp weight, on G's device

    def before_iteration(self, m: Models, iteration: int) -> None:
        super().before_iteration(m, iteration)
        t = self.cfg["train"]
        if t["ema_decay"] is None:
            return
        if self.ema_weight is None:
            self.ema_weight = torch.empty((), device=next(m.G.parameters()).device)
        self.ema_weight.fill_(1.0 if iteration <= t["ema_start"] else 1.0 - t["ema_decay"])

    @torch.no_grad()
    def update_ema(self, m: Models, iteration: int) -> None:
        """The average after a generator step, weighted by ``ema_weight`` (``before_iteration``
        sets it; ``iteration`` is not read here, so a replayed graph computes what eager code
        does). The first update of a run copies G: the average is allocated then, eagerly."""
        if self.cfg["train"]["ema_decay"] is None:
            return
        if self.ema_weight is None:
            raise RuntimeError("update_ema before before_iteration set the average's weight")
        for key, value in m.G.state_dict().items():
            if key not in self.ema:
                self.ema[key] = value.detach().clone()
            elif value.is_floating_point():
                w = self.ema_weight
                self.ema[key].lerp_(value, w if w.dtype == value.dtype else w.to(value.dtype))
            else:
                self.ema[key].copy_(value)

    def state_dict(self) -> dict:
        return {"ema": dict(self.ema)} if self.ema else {}

    def load_state_dict(self, state: dict) -> None:
        self.ema = {k: v.clone() for k, v in state.get("ema", {}).items()}

    def train_iteration(self, m, next_batch, gen, iteration):
        t = self.cfg["train"]  # learning rate and average weight: before_iteration
        for _ in range(t["n_critic"]):
            reals = [next_batch() for _ in range(t["accumulate"])]
            stats = self.critic_step(m, reals if len(reals) > 1 else reals[0], gen)
            self.after_critic_step(m, iteration)
        g_batch = t["g_batch_size"] or reals[0].shape[0]
        stats.update(self.generator_step(m, g_batch, gen, reals[0].device))
        self.after_generator_step(m, iteration)
        self.update_ema(m, iteration)
        return stats
