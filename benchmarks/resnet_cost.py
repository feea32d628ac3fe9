"""CPU time and FLOPs of one generator iteration: the ResNet SN-GAN at the reference widths
against the suite's DCGAN, 32 px RGB (CIFAR-10 shaped).

    nice -n 10 python benchmarks/resnet_cost.py [--iters 2] [--threads 1]
        [--out benchmarks/results/resnet_cost.md]

Each case builds the method's networks (``Method.build_networks``, ssgan/methods/) and runs
``Method.train_iteration`` (its n_critic critic steps and the generator step, the code training
runs) on random images in [-1, 1]: one warm-up iteration, then ``--iters`` timed ones (median
seconds, process CPU time over wall time also recorded). FLOPs are counted for one iteration by
``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matmuls, forward and backward,
the gradient penalty's double backward included; elementwise operations not counted), so they
are independent of the machine. Cases:

- ``dcgan wgan_gp``: the suite's default (width 64, batch 64, n_critic 5, gradient penalty);
- ``dcgan sn_gan``: the same networks with SN-GAN's hinge loss (no penalty);
- ``resnet sn_gan``: G 256 / D 128 channels, STU-GAN's recipe (D batch 64, G batch 128,
  n_critic 5);
- ``resnet wgan_gp``: the ResNet with the gradient penalty (Mimicry's WGAN-GP, batch 64).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ssgan import config as C  # noqa: E402
from ssgan.methods import get_method  # noqa: E402
from ssgan.methods.base import Models  # noqa: E402
from ssgan.models import count_parameters  # noqa: E402


class FlopCount(TorchDispatchMode):
    """FLOPs of every operator in ``torch.utils.flop_counter``'s registry (convolutions,
    matmuls, their backward), as ``FlopCounterMode`` counts them but without its module
    tracker, whose hooks refuse ``autograd.grad`` (the gradient penalty)."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count = flop_registry.get(func._overloadpacket)
        if count is not None:
            self.total += count(*args, **kwargs, out_val=out)
        return out


CASES = {
    "dcgan wgan_gp": ("wgan_gp", []),
    "dcgan sn_gan": ("sn_gan", []),
    "resnet sn_gan": ("sn_gan", ["model.arch=resnet", "train.g_batch_size=128"]),
    "resnet wgan_gp": ("wgan_gp", ["model.arch=resnet"]),
}
COMMON = ["train.batch_size=64", "train.n_critic=5", "train.device=cpu"]


def case(name: str, iters: int) -> dict:
    method_name, over = CASES[name]
    cfg = C.resolve("cifar10", method_name, 0, overrides=C.parse_overrides([*COMMON, *over]))
    method = get_method(method_name, cfg)
    G, D = method.build_networks(32, 3, init_seed=0)
    m = Models(G, D, *method.optimizers(G, D))
    gen = torch.Generator().manual_seed(0)
    data = torch.Generator().manual_seed(1)

    def next_batch():
        return torch.rand(64, 3, 32, 32, generator=data) * 2 - 1

    method.train_iteration(m, next_batch, gen, 1)  # warm-up
    with FlopCount() as counter:
        method.train_iteration(m, next_batch, gen, 2)
    flops = counter.total
    walls, cpus = [], []
    for i in range(iters):
        t0, c0 = time.perf_counter(), time.process_time()
        method.train_iteration(m, next_batch, gen, 3 + i)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {
        "case": name,
        "G params": count_parameters(G),
        "D params": count_parameters(D),
        "G batch": cfg["train"]["g_batch_size"] or 64,
        "GFLOP/iteration": flops / 1e9,
        "s/iteration": statistics.median(walls),
        "CPU s/iteration": statistics.median(cpus),
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iters", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--out", default="benchmarks/results/resnet_cost.md")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.cases.split(","):
        rows.append(case(name, args.iters))
        print(rows[-1], file=sys.stderr)
    write_table(rows, args)


def write_table(rows: list[dict], args) -> None:
    base = {r["case"].split()[1]: r for r in rows if r["case"].startswith("dcgan")}
    cols = list(rows[0])
    lines = [
        "# One generator iteration: ResNet SN-GAN (reference widths) vs the DCGAN, 32 px RGB",
        "",
        f"`python benchmarks/resnet_cost.py --iters {args.iters} --threads {args.threads}` "
        f"(torch {torch.__version__}, {args.threads} CPU thread(s), shared machine: wall "
        "times are upper bounds; FLOPs are exact counts of convolutions and matmuls, "
        "forward and backward, by `torch.utils.flop_counter`). n_critic 5, critic batch 64.",
        "",
        "| " + " | ".join(cols) + " | x DCGAN (CPU s) | x DCGAN (FLOPs) |",
        "|" + "---|" * (len(cols) + 2),
    ]
    for r in rows:
        ref = base.get(r["case"].split()[1])
        ratio_t = f"{r['CPU s/iteration'] / ref['CPU s/iteration']:.1f}" if ref else ""
        ratio_f = f"{r['GFLOP/iteration'] / ref['GFLOP/iteration']:.1f}" if ref else ""
        cells = [f"{v:,.2f}" if isinstance(v, float) else f"{v:,}" for v in list(r.values())[1:]]
        lines.append("| " + " | ".join([r["case"], *cells]) + f" | {ratio_t} | {ratio_f} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
