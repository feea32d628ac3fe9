"""Generators from outside the suite's runs (``ssgan fid --fake FILE``, ``ssgan.fid(G)``):
loading a generator file, finding its latent size, and checking its images.

A generator file is either
  - TorchScript (``.pt``, ``.pth``, ``.jit``: ``torch.jit.script(G).save(path)`` or
    ``torch.jit.trace``), the generative-model format torch-fidelity's CLI takes; loaded with
    ``torch.jit.load``, which runs no pickled code;
  - a Python file ``gen.py`` or ``gen.py:NAME``: NAME (without it, the first of ``generator``,
    ``make_generator``, ``build_generator``, ``Generator`` that the file defines) is an
    ``nn.Module`` or a class or function that returns one when called without arguments (and
    loads its weights itself). The file is run as a module: only give files you trust.
A pickled whole module (``torch.save(G)``) is refused: loading it needs
``torch.load(weights_only=False)``, which runs whatever code the file holds.

The contract is torch-fidelity's generative-model wrapper's, with the suite's range:
``G(z)``, z ~ N(0, I) of shape N x z_dim (or N x z_dim x 1 x 1, tried when the first fails:
DCGAN-style generators that start with a transposed convolution), returns N x C x H x W
images in [-1, 1] (tanh), C x H x W those of the reference (MNIST: 1 x 32 x 32).

The latent size, first hit wins: the given one (``--z-dim``, ``z_dim=``); an int attribute
of G named in ``Z_ATTRS``; the input size of G's first Linear or convolution layer (its
``in_features`` / ``in_channels``), confirmed by a forward pass. Otherwise an error asks for it.
"""

from __future__ import annotations

import importlib.util
import math
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

from ssgan.errors import ConfigError

Z_ATTRS = ("z_dim", "latent_dim", "z_size", "nz", "dim_z", "latent_size", "noise_dim")
NAMES = ("generator", "make_generator", "build_generator", "Generator")
SCRIPT_SUFFIXES = (".pt", ".pth", ".jit")
RANGE_TOLERANCE = 0.01  # outputs may exceed [-1, 1] by this much (they are clamped after it)
PROBE = 2  # latents in the probing forward pass


def load_file(spec: str) -> nn.Module:
    """A generator file (module doc) -> the module."""
    head, sep, name = str(spec).rpartition(".py:")
    path = Path(head + ".py" if sep else str(spec)).expanduser()
    name = name if sep else ""
    if not path.exists():
        raise ConfigError(f"generator file {path} does not exist")
    if path.suffix == ".py":
        return _from_python(path, name or None)
    if path.suffix.lower() == ".onnx":
        raise ConfigError(
            f"{path}: ONNX generators are not read; export TorchScript instead "
            "(torch.jit.script(G).save('G.pt')) or give a .py file that builds G"
        )
    if path.suffix.lower() not in SCRIPT_SUFFIXES:
        raise ConfigError(
            f"{path}: not a generator file; expected TorchScript (.pt, .pth, .jit) or a Python "
            "file (.py[:NAME]) that builds the generator"
        )
    try:
        with warnings.catch_warnings():  # torch.jit.load is deprecated in favour of torch.export
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.load(str(path), map_location="cpu")
    except Exception as err:  # noqa: BLE001 - not TorchScript: say what is
        raise ConfigError(
            f"{path} is not a TorchScript module ({type(err).__name__}); save the generator "
            "with torch.jit.script(G).save(path) (a state dict or torch.save(G) cannot be "
            "loaded without its code: give a .py file that builds G and loads it)"
        ) from None


def _from_python(path: Path, name: str | None) -> nn.Module:
    mod_name = f"ssgan_generator_file_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))  # the file may import its neighbours
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # noqa: BLE001 - the user's code: one line naming it
        raise ConfigError(
            f"generator file {path} failed to run: {type(err).__name__}: {err}"
        ) from None
    finally:
        sys.path.remove(str(path.parent))
    names = [name] if name else [n for n in NAMES if hasattr(module, n)]
    if not names or not hasattr(module, names[0]):
        wanted = repr(name) if name else " or ".join(NAMES)
        raise ConfigError(f"generator file {path} defines no {wanted} (give FILE.py:NAME)")
    obj = getattr(module, names[0])
    if not isinstance(obj, nn.Module):
        if not callable(obj):
            raise ConfigError(f"{path}:{names[0]} is neither an nn.Module nor callable")
        try:
            obj = obj()
        except Exception as err:  # noqa: BLE001
            raise ConfigError(f"{path}:{names[0]}() failed: {type(err).__name__}: {err}") from None
    if not isinstance(obj, nn.Module):
        raise ConfigError(
            f"{path}:{names[0]} returned {type(obj).__name__}, not an nn.Module generator"
        )
    return obj


def _first_layer_size(G: nn.Module) -> tuple[int, str] | None:
    """(input size, layer kind) of G's first Linear or convolution layer."""
    for m in G.modules():
        kind = getattr(m, "original_name", type(m).__name__)  # TorchScript keeps the class name
        weight = getattr(m, "weight_orig", None)  # under spectral norm
        weight = weight if isinstance(weight, torch.Tensor) else getattr(m, "weight", None)
        if not isinstance(weight, torch.Tensor) or weight.dim() < 2:
            continue
        if kind == "Linear":
            return int(weight.shape[1]), kind
        if kind.startswith("ConvTranspose"):
            return int(weight.shape[0]), kind
        if kind.startswith("Conv"):
            return int(weight.shape[1]) * int(getattr(m, "groups", 1)), kind
        if kind == "Embedding":
            return None  # a conditional generator: its first input is a class, not z
    return None


def latent_size(G: nn.Module, given: int | None = None) -> tuple[int, str]:
    """(z_dim, where it was read) of G; see the module doc."""
    if given is not None:
        if int(given) <= 0:
            raise ConfigError(f"latent size must be a positive integer, got {given}")
        return int(given), "given"
    for attr in Z_ATTRS:
        value = getattr(G, attr, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value, f"attribute {attr}"
    first = _first_layer_size(G)
    if first is not None:
        return first[0], f"first layer ({first[1]})"
    raise ConfigError(
        f"cannot tell the generator's latent size: {type(G).__name__} has no attribute "
        f"{'/'.join(Z_ATTRS[:2])} and no Linear or convolution first layer; give it "
        "(ssgan fid --z-dim N; ssgan.fid(..., z_dim=N))"
    )


class Latents(nn.Module):
    """G behind the suite's sampling interface: N x z_dim latents, reshaped as G takes them."""

    def __init__(self, G: nn.Module, z_dim: int, spatial: bool):
        super().__init__()
        self.G, self.z_dim, self.spatial = G, z_dim, spatial

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.G(z[:, :, None, None] if self.spatial else z)


def describe(shape) -> str:
    return "x".join(str(int(s)) for s in shape)


def check_output(x: torch.Tensor, expect: tuple[int, int, int] | None, what: str) -> None:
    """Images of the expected C x H x W, within [-1, 1] up to RANGE_TOLERANCE."""
    if x.dim() != 4 or (expect is not None and tuple(x.shape[1:]) != tuple(expect)):
        got = describe(x.shape[1:]) if x.dim() == 4 else f"a tensor of shape {describe(x.shape)}"
        want = f"N x {describe(expect)}" if expect else "N x C x H x W"
        raise ConfigError(f"generator outputs {got} images; {what} needs {want}")
    lo, hi = float(x.min()), float(x.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ConfigError("generator outputs must be finite; got NaN or inf")
    if lo < -1 - RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
        raise ConfigError(f"generator outputs must be in [-1, 1] (tanh); got [{lo:.4g}, {hi:.4g}]")


@torch.no_grad()
def prepare(
    G: nn.Module, expect: tuple | None, what: str, z_dim: int | None = None, device=None
) -> tuple[Latents, str, tuple]:
    """G with its latent size and input layout found, its output checked on a probe batch;
    (the wrapped generator, where the latent size came from, its C x H x W)."""
    z_dim, source = latent_size(G, z_dim)
    if device is None:  # where G's weights are (a module handed over on a GPU stays there)
        device = next((p.device for p in G.parameters()), torch.device("cpu"))
    was = G.training
    G.eval()
    errors = []
    try:
        for spatial in (False, True):
            z = torch.randn(PROBE, z_dim, generator=torch.Generator().manual_seed(0))
            wrapped = Latents(G, z_dim, spatial)
            try:
                x = wrapped(z.to(device))
            except Exception as err:  # noqa: BLE001 - try the other layout, then report both
                errors.append(f"{type(err).__name__}: {str(err).splitlines()[0][:160]}")
                continue
            check_output(x, expect, what)
            return wrapped, source, tuple(x.shape[1:])
    finally:
        G.train(was)
    raise ConfigError(
        f"generator refuses latents of size {z_dim} (from {source}) as N x {z_dim} "
        f"({errors[0]}) and as N x {z_dim} x 1 x 1 ({errors[-1]}); give its latent size "
        "(ssgan fid --z-dim N; ssgan.fid(..., z_dim=N))"
    )
