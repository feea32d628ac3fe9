"""STU-GAN (Liu et al., "Don't Be So Dense", arXiv 2203.02770): sparse-to-sparse training.

The generator's convolution weights are sparse from the first step at a fixed budget
(``stu.density_g``, ERK per layer), and so are the critic's when ``stu.density_d`` < 1; the
active weights are explored during training: every ``stu.update_every`` generator iterations
each masked layer prunes the fraction p_t of its active weights with the smallest |w| and
regrows as many (G: largest |gradient| of the last generator step, D: at random), p_t
following a cosine from ``stu.death_rate`` to ``stu.death_rate_min`` over the run.
Networks, losses and schedule are WGAN-GP's (ssgan/methods/wgan_gp.py): the reference uses
SN-GAN/BigGAN, this suite applies the method to its DCGAN networks (docs/assumptions.md).
Masks and exploration: ssgan/methods/sparse_masks.py. Records: ``stu_masks.csv`` (one row per
masked layer at iteration 0 and at every exploration) and run.json's ``method_summary``.
"""

from __future__ import annotations

from ssgan.methods.base import register_method
from ssgan.methods.sparse_masks import MASK_COLUMNS, SparseMasks, cosine_death_rate
from ssgan.methods.wgan_gp import WGANGP
from ssgan.training import seeds


@register_method("stu_gan")
class STUGAN(WGANGP):
    unused_sections = ("sastm", "sr", "sn")
    record_files = {"stu_masks.csv": MASK_COLUMNS}

    def __init__(self, cfg: dict):
        super().__init__(cfg)
        self.sparse: dict[str, SparseMasks] = {}
        self.pending: list[dict] = []

    def optimizers(self, G, D):
        """Adam as WGAN-GP's; the masks are drawn (ERK, seeded by the run's seed) and applied
        here, on the networks the optimizers will step (as the reference wraps its optimizer)."""
        opts = super().optimizers(G, D)
        s, init = self.cfg["stu"], seeds.stream_seed(self.cfg["seed"], "init")
        self.sparse = {
            "G": SparseMasks(G, s["density_g"], init, "G", s["mask_linear"]),
            "D": SparseMasks(D, s["density_d"], init, "D", s["mask_linear"]),
        }
        return opts

    def death_rate(self, iteration: int) -> float:
        s = self.cfg["stu"]
        total = self.cfg["train"]["iterations"]
        return cosine_death_rate(iteration, total, s["death_rate"], s["death_rate_min"])

    def eager_iteration(self, iteration):
        s = self.cfg["stu"]
        return (  # iterations count from 1: the initial masks (iteration 0) are never explored
            s["explore"]
            and iteration % s["update_every"] == 0
            and iteration < self.cfg["train"]["iterations"]  # no exploration left to train
        )

    def after_critic_step(self, m, iteration):
        self.sparse["D"].apply()

    def after_generator_step(self, m, iteration):
        self.sparse["G"].apply()
        if self.eager_iteration(iteration):
            self.explore(m, iteration)

    def explore(self, m, iteration: int) -> None:
        s, rate = self.cfg["stu"], self.death_rate(iteration)
        nets = [("G", m.opt_G, s["growth_g"]), ("D", m.opt_D, s["growth_d"])]
        for net, opt, growth in nets[: 1 + bool(s.get("explore_d", True))]:
            sparse = self.sparse[net]
            changes = sparse.explore(rate, growth, iteration, opt if s["reset_adam"] else None)
            self.pending += sparse.rows(iteration, changes, rate)

    # --- records and checkpoints ----------------------------------------------------------
    def drain_rows(self, m, iteration, probe):
        if probe and iteration == 0:  # the initial (ERK) masks
            for sparse in self.sparse.values():
                self.pending += sparse.rows(0, [], self.death_rate(0))
        rows, self.pending = self.pending, []
        return {"stu_masks.csv": rows}

    def summary(self, m):
        G, D = self.sparse["G"].counts(), self.sparse["D"].counts()
        out = {
            "params_total": G["params"] + D["params"],
            "params_active": G["active"] + D["active"],
        }
        for name, c in (("generator", G), ("critic", D)):
            out[f"{name}_params"] = c["params"]
            out[f"{name}_active"] = c["active"]
            out[f"{name}_masked"] = c["masked"]
            out[f"{name}_masked_active"] = c["masked_active"]
            out[f"{name}_itop_rate"] = c["ever_active"] / c["masked"] if c["masked"] else None
        return out

    def update_ema(self, m, iteration):
        """The moving average stays as sparse as G: masked like G's weights (the reference's
        sparse EMA), so it is 0 wherever G's mask is."""
        super().update_ema(m, iteration)
        if not self.ema:  # no moving average (train.ema_decay null): nothing to mask
            return
        for name, mask in self.sparse["G"].masks.items():
            if name in self.ema:
                self.ema[name].mul_(mask)

    def state_dict(self):
        out = {net: sparse.state_dict() for net, sparse in self.sparse.items()}
        return {**super().state_dict(), **out}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        for net, sparse in self.sparse.items():
            sparse.load_state_dict(state[net])
