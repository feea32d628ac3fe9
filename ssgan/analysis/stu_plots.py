"""Figures of STU-GAN's sparse training (the ``stu_masks`` table, from every run's
``stu_masks.csv``): the density of each masked layer, and the exploration over training
(in-time over-parameterisation rate and death rate). Methods without masks have no rows."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

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
    dataset_name,
    dataset_order,
    method_name,
    method_order,
)

NETWORKS = {"G": "generator", "D": "critic"}


def network_totals(df: pd.DataFrame) -> pd.DataFrame:
    """Per run, network and iteration: the masked weights' density and ITOP rate over all of
    the network's masked layers (weighted by layer size), and the death rate."""
    keys = ["dataset", "method", "seed", "network", "iteration"]
    df = df.assign(ever=df["itop_rate"] * df["weights"])
    g = df.groupby(keys, as_index=False).agg(
        weights=("weights", "sum"),
        active=("active", "sum"),
        ever=("ever", "sum"),
        death_rate=("death_rate", "first"),
    )
    return g.assign(density=g["active"] / g["weights"], itop_rate=g["ever"] / g["weights"])


def overall_density_labels(runs: pd.DataFrame, methods) -> dict[str, str]:
    """Method -> its name with the density as it is: the share of *all* of G's and D's
    parameters that train (runs.csv density_g_all / density_d_all, mean over runs), beside the
    masked layers' density the bars show (the DCGAN's dense linear layer is ~45% of G)."""
    out = {}
    for m in methods:
        sub = runs[runs["method"] == m]
        g, d = (pd.to_numeric(sub.get(c), errors="coerce").mean() for c in DENSITY_ALL)
        if np.isfinite(g) and np.isfinite(d):
            out[m] = f"{method_name(m)}: G {100 * g:.1f}%, D {100 * d:.1f}% of all parameters"
    return out


DENSITY_ALL = ("density_g_all", "density_d_all")


def stu_density_per_layer(t: dict, out):
    """Rows = datasets, columns = networks: each masked layer's density (bars, mean over seeds,
    at iteration 0; exploration keeps it) and the fraction of its weights ever active by the
    end (dots: the in-time over-parameterisation rate), one color per method."""
    name, title = "stu_density_per_layer", "STU-GAN masked layers"
    df = t["stu_masks"]
    if df.empty:
        return empty_figure(out, name, title, "no stu_masks rows in any run (no STU-GAN runs)")
    datasets = dataset_order(df["dataset"])
    nets = [n for n in NETWORKS if (df["network"] == n).any()]
    fig, axes = grid(len(datasets), len(nets), f"{title}: density (bars), ever active (dots)")
    methods = method_order(df["method"], t["order"])
    for row, d in zip(axes, datasets):
        for ax, net in zip(row, nets):
            sub = df[(df["dataset"] == d) & (df["network"] == net)]
            if sub.empty:
                no_data(ax, f"{dataset_name(d)}: {NETWORKS[net]} is dense")
                continue
            layers = natural(sub["layer"])
            x = np.arange(len(layers))
            width = 0.8 / max(len(methods), 1)
            for k, m in enumerate(methods):
                mine = sub[sub["method"] == m]
                if mine.empty:
                    continue
                start = mine[mine["iteration"] == 0].groupby("layer")["density"].mean()
                end = mine[mine["iteration"] == mine["iteration"].max()]
                ever = end.groupby("layer")["itop_rate"].mean()
                pos = x - 0.4 + width * (k + 0.5)
                ax.bar(pos, start.reindex(layers).values, width, color=color(m), alpha=0.8)
                ax.plot(pos, ever.reindex(layers).values, "o", color=color(m), mec="k", ms=4)
            ax.set_xticks(x, layers, rotation=30, ha="right", fontsize=8)
            ax.set_ylim(0, 1.05)
            ax.set_title(f"{dataset_name(d)} · {NETWORKS[net]}", fontsize=10)
            ax.set_ylabel("fraction of the layer's weights" if ax is row[0] else "")
    runs = t.get(
        "runs"
    )  # the tables as read by plots.read_tables; a caller may pass stu_masks only
    labels = overall_density_labels(runs, methods) if runs is not None else {}
    legend(fig, methods, labels=labels)
    return save(fig, out, name)


def stu_exploration_over_training(t: dict, out):
    """Rows = datasets; columns: the generator's and the critic's in-time over-parameterisation
    rate (fraction of masked weights ever active; mean ± std over seeds) and the death rate p_t
    at each exploration."""
    name = "stu_exploration_over_training"
    title = "STU-GAN exploration over training"
    df = t["stu_masks"]
    if df.empty:
        return empty_figure(out, name, title, "no stu_masks rows in any run (no STU-GAN runs)")
    tot = network_totals(df)
    datasets = dataset_order(df["dataset"])
    nets = [n for n in NETWORKS if (tot["network"] == n).any()]
    cols = [(n, "itop_rate") for n in nets] + [("G", "death_rate")]
    fig, axes = grid(len(datasets), len(cols), f"{title} (mean ± 1 std)")
    methods = method_order(df["method"], t["order"])
    for row, d in zip(axes, datasets):
        for ax, (net, col) in zip(row, cols):
            sub = tot[(tot["dataset"] == d) & (tot["network"] == net)]
            for m in methods:
                mine = sub[sub["method"] == m]
                if not mine.empty:
                    mean_band(ax, mine, "iteration", col, color(m))
            what = f"{NETWORKS[net]}: ever active" if col == "itop_rate" else "death rate p_t"
            ax.set_title(f"{dataset_name(d)} · {what}", fontsize=10)
            ax.set_xlabel("generator iteration")
            ax.set_ylabel("fraction of masked weights" if col == "itop_rate" else "p_t")
            if sub.empty:
                no_data(ax, f"{dataset_name(d)}: no {NETWORKS[net]} masks")
    legend(fig, methods)
    return save(fig, out, name)
