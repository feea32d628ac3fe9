"""FLOPs per generator iteration and GPU-hours of the seed-paper configs (config/stu_gan.yaml,
config/sr_gan.yaml, config/peers.yaml), from exact FLOP counts and measured GPU throughput.

    python benchmarks/seed_paper_hours.py [--out benchmarks/results/seed_paper_hours.md]

For every (method label, resolved run config) of a config, the method's networks are built
and one ``Method.train_iteration`` (its n_critic critic steps and its generator step, with
gradient accumulation, the code training runs) is counted by benchmarks/resnet_cost.py's
``FlopCount`` (convolutions and matmuls, forward and backward, the gradient penalty's double
backward included). Those FLOPs are linear in the batch size, so the iteration is counted at
every batch size divided by ``batch_size / 2`` (BatchNorm needs 2) and scaled back: exact for
the counted operators, and seconds instead of minutes on a CPU (checked against the full-size
count of resnet_cost.py: 3,546.30 GFLOP for STU-GAN's recipe). Training FLOPs only: the FID
evaluations (Inception on n_fake images per evaluated checkpoint) come on top.

GPU-hours = runs x iterations x FLOP per iteration / throughput, at two throughputs measured on
an H100 with the suite's DCGAN WGAN-GP iteration (156.86 GFLOP, benchmarks/README.md): eager
PyTorch, 22 it/s = 3.5 TFLOP/s (kernel launches dominate; an upper bound of the hours), and one
CUDA graph per iteration, 110 it/s = 17.3 TFLOP/s. The ResNet's kernels are larger, so its
real rate is likely nearer the second; neither is measured on the ResNet.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from resnet_cost import FlopCount  # noqa: E402

from ssgan import config as C  # noqa: E402
from ssgan.config.suite import grid  # noqa: E402
from ssgan.data import channels_of, resolution_of  # noqa: E402
from ssgan.methods import get_method  # noqa: E402
from ssgan.methods.base import Models  # noqa: E402

CONFIGS = ("config/stu_gan.yaml", "config/sr_gan.yaml", "config/peers.yaml")
DCGAN_GFLOP = 156.86  # benchmarks/results/resnet_cost.md, dcgan wgan_gp
RATES = {
    "eager (22 it/s)": 22 * DCGAN_GFLOP / 1e3,
    "CUDA graph (110 it/s)": 110 * DCGAN_GFLOP / 1e3,
}


def iteration_flops(cfg: dict) -> float:
    """FLOPs of one generator iteration of the run config ``cfg`` (scaled count)."""
    t = cfg["train"]
    scale = t["batch_size"] // 2
    g_batch = t["g_batch_size"] or t["batch_size"]
    assert t["batch_size"] % scale == 0 and g_batch % scale == 0, (t["batch_size"], g_batch)
    small = {**cfg, "train": {**t, "batch_size": 2, "g_batch_size": g_batch // scale}}
    method = get_method(cfg["method"], small)
    res, ch = resolution_of(cfg), channels_of(cfg)
    G, D = method.build_networks(res, ch, init_seed=0)
    m = Models(G, D, *method.optimizers(G, D))
    gen, data = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)

    def next_batch():
        return torch.rand(2, ch, res, res, generator=data) * 2 - 1

    method.before_iteration(m, 1)
    method.train_iteration(m, next_batch, gen, 1)  # warm-up (lazy state)
    method.before_iteration(m, 2)
    with FlopCount() as counter:
        method.train_iteration(m, next_batch, gen, 2)
    return counter.total * scale


def config_rows(path: str) -> list[dict]:
    suite = C.load_yaml(ROOT / path)
    cells = grid(suite)
    rows = {}
    for dataset, label, seed in cells:
        if label in rows:
            rows[label]["runs"] += 1
            continue
        cfg = C.resolve(dataset, label, seed, suite, {"train": {"device": "cpu"}})
        rows[label] = dict(
            config=path,
            method=label,
            runs=1,
            iterations=cfg["train"]["iterations"],
            tflop=iteration_flops(cfg) / 1e12,
        )
    return list(rows.values())


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="benchmarks/results/seed_paper_hours.md")
    p.add_argument("--configs", default=",".join(CONFIGS))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rates = list(RATES)
    lines = [
        "# GPU-hours of the seed-paper configs",
        "",
        f"`python benchmarks/seed_paper_hours.py` (torch {torch.__version__}): exact FLOP counts "
        "of one generator iteration per method label; hours = runs x iterations x FLOP / rate "
        "at the H100 rates measured on the DCGAN (see the script's docstring). Training only.",
        "",
        "| config | method | runs | iterations | TFLOP/iteration | "
        + " | ".join(f"H100-h, {r}" for r in rates)
        + " |",
        "|---|---|---:|---:|---:|" + "---:|" * len(rates),
    ]
    totals: dict[str, list[float]] = {}
    for path in args.configs.split(","):
        for r in config_rows(path):
            hours = [r["runs"] * r["iterations"] * r["tflop"] / RATES[k] / 3600 for k in rates]
            t = totals.setdefault(path, [0.0] * len(rates))
            totals[path] = [a + b for a, b in zip(t, hours)]
            lines.append(
                f"| {path} | {r['method']} | {r['runs']} | {r['iterations']:,} | {r['tflop']:.2f} | "
                + " | ".join(f"{h:,.0f}" for h in hours)
                + " |"
            )
            print(lines[-1], file=sys.stderr)
    lines += ["", "| config | " + " | ".join(f"total H100-h, {r}" for r in rates) + " |"]
    lines += ["|---|" + "---:|" * len(rates)]
    lines += [f"| {k} | " + " | ".join(f"{h:,.0f}" for h in v) + " |" for k, v in totals.items()]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
