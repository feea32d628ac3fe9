"""Tables from a results folder: one row per run, the FID reduction statistics, the paper
table, the probe tables gathered over runs and the verdicts on the paper's claims.

Input: RESULTS/runs/<dataset>/<method>/seed<seed>/ (docs/run_layout.md); nothing else is read.
Output: the files in TABLES, in the tables folder. The recipe is in docs/analysis.md.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ssgan import io, stats

BASELINE, TREATMENT = "wgan_gp", "ssgan"
MIN_SEEDS = 5  # seeds per (dataset, method) asked by the evaluation conventions (PAPER.md)
TABLES = (
    "runs.csv",
    "fid_pairs.csv",
    "relative_fid_reduction.csv",
    "paper_table.md",
    "paper_table.tex",
    "claims.csv",
    "sparsity.csv",
    "weight_signs.csv",
    "dead_units.csv",
    "weight_hist.csv",
    "fid_curves.csv",
)

METHOD_NAMES = {
    "wgan_gp": "WGAN-GP",
    "ssgan": "Self-Sparse GAN",
    "stu_gan": "STU-GAN",
    "sr_gan": "SR-GAN",
    "sngan": "SN-GAN",
}
# normalized label -> display name, in the paper's order (unknown labels go last, as-is)
DATASET_NAMES = {
    "mnist": "MNIST",
    "fashionmnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
    "stl10": "STL-10",
    "miniimagenet": "mini-ImageNet",
    "celebahq": "CelebA-HQ",
    "lsunbedroom": "LSUN bedroom",
    "lsunbedrooms": "LSUN bedroom",
    "sketch": "Sketch",
}
STATUS_ORDER = ("completed", "diverged", "preempted", "running", "failed")

RUN_COLUMNS = [
    "dataset",
    "method",
    "seed",
    "status",
    "note",
    "iteration",
    "iterations",
    "diverged_at",
    "attempts",
    "wall_time_s",
    "fid_status",
    "fid",
    "kid_mean",
    "kid_std",
    "fid_iteration",
    "n_fake",
    "n_real",
    "split",
    "resolution",
    "extractor",
    "weights_sha256",
    "torch_fidelity",
    "fid_seconds",
    "params_generator",
    "params_critic",
    "params_sastm",
    "git_commit",
    "git_dirty",
    "device",
    "device_name",
    "config_hash",
    "run_dir",
]
INT_COLUMNS = [
    "iteration",
    "iterations",
    "diverged_at",
    "attempts",
    "fid_iteration",
    "n_fake",
    "n_real",
    "resolution",
    "params_generator",
    "params_critic",
    "params_sastm",
]
ID = ["dataset", "method", "seed", "status"]
# tables folder name -> (file in the run dir, its columns)
PROBES = {
    "sparsity": (
        "probe_sparsity.csv",
        ["iteration", "layer", "channel_zero_frac", "spatial_zero_frac", "output_zero_frac"],
    ),
    "weight_signs": (
        "probe_weights.csv",
        ["iteration", "layer", "neg_frac", "mean", "std", "q05", "q25", "q50", "q75", "q95"],
    ),
    "dead_units": ("probe_dead_units.csv", ["iteration", "layer", "dead_frac"]),
    "weight_hist": (
        "weight_hist.csv",
        ["stage", "iteration", "layer", "bin_left", "bin_right", "count"],
    ),
    "fid_curves": ("fid_curve.csv", ["iteration", "fid", "kid_mean", "kid_std"]),
}


def norm_key(label: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(label).lower())


def dataset_name(label: str) -> str:
    return DATASET_NAMES.get(norm_key(label), str(label))


def method_name(method: str) -> str:
    return METHOD_NAMES.get(method, str(method))


def dataset_order(labels) -> list[str]:
    known = list(dict.fromkeys(DATASET_NAMES))
    rank = lambda l: known.index(norm_key(l)) if norm_key(l) in known else len(known)  # noqa: E731
    return sorted(set(labels), key=lambda l: (rank(l), str(l)))


def method_order(methods, baseline=BASELINE, treatment=TREATMENT) -> list[str]:
    first = [m for m in (baseline, treatment) if m in set(methods)]
    return first + sorted(set(methods) - set(first))


def num(value) -> float:
    """A JSON number (or "inf"/"-inf"/null, see ssgan.io) as float; NaN when absent."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


# ---------------------------------------------------------------- runs.csv


def discover(results: Path) -> list[Path]:
    """Run directories RESULTS/runs/<dataset>/<method>/seed<int>/, with or without run.json."""
    return sorted(
        p for p in results.glob("runs/*/*/seed*") if p.is_dir() and re.fullmatch(r"seed\d+", p.name)
    )


def _read_json(path: Path) -> tuple[dict | None, str]:
    if not path.is_file():
        return None, "missing"
    try:
        return io.read_json(path), ""
    except (OSError, ValueError) as err:
        return None, f"{path.name} unreadable ({type(err).__name__})"


def run_row(run_dir: Path, results: Path) -> dict:
    row = dict.fromkeys(RUN_COLUMNS)
    row.update(
        dataset=run_dir.parent.parent.name,
        method=run_dir.parent.name,
        seed=int(run_dir.name[4:]),
        run_dir=run_dir.relative_to(results).as_posix(),
    )
    notes = []
    run, err = _read_json(run_dir / "run.json")
    if run is None:  # a job that died before writing its record (or a corrupt record)
        files = sum(1 for p in run_dir.rglob("*") if p.is_file())
        row["status"] = "failed"
        notes.append(f"no run.json ({files} files)" if err == "missing" else err)
    else:
        prov = run.get("provenance") or {}
        params = run.get("params") or {}
        row.update(
            dataset=run.get("dataset") or row["dataset"],
            method=run.get("method") or row["method"],
            status=run.get("status") or "failed",
            iteration=run.get("iteration"),
            iterations=run.get("iterations"),
            diverged_at=run.get("diverged_at"),
            attempts=run.get("attempts"),
            wall_time_s=num(run.get("wall_time_s")),
            resolution=run.get("resolution"),
            params_generator=params.get("generator"),
            params_critic=params.get("critic"),
            params_sastm=params.get("sastm"),
            git_commit=(prov.get("git") or {}).get("commit"),
            git_dirty=(prov.get("git") or {}).get("dirty"),
            device=prov.get("device"),
            device_name=prov.get("device_name"),
            config_hash=run.get("config_hash"),
        )
    fid, err = _read_json(run_dir / "fid.json")
    if fid is None:
        row.update(fid_status=err if err == "missing" else "unreadable", fid=math.nan)
        if err != "missing":
            notes.append(err)
    else:
        row.update(
            fid_status=fid.get("status", "ok"),
            fid=num(fid.get("fid")),
            kid_mean=num(fid.get("kid_mean")),
            kid_std=num(fid.get("kid_std")),
            fid_iteration=fid.get("iteration"),
            n_fake=fid.get("n_fake"),
            n_real=fid.get("n_real"),
            split=fid.get("split"),
            extractor=fid.get("extractor"),
            weights_sha256=fid.get("weights_sha256"),
            torch_fidelity=fid.get("torch_fidelity"),
            fid_seconds=num(fid.get("seconds")),
        )
        row["resolution"] = fid.get("resolution", row["resolution"])
        if fid.get("reason"):
            notes.append(f"fid: {fid['reason']}")
        stale = (
            row["status"] == "completed"
            and None not in (row["iteration"], row["fid_iteration"])
            and int(row["fid_iteration"]) != int(row["iteration"])
        )
        if (
            stale and row["fid_status"] == "ok"
        ):  # evaluated an older generator (e.g. before a resume)
            row["fid_status"] = "stale"
            notes.append(
                f"fid.json is for iteration {row['fid_iteration']}, run ended at {row['iteration']}"
            )
    row["note"] = "; ".join(notes)
    return row


def runs_table(results: Path) -> pd.DataFrame:
    df = pd.DataFrame([run_row(d, results) for d in discover(results)], columns=RUN_COLUMNS)
    for c in INT_COLUMNS:  # nullable integers: 200, not 200.0, and blank when absent
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("Int64")
    return sort_runs(df)


def sort_runs(df: pd.DataFrame, keys=("dataset", "method", "seed")) -> pd.DataFrame:
    if df.empty:
        return df.reset_index(drop=True)
    ranks = {"dataset": dataset_order(df["dataset"])}
    if "method" in keys:
        ranks["method"] = method_order(df["method"])
    rank = lambda c: c.map({v: i for i, v in enumerate(ranks[c.name])}) if c.name in ranks else c  # noqa: E731
    return df.sort_values(list(keys), key=rank, kind="stable").reset_index(drop=True)


def usable(runs: pd.DataFrame) -> pd.Series:
    """A run enters the FID statistics iff it completed and has a finite FID."""
    fid = pd.to_numeric(runs["fid"], errors="coerce")
    return (runs["status"] == "completed") & (runs["fid_status"] == "ok") & np.isfinite(fid)


def why_unusable(row) -> str:
    if row is None:
        return "missing"
    if row["status"] != "completed":
        return str(row["status"])
    if row["fid_status"] == "missing":
        return "no FID"
    if row["fid_status"] != "ok":
        return f"FID {row['fid_status']}"
    return "FID non-finite"


# ---------------------------------------------------------------- FID reduction


def fid_pairs(runs: pd.DataFrame, baseline=BASELINE, treatment=TREATMENT) -> pd.DataFrame:
    """Complete pairs: same dataset and seed, both runs usable. r = 1 - FID_t/FID_b, d = log(FID_t/FID_b)."""
    ok = runs[usable(runs)]
    b = ok[ok["method"] == baseline][["dataset", "seed", "fid"]]
    t = ok[ok["method"] == treatment][["dataset", "seed", "fid"]]
    p = b.merge(t, on=["dataset", "seed"], suffixes=("_baseline", "_treatment"))
    p.insert(2, "baseline", baseline)
    p.insert(3, "treatment", treatment)
    p["r"] = stats.relative_reduction(p["fid_baseline"], p["fid_treatment"])
    p["log_ratio"] = stats.log_ratio(p["fid_baseline"], p["fid_treatment"])
    return sort_runs(p, ("dataset", "seed"))


def dropped_reasons(
    runs: pd.DataFrame, dataset: str, baseline=BASELINE, treatment=TREATMENT, name=str
) -> list[str]:
    """'seed 3: ssgan diverged' for every seed of the dataset that is not a complete pair."""
    sub = runs[(runs["dataset"] == dataset) & runs["method"].isin([baseline, treatment])]
    ok = usable(sub)
    out = []
    for seed in sorted(sub["seed"].unique()):
        why = []
        for m in (treatment, baseline):
            rows = sub[(sub["seed"] == seed) & (sub["method"] == m)]
            if rows.empty or not ok[rows.index].all():
                why.append(f"{name(m)} {why_unusable(None if rows.empty else rows.iloc[0])}")
        if why:
            out.append(f"seed {seed}: {', '.join(why)}")
    return out


RED_COLUMNS = [
    "dataset",
    "dataset_name",
    "baseline",
    "treatment",
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
    "t_stat",
    "df",
    "p_ttest",
    "p_ttest_holm",
    "p_wilcoxon",
    "published_low",
    "published_high",
    "in_published_range",
    "n_bootstrap",
    "bootstrap_seed",
    "n_dropped",
    "dropped",
    "note",
]


def reduction_row(runs, pairs, dataset, baseline, treatment, n_boot, seed) -> dict:
    ok = runs[usable(runs) & (runs["dataset"] == dataset)]
    b_mean, b_std, b_n = stats.mean_std(ok.loc[ok["method"] == baseline, "fid"])
    t_mean, t_std, t_n = stats.mean_std(ok.loc[ok["method"] == treatment, "fid"])
    p = pairs[pairs["dataset"] == dataset]
    r, d = p["r"].to_numpy(), p["log_ratio"].to_numpy()
    r_mean, r_std, n = stats.mean_std(r)
    lo, hi = stats.bootstrap_ci(r, n_boot, seed)
    t, p_t, df = stats.ttest_zero(d)
    dropped = dropped_reasons(runs, dataset, baseline, treatment)
    note = (
        "no complete pairs: statistics undefined"
        if n == 0
        else "1 complete pair: std, CI and tests undefined"
        if n == 1
        else f"n < {stats.WILCOXON_MIN_N}: Wilcoxon not reported"
        if n < stats.WILCOXON_MIN_N
        else ""
    )
    return dict(
        dataset=dataset,
        dataset_name=dataset_name(dataset),
        baseline=baseline,
        treatment=treatment,
        baseline_fid_mean=b_mean,
        baseline_fid_std=b_std,
        baseline_n=b_n,
        treatment_fid_mean=t_mean,
        treatment_fid_std=t_std,
        treatment_n=t_n,
        r_of_means=1 - t_mean / b_mean if b_n and t_n else math.nan,
        n_pairs=n,
        r_mean=r_mean,
        r_std=r_std,
        r_ci_low=lo,
        r_ci_high=hi,
        log_ratio_mean=float(d.mean()) if n else math.nan,
        t_stat=t,
        df=df,
        p_ttest=p_t,
        p_ttest_holm=math.nan,
        p_wilcoxon=stats.wilcoxon_p(d),
        published_low=stats.PUBLISHED_RANGE[0],
        published_high=stats.PUBLISHED_RANGE[1],
        in_published_range=stats.in_range(r_mean),
        n_bootstrap=n_boot,
        bootstrap_seed=seed,
        n_dropped=len(dropped),
        dropped="; ".join(dropped),
        note=note,
    )


def reduction_table(runs, pairs, baseline=BASELINE, treatment=TREATMENT, n_boot=10000, seed=0):
    sub = runs[runs["method"].isin([baseline, treatment])]
    rows = [
        reduction_row(runs, pairs, d, baseline, treatment, n_boot, seed)
        for d in dataset_order(sub["dataset"])
    ]
    red = pd.DataFrame(rows, columns=RED_COLUMNS)
    if not red.empty:
        red["p_ttest_holm"] = stats.holm(red["p_ttest"])  # Holm across datasets
    return red


# ---------------------------------------------------------------- probes and claims


def gather(results: Path, runs: pd.DataFrame, name: str) -> pd.DataFrame:
    """One probe file of every run, stacked, with dataset/method/seed/status in front."""
    filename, columns = PROBES[name]
    parts = []
    for row in runs.itertuples():
        path = results / row.run_dir / filename
        try:
            df = pd.read_csv(path)
        except FileNotFoundError:
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            print(f"aggregate: skipping {path}: {type(err).__name__}", file=sys.stderr)
            continue
        if df.empty:
            continue
        for i, c in enumerate(ID):
            df.insert(i, c, getattr(row, c))
        parts.append(df)
    if not parts:
        return pd.DataFrame(columns=ID + columns)
    out = pd.concat(parts, ignore_index=True)
    return out.reindex(columns=ID + columns + [c for c in out.columns if c not in ID + columns])


def _numbered(layers, prefix) -> dict[str, int]:
    return {l: int(m.group(1)) for l in layers if (m := re.fullmatch(prefix + r"(\d+)", str(l)))}


def sastm_layers(layers) -> list[str]:
    """Every SASTM (sastm1, sastm2, ...)."""
    return list(_numbered(layers, "sastm"))


def hidden_bn(layers) -> list[str]:
    """BatchNorms after the hidden deconvolutions (bn1, bn2, ...; bn0 follows the linear layer)."""
    return [l for l, k in _numbered(layers, "bn").items() if k >= 1]


def hidden_deconv(layers) -> list[str]:
    """Deconvolutions followed by a SASTM in the default generator: all but the output one (the last)."""
    k = _numbered(layers, "deconv")
    return [l for l, i in k.items() if i < max(k.values())]


@dataclasses.dataclass(frozen=True)
class Claim:
    table: str  # probe table
    column: str  # measurement
    layers: Callable  # layer selector (list of names -> the ones averaged)
    direction: str  # claimed sign of (treatment - baseline): "<" or ">"
    text: str


CLAIMS = {
    "C1": Claim(
        "sparsity",
        "output_zero_frac",
        sastm_layers,
        ">",
        "SASTM makes the generator's feature maps sparse (exact-zero fraction above WGAN-GP's)",
    ),
    "C2": Claim(
        "dead_units",
        "dead_frac",
        hidden_bn,
        "<",
        "fewer dead units after BatchNorm (post-BN pre-ReLU activations <= 0)",
    ),
    "C3": Claim(
        "weight_signs", "neg_frac", hidden_deconv, "<", "fewer negative deconvolution weights"
    ),
}
CLAIM_COLUMNS = [
    "claim",
    "dataset",
    "dataset_name",
    "description",
    "metric",
    "layers",
    "direction",
    "baseline",
    "treatment",
    "value_baseline",
    "value_treatment",
    "n",
    "diff_mean",
    "ci_low",
    "ci_high",
    "verdict",
    "note",
]


def final_values(probe: pd.DataFrame, column: str, select: Callable) -> pd.DataFrame:
    """Per completed run: the probe's last iteration, mean over the selected layers.
    Columns dataset, method, seed, value, layers."""
    rows = []
    for (d, m, s), g in probe[probe["status"] == "completed"].groupby(
        ["dataset", "method", "seed"]
    ):
        last = g[g["iteration"] == g["iteration"].max()]
        names = select(list(dict.fromkeys(last["layer"])))
        vals = pd.to_numeric(last.loc[last["layer"].isin(names), column], errors="coerce")
        rows.append(
            dict(
                dataset=d,
                method=m,
                seed=s,
                value=vals.mean() if len(vals) else math.nan,
                layers=",".join(map(str, names)),
            )
        )
    return pd.DataFrame(rows, columns=["dataset", "method", "seed", "value", "layers"])


def few_seeds(n: int) -> str:
    """The caveat of a verdict from n paired seeds."""
    if n < 2:
        return f"{n} seed(s) with both values: CI undefined"
    if n < MIN_SEEDS:  # for n <= 3 the percentile CI is exactly [min, max]: a sign-agreement rule
        return f"only {n} seeds (conventions ask >= {MIN_SEEDS}): bootstrap CI close to [min, max], verdict weak"
    return ""


def claim_row(name, claim: Claim, dataset, fv: pd.DataFrame, baseline, treatment, n_boot, seed):
    """Paired difference treatment - baseline over seeds with both values (C1 without baseline
    values: one-sample against the WGAN-GP reference 0, see docs/analysis.md)."""
    fv = fv[(fv["dataset"] == dataset) & np.isfinite(fv["value"].astype(float))]
    vb = fv[fv["method"] == baseline].set_index("seed")["value"]
    vt = fv[fv["method"] == treatment].set_index("seed")["value"]
    note = ""
    if name == "C1" and vb.empty:
        vb = pd.Series(0.0, index=vt.index)
        note = f"{baseline} has no SASTM: reference exact-zero fraction taken as 0 (one-sample)"
    seeds = vb.index.intersection(vt.index)
    diff = (vt[seeds] - vb[seeds]).to_numpy(float)
    lo, hi = stats.bootstrap_ci(diff, n_boot, seed)
    verdict = stats.verdict(lo, hi, claim.direction)
    if name == "C1" and len(diff) and np.all(vt[seeds] == 0):
        verdict, note = (
            "does not hold",
            (note + "; " if note else "") + "no exact zeros in any seed",
        )
    note = "; ".join(filter(None, [note, few_seeds(len(diff))]))
    layers = sorted(set(",".join(fv["layers"]).split(",")) - {""})
    return dict(
        claim=name,
        dataset=dataset,
        dataset_name=dataset_name(dataset),
        description=claim.text,
        metric=f"{claim.column} (final iteration)",
        layers=" ".join(layers),
        direction=f"{treatment} - {baseline} {claim.direction} 0",
        baseline=baseline,
        treatment=treatment,
        value_baseline=vb[seeds].mean() if len(seeds) else math.nan,
        value_treatment=vt[seeds].mean() if len(seeds) else math.nan,
        n=len(diff),
        diff_mean=diff.mean() if len(diff) else math.nan,
        ci_low=lo,
        ci_high=hi,
        verdict=verdict,
        note=note,
    )


def fid_claim_row(red_row, pairs, n_boot, seed) -> dict:
    """C0: FID_t < FID_b, as the relative difference FID_t/FID_b - 1 = -r per paired seed."""
    p = pairs[pairs["dataset"] == red_row["dataset"]]
    diff = -p["r"].to_numpy(float)
    lo, hi = stats.bootstrap_ci(diff, n_boot, seed)
    b, t = red_row["baseline"], red_row["treatment"]
    return dict(
        claim="C0",
        dataset=red_row["dataset"],
        dataset_name=red_row["dataset_name"],
        description="lower FID than WGAN-GP",
        metric="FID (values: mean over complete pairs; diff: FID_t/FID_b - 1 = -r)",
        layers="",
        direction=f"{t} - {b} < 0",
        baseline=b,
        treatment=t,
        value_baseline=p["fid_baseline"].mean() if len(p) else math.nan,
        value_treatment=p["fid_treatment"].mean() if len(p) else math.nan,
        n=len(p),
        diff_mean=diff.mean() if len(p) else math.nan,
        ci_low=lo,
        ci_high=hi,
        verdict=stats.verdict(lo, hi, "<"),
        note=few_seeds(len(p)),
    )


def claims_table(red, pairs, probes, baseline=BASELINE, treatment=TREATMENT, n_boot=10000, seed=0):
    rows = [fid_claim_row(r, pairs, n_boot, seed) for _, r in red.iterrows()]
    for name, claim in CLAIMS.items():
        fv = final_values(probes[claim.table], claim.column, claim.layers)
        rows += [
            claim_row(name, claim, d, fv, baseline, treatment, n_boot, seed) for d in red["dataset"]
        ]
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


# ---------------------------------------------------------------- paper table


def _pm(mean, std, n, pct=False, tex=False) -> str:
    """'12.34 ± 0.56 (n=5)'; percentages with 2 decimals; '–' when there is nothing."""
    if not n or not np.isfinite(mean):
        return "--" if tex else "–"
    f = (lambda v: f"{100 * v:.2f}%") if pct else (lambda v: f"{v:.2f}")
    pm = " $\\pm$ " if tex else " ± "
    s = f(mean) + (pm + f(std) if np.isfinite(std) else "") + f" (n={n})"
    return s.replace("%", "\\%") if tex else s


def _ci(lo, hi, tex=False) -> str:
    s = f"[{100 * lo:.2f}%, {100 * hi:.2f}%]" if np.isfinite(lo) else ("--" if tex else "–")
    return s.replace("%", "\\%") if tex else s


def _p(p, tex=False) -> str:
    return ("--" if tex else "–") if not np.isfinite(p) else f"{p:.3g}"


def _protocol(runs) -> str:
    ok = runs[usable(runs)]
    vals = lambda c: "/".join(map(str, dict.fromkeys(ok[c].dropna()))) or "n/a"  # noqa: E731
    return (
        f"n_fake={vals('n_fake')}, n_real={vals('n_real')}, split={vals('split')}, "
        f"extractor={vals('extractor')}"
    )


def paper_rows(red, tex=False) -> list[list[str]]:
    lo, hi = stats.PUBLISHED_RANGE
    published = f"{100 * lo:.2f}%–{100 * hi:.2f}%"
    published = (
        published.replace("%", "\\%").replace("–", "--") + "$^a$" if tex else published + " ᵃ"
    )
    esc = (lambda s: re.sub(r"([&%_#$])", r"\\\1", s)) if tex else (lambda s: s)  # noqa: E731
    return [
        [
            esc(r.dataset_name),
            _pm(r.baseline_fid_mean, r.baseline_fid_std, r.baseline_n, tex=tex),
            _pm(r.treatment_fid_mean, r.treatment_fid_std, r.treatment_n, tex=tex),
            _pm(r.r_mean, r.r_std, r.n_pairs, pct=True, tex=tex),
            _ci(r.r_ci_low, r.r_ci_high, tex),
            _p(r.p_ttest_holm, tex),
            published,
        ]
        for r in red.itertuples()
    ]


def paper_table(
    red, runs, baseline=BASELINE, treatment=TREATMENT, n_boot=10000, seed=0
) -> tuple[str, str]:
    """(markdown, LaTeX) in the paper's layout: dataset | baseline FID | treatment FID | relative decrease."""
    B, T = method_name(baseline), method_name(treatment)
    head = [
        "Dataset",
        f"{B} FID",
        f"{T} FID",
        "Relative decrease (ours)",
        "95% CI",
        "p (Holm)",
        "Relative decrease (paper)",
    ]
    dropped = [
        f"{r.dataset_name} {s}"
        for r in red.itertuples()
        for s in dropped_reasons(runs, r.dataset, baseline, treatment, method_name)
    ]
    notes = [
        f"FID: mean ± std over seeds of completed runs with a finite FID (n runs). Relative decrease: "
        f"r_s = 1 − FID({T}, seed s) / FID({B}, seed s) per paired seed, mean ± std (n complete pairs); 95% CI: "
        f"percentile bootstrap of the mean r ({n_boot} resamples, seed {seed}); p: two-sided paired "
        f"t-test of log(FID({T}) / FID({B})), Holm-adjusted across datasets.",
        "ᵃ Qian et al. (2021) publish only the range of the relative FID decrease across all "
        "their datasets (MNIST, Fashion-MNIST, CIFAR-10, STL-10, mini-ImageNet, CelebA-HQ, LSUN bedroom).",
        f"FID protocol: {_protocol(runs)}.",
    ] + ([f"Excluded runs: {'; '.join(dropped)}."] if dropped else [])
    md = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    md += ["| " + " | ".join(r) + " |" for r in paper_rows(red)]
    md = "\n".join(md) + "\n\n" + "\n\n".join(notes) + "\n"
    tex_head = [re.sub(r"([&%_#$])", r"\\\1", h) for h in head]
    tex_notes = [n.replace("ᵃ", "$^a$").replace("±", "$\\pm$").replace("−", "$-$") for n in notes]
    tex_notes = [re.sub(r"(?<!\\)([&%_#])", r"\\\1", n) for n in tex_notes]
    tex = "\n".join(
        [
            "% generated by `ssgan aggregate`; needs \\usepackage{booktabs}",
            "\\begin{table}[t]",
            "\\centering",
            "\\small",
            "\\begin{tabular}{l" + "r" * (len(head) - 1) + "}",
            "\\toprule",
            " & ".join(tex_head) + " \\\\",
            "\\midrule",
            *[" & ".join(r) + " \\\\" for r in paper_rows(red, tex=True)],
            "\\bottomrule",
            "\\end{tabular}",
            f"\\caption{{FID of {B} and {T}, and the relative FID decrease. "
            + " ".join(tex_notes)
            + "}",
            "\\label{tab:fid}",
            "\\end{table}",
        ]
    )
    return md, tex + "\n"


# ---------------------------------------------------------------- driver


def write_csv(df: pd.DataFrame, path: Path) -> None:
    with io.atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def aggregate(
    results, out=None, n_boot=10000, seed=0, baseline=BASELINE, treatment=TREATMENT
) -> dict:
    """Writes every file in TABLES to ``out`` (default RESULTS/tables); returns the DataFrames."""
    results = Path(results)
    out = Path(out) if out else results / "tables"
    runs = runs_table(results)
    probes = {name: gather(results, runs, name) for name in PROBES}
    pairs = fid_pairs(runs, baseline, treatment)
    red = reduction_table(runs, pairs, baseline, treatment, n_boot, seed)
    claims = claims_table(red, pairs, probes, baseline, treatment, n_boot, seed)
    md, tex = paper_table(red, runs, baseline, treatment, n_boot, seed)
    frames = {
        "runs": runs,
        "fid_pairs": pairs,
        "relative_fid_reduction": red,
        "claims": claims,
        **probes,
    }
    for name, df in frames.items():
        write_csv(df, out / f"{name}.csv")
    io.write_text(out / "paper_table.md", md)
    io.write_text(out / "paper_table.tex", tex)
    return frames


def summary(frames) -> str:
    runs, red, claims = frames["runs"], frames["relative_fid_reduction"], frames["claims"]
    counts = runs["status"].value_counts()
    lines = [f"{len(runs)} runs: " + ", ".join(f"{counts[s]} {s}" for s in counts.index)]
    for r in red.itertuples():
        lines.append(
            f"  {r.dataset_name}: r = {100 * r.r_mean:.2f}% (n={r.n_pairs} pairs, "
            f"95% CI [{100 * r.r_ci_low:.2f}%, {100 * r.r_ci_high:.2f}%], p_holm={r.p_ttest_holm:.3g})"
            + (f"; dropped {r.dropped}" if r.dropped else "")
        )
    for c in claims.itertuples():
        lines.append(f"  {c.claim} {c.dataset_name}: {c.verdict} (n={c.n})")
    return "\n".join(lines)


def cli(args) -> int:
    results = Path(args.results)
    if not results.is_dir():
        print(f"ssgan aggregate: error: results folder {results} does not exist", file=sys.stderr)
        return 2
    if not discover(results):
        print(
            f"ssgan aggregate: error: no run directories under {results}/runs/<dataset>/<method>/seed<N>/",
            file=sys.stderr,
        )
        return 2
    frames = aggregate(
        results,
        args.out,
        args.bootstrap,
        args.seed,
        getattr(args, "baseline", None) or BASELINE,
        getattr(args, "treatment", None) or TREATMENT,
    )
    print(summary(frames))
    print(f"tables written to {Path(args.out) if args.out else results / 'tables'}")
    return 0
