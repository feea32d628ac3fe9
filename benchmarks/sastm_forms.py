"""SASTM forms over training: is the module sparse, do its gates learn, do its zeros reach the
next deconvolution, and what does it cost in FID against WGAN-GP on the same seed.

    OMP_NUM_THREADS=1 SSGAN_DATA_ROOT=... python benchmarks/sastm_forms.py \\
        [--iterations 2000] [--seed 0] [--forms main|all|LABEL...] [--fid-samples 1000]

MNIST, width 32, batch 64, probes (batch 256) every ``--probe-every`` iterations, checkpoints
at the same iterations (kept, so the gradients can be measured after training). Per form and
SASTM layer i, at each probe iteration:

- channel/spatial/output zero fractions and dead fractions (ssgan/probes/generator.py);
- ``relu_zero``: the zero fraction of the post-ReLU map fed to deconvolution i + 1 (block i,
  probe_feature_sparsity.csv), and ``wgan_relu_zero`` the same place in WGAN-GP's generator
  at the same iteration and seed;
- ``gate_grad_ratio``: ||grad of SASTM i's parameters|| / ||grad of deconvolution i's
  weight|| for the generator loss -E[D(G(z))] on a fixed batch of 64 latents, from the
  checkpoint's G and D (iteration 0: the initialisation of the training path).

Then the final FID (``--fid-samples`` fake and real images, eval-mode BatchNorm, CPU
Inception; real statistics cached) for every form, WGAN-GP included. Forms run one after
another in the order given (the main ones first); the outputs are rewritten after each one,
so an interrupted run leaves every finished form. Writes benchmarks/results/sastm_forms.csv,
sastm_forms.md and sastm_forms.png.

It describes forms; it selects none. The default is the paper's literal reading
(docs/assumptions.md). A form may only ever be chosen by FID at >= 20k iterations, >= 3 seeds
and >= 10k samples, on seeds that no verdict uses, never by a claim's own measurement (the
zeros fed to the next deconvolution were the sparsity claim's measurement, and the form
chosen by them made that claim true at iteration 0), nor by an FID at a few thousand
iterations (its sign flipped between 300, 600 and 2,000 iterations here).
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
from ssgan.metrics.evaluate import run_fid
from ssgan.models import SASTM
from ssgan.probes.generator import named_layers
from ssgan.training import checkpoint, seeds
from ssgan.training.loop import train

OUT = Path(__file__).parent / "results"
ABLATION = Path(__file__).parents[1] / "config" / "ablation.yaml"
# The main forms, in the order they run: WGAN-GP, then init x position with the ReLU gate, both
# branches and product recombination, spelt out so that they do not move with the defaults
# (ssgan_default_before_bn is the paper's form).
MAIN = (
    "wgan_gp",
    "ssgan_balanced_after_bn",
    "ssgan_balanced_before_bn",
    "ssgan_open_before_bn",
    "ssgan_open_after_bn",
    "ssgan_default_before_bn",
)
EXTRA = {
    f"ssgan_{init}_{position}": {"init": init, "position": position}
    for init in ("balanced", "open", "default")
    for position in ("before_bn", "after_bn")
}
COLUMNS = [
    "form",
    "method",
    "init",
    "position",
    "gate",
    "branches",
    "recombination",
    "seed",
    "iteration",
    "layer",
    "channel_zero_frac",
    "spatial_zero_frac",
    "output_zero_frac",
    "channel_dead_frac",
    "spatial_dead_frac",
    "relu_zero",
    "wgan_relu_zero",
    "gate_grad_ratio",
    "fid",
    "wgan_fid",
]


def forms(names: list[str]) -> dict[str, tuple[str, dict]]:
    """label -> (method, sastm overrides): the ablation grid's methods plus EXTRA."""
    grid = C.load_yaml(ABLATION)["methods"]
    table = {}
    for label, spec in grid.items():
        spec = dict(spec or {})
        table[label] = (spec.get("method", label), dict(spec.get("sastm", {})))
    for label, sastm in EXTRA.items():
        table[label] = ("ssgan", sastm)
    if names == ["main"]:
        names = list(MAIN)
    elif names == ["all"]:
        names = list(MAIN) + [n for n in table if n not in MAIN]
    unknown = [n for n in names if n not in table]
    if unknown:
        raise SystemExit(f"unknown forms {unknown}; known: {sorted(table)}")
    return {n: table[n] for n in names}


def form_config(method: str, sastm: dict, args) -> dict:
    every = args.probe_every
    return C.resolve(
        "mnist",
        method,
        args.seed,
        overrides={
            "model": {"width": 32},
            "sastm": sastm,
            "train": {
                "iterations": args.iterations,
                "batch_size": 64,
                "device": "cpu",
                "checkpoint_every": every,
                "keep_checkpoints": args.iterations // every + 1,
                "sample_every": args.iterations,
                "log_every": 50,
            },
            "probe": {"every": every, "batch_size": 256},
            "fid": {
                "n_fake": args.fid_samples,
                "n_real": args.fid_samples,
                "batch_size": 50,
                "device": "cpu",
                "checkpoints": [],
                "compare_bn_modes": [],
                "manifold": False,
                "class_coverage": False,
            },
        },
    )


def gradient_ratios(cfg: dict, G_state: dict | None, D_state: dict | None) -> dict[str, float]:
    """sastm{i} -> ||grad SASTM i|| / ||grad deconv i weight|| for -E[D(G(z))] on 64 latents."""
    method = get_method(cfg["method"], cfg)
    init = seeds.stream_seeds(cfg["seed"])["init"]
    G, D = method.build_networks(resolution_of(cfg), channels_of(cfg), init)
    if G_state is not None:
        G.load_state_dict(G_state)
        D.load_state_dict(D_state)
    G.train()
    z = torch.randn(64, cfg["model"]["z_dim"], generator=torch.Generator().manual_seed(12345))
    (-D(G(z)).mean()).backward()
    deconvs = dict(named_layers(G, torch.nn.ConvTranspose2d))
    out = {}
    for name, m in named_layers(G, SASTM):
        g = torch.sqrt(sum((p.grad**2).sum() for p in m.parameters()))
        d = deconvs[name.replace("sastm", "deconv")].weight.grad.norm()
        out[name] = round(float(g / d), 8)
    return out


def init_table(args) -> str:
    """Every form at initialisation (no training: cheap, so also for forms whose training did
    not fit): SASTM zeros and dead gates on the probe batch, the zeros fed to the next
    deconvolution, and the gradient-norm ratio."""
    lines = [
        "## Every form at initialisation",
        "",
        "Probe batch 256 (probe stream), G in training mode; channel / spatial zero fraction "
        "(dead fraction), zeros fed to the next deconvolution, ||grad SASTM|| / ||grad deconv||.",
        "",
        "| form | layer | channel zero (dead) | spatial zero (dead) | output zero | ReLU zeros | "
        "WGAN-GP ReLU zeros | grad ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    wgan = {}
    for label, (method, sastm) in forms(["all"]).items():
        cfg = form_config(method, sastm, args)
        streams = seeds.stream_seeds(args.seed)
        G, _ = get_method(method, cfg).build_networks(
            resolution_of(cfg), channels_of(cfg), streams["init"]
        )
        gen = torch.Generator().manual_seed(streams["probe"])
        z = torch.randn(256, cfg["model"]["z_dim"], generator=gen)
        sparsity, _, features = probes.activation_rows(G, z, 0)
        feats = {f["layer"]: f["zero_frac"] for f in features}
        if method == "wgan_gp":
            wgan = feats
            continue
        ratios = gradient_ratios(cfg, None, None)
        for r in sparsity:
            block = r["layer"].replace("sastm", "block")
            cz, cd = r["channel_zero_frac"], r["channel_dead_frac"]
            sz, sd = r["spatial_zero_frac"], r["spatial_dead_frac"]
            cells = [
                f"{cz:.3f} ({cd:.3f})" if cz != "" else "-",
                f"{sz:.3f} ({sd:.3f})" if sz != "" else "-",
                f"{r['output_zero_frac']:.3f}",
                f"{feats.get(block, float('nan')):.3f}",
                f"{wgan.get(block, float('nan')):.3f}",
                f"{ratios[r['layer']]:.3g}",
            ]
            lines.append(f"| {label} | {r['layer']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def read(path: Path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def run_form(label: str, method: str, sastm: dict, args, tmp: Path) -> tuple[list, list, float]:
    """(SASTM rows, feature rows, final FID) of one form."""
    cfg = form_config(method, sastm, args)
    out = tmp / label
    t0 = time.perf_counter()
    assert train(cfg, out) == 0, f"{label}: training did not complete"
    t1 = time.perf_counter()
    print(f"{label}: trained in {t1 - t0:.0f} s", flush=True)
    feats = read(out / "probe_feature_sparsity.csv")
    rows = []
    if method != "wgan_gp":
        ratios = {0: gradient_ratios(cfg, None, None)}
        for it, path in checkpoint.list_checkpoints(out / "checkpoints"):
            state = checkpoint.load_file(path)
            ratios[it] = gradient_ratios(cfg, state["G"], state["D"])
        s = cfg["sastm"]
        for r in read(out / "probe_sparsity.csv"):
            it = int(r["iteration"])
            rows.append(
                {
                    "form": label,
                    "method": method,
                    **{k: s[k] for k in ("init", "position", "gate", "branches")},
                    "recombination": s["recombination"],
                    "seed": args.seed,
                    **r,
                    "gate_grad_ratio": ratios.get(it, {}).get(r["layer"], ""),
                }
            )
    fid = run_fid(out, cfg)["fid"]
    print(f"{label}: FID {fid:.2f} ({time.perf_counter() - t1:.0f} s)", flush=True)
    return rows, feats, fid


def attach(rows: list, feats: dict, fids: dict) -> None:
    """relu_zero (this form's block i) and WGAN-GP's at the same place and iteration; FIDs."""
    wgan = {(r["iteration"], r["layer"]): r["zero_frac"] for r in feats.get("wgan_gp", [])}
    for r in rows:
        block = r["layer"].replace("sastm", "block")
        mine = {(f["iteration"], f["layer"]): f["zero_frac"] for f in feats[r["form"]]}
        r["relu_zero"] = mine.get((str(r["iteration"]), block), "")
        r["wgan_relu_zero"] = wgan.get((str(r["iteration"]), block), "")
        r["fid"] = round(fids[r["form"]], 3)
        r["wgan_fid"] = round(fids["wgan_gp"], 3) if "wgan_gp" in fids else ""


def _f(v) -> float | None:
    return None if v in ("", None) else float(v)


def summary(rows: list, fids: dict, args, missing: list) -> str:
    lines = [
        "# SASTM forms over training (benchmarks/sastm_forms.py)",
        "",
        f"MNIST, width 32, batch 64, seed {args.seed}, {args.iterations} generator iterations on "
        f"one CPU core, probes (batch 256) every {args.probe_every} iterations. FID: final "
        f"generator, {args.fid_samples} fake and {args.fid_samples} real images (CPU Inception; "
        "few samples, so only large differences count).",
        "",
        "Per SASTM layer: *input-dependent zeros* = mean over the probes after initialisation of "
        "(channel zero - channel dead), the share of zero coefficients in gates that are open "
        "for some sample; *exact zeros during training* = share of those probes where channel or "
        "spatial coefficients have any zero; dead = last probe; ReLU zeros = zeros of the map "
        "fed to the next deconvolution (mean over the probes), WGAN-GP's at the same place; "
        "grad ratio = ||grad SASTM|| / ||grad deconvolution|| at iteration 0 and at the end; "
        "ReLU zeros at 0 = the same at iteration 0 (a gap there is the form's construction, "
        "not training). ssgan_default_before_bn is the paper's form (the default). Descriptive "
        "only: no form is selected from this table (docs/assumptions.md, SASTM default form).",
        "",
        "| form | layer | input-dep. zeros | probes with zeros | channel dead (end) | "
        "spatial dead (end) | output zero (end) | ReLU zeros at 0 (WGAN-GP) | ReLU zeros | "
        "WGAN-GP ReLU zeros | grad ratio init | grad ratio end | FID | WGAN-GP FID |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    keys = []
    for r in rows:
        if (r["form"], r["layer"]) not in keys:
            keys.append((r["form"], r["layer"]))
    for form, layer in keys:
        sel = sorted(
            (r for r in rows if (r["form"], r["layer"]) == (form, layer)),
            key=lambda r: int(r["iteration"]),
        )
        train_ = [r for r in sel if int(r["iteration"]) > 0] or sel
        last, first = sel[-1], sel[0]
        dep = statistics.mean(
            (_f(r["channel_zero_frac"]) or 0.0) - (_f(r["channel_dead_frac"]) or 0.0)
            for r in train_
        )
        anyzero = statistics.mean(
            float((_f(r["channel_zero_frac"]) or 0.0) + (_f(r["spatial_zero_frac"]) or 0.0) > 0)
            for r in train_
        )
        relu = [_f(r["relu_zero"]) for r in train_ if _f(r["relu_zero"]) is not None]
        wrelu = [_f(r["wgan_relu_zero"]) for r in train_ if _f(r["wgan_relu_zero"]) is not None]
        at0 = [_f(first[k]) for k in ("relu_zero", "wgan_relu_zero")]
        cells = [
            f"{dep:.3f}",
            f"{anyzero:.2f}",
            last["channel_dead_frac"] or "-",
            last["spatial_dead_frac"] or "-",
            last["output_zero_frac"],
            " ".join(["-" if v is None else f"{v:.3f}" for v in at0[:1]])
            + ("" if at0[1] is None else f" ({at0[1]:.3f})"),
            f"{statistics.mean(relu):.3f}" if relu else "",
            f"{statistics.mean(wrelu):.3f}" if wrelu else "",
            f"{_f(first['gate_grad_ratio']):.3g}" if _f(first["gate_grad_ratio"]) else "",
            f"{_f(last['gate_grad_ratio']):.3g}" if _f(last["gate_grad_ratio"]) else "",
            f"{fids[form]:.2f}",
            f"{fids['wgan_gp']:.2f}" if "wgan_gp" in fids else "",
        ]
        lines.append(f"| {form} | {layer} | " + " | ".join(cells) + " |")
    if "wgan_gp" in fids:
        lines += ["", f"WGAN-GP (same seed and iterations): FID {fids['wgan_gp']:.2f}."]
    lines += ["", f"Forms not run (time budget): {', '.join(missing) or 'none'}."]
    return "\n".join(lines) + "\n"


def figure(rows: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    first = rows[0]["form"] if rows else None
    for form in dict.fromkeys(r["form"] for r in rows):
        sel = [r for r in rows if r["form"] == form and r["layer"] == "sastm1"]
        its = [int(r["iteration"]) for r in sel]
        (line,) = axes[0].plot(its, [_f(r["channel_zero_frac"]) for r in sel], label=form)
        axes[0].plot(its, [_f(r["channel_dead_frac"]) for r in sel], ":", color=line.get_color())
        axes[1].plot(its, [_f(r["relu_zero"]) for r in sel], color=line.get_color(), label=form)
        g = [(i, _f(r["gate_grad_ratio"])) for i, r in zip(its, sel) if _f(r["gate_grad_ratio"])]
        if g:
            axes[2].plot(*zip(*g), color=line.get_color(), label=form)
    w = [r for r in rows if r["form"] == first and r["layer"] == "sastm1"]
    if w and _f(w[0]["wgan_relu_zero"]) is not None:  # WGAN-GP at the same place
        its = [int(r["iteration"]) for r in w]
        axes[1].plot(its, [_f(r["wgan_relu_zero"]) for r in w], "k--", label="wgan_gp")
    axes[0].set_title("sastm1 channel zeros (solid) and dead gates (dotted)")
    axes[1].set_title("zeros fed to deconv2 (post-ReLU, block1)")
    axes[2].set_title("||grad sastm1|| / ||grad deconv1||")
    axes[2].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("generator iteration")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(rows, feats, fids, args, missing) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    attach(rows, feats, fids)
    with open(OUT / "sastm_forms.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    (OUT / "sastm_forms.md").write_text(summary(rows, fids, args, missing))
    figure(rows, OUT / "sastm_forms.png")


def rebuild(args) -> None:
    """sastm_forms.md and .png again from sastm_forms.csv (no training)."""
    rows = read(OUT / "sastm_forms.csv")
    # rows trained under the label "ssgan" hold the default of their day (their init and
    # position columns say which): shown under that form's own label, once
    named = {r["form"] for r in rows}
    rows = [
        {**r, "form": f"ssgan_{r['init']}_{r['position']}"} if r["form"] == "ssgan" else r
        for r in rows
        if r["form"] != "ssgan" or f"ssgan_{r['init']}_{r['position']}" not in named
    ]
    fids = {r["form"]: float(r["fid"]) for r in rows}
    wgan = [float(r["wgan_fid"]) for r in rows if r["wgan_fid"]]
    if wgan:
        fids["wgan_gp"] = wgan[0]
    missing = [f for f in forms(args.forms) if f not in fids]
    text = summary(rows, fids, args, missing) + "\n" + init_table(args)
    (OUT / "sastm_forms.md").write_text(text)
    figure(rows, OUT / "sastm_forms.png")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iterations", type=int, default=2000)
    p.add_argument("--probe-every", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fid-samples", type=int, default=1000)
    p.add_argument("--forms", nargs="+", default=["main"])
    p.add_argument("--from-csv", action="store_true", help="only rebuild the md and the figure")
    args = p.parse_args()
    if args.from_csv:
        return rebuild(args)
    todo = forms(args.forms)
    rows, feats, fids = [], {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (label, (method, sastm)) in enumerate(todo.items()):
            r, feats[label], fids[label] = run_form(label, method, sastm, args, Path(tmp))
            rows += r
            write(rows, feats, fids, args, list(todo)[i + 1 :])
    print((OUT / "sastm_forms.md").read_text())


if __name__ == "__main__":
    main()
