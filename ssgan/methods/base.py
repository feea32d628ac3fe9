"""The method interface and its registry.

A method decides how G and D are built and how one *generator iteration* runs (its critic
steps included). Training (ssgan/training/loop.py, ssgan/training/step.py) owns everything else: data, RNG,
checkpoints, logging, probes. Hooks for the related methods:
``after_critic_step``/``after_generator_step`` (STU-GAN's weight masks and prune/regrow,
SR-GAN's spectral compensation) and ``state_dict``/``load_state_dict`` (their extra state,
saved in checkpoints, tensors and plain values only).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ssgan.errors import ConfigError
from ssgan.probes import spectral
from ssgan.training.seeds import init_layers

METHODS: dict[str, type[Method]] = {}


def register_method(name: str):
    """Register a ``Method`` subclass under ``name``. A name taken by another module's method is
    refused (a plugin cannot replace a built-in method); the same module registering it again
    (imported anew) replaces its own."""

    def deco(cls):
        taken = METHODS.get(name)
        if taken is not None and taken.__module__ != cls.__module__:
            raise ConfigError(
                f"method name {name!r} is already registered by {taken.__module__} "
                f"(class {taken.__qualname__}); {cls.__module__} must register its method "
                f"under another name"
            )
        check_section(cls)
        cls.name = name
        METHODS[name] = cls
        return cls

    return deco


SECTION_FIELDS = ("name", "defaults", "choices", "positive_int")


def check_section(cls) -> None:
    """A method's ``config_section`` declaration is well formed, and a section name declared by
    another registered method is declared alike (a subclass inherits its parent's)."""
    decl = cls.config_section
    if decl is None:
        return
    where = f"{cls.__module__}.{cls.__qualname__}.config_section"
    if not isinstance(decl, dict) or not isinstance(decl.get("name"), str):
        raise ConfigError(f"{where} must be a mapping with a 'name' (the section), got {decl!r}")
    if not decl["name"].isidentifier() or not isinstance(decl.get("defaults"), dict):
        raise ConfigError(f"{where} needs a section name and its 'defaults' (a mapping)")
    extra = set(decl) - set(SECTION_FIELDS)
    rules = [*(decl.get("choices") or {}), *(decl.get("positive_int") or ())]
    unknown = [k for k in rules if k not in decl["defaults"]] + sorted(extra)
    nested = [k for k, v in decl["defaults"].items() if isinstance(v, dict)]
    if unknown or nested:
        raise ConfigError(
            f"{where}: unknown field or key(s) {', '.join(map(str, unknown + nested))} "
            f"(fields: {', '.join(SECTION_FIELDS)}; rules name keys of 'defaults', whose values "
            f"are plain values)"
        )
    for other in METHODS.values():
        theirs = other.config_section
        same = theirs is decl or other.__module__ == cls.__module__  # inherited, or re-imported
        if theirs is not None and theirs["name"] == decl["name"] and not same:
            raise ConfigError(
                f"{where}: config section {decl['name']!r} is already declared by "
                f"{other.__module__}.{other.__qualname__}; choose another section name"
            )


def declared_sections() -> dict[str, dict]:
    """Section name -> declaration, of the registered methods' own config sections."""
    return {
        c.config_section["name"]: c.config_section for c in METHODS.values() if c.config_section
    }


def get_method(name: str, cfg: dict) -> Method:
    if name not in METHODS:
        raise KeyError(f"unknown method {name!r}; known: {', '.join(sorted(METHODS))}")
    return METHODS[name](cfg)


def learning_rate(train: dict, iteration: int) -> float:
    """The learning rate of generator iteration ``iteration`` (1-based): ``train.lr``, or with
    ``train.lr_decay: linear`` lr * (1 - (iteration - 1) / train.iterations)."""
    if train.get("lr_decay", "none") == "none":
        return train["lr"]
    return train["lr"] * (1 - (iteration - 1) / train["iterations"])


def set_learning_rates(m: Models, train: dict, iteration: int) -> None:
    """Both optimizers at ``learning_rate`` (every iteration: a resumed run recomputes it). A
    graphed step holds each group's lr as a device tensor (ssgan/training/step.py): the value is
    written into it in place, outside the graph, which reads it at every replay."""
    if train.get("lr_decay", "none") == "none":
        return
    lr = learning_rate(train, iteration)
    for opt in (m.opt_G, m.opt_D):
        for group in opt.param_groups:
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr


@dataclass
class Models:
    G: nn.Module
    D: nn.Module
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer


class Method:
    name = "base"
    # CSV files this method writes into the run directory (file -> columns), beside the
    # probes every method writes (ssgan/training/run_files.py CSV_FILES); rows come from ``drain_rows``.
    record_files: dict[str, list[str]] = {}
    # Config sections this method never reads: left out of its runs' config hash, so an edit
    # there reruns only the runs it can change (WGAN-GP ignores sastm.*).
    unused_sections: tuple[str, ...] = ()
    # How tables and figures show the method when ssgan/analysis has no entry for it (a
    # plugin's method): its name in tables and legends, its colour (None: one drawn from the
    # palette, stable for the name) and the claims judged for it (``()``: FID only, claim C0).
    display_name: str | None = None
    color: str | None = None
    claims: tuple[str, ...] = ()
    # The logged losses in closed form for a linear critic D(x) = <w, x> + b, as a function
    # (cfg, w, b, real, fake_critic, fake_generator) -> {"wasserstein", "gradient_penalty",
    # "critic_loss", "generator_loss"}: tests/test_training_direction.py checks
    # ``train_iteration`` against it for a method whose loss family it does not know.
    reference_losses = None
    # A config section of the method's own, declared where the method is (a plugin's method;
    # the built-ins' sastm/stu/sr are in defaults.yaml): {"name": "lp", "defaults": {key:
    # value}, "choices": {key: (allowed, ...)}, "positive_int": (key, ...)}. Its keys are config
    # keys like the package's (``lp.key=...`` on the command line, ``lp:`` in a suite's
    # defaults, an entry or a variant), typed by their defaults, checked by the rules and by
    # ``check_config``; unknown keys are refused; only runs of the declaring method (and its
    # subclasses) hash the section.
    config_section: dict | None = None

    @classmethod
    def check_config(cls, cfg: dict) -> None:
        """Checks of a resolved run config of this method beyond the declared rules: raise
        ``ConfigError`` (or ValueError) naming the key."""

    def __init__(self, cfg: dict):
        self.cfg = cfg

    # --- construction -------------------------------------------------------------------
    def build_generator(self, resolution: int, channels: int) -> nn.Module:
        raise NotImplementedError

    def build_critic(self, resolution: int, channels: int) -> nn.Module:
        raise NotImplementedError

    def build_networks(self, resolution: int, channels: int, init_seed: int):
        """(G, D) on the CPU, every layer initialised from its own seed (ssgan/training/seeds.py), so
        layers that methods share start equal for the same ``init_seed``."""
        G = init_layers(self.build_generator(resolution, channels), init_seed, "G")
        D = init_layers(self.build_critic(resolution, channels), init_seed, "D")
        return G, D

    def optimizers(self, G: nn.Module, D: nn.Module):
        t = self.cfg["train"]
        betas = (t["beta1"], t["beta2"])
        return (
            torch.optim.Adam(G.parameters(), lr=t["lr"], betas=betas),
            torch.optim.Adam(D.parameters(), lr=t["lr"], betas=betas),
        )

    # --- one generator iteration --------------------------------------------------------
    def train_iteration(self, m: Models, next_batch, gen: torch.Generator, iteration: int) -> dict:
        """Runs n_critic critic steps and one generator step; returns detached scalars."""
        raise NotImplementedError

    def batches_per_iteration(self) -> int:
        """Batches ``train_iteration`` draws (training fills that many static buffers)."""
        return self.cfg["train"]["n_critic"] * self.cfg["train"].get("accumulate", 1)

    def before_iteration(self, m: Models, iteration: int) -> None:
        """Host-side settings of generator iteration ``iteration``, run before it (eagerly or
        replayed) and outside any CUDA graph: values that change with the iteration are written
        in place into tensors the iteration reads (the learning rate, ``set_learning_rates``).
        ``train_iteration`` itself must read the iteration number only in iterations that
        ``eager_iteration`` marks: a graph replays the branches of the one it captured."""
        set_learning_rates(m, self.cfg["train"], iteration)

    def graphable(self) -> bool:
        """False where no iteration can be replayed from a CUDA graph (every registered method
        can: what changes between iterations is set by ``before_iteration``)."""
        return True

    def eager_iteration(self, iteration: int) -> bool:
        """True where this iteration's hooks do work that is not a fixed sequence of kernels
        (a data-dependent prune/regrow, an SVD, Python-side bookkeeping): with CUDA graphs such
        an iteration runs eagerly, on the same tensors, and the others replay one graph
        (ssgan/training/step.py). Hooks must then change tensors in place (never replace a parameter or
        its storage) and do nothing iteration-dependent in the other iterations."""
        return False

    # --- hooks for methods with extra state ---------------------------------------------
    def after_critic_step(self, m: Models, iteration: int) -> None:
        pass

    def after_generator_step(self, m: Models, iteration: int) -> None:
        pass

    def drain_rows(self, m: Models, iteration: int, probe: bool) -> dict[str, list[dict]]:
        """Rows for ``record_files`` since the last call (file -> rows). Training calls it at
        every probe (``probe=True``: add rows measured now) and before every write of the CSVs
        (checkpoint, divergence, end), so the rows on disk always match the checkpoint."""
        return {}

    def critic_spectrum(self, m: Models, iteration: int) -> tuple[list[dict], list[dict]]:
        """The critic spectra the probe at ``iteration`` records (``spectral.spectrum_rows``):
        the critic as it is now, unless the method changed its spectrum on purpose in this
        iteration (SR-GAN's compensation), in which case the spectrum it had before."""
        return spectral.spectrum_rows(m.D, iteration)

    def summary(self, m: Models) -> dict:
        """Plain values recorded in run.json under ``method_summary`` (e.g. active weights),
        refreshed whenever the record is written at a checkpoint and at the end."""
        return {}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass
