"""Where the generator's gradient is exactly zero: the consequences Self-Sparse GAN claims for its
deconvolutions, measured the same way in every generator (``probe_gradients.csv``).

One forward and one backward pass of copies of G and D on the fixed probe batch. The scalar is
the generator's loss through the current critic, L = -sum_b D(G(z_b)) (the generator loss of
WGAN-GP, SN-GAN, SR-GAN and STU-GAN, up to the 1/B scale, which moves no zero). G's
BatchNorms are used with the probe batch's own statistics held fixed (each set to its batch
mean and biased variance, then evaluated as the affine map it is for that batch): the
activations are those of training mode, and each sample's gradient is that of its own loss
-D(G(z_b)) along its own path. Through the statistics every unit of a channel would receive a
gradient from every sample of the batch, so no unit's gradient would ever be exactly zero in
either generator (BatchNorm's backward is dense whenever its scale is non-zero) and the counts
below would be 0 by construction of BatchNorm, not by the module under test.

Per generator convolution (``deconv1``... in the DCGAN family, the output one included;
``conv1``... in the ResNet family), each a mean over the samples of the batch of a per-sample
share:

- ``unit_grad_zero_frac`` (claim 2, "alleviating the zero-gradient problem"): the share of the
  convolution's output units (c, y, x) whose gradient dL_b/dX_b[c, y, x] is exactly 0. X is the
  convolution's output itself, before SASTM and BatchNorm in Self-Sparse GAN, before BatchNorm
  in WGAN-GP: the units through which the kernel learns. In WGAN-GP a unit is cut off where
  the ReLU after its BatchNorm is closed; SASTM's gates add paths (and cut others).
- ``weight_grad_zero_frac`` (claim 1, "reduces the search space of the deconvolution
  kernels"): the share of the kernel's weight entries W[i, o, u, v] that sample b's gradient
  leaves exactly 0: entries to which no product x_b[i, p] * g_b[o, q] with both factors
  non-zero contributes (x the convolution's input, g its output gradient as above, q the
  output position that p and (u, v) reach). Counted structurally (from where x and g are
  non-zero, one batched product of 0/1 maps), so a sum of non-zero products that happens to
  cancel is not counted.
- ``input_zero_channel_frac`` (descriptive): the share of the convolution's input channels
  that are 0 at every position for the sample, the kernel slices W[i] that no loss can move
  for it.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ssgan.probes.generator import _r, generator_convolutions

GRADIENT_COLUMNS = [
    "iteration",
    "layer",
    "weight_grad_zero_frac",
    "unit_grad_zero_frac",
    "input_zero_channel_frac",
]
CHUNK_ENTRIES = 1 << 24  # per-sample count maps per chunk (floats): bounds the probe's memory
BN = (nn.BatchNorm1d, nn.BatchNorm2d)


@torch.no_grad()
def fix_batch_statistics(G: nn.Module, z: torch.Tensor) -> nn.Module:
    """``G`` (a copy, changed in place) with every BatchNorm set to the batch statistics it sees
    on ``z`` in training mode (mean, biased variance) and put in eval mode: the same
    activations as training mode, without the batch coupling of the statistics."""
    seen: dict[nn.Module, torch.Tensor] = {}
    bns = [m for m in G.modules() if isinstance(m, BN)]
    hooks = [bn.register_forward_pre_hook(lambda m, inp: seen.__setitem__(m, inp[0])) for bn in bns]
    G.train()(z)
    for h in hooks:
        h.remove()
    for bn in bns:
        x = seen[bn].transpose(0, 1).flatten(1).double()
        bn.running_mean = x.mean(1).to(bn.running_mean)
        bn.running_var = x.var(1, unbiased=False).to(bn.running_var)
    return G.eval()


def weight_grad_zero_share(conv: nn.Module, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Per sample: the share of ``conv``'s weight entries to which no product of a non-zero input
    ``x`` and a non-zero output gradient ``g`` contributes (B values)."""
    if conv.groups != 1:
        raise ValueError(f"gradient probe: grouped convolutions are not supported ({conv})")
    xi, gi = (x != 0).float(), (g != 0).float()
    k, s, p, d = conv.kernel_size, conv.stride, conv.padding, conv.dilation
    if isinstance(conv, nn.ConvTranspose2d):  # the adjoint of a convolution from g to x
        cols, rows = nn.functional.unfold(gi, k, d, p, s), xi.flatten(2)
    else:
        cols, rows = nn.functional.unfold(xi, k, d, p, s), gi.flatten(2)
    if cols.shape[-1] != rows.shape[-1]:
        raise ValueError(f"gradient probe: {conv} (output_padding) is not supported")
    per = rows.shape[1] * cols.shape[1]
    step = max(1, CHUNK_ENTRIES // per)
    out = [
        (torch.bmm(rows[i : i + step], cols[i : i + step].transpose(1, 2)) == 0)
        .flatten(1)
        .float()
        .mean(1)
        for i in range(0, len(x), step)
    ]
    return torch.cat(out)


def gradient_rows(G: nn.Module, D: nn.Module, z: torch.Tensor, iteration: int) -> list[dict]:
    """One row per generator convolution (``GRADIENT_COLUMNS``), from copies of G and D: the
    models, their BatchNorm statistics, spectral-norm vectors and every RNG are unchanged."""
    Gc = fix_batch_statistics(copy.deepcopy(G), z)
    Dc = copy.deepcopy(D).eval().requires_grad_(False)
    convs = generator_convolutions(Gc)
    seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    hooks = [
        conv.register_forward_hook(
            lambda _m, inp, out, name=name: seen.__setitem__(name, (inp[0].detach(), out))
        )
        for name, conv in convs
    ]
    with torch.enable_grad():
        loss = -Dc(Gc(z)).sum()
        grads = torch.autograd.grad(loss, [seen[name][1] for name, _ in convs])
    for h in hooks:
        h.remove()
    rows = []
    for (name, conv), g in zip(convs, grads):
        x = seen[name][0]
        rows.append(
            {
                "iteration": iteration,
                "layer": name,
                "weight_grad_zero_frac": _r(weight_grad_zero_share(conv, x, g).mean()),
                "unit_grad_zero_frac": _r((g == 0).flatten(1).float().mean(1).mean()),
                "input_zero_channel_frac": _r((x == 0).flatten(2).all(2).float().mean()),
            }
        )
    return rows
