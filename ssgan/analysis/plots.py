"""Figures from the tables of ``ssgan aggregate`` (RESULTS/tables or ``--tables``) and the run
folders' sample grids; per comparison where a figure compares two methods.

Every figure in FIGURES is always written, as PNG and PDF: a panel whose data are absent
says so in words instead of disappearing, so the workflow can declare a fixed list.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ssgan import io  # noqa: E402
from ssgan.analysis import stats  # noqa: E402
from ssgan.analysis.runs import (  # noqa: E402
    BASELINE,
    PROBES,
    TREATMENT,
    AnalysisError,
    dataset_name,
    dataset_order,
    method_name,
    method_order,
    usable,
)

FIGURES = (
    "fid_per_dataset",
    "relative_reduction",
    "fid_over_training",
    "sparsity_over_training",
    "feature_sparsity_over_training",
    "weight_signs_over_training",
    "weight_hist_end",
    "dead_units_over_training",
    "samples",
)
FORMATS = ("png", "pdf")
METHOD_COLORS = {
    "wgan_gp": "#4C72B0",
    "ssgan": "#DD8452",
    "stu_gan": "#55A868",
    "sr_gan": "#C44E52",
}
PANEL = (3.4, 2.7)  # inches per subplot
DPI = 150


def figure_files() -> list[str]:
    """The fixed list of files ``ssgan plot`` writes (for the workflow's outputs)."""
    return [f"{name}.{ext}" for name in FIGURES for ext in FORMATS]


def color(method: str) -> str:
    if method in METHOD_COLORS:
        return METHOD_COLORS[method]
    extra = sns.color_palette("tab10").as_hex()[4:]
    return extra[sum(map(ord, method)) % len(extra)]  # stable for a given name


def natural(names) -> list[str]:
    """deconv2 < deconv10."""
    return sorted(
        set(map(str, names)),
        key=lambda s: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)],
    )


def grid(nrows: int, ncols: int, title: str, sharey=False, panel=PANEL):
    nrows, ncols = max(nrows, 1), max(ncols, 1)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        squeeze=False,
        layout="constrained",
        sharey=sharey,
        figsize=(max(panel[0] * ncols + 0.4, 7.0), panel[1] * nrows + 0.9),
    )
    fig.suptitle(title, fontweight="bold")
    return fig, axes


def empty_figure(out: Path | None, name: str, title: str, message: str):
    """The figure's file, holding only the reason why there is nothing to show."""
    fig, axes = grid(1, 1, title, panel=(7.0, 3.0))
    no_data(axes[0, 0], message)
    return save(fig, out, name)


def no_data(ax, message: str) -> None:
    ax.text(
        0.5,
        0.5,
        message,
        ha="center",
        va="center",
        wrap=True,
        fontsize=9,
        color="0.35",
        transform=ax.transAxes,
    )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def legend(fig, methods, extra=()) -> None:
    handles = [plt.Line2D([], [], color=color(m), lw=2.5, label=method_name(m)) for m in methods]
    handles += list(extra)
    if handles:
        fig.legend(
            handles=handles, loc="outside lower center", ncols=min(len(handles), 4), frameon=False
        )


def save(fig, out: Path | None, name: str):
    """Writes ``name``.png/.pdf into ``out`` and closes the figure; with ``out`` None returns
    the figure instead (the tests read back what was drawn)."""
    if out is None:
        return fig
    for ext in FORMATS:
        with io.atomic_path(out / f"{name}.{ext}") as tmp:
            fig.savefig(
                tmp, format=ext, dpi=DPI, metadata={"CreationDate": None} if ext == "pdf" else None
            )
        fig.set_layout_engine(
            "none"
        )  # the layout is done: keep it for the other formats (2x faster)
    plt.close(fig)


def mean_band(ax, df: pd.DataFrame, x: str, y: str, c, label=None, ls="-") -> None:
    """Mean over seeds at each x with a +-1 std band (where >= 2 seeds)."""
    g = df.groupby(x)[y].agg(["mean", "std", "count"]).sort_index()
    ax.plot(
        g.index,
        g["mean"],
        color=c,
        ls=ls,
        lw=1.8,
        label=label,
        marker="o" if len(g) < 15 else None,
        ms=3,
    )
    sd = g["std"].where(g["count"] > 1)
    upper = 1.0 if y.endswith("_frac") else np.inf  # fractions live in [0, 1], FIDs in [0, inf)
    ax.fill_between(
        g.index,
        (g["mean"] - sd).clip(lower=0),
        (g["mean"] + sd).clip(upper=upper),
        color=c,
        alpha=0.2,
        lw=0,
    )


# ---------------------------------------------------------------- FID


def fid_per_dataset(t: dict, out: Path | None):
    runs = t["runs"]
    ok = runs[usable(runs)] if len(runs) else runs
    datasets = dataset_order(runs["dataset"])
    ncols = min(4, max(len(datasets), 1))
    fig, axes = grid(
        math.ceil(len(datasets) / ncols),
        ncols,
        "FID per dataset: one dot per seed, mean with 95% CI",
    )
    methods = method_order(runs["method"], t["order"])
    for ax, d in zip(axes.flat, datasets):
        ms = method_order(runs.loc[runs["dataset"] == d, "method"], t["order"])
        for i, m in enumerate(ms):
            v = ok.loc[(ok["dataset"] == d) & (ok["method"] == m), "fid"].to_numpy(float)
            ax.scatter(
                i - 0.12 + np.linspace(-0.07, 0.07, len(v)),
                v,
                s=22,
                color=color(m),
                alpha=0.6,
                lw=0,
            )
            if len(v):
                lo, hi = stats.t_ci(v)
                err = None if not np.isfinite(lo) else [[v.mean() - lo], [hi - v.mean()]]
                ax.errorbar(
                    i + 0.14, v.mean(), yerr=err, fmt="D", ms=6, color=color(m), capsize=4, lw=1.8
                )
        counts = [int(((ok["dataset"] == d) & (ok["method"] == m)).sum()) for m in ms]
        ax.set_xticks(
            range(len(ms)), [f"{method_name(m)}\n(n={n})" for m, n in zip(ms, counts)], fontsize=8
        )
        ax.set_xlim(-0.6, len(ms) - 0.4)
        ax.grid(axis="x", visible=False)
        ax.set_title(dataset_name(d))
        ax.set_ylabel("FID (lower is better)")
        ax.set_ylim(
            bottom=max(0.0, ax.get_ylim()[0])
        )  # a t interval over few seeds can reach below 0
        if not counts or not sum(counts):
            no_data(ax, "no completed run with a FID")
    for ax in list(axes.flat)[len(datasets) :]:
        ax.axis("off")
    if not datasets:
        no_data(axes[0, 0], "no runs")
    extra = [
        plt.Line2D([], [], marker="o", ls="", color="0.4", alpha=0.6, label="seed"),
        plt.Line2D([], [], marker="D", color="0.4", label="mean ± 95% CI (t)"),
    ]
    legend(fig, methods, extra)
    return save(fig, out, "fid_per_dataset")


def reduction_points(red: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """What ``relative_reduction`` draws, in percent: per comparison (panel) and dataset (x),
    one ``seed`` point per complete pair (r_s) and one ``mean`` point (mean r) with its 95%
    Student-t interval [lo, hi] (the verdict rule's interval, r = 1 - exp(log-ratio CI))."""
    rows = []
    for comp, sub in red.groupby("comparison", sort=False):
        for x, r in enumerate(sub.itertuples()):
            sel = (pairs["comparison"] == comp) & (pairs["dataset"] == r.dataset)
            for seed, v in pairs.loc[sel, ["seed", "r"]].itertuples(index=False):
                rows.append(
                    (comp, r.treatment, r.dataset, x, "seed", seed, 100 * v, np.nan, np.nan)
                )
            if r.n_pairs:
                lo, hi = 100 * r.r_t_ci_low, 100 * r.r_t_ci_high
                rows.append((comp, r.treatment, r.dataset, x, "mean", -1, 100 * r.r_mean, lo, hi))
    cols = ["comparison", "treatment", "dataset", "x", "kind", "seed", "y", "lo", "hi"]
    return pd.DataFrame(rows, columns=cols)


def relative_reduction(t: dict, out: Path | None):
    """One panel per comparison: r per seed pair and dataset, mean with its t interval."""
    red, pairs = t["relative_fid_reduction"], t["fid_pairs"]
    pts = reduction_points(red, pairs)
    comps = list(dict.fromkeys(red["comparison"]))
    n_data = max([int((red["comparison"] == c).sum()) for c in comps] + [1])
    fig, axes = grid(
        len(comps),
        1,
        "Relative FID decrease per dataset (paired seeds)",
        panel=(max(5.6, 1.5 * n_data + 2.5), 3.6),
    )
    lo, hi = stats.PUBLISHED_RANGE
    band = None
    for ax, comp in zip(axes[:, 0], comps):
        sub, p = red[red["comparison"] == comp], pts[pts["comparison"] == comp]
        B, T = method_name(sub["baseline"].iloc[0]), method_name(sub["treatment"].iloc[0])
        c = color(sub["treatment"].iloc[0])
        ax.set_title(f"{T} vs {B}: r = 1 − FID({T}) / FID({B})", fontsize=10)
        if sub["baseline"].iloc[0] == BASELINE and sub["treatment"].iloc[0] == TREATMENT:
            band = ax.axhspan(
                100 * lo,
                100 * hi,
                color="0.6",
                alpha=0.25,
                lw=0,
                label=f"published range ({100 * lo:.2f}%–{100 * hi:.2f}%)",
            )
        ax.axhline(0, color="0.3", lw=0.8)
        for x, g in p[p["kind"] == "seed"].groupby("x"):
            ax.scatter(
                x - 0.12 + np.linspace(-0.07, 0.07, len(g)), g["y"], s=22, color=c, alpha=0.5, lw=0
            )
        for m in p[p["kind"] == "mean"].itertuples():
            err = None if not np.isfinite(m.lo) else [[m.y - m.lo], [m.hi - m.y]]
            ax.errorbar(m.x + 0.14, m.y, yerr=err, fmt="D", ms=7, color=c, capsize=4, lw=1.8)
        for x, r in enumerate(sub.itertuples()):
            if not r.n_pairs:
                ax.text(
                    x,
                    0.5,
                    "no complete\npairs",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="0.35",
                    transform=ax.get_xaxis_transform(),
                )
        ax.set_xticks(
            range(len(sub)),
            [f"{r.dataset_name}\n(n={r.n_pairs} pairs, {r.verdict})" for r in sub.itertuples()],
            fontsize=8,
        )
        ax.set_xlim(-0.6, max(len(sub), 1) - 0.4)
        ax.set_ylabel("relative FID decrease r (%)")
        ax.grid(axis="x", visible=False)
    if not comps:
        no_data(axes[0, 0], "no comparisons (no datasets with runs of a baseline and a treatment)")
    extra = [band] if band is not None else []
    extra += [
        plt.Line2D([], [], marker="o", ls="", color="0.4", alpha=0.5, label="seed pair"),
        plt.Line2D([], [], marker="D", color="0.4", label="mean ± 95% t interval"),
    ]
    fig.legend(handles=extra, loc="outside lower center", ncols=3, frameon=False, fontsize=9)
    return save(fig, out, "relative_reduction")


def fid_over_training(t: dict, out: Path | None):
    curves, runs = t["fid_curves"], t["runs"]
    datasets = dataset_order(runs["dataset"])
    n_evals = (
        curves.groupby("dataset")["iteration"].nunique() if len(curves) else pd.Series(dtype=int)
    )
    curves = curves[
        curves["dataset"].isin(n_evals[n_evals > 1].index)
    ]  # the final FID alone is no curve
    if curves.empty:
        return empty_figure(
            out,
            "fid_over_training",
            "FID over training",
            "no intermediate FID evaluations in any run\n"
            "(fid_curve.csv absent; set fid.checkpoints to evaluate during training)",
        )
    ncols = min(4, max(len(datasets), 1))
    fig, axes = grid(
        math.ceil(len(datasets) / ncols), ncols, "FID over training (mean ± 1 std over seeds)"
    )
    for ax, d in zip(axes.flat, datasets):
        sub = curves[curves["dataset"] == d]
        ax.set_title(dataset_name(d))
        if sub.empty:
            no_data(
                ax, "no intermediate FID evaluations\n(fid_curve.csv absent;\nset fid.checkpoints)"
            )
            continue
        for m in method_order(sub["method"], t["order"]):
            mean_band(ax, sub[sub["method"] == m], "iteration", "fid", color(m))
        ax.set_xlabel("generator iteration")
        ax.set_ylabel("FID (lower is better)")
    for ax in list(axes.flat)[len(datasets) :]:
        ax.axis("off")
    if not datasets:
        no_data(axes[0, 0], "no runs")
    legend(fig, method_order(curves["method"], t["order"]))
    return save(fig, out, "fid_over_training")


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


def layer_grid(t, out, table, column, layer_re, ylabel, title, name, hline=None):
    """Rows = datasets, columns = layers; one mean ± std line per method over training."""
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
    legend(fig, method_order(df["method"], t["order"]))
    return save(fig, out, name)


def sparsity_over_training(t, out):
    """Rows = datasets, columns = channel / spatial / output exact-zero fraction; one line per SASTM layer."""
    df, runs = t["sparsity"], t["runs"]
    cols = [
        ("channel_zero_frac", "channel coefficients a"),
        ("spatial_zero_frac", "spatial coefficients s"),
        ("output_zero_frac", "SASTM output Y"),
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
        3,
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
            for k, m in enumerate(method_order(sub["method"], t["order"])):
                for layer in natural(sub["layer"]):
                    g = sub[(sub["method"] == m) & (sub["layer"] == layer)]
                    mean_band(ax, g, "iteration", col, pal[layer], ls=styles[k % len(styles)])
            ax.set_title(f"{dataset_name(d)} · {what}", fontsize=10)
            ax.set_xlabel("generator iteration")
            ax.set_ylabel("fraction exactly zero" if ax is row[0] else "")
            ax.yaxis.set_tick_params(labelleft=True)
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
    methods = method_order(runs["method"], t["order"])
    fig, axes = grid(
        len(datasets), len(methods), "Samples (last grid of the lowest seed)", panel=(3.2, 3.5)
    )
    for row, d in zip(axes, datasets):
        for ax, m in zip(row, methods):
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


# ---------------------------------------------------------------- driver


REQUIRED = ("runs", "fid_pairs", "relative_fid_reduction", "claims", *PROBES)


def read_tables(tables: Path) -> dict:
    """Every table of ``ssgan aggregate`` that the figures draw; a missing one is an error that
    names it (an empty figure would hide the problem)."""
    missing = [f"{n}.csv" for n in REQUIRED if not (tables / f"{n}.csv").is_file()]
    if missing:
        raise AnalysisError(
            f"{tables} lacks {', '.join(missing)}; run `ssgan aggregate` (with --out {tables} "
            f"if the tables live elsewhere) first"
        )
    t = {}
    for n in REQUIRED:
        try:
            t[n] = pd.read_csv(
                tables / f"{n}.csv", dtype={"dataset": str, "method": str, "layer": str}
            )
        except pd.errors.EmptyDataError:
            raise AnalysisError(
                f"{tables / f'{n}.csv'} is empty (not written by ssgan aggregate)"
            ) from None
        for c in ("dataset", "method", "layer", "stage", "status"):
            if t[n].empty and c not in t[n]:
                t[n][c] = pd.Series(dtype=str)
    return t


def select(t: dict, baseline=None, treatment=None) -> dict:
    """Only the comparisons with this baseline / treatment (``ssgan plot --baseline/--treatment``);
    ``order``: the methods of the comparisons, baselines first (legends and panel order)."""
    red, pairs = t["relative_fid_reduction"], t["fid_pairs"]
    keep = pd.Series(True, index=red.index)
    if baseline:
        keep &= red["baseline"] == baseline
    if treatment:
        keep &= red["treatment"] == treatment
    if (baseline or treatment) and not keep.any():
        raise AnalysisError(
            f"no comparison with baseline={baseline or 'any'}, treatment={treatment or 'any'} in "
            f"the tables; they hold: {', '.join(dict.fromkeys(red['comparison'])) or 'none'}"
        )
    red = red[keep]
    order = tuple(dict.fromkeys([*red["baseline"], *red["treatment"]]))
    return {
        **t,
        "relative_fid_reduction": red,
        "fid_pairs": pairs[pairs["comparison"].isin(red["comparison"])],
        "order": order,
    }


def plot_all(results, out, tables=None, baseline=None, treatment=None) -> list[Path]:
    results, out = Path(results), Path(out)
    sns.set_theme(style="whitegrid", context="notebook", font_scale=0.9)
    t = select(read_tables(Path(tables) if tables else results / "tables"), baseline, treatment)
    fid_per_dataset(t, out)
    relative_reduction(t, out)
    fid_over_training(t, out)
    sparsity_over_training(t, out)
    layer_grid(
        t,
        out,
        "feature_sparsity",
        "zero_frac",
        r"block\d+",
        "fraction of exact zeros",
        "Feature-map sparsity over training: post-ReLU maps fed to the deconvolutions "
        "(mean ± 1 std over seeds)",
        "feature_sparsity_over_training",
    )
    layer_grid(
        t,
        out,
        "weight_signs",
        "neg_frac",
        r"deconv\d+",
        "fraction of weights < 0",
        "Negative deconvolution weights over training (mean ± 1 std over seeds)",
        "weight_signs_over_training",
        hline=0.5,
    )
    weight_hist_end(t, out)
    layer_grid(
        t,
        out,
        "dead_units",
        "dead_frac",
        r"bn\d+",
        "fraction of units ≤ 0 after BN",
        "Dead units after BatchNorm over training (mean ± 1 std over seeds)",
        "dead_units_over_training",
    )
    samples(t, out, results)
    return [out / f for f in figure_files()]


def cli(args) -> int:
    files = plot_all(
        args.results,
        args.out,
        getattr(args, "tables", None),
        getattr(args, "baseline", None),
        getattr(args, "treatment", None),
    )
    print(f"{len(files)} figure files written to {args.out}")
    return 0
