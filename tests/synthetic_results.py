"""A synthetic results folder with a known answer (docs/run_layout.md format).

mnist   wgan_gp seeds 0-3 completed, FID 10, 20, 40, 16; seed 4 running (no fid.json)
        ssgan   seeds 0-2 completed, FID 9, 18, 30 (r = .10, .10, .25); seed 3 diverged
        stu_gan seed 0 completed (an extra method: must not disturb anything)
cifar10 wgan_gp seeds 0-5 completed, FID 50, 40, 60, 45, 55, 52
        ssgan   seeds 0-4 completed, r = .03, -.02, .01, -.01, 0; seed 6 a folder without
                run.json (a failed job); no fid_curve.csv anywhere in cifar10

Probes at iterations 0, 100, 200 (diverged/running runs stop at 100). Final-iteration values:
  mnist   sparsity (ssgan)    sastm1 = .30 + .01 s, sastm2 = .50 + .01 s
          neg_frac            hidden deconvs: wgan_gp .50 + .01 s, ssgan .40 + .01 s;
                              output deconv3: ssgan .95 (must be excluded)        -> C3 (n = 3)
          dead_channel_frac   bn1, bn2: wgan_gp .50, ssgan .60; bn0: ssgan 0 (not read by a claim)
  cifar10 sparsity (ssgan)    0 everywhere
          neg_frac            wgan_gp .50, ssgan .50 + (.02, -.02, .01, -.01, 0)[s] -> C3 inconclusive
          gradients           weight_grad_zero_frac deconv1-3: wgan_gp .05, ssgan .04 -> C1 does not hold
                              unit_grad_zero_frac deconv1, 2: wgan_gp .50, ssgan .30;
                              deconv3 0 (excluded)                                -> C2 holds
At iteration 100 the values point the other way, so using any but the final iteration shows; at
iteration 0 the arms are equal (weights .50, gradients .05 / .50), as generators that share their
deconvolutions' initial weights. mnist is an older result folder: no probe_feature_sparsity.csv,
no probe_gradients.csv, no dead-gate columns; cifar10 has probe_gradients.csv but no
probe_feature_sparsity.csv.

fashion_mnist (written with today's probes), seeds 0-7, every run completed:
        wgan_gp        FID 30 + s
        ssgan          r_s = .20 + .01 (s % 3 - 1)    (all 8 log ratios < 0: sign-flip p = 2/2^8)
        ssgan_sigmoid  a variant of ssgan (method_kind ssgan), r_s = -.10 + .01 (s % 3 - 1)
  feature sparsity  block1, block2: wgan_gp .40 + .005 s, ssgan .60 + .01 s, ssgan_sigmoid .40 + .005 s
                    block0: .90 for ssgan (follows the linear layer: excluded)
                    at iteration 0 already apart (1 - the final values)  -> M1 by construction
  SASTM (ssgan)     output_zero_frac .50, channel_dead_frac .25, spatial_dead_frac .125
  gradients         weight_grad_zero_frac deconv1-3: wgan_gp .05, ssgan .30 + .01 s  -> C1 holds
                    unit_grad_zero_frac deconv1, 2: wgan_gp .50, ssgan .30 + .001 s;
                    deconv3 0 (excluded)                                            -> C2 holds
  dead_channel_frac bn1, bn2: wgan_gp .50, ssgan .30 + .001 s (not read by a claim)
  dead_frac         .40 everywhere
  neg_frac          wgan_gp .50, ssgan .50 + .02 (-1)^s                                -> C3 inconclusive
  FID in batch-norm batch mode (fid_by_bn_mode): wgan_gp 1.1 x, ssgan 1.25 x the eval FID
With ``mechanisms``: mnist/stu_gan/seed0 has stu_masks.csv (G deconv1-3, D conv1-3 at density
.3, ever active .3 -> .3 + .1 k at k-th exploration of 100 iterations) and every fashion_mnist run
probe_spectrum.csv / probe_spectrum_summary.csv (critic conv1-3, 8 singular values each,
sigma_i / sigma_1 = 1 - .1 i at 0 falling by .2 per 100 iterations for ssgan, .1 for the others).
Integrity cases: cifar10/wgan_gp/seed5 was evaluated under another FID protocol (n_fake 1000);
mnist/stu_gan/seed7 holds a copy of the run of seed 0 (a folder/record mismatch).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

FID = {
    ("mnist", "wgan_gp"): {0: 10.0, 1: 20.0, 2: 40.0, 3: 16.0},
    ("mnist", "ssgan"): {0: 9.0, 1: 18.0, 2: 30.0},
    ("mnist", "stu_gan"): {0: 12.0},
    ("cifar10", "wgan_gp"): {0: 50.0, 1: 40.0, 2: 60.0, 3: 45.0, 4: 55.0, 5: 52.0},
    ("cifar10", "ssgan"): {
        s: f * (1 - r)
        for s, (f, r) in enumerate(
            zip([50.0, 40.0, 60.0, 45.0, 55.0], [0.03, -0.02, 0.01, -0.01, 0.0])
        )
    },
}
FASHION = 8  # seeds
FID.update(
    {
        ("fashion_mnist", "wgan_gp"): {s: 30.0 + s for s in range(FASHION)},
        ("fashion_mnist", "ssgan"): {
            s: (30.0 + s) * (1 - 0.20 - 0.01 * (s % 3 - 1)) for s in range(FASHION)
        },
        ("fashion_mnist", "ssgan_sigmoid"): {
            s: (30.0 + s) * (1 + 0.10 - 0.01 * (s % 3 - 1)) for s in range(FASHION)
        },
    }
)
KIND = {"ssgan_sigmoid": "ssgan"}
OTHER_PROTOCOL = {("cifar10", "wgan_gp", 5)}
MISMATCH = {("mnist", "stu_gan", 7): ("mnist", "stu_gan", 0)}  # folder -> what run.json says
DIVERGED = {("mnist", "ssgan", 3)}
RUNNING = {("mnist", "wgan_gp", 4)}
FAILED_DIRS = {("cifar10", "ssgan", 6)}
ITERS = 200
CIFAR_NEG = [0.02, -0.02, 0.01, -0.01, 0.0]


def _csv(path: Path, header: str, rows) -> None:
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))


def _record(dataset, method, seed, status, iteration):
    return {
        "dataset": dataset,
        "dataset_kind": dataset,
        "method": method,
        "method_kind": KIND.get(method, method),
        "seed": seed,
        "status": status,
        "iteration": iteration,
        "iterations": ITERS,
        "diverged_at": iteration + 1 if status == "diverged" else None,
        "resolution": 32,
        "channels": 1 if dataset == "mnist" else 3,
        "params": {
            "generator": 1000 + (50 if method == "ssgan" else 0),
            "critic": 2000,
            "sastm": 50 if method == "ssgan" else 0,
        },
        "config": {},
        "config_hash": f"hash-{dataset}-{method}",
        "wall_time_s": 100.0 + seed,
        "started": "2026-01-01T00:00:00",
        "finished": None if status == "running" else "2026-01-01T01:00:00",
        "attempts": 1,
        "slurm_job_ids": [],
        "events": [],
        "provenance": {
            "git": {"commit": "abc123", "dirty": False},
            "device": "cpu",
            "device_name": "Synthetic CPU",
        },
    }


def _fid(fid, status="ok", reason=None):
    return {
        "status": status,
        "reason": reason,
        "fid": fid,
        "kid_mean": None if fid is None else fid / 1000,
        "kid_std": None if fid is None else 0.0001,
        "iteration": ITERS,
        "n_fake": 500,
        "n_real": 1000,
        "split": "train",
        "resolution": 32,
        "latent_seed": 0,
        "extractor": "inception-v3-compat",
        "weights": "w.pt",
        "weights_sha256": "f" * 64,
        "torch_fidelity": "0.4.0",
        "real_stats_key": "k",
        "real_stats_cache_hit": True,
        "seconds": 5.0,
        "provenance": {},
    }


def _probe_values(dataset, method, seed, final: bool):
    """(sparsity rows per layer, neg_frac per deconv, dead_frac per bn) at one iteration."""
    if dataset == "mnist":
        sp = (
            {"sastm1": 0.30 + 0.01 * seed, "sastm2": 0.50 + 0.01 * seed}
            if final
            else {"sastm1": 0.0, "sastm2": 0.0}
        )
        if method == "ssgan":
            neg = (
                {"deconv1": 0.40 + 0.01 * seed, "deconv2": 0.40 + 0.01 * seed, "deconv3": 0.95}
                if final
                else dict.fromkeys(("deconv1", "deconv2", "deconv3"), 0.60)
            )
            dead = (
                {"bn0": 0.0, "bn1": 0.60, "bn2": 0.60}
                if final
                else dict.fromkeys(("bn0", "bn1", "bn2"), 0.40)
            )
        else:
            neg = {"deconv1": 0.50 + 0.01 * seed, "deconv2": 0.50 + 0.01 * seed, "deconv3": 0.50}
            dead = dict.fromkeys(("bn0", "bn1", "bn2"), 0.50)
    else:
        sp = {"sastm1": 0.0, "sastm2": 0.0}
        if method == "ssgan":
            neg = dict.fromkeys(
                ("deconv1", "deconv2", "deconv3"), 0.50 + (CIFAR_NEG[seed] if final else 0.2)
            )
            dead = dict.fromkeys(("bn0", "bn1", "bn2"), 0.30 if final else 0.70)
        else:
            neg = dict.fromkeys(("deconv1", "deconv2", "deconv3"), 0.50)
            dead = dict.fromkeys(("bn0", "bn1", "bn2"), 0.50)
    return sp, neg, dead


def _fashion_probes(run: Path, method, seed):
    """Today's probe files (contracts A and B), final values at ITERS, the reverse at 100."""
    sastm = method != "wgan_gp"
    rows = {"sp": [], "feat": [], "w": [], "dead": [], "grad": []}
    for it in (0, 100, ITERS):
        final = it == ITERS
        hi = {"ssgan": 0.60 + 0.01 * seed}.get(method, 0.40 + 0.005 * seed)
        feat = {"block0": 0.90 if method == "ssgan" else 0.20, "block1": hi, "block2": hi}
        rows["feat"] += [(it, l, v if final else 1 - v) for l, v in feat.items()]
        if sastm:
            rows["sp"] += [(it, l, 0.25, 0.25, 0.50, 0.25, 0.125) for l in ("sastm1", "sastm2")]
        neg = 0.50 + (0.02 * (-1) ** seed if method == "ssgan" and final else 0.0)
        rows["w"] += [
            (it, f"deconv{k}", neg, 0, 0.02, -0.03, -0.01, 0, 0.01, 0.03) for k in (1, 2, 3)
        ]
        dead = 0.30 + 0.001 * seed if method == "ssgan" and final else 0.50
        rows["dead"] += [(it, f"bn{k}", 0.40, dead) for k in (1, 2)]
        weight = 0.30 + 0.01 * seed if method == "ssgan" and final else 0.05
        rows["grad"] += _gradient_rows(it, weight if it != 100 else 0.90, dead)
    _csv(
        run / "probe_sparsity.csv",
        "iteration,layer,channel_zero_frac,spatial_zero_frac,output_zero_frac,"
        "channel_dead_frac,spatial_dead_frac",
        rows["sp"],
    )
    _csv(run / "probe_feature_sparsity.csv", "iteration,layer,zero_frac", rows["feat"])
    _csv(
        run / "probe_weights.csv",
        "iteration,layer,neg_frac,mean,std,q05,q25,q50,q75,q95",
        rows["w"],
    )
    _csv(run / "probe_dead_units.csv", "iteration,layer,dead_frac,dead_channel_frac", rows["dead"])
    _csv(run / "probe_gradients.csv", GRADIENT_HEADER, rows["grad"])


GRADIENT_HEADER = (
    "iteration,layer,weight_grad_zero_frac,unit_grad_zero_frac,input_zero_channel_frac"
)


def _gradient_rows(it, weight, unit) -> list:
    """probe_gradients.csv rows: deconv1, deconv2 (hidden) and the output deconv3 (no BN after
    it: no unit without gradient; excluded from C2)."""
    return [(it, f"deconv{k}", weight, unit if k < 3 else 0.0, 0.0) for k in (1, 2, 3)]


def _probes(run: Path, dataset, method, seed, last_iter):
    if dataset == "fashion_mnist":
        return _fashion_probes(run, method, seed)
    iters = [0, 100, 200][: 1 + last_iter // 100]
    sp_rows, w_rows, d_rows, g_rows = [], [], [], []
    for it in iters:
        sp, neg, dead = _probe_values(dataset, method, seed, final=it == ITERS)
        if it == 0:  # shared initial deconvolution weights
            neg = dict.fromkeys(neg, 0.50)
        if dataset == "cifar10":
            ss, final = method == "ssgan", it == ITERS
            g_rows += _gradient_rows(
                it,
                0.04 if ss and final else 0.90 if ss and it else 0.05,
                0.30 if ss and final else 0.70 if ss and it else 0.50,
            )
        if method == "ssgan":
            sp_rows += [(it, l, v / 2, v / 2, v) for l, v in sp.items()]
        w_rows += [(it, l, v, 0.0, 0.02, -0.03, -0.01, 0.0, 0.01, 0.03) for l, v in neg.items()]
        d_rows += [(it, l, v, v) for l, v in dead.items()]
    _csv(
        run / "probe_sparsity.csv",
        "iteration,layer,channel_zero_frac,spatial_zero_frac,output_zero_frac",
        sp_rows,
    )
    _csv(run / "probe_weights.csv", "iteration,layer,neg_frac,mean,std,q05,q25,q50,q75,q95", w_rows)
    _csv(run / "probe_dead_units.csv", "iteration,layer,dead_frac,dead_channel_frac", d_rows)
    if g_rows:
        _csv(run / "probe_gradients.csv", GRADIENT_HEADER, g_rows)
    edges = np.linspace(-0.1, 0.1, 11)
    shift = 2 if method == "ssgan" else 0
    h_rows = [
        (
            stage,
            it,
            l,
            round(edges[i], 4),
            round(edges[i + 1], 4),
            int(100 * np.exp(-(((i - 4.5 - (shift if stage == "end" else 0)) / 2) ** 2))),
        )
        for stage, it in (("start", 0), ("end", last_iter))
        for l in ("deconv1", "deconv2", "deconv3")
        for i in range(10)
    ]
    _csv(run / "weight_hist.csv", "stage,iteration,layer,bin_left,bin_right,count", h_rows)


def _samples(run: Path, dataset, method, seed, last_iter):
    (run / "samples").mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    for it in range(100, last_iter + 1, 100):
        img = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
        img[..., 0 if method == "wgan_gp" else 2] = 255 * (it == last_iter)  # tint the last grid
        Image.fromarray(img[..., 0] if dataset == "mnist" else img).save(
            run / "samples" / f"iter_{it:08d}.png"
        )


BN_RATIO = {"wgan_gp": 1.1, "ssgan": 1.25}  # fashion_mnist: FID_batch / FID_eval


def _stu_masks(run: Path) -> None:
    rows = []
    for it in (0, 100, ITERS):
        k = it // 100
        for net, layers in (
            ("G", ("deconv1", "deconv2", "deconv3")),
            ("D", ("conv1", "conv2", "conv3")),
        ):
            for i, layer in enumerate(layers):
                n = 1000 * (i + 1)
                rows.append(
                    (
                        it,
                        net,
                        layer,
                        n,
                        300 * (i + 1),
                        0.3,
                        30 * k,
                        30 * k,
                        0.5 / (k + 1),
                        0.3 + 0.1 * k,
                    )
                )
    _csv(
        run / "stu_masks.csv",
        "iteration,network,layer,weights,active,density,pruned,regrown,death_rate,itop_rate",
        rows,
    )


def _spectra(run: Path, method: str, last: int) -> None:
    fall = 0.2 if method == "ssgan" else 0.1
    spec, summary = [], []
    for it in range(0, last + 1, 100):
        for layer in ("conv1", "conv2", "conv3"):
            vals = [1.0] + [max(0.0, 1 - 0.1 * i - fall * it / 100) for i in range(1, 8)]
            spec += [(it, layer, i, round(v, 4)) for i, v in enumerate(vals)]
            summary.append((it, layer, 2.0, sum(v > 0.5 for v in vals) / len(vals)))
    _csv(run / "probe_spectrum.csv", "iteration,layer,index,value", spec)
    _csv(run / "probe_spectrum_summary.csv", "iteration,layer,sigma1,frac_above_half", summary)


def write_synthetic(
    root, probes: bool = True, curves: bool = True, samples: bool = True, mechanisms: bool = False
) -> Path:
    """Writes RESULTS = root under root/runs/...; returns root."""
    root = Path(root)
    runs = {(d, m, s) for (d, m), fids in FID.items() for s in fids} | DIVERGED | RUNNING
    for d, m, s in sorted(runs):
        run = root / "runs" / d / m / f"seed{s}"
        run.mkdir(parents=True)
        status = (
            "diverged"
            if (d, m, s) in DIVERGED
            else "running"
            if (d, m, s) in RUNNING
            else "completed"
        )
        last = ITERS if status == "completed" else 100
        (run / "run.json").write_text(json.dumps(_record(d, m, s, status, last)))
        fid_rec = dict(n_fake=1000) if (d, m, s) in OTHER_PROTOCOL else {}
        if (d, status) == ("fashion_mnist", "completed") and m in BN_RATIO:
            fid = FID[d, m][s]
            fid_rec["fid_by_bn_mode"] = {"eval": fid, "batch": fid * BN_RATIO[m]}
        _csv(
            run / "train_log.csv",
            "iteration,critic_loss,generator_loss,gradient_penalty,wasserstein,seconds",
            [(i, -1.0, 0.5, 0.1, 1.0, i / 10) for i in range(10, last + 1, 10)],
        )
        if status == "completed":
            (run / "fid.json").write_text(json.dumps({**_fid(FID[d, m][s]), **fid_rec}))
            if curves and d == "mnist":
                _csv(
                    run / "fid_curve.csv",
                    "iteration,fid,kid_mean,kid_std",
                    [(100, 1.5 * FID[d, m][s], 0.01, 0.001), (ITERS, FID[d, m][s], 0.005, 0.001)],
                )
        elif status == "diverged":
            (run / "fid.json").write_text(
                json.dumps(_fid(None, "skipped", "run diverged at iteration 101"))
            )
        if probes:
            _probes(run, d, m, s, last)
        if samples:
            _samples(run, d, m, s, last)
        if mechanisms and (d, m, s) == ("mnist", "stu_gan", 0):
            _stu_masks(run)
        if mechanisms and d == "fashion_mnist":
            _spectra(run, m, last)
    for (d, m, s), said in MISMATCH.items():
        run = root / "runs" / d / m / f"seed{s}"
        shutil.copytree(root / "runs" / said[0] / said[1] / f"seed{said[2]}", run)
    for d, m, s in FAILED_DIRS:
        run = root / "runs" / d / m / f"seed{s}"
        run.mkdir(parents=True)
        (run / "train_log.csv").write_text("iteration,critic_loss\n")
    return root


if __name__ == "__main__":
    import sys

    print(write_synthetic(sys.argv[1]))


def write_fid_grid(
    root,
    reduction: dict,
    seeds: int,
    jitter: float = 0.02,
    methods=("wgan_gp", "ssgan"),
    extra=None,
) -> Path:
    """A results folder of FIDs only (run.json + fid.json per run, today's layout): per dataset
    ``d`` of ``reduction``, baseline (methods[0]) FID 40 + 2 s and treatment (methods[1]) FID =
    that x (1 - reduction[d] + jitter x e_s), e_s = (-1, 0.5, 1, -0.5, 0, ...) (mean about 0),
    over ``seeds`` paired seeds. ``extra(dataset, method, seed)``: more fid.json fields."""
    root = Path(root)
    e = [-1.0, 0.5, 1.0, -0.5, 0.0, 0.25, -0.25, 0.75, -0.75, 0.1, -0.1, 0.0]
    for dataset, r in reduction.items():
        for s in range(seeds):
            base = 40.0 + 2 * s
            treated = base * (1 - r + jitter * e[s])
            for method, fid in ((methods[0], base), (methods[1], treated)):
                run = root / "runs" / dataset / method / f"seed{s}"
                run.mkdir(parents=True)
                (run / "run.json").write_text(
                    json.dumps(_record(dataset, method, s, "completed", ITERS))
                )
                more = extra(dataset, method, s) if extra else {}
                (run / "fid.json").write_text(json.dumps({**_fid(fid), **more}))
    return root
