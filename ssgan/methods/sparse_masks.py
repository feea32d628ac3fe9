"""Weight masks of dynamic sparse training (STU-GAN, Liu et al. 2022; ../shared/PAPER.md §2).

Every 4-D weight of a network (convolutions and transposed convolutions) gets a 0/1 mask;
linear layers (unless ``stu.mask_linear``), biases and norms stay dense. After every optimizer step the weights are
masked, W <- W * M (gradients are not masked, Adam's state is kept). Exploration prunes the
fraction p_t of each layer's active weights with the smallest |w| and regrows as many at
inactive positions, so a layer's count of active weights never changes.

ERK (Erdos-Renyi-Kernel) per-layer densities: raw score p_l = sum(shape_l) / prod(shape_l);
d_l = eps * p_l with eps = (sum_sparse N_l d - sum_dense N_l (1 - d)) / sum_sparse p_l N_l,
where layers whose d_l would exceed 1 become dense (largest p_l first) and eps is recomputed.
Unlike the reference (i.i.d. Bernoulli draws), each layer keeps exactly round(d_l N_l) weights:
the top of a random score seeded per layer from the run's seed.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ssgan.probes.generator import generator_convolutions
from ssgan.probes.spectral import critic_convolutions
from ssgan.training.seeds import layer_seed

MASK_COLUMNS = [
    "iteration",
    "network",
    "layer",
    "weights",
    "active",
    "density",
    "pruned",
    "regrown",
    "death_rate",
    "itop_rate",
]


def masked_weights(net: nn.Module, linear: bool = False) -> dict[str, nn.Parameter]:
    """Parameter name -> every 4-D weight of ``net`` (conv and transposed conv kernels; the raw
    stored weight under spectral norm), and with ``linear`` every linear layer's weight."""
    linears = set()
    if linear:
        for mod_name, mod in net.named_modules():
            if isinstance(mod, nn.Linear):
                p = getattr(mod, "parametrizations", None)
                leaf = "parametrizations.weight.original" if p is not None else "weight"
                linears.add(f"{mod_name}.{leaf}" if mod_name else leaf)
    return {n: p for n, p in net.named_parameters() if p.dim() == 4 or n in linears}


def layer_names(net: nn.Module, prefix: str, params) -> dict[str, str]:
    """Parameter name -> the layer's name in every other record: deconv1, ... (or conv1, ... in
    a ResNet G) as the generator probes name them, conv1, ... as the critic's spectrum does; a
    linear layer keeps its module name (``fc``)."""
    convs = generator_convolutions(net) if prefix == "G" else critic_convolutions(net)
    by_module = {id(m): name for name, m in convs}
    modules = dict(net.named_modules())
    out = {}
    for p in params:
        owner = p.removesuffix(".weight").removesuffix(".parametrizations.weight.original")
        out[p] = by_module.get(id(modules.get(owner)), owner)
    return out


def erk_densities(shapes: dict[str, tuple[int, ...]], density: float) -> dict[str, float]:
    """Per-layer ERK densities whose weighted mean over the layers is ``density``."""
    if density >= 1:
        return {name: 1.0 for name in shapes}
    size = {name: math.prod(s) for name, s in shapes.items()}
    raw = {name: sum(s) / size[name] for name, s in shapes.items()}
    dense: set[str] = set()
    while True:
        sparse = [name for name in shapes if name not in dense]
        budget = sum(size[n] * density for n in sparse) - sum(
            size[n] * (1 - density) for n in dense
        )
        eps = budget / sum(raw[n] * size[n] for n in sparse)
        widest = max(sparse, key=lambda n: raw[n])
        if eps * raw[widest] <= 1:
            return {n: 1.0 if n in dense else eps * raw[n] for n in shapes}
        dense.add(widest)


def cosine_death_rate(iteration: int, total: int, start: float, end: float) -> float:
    """p_t: cosine annealing from ``start`` at iteration 0 to ``end`` at ``total``."""
    return end + 0.5 * (start - end) * (1 + math.cos(math.pi * min(iteration, total) / total))


def _random_scores(n: int, seed: int, device) -> torch.Tensor:
    return torch.rand(n, generator=torch.Generator().manual_seed(seed)).to(device)


class SparseMasks:
    """The masks of one network, their ever-active record (in-time over-parameterisation),
    masking and exploration. A network at density 1 has no masks (it stays dense)."""

    def __init__(
        self, net: nn.Module, density: float, init_seed: int, prefix: str, linear: bool = False
    ):
        self.prefix, self.init_seed = prefix, init_seed
        weights = masked_weights(net, linear)
        self.density = erk_densities({n: tuple(w.shape) for n, w in weights.items()}, density)
        self.weights = weights if density < 1 else {}
        self.params = sum(p.numel() for p in net.parameters())
        self.masks: dict[str, torch.Tensor] = {}
        for name, w in self.weights.items():
            keep = min(w.numel(), max(1, round(self.density[name] * w.numel())))
            score = _random_scores(w.numel(), layer_seed(init_seed, f"mask.{prefix}.{name}"), "cpu")
            mask = torch.zeros(w.numel(), dtype=w.dtype)
            mask[torch.argsort(score, descending=True, stable=True)[:keep]] = 1
            self.masks[name] = mask.view_as(w).to(w.device)
        self.ever = {name: mask.bool() for name, mask in self.masks.items()}
        self.names = layer_names(net, prefix, self.masks)
        self.apply()

    @torch.no_grad()
    def apply(self) -> None:
        """W <- W * M for every masked weight (after each optimizer step)."""
        for name, w in self.weights.items():
            w.mul_(self.masks[name])

    @torch.no_grad()
    def explore(
        self, rate: float, growth: str, iteration: int, optimizer=None
    ) -> list[tuple[str, int, int]]:
        """Per layer, prune the ceil(rate * active) active weights of smallest |w| and regrow as
        many among the positions then inactive: by the largest |gradient| of the last step
        (``growth='gradient'``) or at random. As in the reference, a just-pruned weight may be
        regrown at once (it then keeps its value: nothing changed there), so a layer at
        density 1 never changes. Regrown weights were inactive, hence 0; with ``optimizer``
        their Adam moments restart at 0 too. Returns (layer, pruned, regrown) per layer,
        counting the positions that actually turned off and on (equal numbers)."""
        out = []
        for name, w in self.weights.items():
            old = self.masks[name].view(-1).bool()
            n = math.ceil(rate * int(old.sum()))
            weight = w.view(-1)
            inf = torch.full_like(weight, math.inf)
            new = old.clone()
            new[torch.argsort(torch.where(old, weight.abs(), inf), stable=True)[:n]] = False
            if growth == "gradient":
                score = torch.zeros_like(weight) if w.grad is None else w.grad.view(-1).abs()
            else:
                seed = layer_seed(self.init_seed, f"grow.{self.prefix}.{name}.{iteration}")
                score = _random_scores(weight.numel(), seed, w.device)
            score = torch.where(new, torch.full_like(score, -1.0), score)
            new[torch.argsort(score, descending=True, stable=True)[:n]] = True
            grown = new & ~old
            self.masks[name].copy_(new.view_as(w))
            weight.mul_(new)  # pruned weights -> 0; regrown ones were inactive, i.e. 0
            state = optimizer.state.get(w, {}) if optimizer is not None else {}
            for key in ("exp_avg", "exp_avg_sq"):
                if key in state:
                    state[key].view(-1)[grown] = 0
            self.ever[name] |= new.view_as(w)
            out.append((name, int((old & ~new).sum()), int(grown.sum())))
        return out

    # --- records ------------------------------------------------------------------------
    def rows(self, iteration: int, changes, rate: float) -> list[dict]:
        changes = {name: (p, g) for name, p, g in changes}
        rows = []
        for name, mask in self.masks.items():
            n, active = mask.numel(), int(mask.sum())
            pruned, regrown = changes.get(name, (0, 0))
            rows.append(
                {
                    "iteration": iteration,
                    "network": self.prefix,
                    "layer": self.names[name],
                    "weights": n,
                    "active": active,
                    "density": active / n,
                    "pruned": pruned,
                    "regrown": regrown,
                    "death_rate": rate,
                    "itop_rate": int(self.ever[name].sum()) / n,
                }
            )
        return rows

    def counts(self) -> dict:
        """Parameters of the network, active ones (masked-out weights not counted), masked
        weights, active masked weights and ever-active masked weights."""
        masked = sum(m.numel() for m in self.masks.values())
        active_masked = sum(int(m.sum()) for m in self.masks.values())
        return {
            "params": self.params,
            "active": self.params - masked + active_masked,
            "masked": masked,
            "masked_active": active_masked,
            "ever_active": sum(int(e.sum()) for e in self.ever.values()),
        }

    # --- checkpoints --------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "masks": {n: m.bool().cpu() for n, m in self.masks.items()},
            "ever": {n: e.cpu() for n, e in self.ever.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        for name, mask in self.masks.items():
            mask.copy_(state["masks"][name])
            self.ever[name] = state["ever"][name].to(mask.device).clone()
