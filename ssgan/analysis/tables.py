"""The comparison tables: which comparisons a results folder answers, the complete FID pairs,
the relative FID reduction per dataset x comparison, the leaderboard and the paper table.
Formulas: ``stats``; recipe and verdict rule: docs/analysis.md.
"""

from __future__ import annotations

import dataclasses
import json
import math

import pandas as pd

from ssgan.analysis import failures, power, stats
from ssgan.analysis.claims import CLAIMS
from ssgan.analysis.runs import (
    BASELINE,
    COLLAPSE_MEASURES,
    AnalysisError,
    dataset_name,
    dataset_order,
    method_name,
    method_order,
    recipe_mismatch,
    sort_runs,
    usable,
    why_unusable,
)
from ssgan.config.identity import recipe_differences

MIN_SEEDS = 5  # seeds per (dataset, method) asked by the evaluation conventions (PAPER.md)


@dataclasses.dataclass(frozen=True)
class Comparison:
    baseline: str
    treatment: str
    claims: tuple[str, ...] = ()  # empty: the claims registered for the treatment's method
    primary: str = ""  # empty: the first of its claims (claims.primary_of)

    @property
    def name(self) -> str:
        return f"{self.treatment} vs {self.baseline}"


def comparisons(runs, suite=None, baseline=None, treatment=None) -> list[Comparison]:
    """``--baseline/--treatment`` (one comparison; a baseline alone: every other method against
    it), else the suite config's ``comparisons:``, else every method against ``wgan_gp`` when it
    has runs. A method without runs, or a method compared with itself, is an error."""
    methods = list(dict.fromkeys(runs["method"]))
    if baseline or treatment:
        base = baseline or BASELINE
        treats = [treatment] if treatment else [m for m in method_order(methods) if m != base]
        comps = [Comparison(base, t) for t in treats]
    elif suite and suite.get("comparisons"):
        comps = [
            Comparison(
                c["baseline"], c["treatment"], tuple(c.get("claims") or ()), c.get("primary") or ""
            )
            for c in suite["comparisons"]
        ]
    else:
        comps = [Comparison(BASELINE, m) for m in method_order(methods) if m != BASELINE]
        return comps if BASELINE in methods else []
    for c in comps:
        if c.baseline == c.treatment:
            raise AnalysisError(
                f"comparison {c.name!r}: baseline and treatment are the same method"
            )
        for role, m in (("baseline", c.baseline), ("treatment", c.treatment)):
            if m not in methods:
                raise AnalysisError(
                    f"{role} {m!r} has no runs in this results folder; methods with runs: "
                    f"{', '.join(methods) or 'none'}"
                )
        bad = [k for k in (*c.claims, *([c.primary] if c.primary else [])) if k not in CLAIMS]
        if bad:
            raise AnalysisError(
                f"comparison {c.name!r}: unknown claim(s) {', '.join(bad)}; known: {', '.join(CLAIMS)}"
            )
        if c.primary and c.claims and c.primary not in c.claims:
            raise AnalysisError(
                f"comparison {c.name!r}: primary claim {c.primary} is not among its claims "
                f"({', '.join(c.claims)})"
            )
    return comps


def comparison_datasets(runs, comps) -> dict[str, list[str]]:
    """Per comparison, the datasets where its treatment has runs (paper order): a variant run
    on a slice of the grid gets no rows for the datasets it was never meant to run on."""
    return {
        c.name: dataset_order(runs.loc[runs["method"] == c.treatment, "dataset"]) for c in comps
    }


# ---------------------------------------------------------------- FID pairs and reductions

PAIR_COLUMNS = [
    "comparison",
    "dataset",
    "seed",
    "baseline",
    "treatment",
    "fid_baseline",
    "fid_treatment",
    "r",
    "log_ratio",
]


def fid_pairs(runs: pd.DataFrame, comps) -> pd.DataFrame:
    """Complete pairs per comparison: same dataset and seed, both runs usable (hence under the
    dataset's one FID protocol). r = 1 - FID_t/FID_b, log_ratio = log(FID_t/FID_b)."""
    ok = runs[usable(runs)]
    parts = []
    for c in comps:
        cols = ["dataset", "seed", "fid", *(["recipe"] if "recipe" in ok else [])]
        b = ok[ok["method"] == c.baseline][cols]
        t = ok[ok["method"] == c.treatment][cols]
        p = b.merge(t, on=["dataset", "seed"], suffixes=("_baseline", "_treatment"))
        if "recipe" in ok:  # a pair differs only in the method (dropped_reasons says why not)
            keep = [
                not recipe_mismatch(a, b) for a, b in zip(p.recipe_baseline, p.recipe_treatment)
            ]
            p = p[pd.Series(keep, index=p.index, dtype=bool)]
        p = p.assign(comparison=c.name, baseline=c.baseline, treatment=c.treatment)
        p["r"] = stats.relative_reduction(p["fid_baseline"], p["fid_treatment"])
        p["log_ratio"] = stats.log_ratio(p["fid_baseline"], p["fid_treatment"])
        parts.append(sort_runs(p, ("dataset", "seed")))
    return (
        pd.concat(parts, ignore_index=True)[PAIR_COLUMNS]
        if parts
        else pd.DataFrame(columns=PAIR_COLUMNS)
    )


NOT_IN_SLICE = "not in this slice"


def paired_apart(runs: pd.DataFrame, seed, pair) -> str:
    """Why the usable runs of ``pair`` (treatment, baseline) at ``seed`` do not pair, or ''."""
    rows = [runs[(runs["seed"] == seed) & (runs["method"] == m)] for m in pair]
    if any(r.empty for r in rows) or "recipe" not in runs:
        return ""
    return recipe_mismatch(rows[1].iloc[0]["recipe"], rows[0].iloc[0]["recipe"])


def dropped_reasons(runs: pd.DataFrame, dataset: str, comp, name=str, grid=None) -> list[str]:
    """'seed 3: ssgan diverged' for every seed of the dataset that is not a complete pair. With
    ``grid`` (the suite config's (dataset, method, seed) cells), a run the grid never asked for
    (a variant's slice leaves it out by design) is "not in this slice", not "missing"."""
    pair = (comp.treatment, comp.baseline)
    sub = runs[(runs["dataset"] == dataset) & runs["method"].isin(pair)]
    ok = usable(sub)
    out = []
    for seed in sorted(sub["seed"].unique()):
        why = []
        for m in pair:
            rows = sub[(sub["seed"] == seed) & (sub["method"] == m)]
            if rows.empty and grid is not None and (dataset, m, seed) not in grid:
                why.append(f"{name(m)} {NOT_IN_SLICE}")
            elif rows.empty or not ok[rows.index].all():
                why.append(f"{name(m)} {why_unusable(None if rows.empty else rows.iloc[0])}")
        if not why and (apart := paired_apart(sub, seed, pair)):
            why.append(apart)
        if why:
            out.append(f"seed {seed}: {', '.join(why)}")
    return out


RED_COLUMNS = [
    "comparison",
    "dataset",
    "dataset_name",
    "baseline",
    "treatment",
    "protocol_id",
    "baseline_fid_mean",
    "baseline_fid_std",
    "baseline_n",
    "treatment_fid_mean",
    "treatment_fid_std",
    "treatment_n",
    "r_of_means",
    "n_pairs",
    "r_mean",
    "r_std",
    "r_ci_low",
    "r_ci_high",
    "log_ratio_mean",
    "log_ratio_ci_low",
    "log_ratio_ci_high",
    "r_t_ci_low",
    "r_t_ci_high",
    "t_stat",
    "df",
    "p_ttest",
    "p_ttest_holm",
    "p_wilcoxon",
    "p_perm",
    "p_perm_holm",
    "verdict",
    "perm_verdict",
    "tests_disagree",
    *failures.ROBUST_COLUMNS,  # failed runs ranked worst (ssgan/analysis/failures.py)
    *failures.FAIL_COLUMNS,
    "min_detectable_r",
    "rule",
    "published_low",
    "published_high",
    "in_published_range",
    "n_bootstrap",
    "bootstrap_seed",
    "n_dropped",
    "dropped",
    "note",
]


def reduction_row(runs, pairs, dataset, comp, n_boot, seed, grid=None) -> dict:
    ok = runs[usable(runs) & (runs["dataset"] == dataset)]
    b_mean, b_std, b_n = stats.mean_std(ok.loc[ok["method"] == comp.baseline, "fid"])
    t_mean, t_std, t_n = stats.mean_std(ok.loc[ok["method"] == comp.treatment, "fid"])
    p = pairs[(pairs["comparison"] == comp.name) & (pairs["dataset"] == dataset)]
    r, d = p["r"].to_numpy(float), p["log_ratio"].to_numpy(float)
    r_mean, r_std, n = stats.mean_std(r)
    lo, hi = stats.bootstrap_ci(r, n_boot, seed)
    d_lo, d_hi = stats.t_ci(d)
    t, p_t, df = stats.ttest_zero(d)
    dropped = dropped_reasons(runs, dataset, comp, grid=grid)
    by_design = [x for x in dropped if x.endswith(NOT_IN_SLICE) and "," not in x]
    note = (
        "no complete pairs: statistics undefined"
        if n == 0
        else "1 complete pair: std, CI and tests undefined"
        if n == 1
        else few_pairs(n)
    )
    ids = ok.loc[ok["method"].isin([comp.baseline, comp.treatment]), "protocol_id"].dropna()
    return dict(
        comparison=comp.name,
        dataset=dataset,
        dataset_name=dataset_name(dataset),
        baseline=comp.baseline,
        treatment=comp.treatment,
        protocol_id=ids.iloc[0] if len(ids) else None,
        baseline_fid_mean=b_mean,
        baseline_fid_std=b_std,
        baseline_n=b_n,
        treatment_fid_mean=t_mean,
        treatment_fid_std=t_std,
        treatment_n=t_n,
        r_of_means=1 - t_mean / b_mean,  # NaN when either method has no usable run
        n_pairs=n,
        r_mean=r_mean,
        r_std=r_std,
        r_ci_low=lo,
        r_ci_high=hi,
        log_ratio_mean=float(d.mean()) if n else math.nan,
        log_ratio_ci_low=d_lo,
        log_ratio_ci_high=d_hi,
        r_t_ci_low=1 - math.exp(d_hi),  # NaN where the interval is undefined
        r_t_ci_high=1 - math.exp(d_lo),
        t_stat=t,
        df=df,
        p_ttest=p_t,
        p_ttest_holm=math.nan,
        p_wilcoxon=stats.wilcoxon_p(d),
        p_perm=stats.sign_flip_p(d, seed),
        p_perm_holm=math.nan,
        verdict="inconclusive",
        perm_verdict="inconclusive",
        tests_disagree=False,
        **failures.robust_row(pd.Series(d, index=p["seed"].to_numpy()), runs, comp, dataset),
        min_detectable_r=math.nan,  # needs the family size: set by reduction_table
        rule=stats.RULE,
        published_low=stats.PUBLISHED_RANGE[0],
        published_high=stats.PUBLISHED_RANGE[1],
        in_published_range=stats.in_range(1 - math.exp(d_hi), 1 - math.exp(d_lo)),
        n_bootstrap=n_boot,
        bootstrap_seed=seed,
        n_dropped=len(dropped) - len(by_design),  # seeds the slice never asked for: not dropped
        dropped="; ".join(dropped),
        note=note,
    )


def few_pairs(n: int) -> str:
    """What a row with n >= 2 pairs can mean (empty when it can support a verdict and both tests)."""
    if n < stats.MIN_N:
        return f"n = {n} < {stats.MIN_N} pairs: too few for a verdict (descriptive only)"
    if n < stats.WILCOXON_MIN_N:
        return (
            f"n = {n}: the sign-flip and Wilcoxon p cannot go below 2/2^{n} = {2 / 2**n:.3g}; "
            "the verdict rests on the t-test alone"
        )
    return ""


def reduction_table(runs, pairs, comps, datasets, n_boot=10000, seed=0, grid=None) -> pd.DataFrame:
    """One row per comparison x dataset; Holm across the datasets of one comparison that have
    >= stats.MIN_N pairs (the others are not tested), then the verdict rule (``stats.decide``)
    on the paired t-test, the sign-flip rule beside it."""
    parts = []
    for c in comps:
        red = pd.DataFrame(
            [reduction_row(runs, pairs, d, c, n_boot, seed, grid) for d in datasets[c.name]],
            columns=RED_COLUMNS,
        )
        if red.empty:
            continue
        tested = red["n_pairs"] >= stats.MIN_N  # rows too small for a verdict are not tested
        red["p_ttest_holm"] = stats.holm(red["p_ttest"].where(tested))
        red["p_perm_holm"] = stats.holm(red["p_perm"].where(tested))
        fav = red["log_ratio_mean"].to_numpy(float) < 0  # the claim: lower FID
        red["verdict"] = failures.settle(
            stats.decide(red["p_ttest_holm"], fav, red["n_pairs"]),
            red["p_robust"],
            failures.excess(red.to_dict("records")),  # the treatment failed more often
        )
        red["perm_verdict"] = stats.decide(red["p_perm_holm"], fav, red["n_pairs"])
        red["tests_disagree"] = red["verdict"] != red["perm_verdict"]
        fam = int(red["p_ttest_holm"].notna().sum()) or 1
        red["min_detectable_r"] = [
            power.min_detectable(sd, n, fam)
            for sd, n in zip(log_ratio_sd(pairs, c, red["dataset"]), red["n_pairs"])
        ]
        parts.append(red)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=RED_COLUMNS)


def log_ratio_sd(pairs, comp, datasets) -> list[float]:
    """Sample sd of the per-seed log ratios of a comparison per dataset (NaN below 2 pairs)."""
    p = pairs[pairs["comparison"] == comp.name]
    return [stats.mean_std(p.loc[p["dataset"] == d, "log_ratio"])[1] for d in datasets]


# ---------------------------------------------------------------- recipes side by side


def _recipes(runs: pd.DataFrame, dataset: str, method: str) -> list[dict]:
    """The distinct recipes (runs table ``recipe``, the seed left out) of a method's usable
    runs on a dataset."""
    if "recipe" not in runs:
        return []
    sel = usable(runs) & (runs["dataset"] == dataset) & (runs["method"] == method)
    seedless = [
        {k: v for k, v in json.loads(r).items() if k != "seed"}
        for r in runs.loc[sel, "recipe"]
        if isinstance(r, str)
    ]
    distinct = {json.dumps(r, sort_keys=True, default=str): r for r in seedless}
    return list(distinct.values())


def _differences(a: dict, b: dict) -> list[str]:
    """'train.iterations 160 vs 320' for each key two recipes differ in (a's value first)."""
    return [d.replace(": ", " ", 1).replace(" -> ", " vs ", 1) for d in recipe_differences(a, b)]


def recipe_note(runs: pd.DataFrame, dataset: str, method: str, other: str | None = None) -> str:
    """Why ``method``'s mean FID on ``dataset`` is not like for like: its usable runs differ in
    their recipe (``config differs`` beyond the method: ``recipe_mismatch``) among themselves,
    or from those of ``other`` shown beside it; '' when they agree (or have no config)."""
    mine = _recipes(runs, dataset, method)
    notes = []
    if len(mine) > 1:
        notes.append(f"recipes differ between its runs: {', '.join(_differences(*mine[:2]))}")
    theirs = _recipes(runs, dataset, other) if other and other != method else []
    if mine and theirs and (diff := _differences(mine[0], theirs[0])):
        shown = ", ".join(diff[:4]) + (f" and {len(diff) - 4} more" if len(diff) > 4 else "")
        notes.append(f"recipes differ from {other}: {shown}")
    return "; ".join(notes)


# ---------------------------------------------------------------- leaderboard

# Beside the ranking, never in it: the best FID over training (biased low, ssgan/analysis/
# runs.py best_fid) and the share of all of G's and D's parameters that train (STU-GAN).
SECONDARY = ("fid_best", "density_g_all", "density_d_all")


LEADER_COLUMNS = [
    "dataset",
    "dataset_name",
    "rank",
    "method",
    "method_name",
    "method_kind",
    "fid_mean",
    "fid_std",
    "n",
    "fid_ci_low",
    "fid_ci_high",
    "fid_gmean",
    "ranking",
    "baseline",
    "n_pairs",
    "r_mean",
    "r_t_ci_low",
    "r_t_ci_high",
    "p_ttest_holm",
    "p_perm_holm",
    "verdict",
    "failed",  # its runs that diverged or collapsed (ssgan/analysis/failures.py), k/runs
    "fail_rate",
    "protocol_id",
    *[f"{c}_mean" for c in COLLAPSE_MEASURES],
    "manifold_setting",
    *[f"{c}_mean" for c in SECONDARY],
    "recipe_note",  # its runs' recipes differ among themselves or from the dataset's first method
]


def _means(sub: pd.DataFrame, columns) -> dict:
    """``<column>_mean`` over the rows that have a value (NaN when none has, or no column:
    a runs table written before it)."""
    out = {}
    for c in columns:
        values = pd.to_numeric(sub.get(c, pd.Series(dtype=float)), errors="coerce").dropna()
        out[f"{c}_mean"] = float(values.mean()) if len(values) else math.nan
    return out


def _manifold_setting(sub: pd.DataFrame) -> pd.Series:
    """'n=<manifold_n> k=<prc_k>/<dc_k>' of each run with precision/recall (else None)."""
    have = pd.to_numeric(sub["precision"], errors="coerce").notna()
    return pd.Series(
        [
            f"n={r.manifold_n} k={r.prc_k}/{r.dc_k}" if h else None
            for r, h in zip(sub.itertuples(), have)
        ],
        index=sub.index,
        dtype=object,
    )


def collapse_means(sub: pd.DataFrame) -> dict:
    """Means of the mode-collapse measures over one method's usable runs; precision, recall,
    density and coverage only over runs at ``setting`` (set by the caller: the dataset's most
    common n and k, since the numbers depend on them), class coverage over all."""
    out = {}
    for c in COLLAPSE_MEASURES:
        rows = sub if c in ("classes_covered", "class_kl") else sub[sub["_main_setting"]]
        out.update(_means(rows, [c]))
    return out


def fail_rate(runs, dataset, method) -> dict:
    """A method's failed runs on a dataset (diverged or collapsed, failures.failed): 'k/n' and
    the rate; they count against it, whatever their FID."""
    f = failures.arm_failures(runs, method, dataset)
    return dict(
        failed=f"{int(f.sum())}/{len(f)}", fail_rate=float(f.mean()) if len(f) else math.nan
    )


def leaderboard(runs, red) -> pd.DataFrame:
    """Per dataset every method with usable runs: FID mean ± std, n, the 95% interval of the
    geometric mean (Student-t on log FID, back-transformed: always above 0) and the geometric
    mean,
    rank (1 = lowest mean FID; ties share the best rank) only where every method of the
    dataset has >= stats.MIN_N runs (``ranking`` "ranked", else "descriptive" and no rank), its
    paired reduction against its baseline (its first
    comparison as treatment; blank for a method that is only a baseline) and the means of the
    mode-collapse measures (precision ... coverage at the dataset's most common n and k,
    ``manifold_setting``); ``recipe_note`` says when its runs' recipes differ among themselves
    or from its baseline's (else the dataset's first method's): means not like for like;
    ``failed`` / ``fail_rate``: its runs that diverged or collapsed (failures.failed)."""
    ok = runs[usable(runs)].copy()
    ok["_setting"] = _manifold_setting(ok)
    rows = []
    for d in dataset_order(runs["dataset"]):
        sub = ok[ok["dataset"] == d].copy()
        settings = sub["_setting"].dropna()
        counts = settings.value_counts()
        main = max(settings.unique(), key=lambda s: counts[s]) if len(settings) else None
        sub["_main_setting"] = sub["_setting"] == main
        order = method_order(runs.loc[runs["dataset"] == d, "method"])
        first = next((m for m in order if (sub["method"] == m).any()), None)
        for m in order:
            mean, std, n = stats.mean_std(sub.loc[sub["method"] == m, "fid"])
            fids = sub.loc[sub["method"] == m, "fid"]
            ci_low, ci_high = stats.log_t_ci(fids)  # FID > 0: the interval stays above 0
            kinds = runs.loc[(runs["dataset"] == d) & (runs["method"] == m), "method_kind"]
            mine = red[(red["dataset"] == d) & (red["treatment"] == m)]
            r = mine.iloc[0] if len(mine) else {}
            rows.append(
                dict(
                    dataset=d,
                    dataset_name=dataset_name(d),
                    method=m,
                    method_name=method_name(m),
                    method_kind=kinds.dropna().iloc[0] if kinds.notna().any() else m,
                    fid_mean=mean,
                    fid_std=std,
                    n=n,
                    fid_ci_low=ci_low,
                    fid_ci_high=ci_high,
                    fid_gmean=stats.gmean(fids),
                    protocol_id=sub.loc[sub["method"] == m, "protocol_id"].dropna().iloc[0]
                    if n
                    else None,
                    **{k: r.get(k) for k in ("baseline", "n_pairs", "r_mean", "r_t_ci_low")},
                    **{k: r.get(k) for k in ("r_t_ci_high", "p_ttest_holm", "p_perm_holm")},
                    verdict=r.get("verdict"),
                    **fail_rate(runs, d, m),
                    **collapse_means(sub[sub["method"] == m]),
                    manifold_setting=main,
                    **_means(sub[sub["method"] == m], SECONDARY),
                    recipe_note=recipe_note(runs, d, m, r.get("baseline") or first),
                )
            )
    lb = pd.DataFrame(rows, columns=LEADER_COLUMNS)
    if lb.empty:
        return lb
    lb["rank"] = lb.groupby("dataset", sort=False)["fid_mean"].rank(method="min").astype("Int64")
    few = lb.groupby("dataset", sort=False)["n"].transform("min") < stats.MIN_N
    lb["ranking"] = [
        f"descriptive: a method has n < {stats.MIN_N} runs" if f else "ranked" for f in few
    ]
    lb.loc[few, "rank"] = pd.NA
    lb = lb.sort_values(
        ["dataset", "fid_mean"], key=_leader_key(lb), kind="stable", na_position="last"
    )
    return lb.reset_index(drop=True)


def _leader_key(lb):
    order = {d: i for i, d in enumerate(dataset_order(lb["dataset"]))}
    return lambda c: c.map(order) if c.name == "dataset" else c
