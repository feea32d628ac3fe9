"""Dead SASTM gates with ``sastm.init: open`` and ``default`` (SASTM before BN, the paper's
position): at initialisation and after a short quick-settings training run; and the feature-map
sparsity at the same places in both generators (probe_feature_sparsity.csv's blocks).

    OMP_NUM_THREADS=1 python benchmarks/dead_gates.py [--seeds 0 1 2] [--skip-train]

At initialisation: the generators of the training path (per-layer seeded, ssgan/training/seeds.py) at
32 px (CIFAR-10 layout) and 64 px (CelebA-HQ layout), width 64, probe batch 256 drawn from the
run's probe stream, G in train mode as the training probes. After training: MNIST with
config/quick.yaml's settings (width 16, 200 iterations, batch 32), the last probe (iteration
200), runs one at a time. A gate is dead when its coefficient is 0 for every sample of the
probe batch (channel: a_c; spatial: s at one position). Writes
benchmarks/results/dead_gates.csv (one row per run x layer) and dead_gates.md (summary).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path

import torch

from ssgan import config as C
from ssgan import probes
from ssgan.data import channels_of, resolution_of
from ssgan.methods import get_method
from ssgan.training import seeds
from ssgan.training.loop import train

OUT = Path(__file__).parent / "results"
COLUMNS = ["stage", "resolution", "width", "method", "init", "seed", "iteration", "layer"] + [
    "channel_zero_frac",
    "spatial_zero_frac",
    "output_zero_frac",
    "channel_dead_frac",
    "spatial_dead_frac",
    "zero_frac",
]


def at_init(dataset: str, method: str, init: str, seed: int, width: int, probe_batch: int):
    cfg = C.resolve(
        dataset,
        method,
        seed,
        overrides={
            "model": {"width": width},
            "sastm": {"init": init, "position": "before_bn"},
            "probe": {"batch_size": probe_batch},
        },
    )
    res, ch = resolution_of(cfg), channels_of(cfg)
    streams = seeds.stream_seeds(seed)
    G, _ = get_method(method, cfg).build_networks(res, ch, streams["init"])
    z = torch.randn(
        probe_batch,
        cfg["model"]["z_dim"],
        generator=torch.Generator().manual_seed(streams["probe"]),
    )
    sparsity, _, features = probes.activation_rows(G, z, 0)
    base = {
        "stage": "init",
        "resolution": res,
        "width": width,
        "method": method,
        "init": init,
        "seed": seed,
    }
    return [{**base, **r} for r in sparsity + features]


def after_quick_run(method: str, init: str, seed: int, tmp: Path):
    quick = C.load_yaml(Path(__file__).parents[1] / "config" / "quick.yaml")
    cfg = C.resolve(
        "mnist", method, seed, quick, {"sastm": {"init": init, "position": "before_bn"}}
    )
    out = tmp / f"{method}-{init}-{seed}"
    t0 = time.perf_counter()
    assert train(cfg, out) == 0
    print(f"  trained {out.name} in {time.perf_counter() - t0:.0f} s", flush=True)
    last = cfg["train"]["iterations"]
    rows = []
    for name in ("probe_sparsity.csv", "probe_feature_sparsity.csv"):
        with open(out / name) as fh:
            rows += [r for r in csv.DictReader(fh) if int(r["iteration"]) == last]
    base = {
        "stage": "quick_run",
        "resolution": 32,
        "width": cfg["model"]["width"],
        "method": method,
        "init": init,
        "seed": seed,
    }
    return [{**base, **r} for r in rows]


def summary(rows: list[dict]) -> str:
    def stat(vals):
        vals = [float(v) for v in vals if v != ""]
        return f"{statistics.mean(vals):.3f} [{min(vals):.3f}, {max(vals):.3f}]" if vals else ""

    lines = [
        "# Dead SASTM gates and feature-map sparsity (benchmarks/dead_gates.py)",
        "",
        "Mean over seeds [min, max]. init: width 64, probe batch 256, 32 px (CIFAR-10 layout) and",
        "64 px (CelebA-HQ layout). quick_run: MNIST, config/quick.yaml settings (width 16, 200",
        "iterations), probe at iteration 200 (probe batch 256).",
        "",
        "| stage | res | method | init | layer | channel dead | spatial dead | channel zero | spatial zero | output zero | feature zero |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    keys = []
    for r in rows:
        k = (r["stage"], r["resolution"], r["method"], r["init"], r["layer"])
        if k not in keys:
            keys.append(k)
    for k in keys:
        sel = [
            r
            for r in rows
            if (r["stage"], r["resolution"], r["method"], r["init"], r["layer"]) == k
        ]
        cols = [
            "channel_dead_frac",
            "spatial_dead_frac",
            "channel_zero_frac",
            "spatial_zero_frac",
            "output_zero_frac",
            "zero_frac",
        ]
        cells = [stat(r.get(c, "") for r in sel) for c in cols]
        lines.append("| " + " | ".join(map(str, k)) + " | " + " | ".join(cells) + " |")
    seeds_ = sorted({r["seed"] for r in rows})
    lines += ["", f"Seeds: {seeds_}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--skip-train", action="store_true", help="only the initialisation part")
    args = p.parse_args()
    rows = []
    for dataset in ("cifar10", "celeba_hq"):
        for method, init in (("wgan_gp", "open"), ("ssgan", "open"), ("ssgan", "default")):
            for seed in args.seeds:
                rows += at_init(dataset, method, init, seed, 64, 256)
    if not args.skip_train:
        with tempfile.TemporaryDirectory() as tmp:
            for method, init in (("ssgan", "open"), ("ssgan", "default"), ("wgan_gp", "open")):
                for seed in args.seeds:
                    rows += after_quick_run(method, init, seed, Path(tmp))
    for r in rows:
        if r["method"] == "wgan_gp":
            r["init"] = "-"
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "dead_gates.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    (OUT / "dead_gates.md").write_text(summary(rows))
    print((OUT / "dead_gates.md").read_text())


if __name__ == "__main__":
    main()
