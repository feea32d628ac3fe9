"""``ssgan aggregate``: every table of a results folder, in the order the modules read.

Input: RESULTS/runs/<dataset>/<method>/seed<seed>/ (docs/run_layout.md) and, optionally, the
suite config (its ``comparisons:``); nothing else is read. Output: the files in TABLES, in the
tables folder. The recipe is in docs/analysis.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from ssgan import io, plugins, published
from ssgan.analysis import claims as C
from ssgan.analysis import paper_table, published_table, report_pages
from ssgan.analysis import runs as R
from ssgan.analysis import tables as T
from ssgan.analysis.bn_modes import bn_mode_table
from ssgan.config.suite import check_comparisons, grid
from ssgan.errors import ConfigError

TABLES = (
    "runs.csv",
    "runs_outside_config.csv",
    "fid_pairs.csv",
    "relative_fid_reduction.csv",
    "leaderboard.csv",
    "paper_table.md",
    "paper_table.tex",
    "published.csv",
    "published.md",
    "claims.csv",
    "fid_bn_modes.csv",
    *(f"{name}.csv" for name in R.PROBES),
)
PAGES = report_pages.PAGES  # tables/html/<stem>.html, shown in the report


PIPELINE_CHECK = (
    "pipeline check, not evidence (suite config pipeline_check: true; tiny networks and few "
    "iterations)"
)


def suite_grid(suite) -> set | None:
    """The suite config's (dataset, method, seed) cells, or None without a suite grid."""
    if not suite or not suite.get("datasets") or not suite.get("methods"):
        return None
    from ssgan.config.suite import grid

    return set(grid(suite))


def write_csv(df: pd.DataFrame, path: Path) -> None:
    with io.atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def in_config(runs: pd.DataFrame, suite: dict | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the runs a suite config's grid names, the others): the tables hold the first only, so
    a method removed from the suite leaves them; without a suite (or grid) every run is in."""
    if not suite or not suite.get("datasets") or not suite.get("methods"):
        return runs, runs.iloc[0:0]
    cells = {(d, m, int(s)) for d, m, s in grid(suite)}
    named = [(d, m, int(s)) in cells for d, m, s in zip(runs.dataset, runs.method, runs.seed)]
    named = pd.Series(named, index=runs.index, dtype=bool)
    return runs[named].reset_index(drop=True), runs[~named].reset_index(drop=True)


def aggregate(
    results, out=None, n_boot=10000, seed=0, baseline=None, treatment=None, suite=None
) -> dict:
    """Writes every file in TABLES to ``out`` (default RESULTS/tables); returns the DataFrames.
    Comparisons: ``baseline``/``treatment``, else ``suite['comparisons']``, else the default
    (``tables.comparisons``)."""
    if n_boot < 1:
        raise R.AnalysisError(f"--bootstrap must be at least 1, got {n_boot}")
    results = Path(results)
    out = Path(out) if out else results / "tables"
    runs, outside = in_config(R.runs_table(results), suite)
    if suite and not (baseline or treatment):  # the workflow's config check, same words
        try:
            check_comparisons(suite, C.CLAIMS)
        except R.AnalysisError:
            raise
        except ConfigError as err:
            raise R.AnalysisError(str(err)) from None
    comps = T.comparisons(runs, suite, baseline, treatment)
    datasets = T.comparison_datasets(runs, comps)
    probes = {name: R.gather(results, runs, name) for name in R.PROBES}
    pairs = T.fid_pairs(runs, comps)
    grid = suite_grid(suite)
    red = T.reduction_table(runs, pairs, comps, datasets, n_boot, seed, grid)
    kinds = dict(zip(runs["method"], runs["method_kind"].fillna(runs["method"])))
    claims = C.claims_table(
        comps, datasets, pairs, probes, lambda m: kinds.get(m, m), n_boot, seed, runs
    )
    md, tex = paper_table.paper_table(red, runs, comps)
    if suite and suite.get("pipeline_check"):  # the quick config: tiny networks, few iterations
        for df in (red, claims):
            df["note"] = [PIPELINE_CHECK + (f"; {n}" if n else "") for n in df["note"].fillna("")]
        md = f"**{PIPELINE_CHECK}.**\n\n" + md
        tex = f"% {PIPELINE_CHECK}\n" + tex
    pub = published_table.published_table(results, runs, red)
    frames = {
        "runs": runs.drop(columns=["recipe"]),  # compared by fid_pairs, not a table column
        "runs_outside_config": outside.drop(columns=["recipe"]),
        "fid_pairs": pairs,
        "relative_fid_reduction": red,
        "leaderboard": T.leaderboard(runs, red),
        "claims": claims,
        "fid_bn_modes": bn_mode_table(runs),
        "published": pub,
        **probes,
    }
    for name, df in frames.items():
        write_csv(df, out / f"{name}.csv")
    io.write_text(out / "paper_table.md", md)
    io.write_text(out / "paper_table.tex", tex)
    pub_md = published_table.published_markdown(pub)
    if suite and suite.get("pipeline_check"):
        pub_md = f"**{PIPELINE_CHECK}.**\n\n" + pub_md
    io.write_text(out / "published.md", pub_md)
    report_pages.write_pages(out)  # the tables as HTML pages for the Snakemake report
    return frames


def summary(frames) -> str:
    runs, red, claims = frames["runs"], frames["relative_fid_reduction"], frames["claims"]
    counts = runs["status"].value_counts()
    lines = [f"{len(runs)} runs: " + ", ".join(f"{counts[s]} {s}" for s in counts.index)]
    if len(red) and str(red["note"].iloc[0]).startswith(PIPELINE_CHECK):
        lines.insert(0, PIPELINE_CHECK.capitalize())
    if len(outside := frames["runs_outside_config"]):
        lines.append(f"{len(outside)} runs not in the config's grid: runs_outside_config.csv")
    for r in red.itertuples():
        lines.append(
            f"  {r.comparison}, {r.dataset_name}: r = {100 * r.r_mean:.2f}% (n={r.n_pairs} pairs, "
            f"95% t-CI [{100 * r.r_t_ci_low:.2f}%, {100 * r.r_t_ci_high:.2f}%], "
            f"t-test p_holm={r.p_ttest_holm:.3g}, sign-flip p_holm={r.p_perm_holm:.3g}): "
            f"{r.verdict}"
            + (" (the sign-flip rule disagrees)" if r.tests_disagree else "")
            + (f"; dropped {r.dropped}" if r.dropped else "")
        )
    for c in claims.itertuples():
        lines.append(f"  {c.comparison} {c.claim} {c.dataset_name}: {c.verdict} (n={c.n})")
    return "\n".join(lines)


def cli(args) -> int:
    from ssgan.config.yaml_io import load_yaml

    results = Path(args.results)
    if not results.is_dir():
        raise R.AnalysisError(f"results folder {results} does not exist")
    if not R.discover(results):
        raise R.AnalysisError(
            f"no run directories under {results}/runs/<dataset>/<method>/seed<N>/"
        )
    suite = load_yaml(args.config) if getattr(args, "config", None) else None
    plugins.load((suite or {}).get("plugins"))
    for note in published.skipped():  # also in published.md
        print(f"ssgan aggregate: {note}", file=sys.stderr)
    frames = aggregate(
        results,
        args.out,
        args.bootstrap,
        args.seed,
        getattr(args, "baseline", None),
        getattr(args, "treatment", None),
        suite,
    )
    print(summary(frames))
    print(
        f"tables written to {Path(args.out) if args.out else results / 'tables'}", file=sys.stdout
    )
    return 0
