"""Our numbers beside the published ones (``published.csv`` / ``published.md``): for every
paper of the registry (ssgan/published/) of which a results folder runs something, one row per
published number and each method label of ours that matches it (its ``match`` keys in the
run's config), with both protocols and their difference said in words.

Published FIDs are mostly the best over training (STU-GAN, StudioGAN): beside our final-
iterate FID (the primary number, the verdicts') the table gives our best over the evaluated
checkpoints (runs.csv ``fid_best``), the like-for-like number; neither is comparable across
Inception ports, sample counts or reference splits, which the protocol columns name.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from ssgan import published
from ssgan.analysis.runs import dataset_name, method_name, norm_key, usable
from ssgan.config.identity import upgrade

COLUMNS = [
    "paper",
    "dataset",
    "dataset_name",
    "what",
    "quantity",
    "published",
    "published_selection",
    "method",
    "method_name",
    "ours_mean",
    "ours_std",
    "n",
    "ours_best_mean",
    "ours_like_for_like",
    "published_protocol",
    "our_protocol",
    "difference",
]


def _configs(results: Path, runs: pd.DataFrame) -> dict[str, dict]:
    """run_dir -> the run's recorded config (with keys added since), for the usable runs."""
    out = {}
    for run_dir in runs.loc[usable(runs), "run_dir"]:
        try:
            cfg = json.loads((results / run_dir / "run.json").read_text())["config"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        out[run_dir] = upgrade(cfg)
    return out


def _our_protocol(sub: pd.DataFrame, cfgs: list[dict]) -> str:
    vals = lambda xs: "/".join(map(str, dict.fromkeys(xs))) or "n/a"  # noqa: E731
    its = vals(c["train"]["iterations"] for c in cfgs)
    return (
        f"{vals(sub['extractor'].dropna())} FID, n_fake={vals(sub['n_fake'].dropna())}, "
        f"n_real={vals(sub['n_real'].dropna())}, split={vals(sub['split'].dropna())}, "
        f"generator={vals(sub['fid_generator'].dropna())}, {its} iterations, "
        f"{len(sub)} seed(s); final iterate (best over checkpoints in ours_best_mean)"
    )


def _difference(entry: dict, sub: pd.DataFrame, cfgs: list[dict]) -> str:
    """The protocol differences that move the number, in words: the entry's selection and its
    stated ``n_fake``, ``generator``, ``runs`` and ``iterations`` against ours."""
    diff = []
    if entry.get("selection") == "best":
        diff.append(
            "theirs is the best over training (biased low), as is ours_like_for_like (our best "
            "over the evaluated checkpoints)"
        )
    joined = lambda xs: "/".join(map(str, sorted(xs)))  # noqa: E731
    n_fake = set(sub["n_fake"].dropna().astype(int))
    if "n_fake" in entry and n_fake and n_fake != {entry["n_fake"]}:
        diff.append(f"ours uses {joined(n_fake)} samples, theirs {entry['n_fake']}")
    generator = set(sub["fid_generator"].dropna())
    if "generator" in entry and generator and generator != {entry["generator"]}:
        theirs = "G's moving average" if entry["generator"] == "ema" else "G itself"
        diff.append(f"theirs evaluates {theirs}, ours fid.generator {joined(generator)}")
    if entry.get("runs") == 1:
        diff.append(f"theirs is one training run, ours the mean of {len(sub)}")
    its = {c["train"]["iterations"] for c in cfgs}
    if "iterations" in entry and its != {entry["iterations"]}:
        diff.append(f"ours trains {joined(its)} generator iterations, theirs {entry['iterations']}")
    diff += recipe_differences(entry, cfgs)
    return "; ".join(diff) or "same protocol as far as the paper states it"


def recipe_differences(entry: dict, cfgs: list[dict]) -> list[str]:
    """The entry's ``recipe`` facts our runs do not share: 'train.n_critic: ours 1, theirs 5'."""
    out = []
    for key, theirs in entry.get("recipe", {}).items():
        ours = {str(published.lookup(c, key)) for c in cfgs}
        if ours != {str(theirs)}:
            out.append(f"{key}: ours {'/'.join(sorted(ours))}, theirs {theirs}")
    return out


def _fid_rows(paper: str, entry: dict, runs: pd.DataFrame, configs: dict) -> list[dict]:
    ok = runs[usable(runs) & (runs["dataset"].map(norm_key) == norm_key(entry["dataset"]))]
    rows = []
    for method, sub in ok.groupby("method", sort=False):
        cfgs = [configs[d] for d in sub["run_dir"] if d in configs]
        if not cfgs or not all(published.matches(entry, c) for c in cfgs):
            continue
        fid = pd.to_numeric(sub["fid"], errors="coerce")
        best = pd.to_numeric(sub["fid_best"], errors="coerce").dropna()
        best_mean = float(best.mean()) if len(best) else math.nan
        rows.append(
            dict(
                paper=paper,
                dataset=sub["dataset"].iloc[0],
                dataset_name=dataset_name(sub["dataset"].iloc[0]),
                what=entry["what"],
                quantity="fid",
                published=float(entry["fid"]),
                published_selection=entry["selection"],
                method=method,
                method_name=method_name(method),
                ours_mean=float(fid.mean()),
                ours_std=float(fid.std(ddof=1)) if len(fid) > 1 else math.nan,
                n=len(fid),
                ours_best_mean=best_mean,
                ours_like_for_like=best_mean if entry["selection"] == "best" else float(fid.mean()),
                published_protocol=entry["protocol"],
                our_protocol=_our_protocol(sub, cfgs),
                difference=_difference(entry, sub, cfgs),
            )
        )
    return rows


def _reduction_rows(paper: str, entry: dict, red: pd.DataFrame, kinds: dict) -> list[dict]:
    low, high = entry["reduction"]
    rows = []
    for r in red.itertuples():
        if (kinds.get(r.baseline, r.baseline), kinds.get(r.treatment, r.treatment)) != (
            entry["baseline"],
            entry["treatment"],
        ):
            continue
        if entry["dataset"] != "all" and norm_key(r.dataset) != norm_key(entry["dataset"]):
            continue
        rows.append(
            dict(
                paper=paper,
                dataset=r.dataset,
                dataset_name=r.dataset_name,
                what=entry["what"],
                quantity="relative_fid_reduction",
                published=f"{100 * low:.2f}%-{100 * high:.2f}%",
                published_selection="not stated",
                method=r.treatment,
                method_name=method_name(r.treatment),
                ours_mean=r.r_mean,
                ours_std=r.r_std,
                n=r.n_pairs,
                ours_best_mean=math.nan,
                ours_like_for_like=r.r_mean,
                published_protocol=entry["protocol"],
                our_protocol="paired seeds, final-iterate FID; 95% CI "
                + (
                    f"[{100 * r.r_t_ci_low:.2f}%, {100 * r.r_t_ci_high:.2f}%]"
                    if math.isfinite(r.r_t_ci_low)
                    else "undefined (fewer than 2 pairs)"
                ),
                difference="theirs is one run per dataset and a range over seven datasets; "
                "ours is per dataset, with its interval",
            )
        )
    return rows


def published_table(results, runs: pd.DataFrame, red: pd.DataFrame) -> pd.DataFrame:
    """The rows described above (a paper appears when one of its numbers has ours)."""
    configs = _configs(Path(results), runs)
    kinds = dict(zip(runs["method"], runs["method_kind"].fillna(runs["method"])))
    rows = []
    for paper, rec in published.registry().items():
        mine = []
        for entry in rec["entries"]:
            if "fid" in entry:
                mine += _fid_rows(paper, entry, runs, configs)
            else:
                mine += _reduction_rows(paper, entry, red, kinds)
        rows += mine
    return pd.DataFrame(rows, columns=COLUMNS)


def _num(v, pct=False) -> str:
    if isinstance(v, str):
        return v
    if v is None or not math.isfinite(v):
        return "–"
    return f"{100 * v:.2f}%" if pct else f"{v:.2f}"


def published_markdown(df: pd.DataFrame) -> str:
    """One table per paper: published | ours (final) | ours like for like | the difference;
    and the registry files left out (ssgan.published.skipped), each with why."""
    skipped = "".join(f"\nSkipped: {note}.\n" for note in published.skipped())
    if df.empty:
        return (
            "No run of this results folder matches a published number of the registry "
            "(ssgan/published/).\n" + skipped
        )
    out = []
    for paper, sub in df.groupby("paper", sort=False):
        rec = published.registry()[paper]
        out += [f"## {rec['paper']}", "", f"Source: {rec['source']}.", ""]
        out += [
            "| Dataset | Published | Theirs | Ours (method) | Ours: final, mean ± std (n) | "
            "Ours: like for like | Difference |",
            "|---|---|---:|---|---:|---:|---|",
        ]
        for r in sub.itertuples():
            pct = r.quantity == "relative_fid_reduction"
            std = f" ± {_num(r.ours_std, pct)}" if _num(r.ours_std) != "–" else ""
            out.append(
                f"| {r.dataset_name} | {r.what} ({r.published_selection}) | "
                f"{_num(r.published, pct)} | {r.method_name} | {_num(r.ours_mean, pct)}{std} "
                f"(n={r.n}) | {_num(r.ours_like_for_like, pct)} | {r.difference} |"
            )
        protocols = dict.fromkeys(sub["published_protocol"])
        ours = dict.fromkeys(sub["our_protocol"])
        out += ["", "Their protocol: " + " / ".join(protocols) + ".", ""]
        out += ["Our protocol: " + " / ".join(ours) + ".", ""]
    return "\n".join(out) + skipped
