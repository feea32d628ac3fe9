"""FID throughput on this machine: Inception feature extraction (images/s) and the time of a
real-statistics evaluation without and with the cache. Writes one CSV row per measurement.

    python benchmarks/fid_throughput.py --n 256 --out benchmarks/fid_throughput.csv
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from ssgan import io, provenance
from ssgan.config import resolve
from ssgan.metrics import Inception, distances, real_statistics, resolve_weights
from ssgan.metrics.evaluate import resolve_device
from ssgan.metrics.real_stats import real_images

COLUMNS = [
    "measure",
    "value",
    "unit",
    "n",
    "batch_size",
    "dataset",
    "resolution",
    "device",
    "device_name",
    "torch_threads",
    "torch",
    "torch_fidelity",
    "weights_sha256",
]


def timed(fn):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=256, help="images per measurement")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--split", default="test")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="benchmarks/fid_throughput.csv")
    args = p.parse_args(argv)

    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory() as cache:  # fresh cache: the first real-stats call is a miss
        cfg = resolve(
            args.dataset,
            "wgan_gp",
            0,
            overrides={
                "fid": {
                    "n_real": args.n,
                    "batch_size": args.batch_size,
                    "cache_dir": cache,
                    "device": str(device),
                }
            },
        )
        weights, t_weights = timed(lambda: resolve_weights(cfg["fid"]))
        inception = Inception(weights, device)
        _, t_build = timed(lambda: inception.net)
        images = real_images(cfg, args.split)
        inception.features(images[: args.batch_size], args.batch_size)  # warm-up
        feats, t_feat = timed(lambda: inception.features(images, args.batch_size))
        stats = distances.statistics(feats)
        _, t_fid = timed(lambda: distances.fid(stats, stats))
        miss, t_miss = timed(lambda: real_statistics(cfg, inception, args.split))
        hit, t_hit = timed(lambda: real_statistics(cfg, inception, args.split))
        assert not miss.cache_hit and hit.cache_hit

    info = provenance.device_info(device)
    common = {
        "n": len(images),
        "batch_size": args.batch_size,
        "dataset": args.dataset,
        "resolution": images.shape[-1],
        "device": info["device"],
        "device_name": info["device_name"],
        "torch_threads": info["torch_threads"],
        "torch": torch.__version__,
        "torch_fidelity": provenance.package_versions()["torch-fidelity"],
        "weights_sha256": weights.sha256,
    }
    rows = [
        ("weights_resolve", t_weights, "s"),
        ("extractor_build", t_build, "s"),
        ("features", len(images) / t_feat, "images/s"),
        ("fid_from_stats", t_fid, "s"),
        ("real_stats_uncached", t_miss, "s"),
        ("real_stats_cached", t_hit, "s"),
    ]
    io.write_csv(
        args.out,
        [{"measure": m, "value": round(v, 4), "unit": u, **common} for m, v, u in rows],
        COLUMNS,
    )
    for m, v, u in rows:
        print(f"{m:22s} {v:10.3f} {u}")
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
