"""Figures from the tables of ``ssgan aggregate`` (RESULTS/tables or ``--tables``) and the run
folders' sample grids; per comparison where a figure compares two methods.

Every figure in FIGURES is always written, as PNG and PDF: a panel whose data are absent
says so in words instead of disappearing, so the workflow can declare a fixed list.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ssgan.analysis import stats  # noqa: E402
from ssgan.analysis.figure_kit import (  # noqa: E402
    FORMATS,
    color,
    empty_figure,
    grid,
    legend,
    mean_band,
    no_data,
    save,
    wrap,
)
from ssgan.analysis.probe_plots import (  # noqa: E402
    layer_grid,
    samples,
    sparsity_over_training,
    weight_hist_end,
)
from ssgan.analysis.runs import (  # noqa: E402
    BASELINE,
    PROBES,
    TREATMENT,
    AnalysisError,
    dataset_name,
    dataset_order,
    method_name,
    method_order,
    remember_variants,
    usable,
)
from ssgan.analysis.spectrum_plots import (  # noqa: E402
    spectral_collapse_over_training,
    spectrum_over_training,
)
from ssgan.analysis.stu_plots import (  # noqa: E402
    stu_density_per_layer,
    stu_exploration_over_training,
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
    "stu_density_per_layer",
    "stu_exploration_over_training",
    "spectrum_over_training",
    "spectral_collapse_over_training",
)


def figure_files() -> list[str]:
    """The fixed list of files ``ssgan plot`` writes (for the workflow's outputs)."""
    return [f"{name}.{ext}" for name in FIGURES for ext in FORMATS]


# ---------------------------------------------------------------- FID


def fid_per_dataset(t: dict, out: Path | None):
    runs = t["runs"]
    ok = runs[usable(runs)] if len(runs) else runs
    datasets = dataset_order(runs["dataset"])
    ncols = min(4, max(len(datasets), 1))
    most = max([runs.loc[runs["dataset"] == d, "method"].nunique() for d in datasets] + [1])
    fig, axes = grid(
        math.ceil(len(datasets) / ncols),
        ncols,
        "FID per dataset: one dot per seed, geometric mean with 95% CI",
        panel=(max(3.4, 0.8 * most + 1.0), 3.2 if most > 3 else 2.7),
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
                # the geometric mean and its interval (t on log FID, back-transformed: above 0,
                # as leaderboard.csv), the interval only from MIN_N seeds on: over 2 or 3 it is
                # wide enough to set the axis and says nothing; below, the mean alone, hollow
                lo, hi = stats.log_t_ci(v) if len(v) >= stats.MIN_N else (np.nan, np.nan)
                g = stats.gmean(v)
                err = None if not np.isfinite(lo) else [[g - lo], [hi - g]]
                face = color(m) if err is not None else "white"
                ax.errorbar(
                    i + 0.14,
                    g,
                    yerr=err,
                    fmt="D",
                    ms=6,
                    color=color(m),
                    mfc=face,
                    capsize=4,
                    lw=1.8,
                )
        counts = [int(((ok["dataset"] == d) & (ok["method"] == m)).sum()) for m in ms]
        many = len(ms) > 3
        ax.set_xticks(
            range(len(ms)),
            [f"{wrap(method_name(m))}\n(n={n})" for m, n in zip(ms, counts)],
            fontsize=8,
            rotation=30 if many else 0,
            ha="right" if many else "center",
            rotation_mode="anchor",
        )
        ax.set_xlim(-0.6, len(ms) - 0.4)
        ax.grid(axis="x", visible=False)
        ax.set_title(dataset_name(d))
        ax.set_ylabel("FID (lower is better)")
        ax.set_ylim(bottom=max(0.0, ax.get_ylim()[0]))
        if not counts or not sum(counts):
            no_data(ax, "no completed run with a FID")
    for ax in list(axes.flat)[len(datasets) :]:
        ax.axis("off")
    if not datasets:
        no_data(axes[0, 0], "no runs")
    extra = [
        plt.Line2D([], [], marker="o", ls="", color="0.4", alpha=0.6, label="seed"),
        plt.Line2D(
            [],
            [],
            marker="D",
            color="0.4",
            label=f"geometric mean, 95% CI (t on log FID), n ≥ {stats.MIN_N}",
        ),
        plt.Line2D(
            [], [], marker="D", ls="", color="0.4", mfc="white", label="geometric mean (n < 5)"
        ),
    ]
    legend(fig, methods, extra)
    return save(fig, out, "fid_per_dataset")


def reduction_points(red: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """What ``relative_reduction`` draws, in percent: per comparison (panel) and dataset (x),
    one ``seed`` point per complete pair (r_s) and one ``mean`` point (mean r over ``n`` pairs)
    with its 95% Student-t interval [lo, hi] (the verdict rule's interval, r = 1 - exp(log-ratio
    CI); drawn from MIN_N pairs on)."""
    rows = []
    for comp, sub in red.groupby("comparison", sort=False):
        for x, r in enumerate(sub.itertuples()):
            sel = (pairs["comparison"] == comp) & (pairs["dataset"] == r.dataset)
            for seed, v in pairs.loc[sel, ["seed", "r"]].itertuples(index=False):
                rows.append(
                    (comp, r.treatment, r.dataset, x, "seed", seed, 100 * v, np.nan, np.nan, 1)
                )
            if r.n_pairs:
                lo, hi = 100 * r.r_t_ci_low, 100 * r.r_t_ci_high
                mean = 100 * r.r_mean
                rows.append((comp, r.treatment, r.dataset, x, "mean", -1, mean, lo, hi, r.n_pairs))
    cols = ["comparison", "treatment", "dataset", "x", "kind", "seed", "y", "lo", "hi", "n"]
    return pd.DataFrame(rows, columns=cols)


MIN_SPAN = 20.0  # percentage points: the y range of relative_reduction is never narrower


def reduction_ylim(pts: pd.DataFrame, published: bool) -> tuple[float, float]:
    """The y range shared by every panel of ``relative_reduction``: every drawn point and
    interval, 0 and (where drawn) the published range, padded by 8%, at least MIN_SPAN wide."""
    shown = pts[pts["n"] >= stats.MIN_N]  # the intervals drawn
    values = [0.0, *pts["y"], *shown["lo"], *shown["hi"]]
    if published:
        values += [100 * v for v in stats.PUBLISHED_RANGE]
    values = np.asarray(values, float)
    lo, hi = np.nanmin(values), np.nanmax(values)
    pad = 0.08 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    if hi - lo < MIN_SPAN:
        mid = (hi + lo) / 2
        lo, hi = mid - MIN_SPAN / 2, mid + MIN_SPAN / 2
    return float(lo), float(hi)


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
        sharey=True,  # one scale for every comparison: a lone pair cannot fill its own panel
        panel=(max(5.6, 1.5 * n_data + 2.5), 3.6),
    )
    lo, hi = stats.PUBLISHED_RANGE
    band = None
    for ax, comp in zip(axes[:, 0], comps):
        sub, p = red[red["comparison"] == comp], pts[pts["comparison"] == comp]
        B, T = method_name(sub["baseline"].iloc[0]), method_name(sub["treatment"].iloc[0])
        c = color(sub["treatment"].iloc[0])
        ax.set_title(wrap(f"{T} vs {B}: r = 1 − FID({T}) / FID({B})", 64), fontsize=10)
        paper = (sub["baseline"].iloc[0], sub["treatment"].iloc[0]) == (BASELINE, TREATMENT)
        if paper and np.isfinite(lo):  # NaN: the published file is skipped
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
            shown = np.isfinite(m.lo) and m.n >= stats.MIN_N  # as fid_per_dataset
            err = [[m.y - m.lo], [m.hi - m.y]] if shown else None
            face = c if shown else "white"
            ax.errorbar(
                m.x + 0.14, m.y, yerr=err, fmt="D", ms=7, color=c, mfc=face, capsize=4, lw=1.8
            )
            ax.annotate(  # n on the panel: a mean of 1 or 2 pairs is no effect
                f"n={m.n}",
                (m.x + 0.14, m.hi if shown else m.y),
                xytext=(7, 3),
                textcoords="offset points",
                fontsize=8,
                color="0.3",
            )
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
    else:
        axes[0, 0].set_ylim(*reduction_ylim(pts, band is not None))
    extra = [band] if band is not None else []
    extra += [
        plt.Line2D([], [], marker="o", ls="", color="0.4", alpha=0.5, label="seed pair"),
        plt.Line2D(
            [], [], marker="D", color="0.4", label=f"mean ± 95% t interval, n ≥ {stats.MIN_N}"
        ),
        plt.Line2D([], [], marker="D", ls="", color="0.4", mfc="white", label="mean (n < 5)"),
    ]
    fig.legend(handles=extra, loc="outside lower center", ncols=2, frameon=False, fontsize=9)
    return save(fig, out, "relative_reduction")


CURVE_ROWS = (  # (column of fid_curves.csv, y label): KID first, unbiased at few samples
    ("kid_mean", "KID (lower is better)"),
    ("fid", "FID (lower is better)"),
)


def fid_over_training(t: dict, out: Path | None):
    """Columns = datasets; rows: KID (where recorded) and FID at each evaluated iteration, mean
    ± 1 std over seeds per method. KID comes first: with the few hundred samples of a CPU run
    FID is biased upwards, KID is not."""
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
            "KID and FID over training",
            "no intermediate FID evaluations in any run\n"
            "(fid_curve.csv absent; set fid.checkpoints to evaluate during training)",
        )
    rows = [
        (col, label)
        for col, label in CURVE_ROWS
        if col in curves and pd.to_numeric(curves[col], errors="coerce").notna().any()
    ]
    ncols = min(4, max(len(datasets), 1))
    blocks = math.ceil(len(datasets) / ncols)
    what = " and ".join(label.split(" ")[0] for _, label in rows)
    fig, axes = grid(blocks * len(rows), ncols, f"{what} over training (mean ± 1 std over seeds)")
    for i, d in enumerate(datasets):
        sub = curves[curves["dataset"] == d]
        for r, (col, label) in enumerate(rows):
            ax = axes[(i // ncols) * len(rows) + r, i % ncols]
            ax.set_title(f"{dataset_name(d)} · {label.split(' ')[0]}")
            if sub.empty:
                no_data(
                    ax,
                    "no intermediate FID evaluations\n(fid_curve.csv absent;\nset fid.checkpoints)",
                )
                continue
            for m in method_order(sub["method"], t["order"]):
                mine = sub[sub["method"] == m].assign(**{col: pd.to_numeric(sub[col], "coerce")})
                mean_band(ax, mine.dropna(subset=[col]), "iteration", col, color(m))
            ax.set_xlabel("generator iteration")
            ax.set_ylabel(label)
    for k in range(len(datasets), blocks * ncols):
        for r in range(len(rows)):
            axes[(k // ncols) * len(rows) + r, k % ncols].axis("off")
    if not datasets:
        no_data(axes[0, 0], "no runs")
    legend(fig, method_order(curves["method"], t["order"]))
    return save(fig, out, "fid_over_training")


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
    remember_variants(t["runs"])  # a variant is drawn under its method's name
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
    if baseline or treatment:  # the per-method figures show only the selected comparisons' methods
        t = {n: df[df["method"].isin(order)] if "method" in df else df for n, df in t.items()}
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
        "fraction of nonzero weights < 0",
        "Negative nonzero deconvolution weights over training (mean ± 1 std over seeds)",
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
    stu_density_per_layer(t, out)
    stu_exploration_over_training(t, out)
    spectrum_over_training(t, out, results)
    spectral_collapse_over_training(t, out)
    return [out / f for f in figure_files()]


def cli(args) -> int:
    from ssgan.analysis.runs import load_plugins

    for note in load_plugins(Path(args.results)):  # a plugin method's name and colour
        print(f"ssgan plot: note: {note}", file=sys.stderr)
    files = plot_all(
        args.results,
        args.out,
        getattr(args, "tables", None),
        getattr(args, "baseline", None),
        getattr(args, "treatment", None),
    )
    print(f"{len(files)} figure files written to {args.out}")
    return 0
