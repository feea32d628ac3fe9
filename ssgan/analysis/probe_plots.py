"""Figures of the mechanism probes over training (sparsity, weight signs, dead units, weight
histograms) and the sample grids; each draws every method of the tables, one color each."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ssgan.analysis.figure_kit import (  # noqa: E402
    color,
    empty_figure,
    grid,
    legend,
    mean_band,
    natural,
    no_data,
    save,
)
from ssgan.analysis.runs import (  # noqa: E402
    PROBES,
    dataset_name,
    dataset_order,
    method_name,
    method_order,
)

# ---------------------------------------------------------------- mechanism probes


def dataset_layer_panels(df, runs, title, what, sharey=False):
    """A figure with rows = datasets and columns = layers; returns it and the used panels as
    (ax, dataset, layer, rows of df, first in its row). Unused panels are switched off."""
    datasets = dataset_order(runs["dataset"])
    layers = {d: natural(df.loc[df["dataset"] == d, "layer"]) for d in datasets}
    ncols = max([len(v) for v in layers.values()] + [1])
    fig, axes = grid(len(datasets), ncols, title, sharey=sharey)
    panels = []
    for row, d in zip(axes, datasets):
        for ax in row[len(layers[d]) :]:
            ax.axis("off")
        if not layers[d]:
            row[0].axis("on")
            no_data(row[0], f"{dataset_name(d)}: no {what} rows")
        panels += [
            (ax, d, layer, df[(df["dataset"] == d) & (df["layer"] == layer)], ax is row[0])
            for ax, layer in zip(row, layers[d])
        ]
    if not datasets:
        no_data(axes[0, 0], "no runs")
    return fig, panels


FRACTION = (-0.02, 1.02)  # the whole range of a fraction: a 0.02 change must look like one


def layer_grid(t, out, table, column, layer_re, ylabel, title, name, hline=None, ylim=FRACTION):
    """Rows = datasets, columns = layers; one mean ± std line per method over training, on
    ``ylim`` (the full [0, 1] of a fraction: scaled to the data, a change of 0.01 filled the
    panel)."""
    df, runs = t[table], t["runs"]
    df = df[df["layer"].astype(str).str.fullmatch(layer_re)] if len(df) else df
    if df.empty:
        return empty_figure(out, name, title, f"no {PROBES[table][0]} data in any run")
    fig, panels = dataset_layer_panels(df, runs, title, PROBES[table][0], sharey=True)
    for ax, d, layer, sub, first in panels:
        for m in method_order(sub["method"], t["order"]):
            mean_band(ax, sub[sub["method"] == m], "iteration", column, color(m))
        if hline is not None:
            ax.axhline(hline, color="0.5", ls=":", lw=1)
        ax.set_title(f"{dataset_name(d)} · {layer}", fontsize=10)
        ax.set_xlabel("generator iteration")
        ax.set_ylabel(ylabel if first else "")
        ax.yaxis.set_tick_params(labelleft=True)
        if ylim is not None:
            ax.set_ylim(*ylim)
    legend(fig, method_order(df["method"], t["order"]))
    return save(fig, out, name)


def sparsity_over_training(t, out):
    """Rows = datasets, columns = channel / spatial / output exact-zero fraction and the dead
    channel / spatial gates (coefficient 0 for the whole probe batch); one line per SASTM layer."""
    df, runs = t["sparsity"], t["runs"]
    cols = [  # (column, title: what, and what the fraction counts)
        ("channel_zero_frac", "channel coefficients a\nexactly zero"),
        ("spatial_zero_frac", "spatial coefficients s\nexactly zero"),
        ("output_zero_frac", "SASTM output Y\nexactly zero"),
        ("channel_dead_frac", "dead channel gates\n(0 for every sample)"),
        ("spatial_dead_frac", "dead spatial gates\n(0 for every sample)"),
    ]
    datasets = dataset_order(runs["dataset"])
    if df.empty:
        return empty_figure(
            out,
            "sparsity_over_training",
            "SASTM sparsity over training",
            "no SASTM probes in any run\n(probe_sparsity.csv is header-only for methods without SASTM)",
        )
    fig, axes = grid(
        len(datasets),
        len(cols),
        "SASTM sparsity over training (exact-zero fraction, mean ± 1 std over seeds)",
        sharey=True,
    )
    layers = natural(df["layer"]) if len(df) else []
    pal = dict(zip(layers, sns.color_palette("viridis", len(layers)).as_hex() if layers else []))
    styles = ["-", "--", ":", "-."]
    for row, d in zip(axes, datasets):
        sub = df[df["dataset"] == d]
        if sub.empty:
            no_data(row[0], f"{dataset_name(d)}: no SASTM probes")
            for ax in row[1:]:
                ax.axis("off")
            continue
        for ax, (col, what) in zip(row, cols):
            if col not in sub or pd.to_numeric(sub[col], errors="coerce").isna().all():
                ax.set_title(f"{dataset_name(d)} · {what}", fontsize=9)
                no_data(ax, "not recorded by these runs")  # older probes: no dead-gate columns
                continue
            for k, m in enumerate(method_order(sub["method"], t["order"])):
                for layer in natural(sub["layer"]):
                    g = sub[(sub["method"] == m) & (sub["layer"] == layer)]
                    mean_band(ax, g, "iteration", col, pal[layer], ls=styles[k % len(styles)])
            ax.set_title(f"{dataset_name(d)} · {what}", fontsize=9)
            ax.set_xlabel("generator iteration")
            # one y label per row (the titles say what each panel counts): long labels on
            # every panel ran into the neighbouring panels' tick labels
            ax.set_ylabel("fraction" if ax is row[0] else "")
            ax.yaxis.set_tick_params(labelleft=ax is row[0])
    if not datasets:
        no_data(axes[0, 0], "no runs")
    handles = [plt.Line2D([], [], color=c, lw=2.5, label=layer) for layer, c in pal.items()]
    ms = method_order(df["method"], t["order"]) if len(df) else []
    if len(ms) > 1:
        handles += [
            plt.Line2D([], [], color="0.3", ls=styles[k % 4], label=method_name(m))
            for k, m in enumerate(ms)
        ]
    if handles:
        fig.legend(
            handles=handles, loc="outside lower center", ncols=min(len(handles), 6), frameon=False
        )
    return save(fig, out, "sparsity_over_training")


def weight_hist_end(t, out):
    """End-of-training deconvolution weight histograms, one step line per seed (density)."""
    df, runs = t["weight_hist"], t["runs"]
    df = df[df["stage"] == "end"] if len(df) else df
    title = "Deconvolution weights at the end of training (one line per seed)"
    if df.empty:
        return empty_figure(
            out, "weight_hist_end", title, "no end-of-training weight_hist.csv rows in any run"
        )
    fig, panels = dataset_layer_panels(df, runs, title, "weight_hist.csv")
    for ax, d, layer, sub, _ in panels:
        for (m, _seed), h in sub.groupby(["method", "seed"]):
            h = h.sort_values("bin_left")
            width = (h["bin_right"] - h["bin_left"]).to_numpy(float)
            dens = (
                h["count"].to_numpy(float) / max(h["count"].sum(), 1) / width
            )  # count / (N * bin width)
            ax.stairs(
                dens,
                np.append(h["bin_left"].to_numpy(float), h["bin_right"].iloc[-1]),
                color=color(m),
                alpha=0.6,
                lw=1.2,
            )
        ax.axvline(0, color="0.3", ls=":", lw=1)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, symmetric=True))
        ax.set_title(f"{dataset_name(d)} · {layer}", fontsize=10)
        ax.set_xlabel("weight value")
        ax.set_ylabel("density")
    legend(fig, method_order(df["method"], t["order"]))
    return save(fig, out, "weight_hist_end")


# ---------------------------------------------------------------- samples


def last_sample(run_dir: Path) -> Path | None:
    """The newest sample grid, samples/iter_XXXXXXXX.png (zero-padded: name order = iteration order)."""
    files = sorted(run_dir.glob("samples/*.png"))
    return files[-1] if files else None


def pick_sample(runs: pd.DataFrame, results: Path, d: str, m: str):
    """(run row, png) of the lowest seed of (d, m) that has a sample grid, else (None, None)."""
    for row in (
        runs[(runs["dataset"] == d) & (runs["method"] == m)].sort_values("seed").itertuples()
    ):
        png = last_sample(results / row.run_dir)
        if png is not None:
            return row, png
    return None, None


def samples(t, out, results: Path):
    runs = t["runs"]
    datasets = dataset_order(runs["dataset"])
    per = {d: method_order(runs.loc[runs["dataset"] == d, "method"], t["order"]) for d in datasets}
    fig, axes = grid(
        len(datasets),
        max([len(ms) for ms in per.values()] + [1]),
        "Samples (last grid of the lowest seed)",
        panel=(3.2, 3.5),
    )
    for row, d in zip(axes, datasets):  # per dataset only the methods it runs; the rest blank
        for ax in row[len(per[d]) :]:
            ax.axis("off")
        for ax, m in zip(row, per[d]):
            run, png = pick_sample(runs, results, d, m)
            label = f"{dataset_name(d)} · {method_name(m)}"
            if png is None:
                ax.set_title(label, fontsize=10)
                no_data(
                    ax,
                    "no run"
                    if run is None and not ((runs["dataset"] == d) & (runs["method"] == m)).any()
                    else "no sample grid",
                )
                continue
            img = plt.imread(png)
            gray = dict(cmap="gray", vmin=0, vmax=1) if img.ndim == 2 else {}  # no contrast stretch
            ax.imshow(img, interpolation="nearest", **gray)
            it = re.sub(r"\D", "", png.stem).lstrip("0") or "0"
            status = "" if run.status == "completed" else f", {run.status}"
            ax.set_title(f"{label}\nseed {run.seed}, iteration {it}{status}", fontsize=10)
            ax.axis("off")
    if not datasets:
        no_data(axes[0, 0], "no runs")
    return save(fig, out, "samples")
