"""Figure building blocks shared by ``plots`` and ``probe_plots``: panel grids, fixed method
colors, the "no data" message, mean ± std bands and saving as PNG and PDF."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ssgan import io  # noqa: E402
from ssgan.analysis.runs import (  # noqa: E402
    method_name,
)

FORMATS = ("png", "pdf")
METHOD_COLORS = {
    "wgan_gp": "#4C72B0",
    "ssgan": "#DD8452",
    "stu_gan": "#55A868",
    "sr_gan": "#C44E52",
    "sn_gan": "#8172B3",
}
PANEL = (3.4, 2.7)  # inches per subplot
DPI = 150


def color(method: str) -> str:
    from ssgan.methods import METHODS

    if method in METHOD_COLORS:
        return METHOD_COLORS[method]
    if getattr(METHODS.get(method), "color", None):  # a plugin method's own colour
        return METHODS[method].color
    extra = sns.color_palette("tab10").as_hex()[4:]
    return extra[sum(map(ord, method)) % len(extra)]  # stable for a given name


def natural(names) -> list[str]:
    """deconv2 < deconv10."""
    return sorted(
        set(map(str, names)),
        key=lambda s: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)],
    )


def wrap(label: str, width: int = 14) -> str:
    """A long tick label over several lines (at spaces), so neighbours do not overlap."""
    return textwrap.fill(str(label), width, break_long_words=False) if len(label) > width else label


TITLE_CHARS_PER_INCH = 8.5  # bold suptitle at this font size: ~0.115 in per character


def grid(nrows: int, ncols: int, title: str, sharey=False, panel=PANEL):
    """A constrained-layout grid of panels; the title wrapped to the figure's width (a long
    title on one line ran past both edges)."""
    nrows, ncols = max(nrows, 1), max(ncols, 1)
    width = max(panel[0] * ncols + 0.4, 7.0)
    title = textwrap.fill(title, int(width * TITLE_CHARS_PER_INCH), break_long_words=False)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        squeeze=False,
        layout="constrained",
        sharey=sharey,
        figsize=(width, panel[1] * nrows + 0.9 + 0.25 * title.count("\n")),
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
    # per-axes tick switches: set_yticks([]) would empty every panel sharing this y axis
    ax.tick_params(left=False, labelleft=False, bottom=False, labelbottom=False)
    ax.grid(False)


def legend(fig, methods, extra=(), labels=None) -> None:
    """One handle per method (its colour, its display name or ``labels[m]``) and ``extra``."""
    labels = labels or {}
    handles = [
        plt.Line2D([], [], color=color(m), lw=2.5, label=labels.get(m) or method_name(m))
        for m in methods
    ]
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
