"""``ssgan plan``: how many seeds a grid needs (docs/analysis.md, "How many seeds").

Per comparison x dataset: the grid's n (paired seeds), its Holm family (the comparison's
datasets, the primary claim's family), the seed-to-seed sd of log(FID_t / FID_b) (measured on
a results folder's complete pairs, or assumed with ``--sd``), the minimum reduction detected
with 80% power at that n and family, and the seeds needed for 80% power at reductions of
4.76% (the paper's smallest), 10% and 20%. Formulas: ``power``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd
from scipy.stats import chi2

from ssgan.analysis import power
from ssgan.analysis import runs as R
from ssgan.analysis import tables as T

PLAN_COLUMNS = [
    "comparison",
    "dataset",
    "n",
    "family",
    "sd",
    "sd_source",
    "sd_measured",  # the sample sd of the pairs (--results); ``sd`` is its upper bound
    "pairs_measured",
    "min_detectable_r",
    *[f"seeds_for_{100 * r:g}pct" for r in power.PLAN_REDUCTIONS],
]


SD_UPPER_LEVEL = 0.90  # one-sided confidence of the sd the seeds are sized from (--results)


def sd_upper(sd: float, pairs: int, level: float = SD_UPPER_LEVEL) -> float:
    """One-sided upper confidence bound of a normal sd measured on ``pairs`` values:
    sd * sqrt((k - 1) / chi2_{1 - level, k - 1}), k = pairs (NaN below 2 pairs). Sizing from the
    point estimate under-powers the grid half the time; 3 pairs at sd 0.106 give 0.33, 11 at 0.08 give 0.115."""
    if pairs < 2 or not math.isfinite(sd):
        return math.nan
    return float(sd * math.sqrt((pairs - 1) / chi2.ppf(1 - level, pairs - 1)))


def plan_row(comparison, dataset, n, family, sd, source, measured=math.nan, pairs=0) -> dict:
    row = dict(comparison=comparison, dataset=dataset, n=n, family=family, sd=sd)
    row.update(sd_measured=measured, pairs_measured=pairs)
    row.update(sd_source=source, min_detectable_r=power.min_detectable(sd, n, family))
    for r in power.PLAN_REDUCTIONS:
        row[f"seeds_for_{100 * r:g}pct"] = power.seeds_needed(r, sd, family)
    return row


def grid_cells(suite: dict) -> dict[str, dict[str, int]]:
    """Per comparison of a suite config, per dataset where both methods run: the paired seeds."""
    from ssgan.config.suite import grid

    cells = grid(suite)
    methods = list(dict.fromkeys(m for _, m, _ in cells))
    fake = pd.DataFrame(cells, columns=["dataset", "method", "seed"])
    comps = T.comparisons(fake.assign(status="completed"), suite)
    out = {}
    for c in comps:
        if c.baseline not in methods or c.treatment not in methods:
            continue
        per = {}
        for d in R.dataset_order(fake["dataset"]):
            seeds = [
                set(fake.loc[(fake["dataset"] == d) & (fake["method"] == m), "seed"])
                for m in (c.baseline, c.treatment)
            ]
            if seeds[0] & seeds[1]:
                per[d] = len(seeds[0] & seeds[1])
        out[c.name] = per
    return out


def plan_table(results=None, suite=None, sd=None, n=None, family=None) -> pd.DataFrame:
    """From a results folder (measured sd per comparison x dataset; n and family from the suite
    config when given, else the folder's pairs), or from a suite config and an assumed sd, or
    for one assumed (sd, n, family)."""
    rows = []
    if results is not None:
        runs = R.runs_table(Path(results))
        comps = T.comparisons(runs, suite)
        pairs = T.fid_pairs(runs, comps)
        grid = grid_cells(suite) if suite else {}
        for c, ds in T.comparison_datasets(runs, comps).items():
            comp = next(x for x in comps if x.name == c)
            sds = T.log_ratio_sd(pairs, comp, ds)
            for d, s in zip(ds, sds):
                k = int((pairs["comparison"].eq(c) & pairs["dataset"].eq(d)).sum())
                gn = grid.get(c, {}).get(d, k)
                fam = family or len(grid.get(c) or ds)
                up = sd_upper(s, k)
                src = (
                    f"{SD_UPPER_LEVEL:.0%} upper bound (chi-square, {k - 1} df) of the sd "
                    f"measured on {k} pairs"
                    if math.isfinite(up)
                    else "unmeasured (< 2 pairs)"
                )
                if sd is not None and not math.isfinite(up):
                    up, src = sd, "assumed (--sd; < 2 pairs measured)"
                rows.append(plan_row(c, d, n or gn, fam, up, src, s, k))
    elif suite is not None:
        for c, per in grid_cells(suite).items():
            for d, k in per.items():
                rows.append(plan_row(c, d, n or k, family or len(per), sd, "assumed (--sd)"))
    else:
        rows.append(plan_row("", "", n or 5, family or 1, sd, "assumed (--sd)"))
    return pd.DataFrame(rows, columns=PLAN_COLUMNS)


def markdown(table: pd.DataFrame) -> str:
    f = lambda v, pct=False: (  # noqa: E731
        "–"
        if not isinstance(v, str) and not math.isfinite(v)
        else f"{100 * v:.1f}%"
        if pct
        else f"{v:.3g}"
        if isinstance(v, float) and not float(v).is_integer()
        else str(int(v))
    )
    red = [f"seeds for {100 * r:g}%" for r in power.PLAN_REDUCTIONS]
    head = ["comparison", "dataset", "n", "family", "sd", "sd from", "min. detectable r", *red]
    out = ["| " + " | ".join(head) + " |", "|---|---" + "|---:" * (len(head) - 2) + "|"]
    for r in table.itertuples(index=False):
        cells = [r.comparison or "–", r.dataset or "–", f(r.n), f(r.family), f(r.sd)]
        cells += [r.sd_source, f(r.min_detectable_r, pct=True)]
        cells += [f(v) for v in r[-len(red) :]]
        out.append("| " + " | ".join(cells) + " |")
    note = (
        f"80% power of the verdict rule (paired t-test at 0.05 / family, Holm's first step: a "
        f"lower bound), no verdict below {power.MIN_N} pairs; '–': not reachable or no sd."
    )
    return "\n".join(out) + "\n\n" + note + "\n"


def cli(args) -> int:
    from ssgan.config.suite import is_suite
    from ssgan.config.yaml_io import load_yaml

    if args.results is None and args.sd is None:
        raise R.AnalysisError("give --results DIR (measured sd) or --sd X (assumed sd)")
    if args.sd is not None and not args.sd > 0:
        raise R.AnalysisError(f"--sd must be > 0, got {args.sd}")
    for k in ("n", "family"):
        v = getattr(args, k)
        if v is not None and v < 1:
            raise R.AnalysisError(f"--{k} must be at least 1, got {v}")
    if args.results is not None and not R.discover(Path(args.results)):
        raise R.AnalysisError(
            f"no run directories under {args.results}/runs/<dataset>/<method>/seed<N>/"
        )
    suite = load_yaml(args.config) if args.config else None
    if suite is not None and not (isinstance(suite, dict) and is_suite(suite)):
        raise R.AnalysisError(
            f"--config {args.config} is not a suite config (it has no 'datasets:'); give the "
            "workflow's config, e.g. config/config.yaml"
        )
    results = Path(args.results) if args.results is not None else None
    for note in R.load_plugins(results, suite):  # the comparisons may name a plugin's method
        print(f"ssgan plan: note: {note}", file=sys.stderr)
    table = plan_table(args.results, suite, args.sd, args.n, args.family)
    if args.out:
        from ssgan.analysis.aggregate import write_csv

        write_csv(table, Path(args.out))
    print(markdown(table), end="")
    return 0
