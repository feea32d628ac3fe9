"""The leaderboard and the verdicts of a results folder's tables, as text for a terminal:
``python scripts/print_tables.py results/quick/tables`` (what the quick start ends with).
Reads leaderboard.csv, relative_fid_reduction.csv and claims.csv as ``ssgan aggregate`` wrote
them; the files themselves, and the report, hold every column."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd


def _num(x, fmt: str) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "-"
    return "-" if math.isnan(x) else format(x, fmt)


def _pct(x) -> str:
    s = _num(100 * float(x) if x == x and x is not None else float("nan"), ".1f")
    return s if s == "-" else s + "%"


def leaderboard(tables: Path) -> list[str]:
    lb = pd.read_csv(tables / "leaderboard.csv")
    lines = ["Leaderboard (FID, lower is better; mean ± sd over seeds):"]
    for dataset, sub in lb.groupby("dataset", sort=False):
        lines.append(f"  {sub['dataset_name'].iloc[0] if 'dataset_name' in sub else dataset}")
        for r in sub.itertuples():
            rank = "" if pd.isna(r.rank) else f"{int(r.rank)}."
            lines.append(
                f"    {rank:>3} {r.method_name:<28} {_num(r.fid_mean, '8.2f')} ± "
                f"{_num(r.fid_std, '.2f'):<7} n={r.n}"
            )
    return lines


def verdicts(tables: Path) -> list[str]:
    red = pd.read_csv(tables / "relative_fid_reduction.csv")
    lines = ["Relative FID reduction, treatment vs baseline (paired seeds, Holm):"]
    for r in red.itertuples():
        lines.append(
            f"  {r.comparison}, {r.dataset_name}: r = {_pct(r.r_mean)} "
            f"[{_pct(r.r_t_ci_low)}, {_pct(r.r_t_ci_high)}], n={r.n_pairs}: {r.verdict}"
        )
    claims = tables / "claims.csv"
    if claims.is_file():
        cl = pd.read_csv(claims)
        if len(cl):
            lines.append("Claims:")
            lines += [
                f"  {c.comparison} {c.claim} {c.dataset_name}: {c.verdict}" for c in cl.itertuples()
            ]
    return lines


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    tables = Path(argv[0] if argv else "results/tables")
    missing = [
        f for f in ("leaderboard.csv", "relative_fid_reduction.csv") if not (tables / f).is_file()
    ]
    if missing:
        print(f"{tables}: no {', '.join(missing)} (has `ssgan aggregate` run?)", file=sys.stderr)
        return 1
    print("\n".join(leaderboard(tables) + verdicts(tables)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
