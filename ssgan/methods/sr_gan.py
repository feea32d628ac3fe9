"""SR-GAN (Liu et al., ICCV 2019): SN-GAN plus spectral compensation of the critic's
convolutions (ssgan/probes/spectral.py; linear layers and G untouched), options under ``sr:``.

When the generator iteration is a multiple of ``sr.every`` the raw stored weight of every
critic convolution is compensated: after each critic update of that iteration, as the
reference code does (``when: after_each_critic_step``), or once after the last one
(``after_critic_steps``). ``mode: static`` sets the top half of the normalised spectrum to 1;
``mode: dynamic`` keeps gamma, the running element-wise max of s / s_1 per layer, which is part
of the method's state (saved in every checkpoint).

A probe at a compensated iteration records the spectrum right before that iteration's first
compensation (``critic_spectrum``): what the critic's updates since the last compensation made
of it. Read after it, the static spectrum's top half is 1 by construction, and claim SR1 (the
fraction of s / s_1 above 0.5) would be >= 0.5 whatever training did.
"""

from __future__ import annotations

import torch

from ssgan.methods.base import Models, register_method
from ssgan.methods.sn_gan import SNGAN
from ssgan.probes import spectral


@register_method("sr_gan")
class SRGAN(SNGAN):
    unused_sections = ("sastm", "stu")

    def __init__(self, cfg: dict):
        super().__init__(cfg)
        self.gamma: dict[str, torch.Tensor] = {}  # dynamic mode: layer -> running max of s/s_1
        self.compensations = 0
        self._critic_steps = 0
        # probe iteration -> its spectrum rows before the first compensation; filled and read
        # within one iteration (probes run before any checkpoint), so never checkpointed
        self._before: dict[int, tuple[list[dict], list[dict]]] = {}

    def probed(self, iteration: int) -> bool:
        """Whether training probes this iteration (as ``Run._loop`` and ``Run.finish`` do)."""
        return (
            iteration % self.cfg["probe"]["every"] == 0
            or iteration == self.cfg["train"]["iterations"]
        )

    def compensate(self, m: Models, iteration: int | None = None) -> None:
        if iteration is not None and self.probed(iteration) and iteration not in self._before:
            self._before = {iteration: spectral.spectrum_rows(m.D, iteration)}
        for name, conv in spectral.critic_convolutions(m.D):
            w = spectral.raw_weight(conv)
            if self.cfg["sr"]["mode"] == "static":
                spectral.compensate_static(w)
            else:
                self.gamma[name] = spectral.compensate_dynamic(w, self.gamma.get(name))
        self.compensations += 1

    def train_iteration(self, m, next_batch, gen, iteration):
        self._critic_steps = 0
        return super().train_iteration(m, next_batch, gen, iteration)

    def eager_iteration(self, iteration: int) -> bool:
        return iteration % self.cfg["sr"]["every"] == 0  # an SVD per critic convolution

    def after_critic_step(self, m: Models, iteration: int) -> None:
        self._critic_steps += 1
        sr = self.cfg["sr"]
        last = self._critic_steps == self.cfg["train"]["n_critic"]
        if self.eager_iteration(iteration) and (sr["when"] == "after_each_critic_step" or last):
            self.compensate(m, iteration)

    def critic_spectrum(self, m: Models, iteration: int) -> tuple[list[dict], list[dict]]:
        before = self._before.pop(iteration, None)
        return before if before is not None else super().critic_spectrum(m, iteration)

    def summary(self, m: Models) -> dict:
        return {"sr_compensations": self.compensations}

    def state_dict(self) -> dict:
        return {
            **super().state_dict(),
            "gamma": dict(self.gamma),
            "compensations": self.compensations,
        }

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.gamma = dict(state["gamma"])  # both keys: every checkpoint holds state_dict()
        self.compensations = int(state["compensations"])
