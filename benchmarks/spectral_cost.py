"""Cost of the spectrum monitor (every method) and of SR-GAN's compensation, against training.

    python benchmarks/spectral_cost.py [--iters 3] [--device auto] [--widths 32 64]
        [--out benchmarks/results/spectral_cost.csv]

Per (width, resolution), on this device, batch 64:
- seconds per generator iteration of wgan_gp, sn_gan and sr_gan (static, reference schedule:
  every 5 iterations, after each of the 5 critic steps);
- the monitor: one probe (``spectral.spectrum_rows`` of the critic, SVD of every convolution)
  plus the rewrite of a whole run's probe_spectrum.csv at a checkpoint (``probe_rows`` probes
  of rows: the file of a ``run_iterations`` run at its last checkpoint, the worst case), as a
  fraction of the ``probe_every`` iterations between two probes (target: < 5%);
- one compensation of every critic convolution (static and dynamic) and its amortised share of
  an iteration: (n_critic / every) compensations per iteration after each critic step,
  1 / every after the critic steps.
Writes one CSV row per measurement and a Markdown summary beside it.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path

import torch
from train_step import seconds_per_iteration  # benchmarks/ (the script's folder) is on sys.path

from ssgan import config as C
from ssgan import io, provenance
from ssgan.methods import get_method
from ssgan.methods.base import Models
from ssgan.probes import spectral
from ssgan.training.loop import resolve_device


def timed(fn, repeat: int) -> float:
    """Median seconds of ``repeat`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def sr_models(width: int, resolution: int, mode: str, device) -> tuple:
    cfg = C.resolve(
        "image_folder",
        "sr_gan",
        0,
        overrides={
            "model": {"width": width},
            "data": {"resolution": resolution},
            "sr": {"mode": mode},
        },
    )
    method = get_method("sr_gan", cfg)
    G, D = method.build_networks(resolution, 3, 0)
    G, D = G.to(device), D.to(device)
    return method, Models(G, D, *method.optimizers(G, D)), cfg


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--device", default="auto")
    p.add_argument("--widths", type=int, nargs="+", default=[32, 64])
    p.add_argument("--resolutions", type=int, nargs="+", default=[32, 64])
    p.add_argument("--probe-every", type=int, default=C.defaults()["probe"]["every"])
    p.add_argument("--run-iterations", type=int, default=100000)  # config/config.yaml
    p.add_argument("--out", default="benchmarks/results/spectral_cost.csv")
    args = p.parse_args()
    device = resolve_device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    rows = []
    tmp = Path(tempfile.mkdtemp()) / "probe_spectrum.csv"  # never inside the repository
    for width in args.widths:
        for res in args.resolutions:
            it_s = {
                m: seconds_per_iteration(m, width, res, device, args.iters, 1, 64)
                for m in ("wgan_gp", "sn_gan", "sr_gan")
            }
            method, m, cfg = sr_models(width, res, "static", device)
            probe_rows, _ = spectral.spectrum_rows(m.D, 0)

            def probe(m=m):
                spectral.spectrum_rows(m.D, 0)
                sync()

            probe_s = timed(probe, args.repeat)
            n_probes = args.run_iterations // args.probe_every + 1
            whole = probe_rows * n_probes
            write_s = timed(
                lambda whole=whole: io.write_csv(tmp, whole, spectral.SPECTRUM_COLUMNS),
                max(1, args.repeat // 2),
            )
            between = args.probe_every * it_s["wgan_gp"]
            comp = {}
            for mode in ("static", "dynamic"):
                meth, mm, _ = sr_models(width, res, mode, device)

                def compensate(meth=meth, mm=mm):
                    meth.compensate(mm)
                    sync()

                comp[mode] = timed(compensate, args.repeat)
            every, n_critic = cfg["sr"]["every"], cfg["train"]["n_critic"]
            base = dict(width=width, resolution=res, device=str(device))
            rows += [
                {**base, "what": f"iteration_{k}", "seconds": v, "fraction": ""}
                for k, v in it_s.items()
            ]
            rows.append(
                {
                    **base,
                    "what": f"monitor_probe ({len(probe_rows)} values)",
                    "seconds": probe_s,
                    "fraction": probe_s / between,
                }
            )
            rows.append(
                {
                    **base,
                    "what": f"monitor_csv_rewrite ({len(whole)} rows, per checkpoint)",
                    "seconds": write_s,
                    "fraction": write_s / between,
                }
            )
            for mode, s in comp.items():
                rows.append(
                    {
                        **base,
                        "what": f"compensation_{mode}_after_each_critic_step",
                        "seconds": s,
                        "fraction": s * n_critic / every / it_s["sn_gan"],
                    }
                )
                rows.append(
                    {
                        **base,
                        "what": f"compensation_{mode}_after_critic_steps",
                        "seconds": s,
                        "fraction": s / every / it_s["sn_gan"],
                    }
                )
            write(rows, args, device)
            print(f"width {width}, resolution {res}: done", flush=True)
    tmp.unlink(missing_ok=True)
    print(f"wrote {args.out} and {Path(args.out).with_suffix('.md')}")


def write(rows: list[dict], args, device) -> None:
    """The CSV and its Markdown summary (rewritten after every configuration)."""
    out = Path(args.out)
    with io.atomic_path(out) as t:
        with open(t, "w", newline="") as fh:
            w = csv.DictWriter(fh, ["width", "resolution", "device", "what", "seconds", "fraction"])
            w.writeheader()
            w.writerows(rows)
    env = provenance.collect(device)
    lines = [
        "# Cost of the spectrum monitor and of SR-GAN's compensation",
        "",
        f"`python benchmarks/spectral_cost.py --iters {args.iters}` on {device} "
        f"({env['platform']}, torch {torch.__version__}, {torch.get_num_threads()} threads), "
        f"batch 64, probe.every {args.probe_every}, "
        f"CSV of a {args.run_iterations}-iteration run. `fraction`: of the training time between "
        "two probes (monitor; the CSV rewrite happens once per checkpoint) or of an sn_gan "
        "iteration (compensation, amortised). Medians of few repetitions: on a shared machine the "
        "seconds are noisy, the fractions are what to read.",
        "",
        "| width | res | what | seconds | fraction |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        frac = f"{100 * r['fraction']:.3f}%" if r["fraction"] != "" else ""
        lines.append(
            f"| {r['width']} | {r['resolution']} | {r['what']} | {r['seconds']:.4f} | {frac} |"
        )
    io.write_text(out.with_suffix(".md"), "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
