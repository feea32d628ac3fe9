"""Spectra of the critic over training (SR-GAN's view, Liu et al. 2019, their Fig. 2-3): for
every critic convolution the singular values of W / s_1, sorted, one curve per probe iteration
(ssgan/probes/spectral.py records them as probe_spectrum.csv in every run). "Spectral collapse" shows
as the curves falling from ~0.5-1 to below ~0.4; the summary (fraction of normalised values
above 0.5, claim SR1) is drawn over training beside it.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import ListedColormap, Normalize

from ssgan.analysis.figure_kit import empty_figure, grid, no_data, save
from ssgan.analysis.probe_plots import layer_grid
from ssgan.analysis.runs import dataset_name, dataset_order, method_name, method_order

# As ssgan/probes/spectral.py writes them (the analysis package does not import torch; a test checks
# that the two agree).
SPECTRUM_FILE = "probe_spectrum.csv"
SPECTRUM_COLUMNS = ["iteration", "layer", "index", "value"]
COLLAPSE_LEVEL = 0.5


def read_spectrum(results: Path, run) -> pd.DataFrame | None:
    """The run's probe_spectrum.csv, or None when it has none (a run from before the monitor)."""
    try:
        df = pd.read_csv(results / run.run_dir / SPECTRUM_FILE, dtype={"layer": str})
    except (FileNotFoundError, pd.errors.EmptyDataError, pd.errors.ParserError):
        return None
    return df if set(SPECTRUM_COLUMNS) <= set(df.columns) and len(df) else None


def pick_spectrum(runs: pd.DataFrame, results: Path, d: str, m: str):
    """(run row, its spectrum rows) of the lowest seed of (d, m) that has any, else (None, None)."""
    for row in (
        runs[(runs["dataset"] == d) & (runs["method"] == m)].sort_values("seed").itertuples()
    ):
        df = read_spectrum(results, row)
        if df is not None:
            return row, df
    return None, None


def last_layer(df: pd.DataFrame) -> str:
    """The deepest critic convolution (conv1, conv2, ...: the highest number)."""
    return max(df["layer"].unique(), key=lambda l: int("".join(filter(str.isdigit, l)) or 0))


def spectrum_over_training(t: dict, out: Path | None, results: Path):
    """Rows = datasets, columns = methods: the deepest critic convolution's sorted normalised
    spectrum of the lowest seed, one curve per probe, darker = later (the colour bar gives
    the iteration of each shade)."""
    name = "spectrum_over_training"
    title = "Critic spectrum over training: sorted singular values of W/σ₁, deepest convolution"
    runs = t["runs"]
    if runs.empty:
        return empty_figure(out, name, title, "no runs")
    datasets = dataset_order(runs["dataset"])
    methods = method_order(runs["method"], t["order"])
    fig, axes = grid(len(datasets), len(methods), title, sharey=True)
    # viridis from light (early) to dark (late), the same shades in every panel and the key
    cmap = ListedColormap(plt.get_cmap("viridis")(np.linspace(0.9, 0.0, 256)))
    picked = {(d, m): pick_spectrum(runs, results, d, m) for d in datasets for m in methods}
    its_all = [it for _, df in picked.values() if df is not None for it in df["iteration"]]
    norm = Normalize(
        min(its_all, default=0), max(max(its_all, default=1), min(its_all, default=0) + 1)
    )
    for row, d in zip(axes, datasets):
        for ax, m in zip(row, methods):
            run, df = picked[d, m]
            label = f"{dataset_name(d)} · {method_name(m)}"
            ax.set_title(label, fontsize=10)
            if df is None:
                has_run = ((runs["dataset"] == d) & (runs["method"] == m)).any()
                no_data(ax, f"no {SPECTRUM_FILE}" if has_run else "no run")
                continue
            layer = last_layer(df)
            mine = df[df["layer"] == layer]
            its = sorted(mine["iteration"].unique())
            for it in its:
                curve = mine[mine["iteration"] == it].sort_values("index")
                shade = cmap(norm(it))
                ax.plot(curve["index"], curve["value"], color=shade, lw=1.2)
            ax.axhline(COLLAPSE_LEVEL, color="0.5", ls=":", lw=1)
            ax.set_title(
                f"{label}\nseed {run.seed}, {layer}, iterations {its[0]}–{its[-1]}", fontsize=9
            )
            ax.set_xlabel("index of singular value")
            ax.set_ylabel("σ / σ₁")
            ax.set_ylim(0, 1.05)
    if its_all:
        fig.colorbar(
            ScalarMappable(norm, cmap), ax=axes, label="generator iteration of the probe", pad=0.01
        )
    return save(fig, out, name)


def spectral_collapse_over_training(t: dict, out: Path | None):
    return layer_grid(
        t,
        out,
        "spectrum_summary",
        "frac_above_half",
        r"conv\d+",
        f"fraction of σ/σ₁ > {COLLAPSE_LEVEL}",
        "Spectral collapse over training: normalised singular values of the critic convolutions "
        "above 0.5 (mean ± 1 std over seeds)",
        "spectral_collapse_over_training",
    )
