"""The claims registry and ``claims.csv``: every claim is a probe file (or a runs.csv column), a
metric, the layers it is averaged over, the claimed sign of (treatment - baseline) and its kind
(superiority, non-inferiority or equivalence with a margin), judged by the one verdict rule of
``stats.decide`` (docs/analysis.md). One claim per comparison is primary (the comparison's
``primary:``, else the first of its claims); it is Holm-corrected over its datasets, the
secondary claims together over claims x datasets.

A new method adds its claims here: one ``Claim`` in ``CLAIMS`` (its probe table must be in
``runs.PROBES``) and its name in ``CLAIM_SETS`` under the registered method it applies to,
the primary claim first.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from ssgan.analysis import construction, failures, stats
from ssgan.analysis.runs import INERT_NOTE, PROBES, dataset_name, sastm_inertness, usable

NAN = math.nan


def _numbered(layers, prefix) -> dict[str, int]:
    return {l: int(m.group(1)) for l in layers if (m := re.fullmatch(prefix + r"(\d+)", str(l)))}


def sastm_layers(layers) -> list[str]:
    """Every SASTM (sastm1, sastm2, ...)."""
    return list(_numbered(layers, "sastm"))


def hidden_blocks(layers) -> list[str]:
    """Post-ReLU feature maps of the hidden blocks (block1, ...: each follows a deconvolution and,
    in Self-Sparse GAN, its SASTM); block0 follows the linear layer, where no SASTM acts."""
    return [l for l, k in _numbered(layers, "block").items() if k >= 1]


def hidden_bn(layers) -> list[str]:
    """BatchNorms after the hidden deconvolutions (bn1, bn2, ...; bn0 follows the linear layer)."""
    return [l for l, k in _numbered(layers, "bn").items() if k >= 1]


def deconvs(layers) -> list[str]:
    """Every deconvolution of the generator (deconv1, ..., the output one included)."""
    return list(_numbered(layers, "deconv"))


def hidden_deconv(layers) -> list[str]:
    """Deconvolutions followed by a SASTM in the default generator: all but the output one (the last)."""
    k = _numbered(layers, "deconv")
    return [l for l, i in k.items() if i < max(k.values())]


def critic_convs(layers) -> list[str]:
    """Every critic convolution (conv1, conv2, ...), the layers SR-GAN compensates."""
    return list(_numbered(layers, "conv"))


@dataclasses.dataclass(frozen=True)
class Claim:
    table: str  # probe table (runs.PROBES key); "fid": the FID log ratio; "runs": a runs.csv column
    column: str  # measurement
    layers: Callable | None  # layer selector (list of names -> the ones averaged)
    direction: str  # claimed sign of (treatment - baseline): "<" or ">"
    text: str
    kind: str = "superiority"  # stats.KINDS
    margin: float = 0.0  # non-inferiority / equivalence margin, in the difference's units
    check: bool = False  # a manipulation check: reported beside the claims, never judged


# Sparse vs dense ("without sacrificing performance", STU-GAN): the sparse FID is at most 10%
# above the dense one, margin log(1.10) on the log ratio. 10% is the smallest reduction the
# grids' seeds are sized to resolve (80% power at sd 0.08, docs/analysis.md): a tighter margin
# could not be shown at these n, a looser one would call a visible loss "non-inferior".
NI_MARGIN = math.log(1.10)


CLAIMS = {
    "C0": Claim("fid", "log_ratio", None, "<", "lower FID than the baseline"),
    # C1, C2: consequences of the sparse maps, measured the same way in both generators on the
    # probe latents (ssgan/probes/gradients.py; docs/analysis.md gives the paper's words, the
    # definitions and what would make each fail)
    "C1": Claim(
        "gradients",
        "weight_grad_zero_frac",
        deconvs,
        ">",
        "smaller search space of the deconvolution kernels: a larger per-sample share of "
        "weight-gradient entries that are exactly zero",
    ),
    "C2": Claim(
        "gradients",
        "unit_grad_zero_frac",
        hidden_deconv,
        "<",
        "less of the zero-gradient problem: a smaller per-sample share of the hidden "
        "deconvolutions' output units that receive exactly zero gradient",
    ),
    "C3": Claim(
        "weight_signs", "neg_frac", hidden_deconv, "<", "fewer negative deconvolution weights"
    ),
    "N0": Claim(
        "fid",
        "log_ratio",
        None,
        "<",
        "FID not more than 10% above the baseline's (non-inferiority, margin log 1.1)",
        kind="non-inferiority",
        margin=NI_MARGIN,
    ),
    # Self-Sparse GAN's manipulation check: its zeros reach the maps fed to the deconvolutions
    # (the post-ReLU maps, the same places in both generators); reported, never judged
    "M1": Claim(
        "feature_sparsity",
        "zero_frac",
        hidden_blocks,
        ">",
        "manipulation check: more exact zeros in the post-ReLU maps fed to the deconvolutions",
        check=True,
    ),
    # mode collapse (SR-GAN's claim): manifold measures and class coverage of the final
    # generator, runs.csv columns of usable runs (fid.json; docs/run_layout.md)
    "MC1": Claim("runs", "recall", None, ">", "less mode collapse: higher recall"),
    "MC2": Claim("runs", "coverage", None, ">", "less mode collapse: higher coverage"),
    "MC3": Claim("runs", "classes_covered", None, ">", "less mode collapse: more classes covered"),
    "SR1": Claim(  # SR-GAN (Liu et al. 2019): compensation prevents the spectrum's collapse
        "spectrum_summary",
        "frac_above_half",
        critic_convs,
        ">",
        "no spectral collapse: more of the critic convolutions' normalised singular values "
        "(s / s_1) above 0.5",
    ),
}
# registered method of the treatment -> the claims of its comparisons (config `claims:` overrides)
# (the first is the primary claim unless the comparison names another)
# SR1 is in no set: it is one-armed. SR-GAN's probe reads the spectrum 21 critic steps after
# the last compensation, whose floor is floor(k/2)/k = 0.5 of the top half set to 1, so the
# reading cannot fall below the threshold in SR-GAN whatever compensation achieves; only SN-GAN
# can fail it (docs/analysis.md). The within-run link (does spectral collapse precede the drop
# in recall in SN-GAN runs?) is not implemented. A comparison may still ask for SR1 by name.
CLAIM_SETS = {"ssgan": ("C0", "C1", "C2", "C3", "M1"), "sr_gan": ("MC1", "MC2", "MC3", "C0")}
DEFAULT_CLAIMS = ("C0",)
# Self-Sparse-GAN-only measurements shown beside M1 (final probe, mean over SASTM layers): no
# baseline has them, so they are described, never compared with a constant.
SASTM_ONLY = {
    "sastm_output_zero_frac": "output_zero_frac",
    "sastm_channel_dead_frac": "channel_dead_frac",
    "sastm_spatial_dead_frac": "spatial_dead_frac",
}
CLAIM_COLUMNS = [
    "comparison",
    "claim",
    "dataset",
    "dataset_name",
    "description",
    "probe",
    "metric",
    "layers",
    "direction",
    "kind",
    "margin",
    "primary",
    "family",
    "baseline",
    "treatment",
    "value_baseline",
    "value_treatment",
    "n",
    "diff_mean",
    "ci_low",
    "ci_high",
    "p_ttest",
    "p_holm",
    "p_perm",
    "p_perm_holm",
    "bootstrap_ci_low",
    "bootstrap_ci_high",
    "verdict",
    "perm_verdict",
    "tests_disagree",
    *failures.ROBUST_COLUMNS,  # failed runs ranked worst (ssgan/analysis/failures.py)
    *failures.FAIL_COLUMNS,
    *construction.IT0_COLUMNS,  # the arms at iteration 0 (ssgan/analysis/construction.py)
    "rule",
    *SASTM_ONLY,
    "sastm_inert",  # share of the treatment's runs flagged inert (runs.INERT_ZERO_FRAC)
    "note",
]


def claims_for(comparison, kind_of: Callable[[str], str]) -> tuple[str, ...]:
    """The comparison's own list, else the set registered for its treatment's method here,
    else the method's own ``claims`` (a plugin's), else FID only."""
    from ssgan.methods import METHODS

    kind = kind_of(comparison.treatment)
    own = getattr(METHODS.get(kind), "claims", ())
    return comparison.claims or CLAIM_SETS.get(kind) or tuple(own) or DEFAULT_CLAIMS


def primary_of(comparison, kind_of: Callable[[str], str]) -> str:
    """The comparison's primary claim: its ``primary``, else the first of its claims."""
    return getattr(comparison, "primary", "") or claims_for(comparison, kind_of)[0]


def final_values(
    probe: pd.DataFrame, column: str, select: Callable, iteration: int | None = None
) -> pd.DataFrame:
    """Per completed run: the probe's last iteration (or ``iteration``; runs without it are
    left out), mean over the selected layers. Columns dataset, method, seed, value, layers."""
    rows = []
    probe = probe[probe["status"] == "completed"]  # runs.gather: the columns even when empty
    for (d, m, s), g in probe.groupby(["dataset", "method", "seed"]):
        at = g["iteration"].max() if iteration is None else iteration
        last = g[g["iteration"] == at]
        if last.empty:
            continue
        names = select(list(dict.fromkeys(last["layer"])))
        vals = pd.to_numeric(last.loc[last["layer"].isin(names), column], errors="coerce")
        vals = vals.dropna()
        rows.append(
            dict(
                dataset=d,
                method=m,
                seed=s,
                value=vals.mean(),  # NaN when no selected layer has a value
                layers=",".join(map(str, names)),
            )
        )
    return pd.DataFrame(rows, columns=["dataset", "method", "seed", "value", "layers"])


def paired_stats(diff, n_boot: int, seed: int, claim: Claim = None) -> dict:
    """Mean, Student-t 95% CI, the claim's t-test p (``stats.claim_test``; superiority when no
    claim is given), the sign-flip p of the differences from the same bound and the bootstrap
    CI of per-seed differences."""
    c = claim or CLAIMS["C0"]
    mean, _, n = stats.mean_std(diff)
    lo, hi = stats.t_ci(diff)
    b_lo, b_hi = stats.bootstrap_ci(diff, n_boot, seed)
    p_t, _ = stats.claim_test(diff, c.kind, c.direction, c.margin)
    return dict(
        n=n,
        diff_mean=mean,
        ci_low=lo,
        ci_high=hi,
        p_ttest=float(p_t),
        p_perm=perm_p(diff, c, seed),
        bootstrap_ci_low=b_lo,
        bootstrap_ci_high=b_hi,
    )


def perm_p(diff, claim: Claim, seed: int = 0) -> float:
    """The sign-flip p of the same null as the claim's t-test: from 0 (superiority), from the
    unclaimed margin (non-inferiority), the larger of the two margins' (equivalence)."""
    d = stats.as_array(diff)
    if claim.kind == "superiority":
        return stats.sign_flip_p(d, seed)
    if claim.kind == "non-inferiority":
        bound = claim.margin if claim.direction == "<" else -claim.margin  # worse by the margin
        return stats.sign_flip_p(d - bound, seed)
    hi, lo = stats.sign_flip_p(d - claim.margin, seed), stats.sign_flip_p(d + claim.margin, seed)
    return float(np.fmax(hi, lo))


def few_seeds(n: int) -> str:
    if n < 2:
        return f"{n} seed(s) with both values: interval and test undefined"
    if n < stats.MIN_N:
        return f"n = {n} < {stats.MIN_N} pairs: too few for a verdict (descriptive only)"
    if n < stats.WILCOXON_MIN_N:  # 2/2^n >= 0.0625: the sign-flip p cannot reach 0.05
        return (
            f"n = {n}: the smallest sign-flip p is 2/2^{n} = {2 / 2**n:.3g}; "
            "the verdict rests on the t-test alone"
        )
    return ""


def run_values(runs: pd.DataFrame, column: str) -> pd.DataFrame:
    """A runs.csv column of the usable runs, in final_values' layout (no layers)."""
    ok = runs[usable(runs)]
    out = ok[["dataset", "method", "seed"]].assign(
        value=pd.to_numeric(ok[column], errors="coerce") if column in ok else math.nan, layers=""
    )
    return out.reset_index(drop=True)


def probe_row(claim, comp, dataset, fv, n_boot, seed) -> dict:
    """Paired difference treatment - baseline over the seeds where both have a value."""
    fv = fv[(fv["dataset"] == dataset) & np.isfinite(fv["value"].astype(float))]
    vb = fv[fv["method"] == comp.baseline].set_index("seed")["value"]
    vt = fv[fv["method"] == comp.treatment].set_index("seed")["value"]
    seeds = vb.index.intersection(vt.index)
    diff = (vt[seeds] - vb[seeds]).to_numpy(float)
    missing = [m for m, v in ((comp.baseline, vb), (comp.treatment, vt)) if v.empty]
    source = "runs.csv" if claim.table == "runs" else PROBES[claim.table][0]
    why = (
        f"no {source} values for {' and '.join(missing)} (runs without this probe, "
        f"e.g. written before it existed, or not completed)"
        if missing
        else ""
    )
    layers = sorted(set(",".join(fv["layers"]).split(",")) - {""})
    return dict(
        probe=source,
        metric=f"{claim.column} (usable runs, final generator)"
        if claim.table == "runs"
        else f"{claim.column} (final iteration, mean over layers)",
        layers=" ".join(layers),
        value_baseline=vb[seeds].mean(),  # NaN without a pair
        value_treatment=vt[seeds].mean(),
        **paired_stats(diff, n_boot, seed, claim),
        note=why or few_seeds(len(diff)),
        _diff=pd.Series(diff, index=seeds),
    )


def fid_row(comp, dataset, pairs, n_boot, seed, claim: Claim = None) -> dict:
    """An FID claim (C0, N0) on the complete FID pairs: d_s = log(FID_t,s / FID_b,s)."""
    p = pairs[(pairs["comparison"] == comp.name) & (pairs["dataset"] == dataset)]
    return dict(
        probe="fid.json",
        metric="log(FID_treatment / FID_baseline) per seed pair; values: mean FID over the pairs",
        layers="",
        value_baseline=p["fid_baseline"].mean(),  # NaN without pairs
        value_treatment=p["fid_treatment"].mean(),
        **paired_stats(p["log_ratio"].to_numpy(float), n_boot, seed, claim),
        note=few_seeds(len(p)),
        _diff=pd.Series(p["log_ratio"].to_numpy(float), index=p["seed"].to_numpy()),
    )


def sastm_only(probes, comp, dataset) -> dict:
    out = dict.fromkeys(SASTM_ONLY, math.nan)
    for col, src in SASTM_ONLY.items():
        if src not in probes["sparsity"]:
            continue
        fv = final_values(probes["sparsity"], src, sastm_layers)
        v = fv.loc[(fv["dataset"] == dataset) & (fv["method"] == comp.treatment), "value"]
        out[col] = v.mean()  # NaN when the treatment has no value
    return out


def inert_share(probes, comp, dataset) -> float:
    """Share of the treatment's runs on ``dataset`` whose SASTMs stayed inert; NaN without any
    SASTM rows (a treatment without SASTM)."""
    sp = probes["sparsity"]
    sp = sp[(sp["dataset"] == dataset) & (sp["method"] == comp.treatment)]
    flags = [sastm_inertness(g)[1] for _, g in sp.groupby("seed")]
    flags = [f for f in flags if f is not None]
    return float(np.mean(flags)) if flags else math.nan


def claims_table(
    comps, datasets, pairs, probes, kind_of, n_boot=10000, seed=0, runs=None
) -> pd.DataFrame:
    """One row per comparison x claim x dataset (``datasets[comp.name]``). Holm: the primary
    claim over its datasets, the secondary claims together over claims x datasets (rows with
    fewer than stats.MIN_N pairs are not tested and not counted); then the
    verdict rule on the t-test (``verdict``, "holds" only when the robustness test with failed
    runs ranked worst agrees: ssgan/analysis/failures.py) and on the sign-flip test
    (``perm_verdict``); each arm's failure rate beside it."""
    rows = []
    for comp in comps:
        primary = primary_of(comp, kind_of)
        block = []
        for name in claims_for(comp, kind_of):
            claim = CLAIMS[name]
            probed = claim.table not in ("fid", "runs")
            fv = (
                None
                if claim.table == "fid"
                else run_values(runs, claim.column)
                if claim.table == "runs"
                else final_values(probes[claim.table], claim.column, claim.layers)
            )
            fv0 = (  # the same measurement before training
                final_values(probes[claim.table], claim.column, claim.layers, iteration=0)
                if probed
                else None
            )
            for d in datasets[comp.name]:
                r = (
                    fid_row(comp, d, pairs, n_boot, seed, claim)
                    if fv is None
                    else probe_row(claim, comp, d, fv, n_boot, seed)
                )
                r.update(failures.robust_row(r.pop("_diff"), runs, comp, d, claim))
                r.update(construction.iteration0(fv0, comp, d, fv if probed else None))
                extra = sastm_only(probes, comp, d) if name == "M1" else {}
                inert = inert_share(probes, comp, d)
                if inert > 0:
                    r["note"] = "; ".join(filter(None, [r.get("note"), INERT_NOTE]))
                block.append(
                    dict(
                        comparison=comp.name,
                        claim=name,
                        dataset=d,
                        dataset_name=dataset_name(d),
                        description=claim.text,
                        direction=f"{comp.treatment} - {comp.baseline} {claim.direction} 0",
                        kind=claim.kind,
                        margin=claim.margin,
                        primary=name == primary,
                        baseline=comp.baseline,
                        treatment=comp.treatment,
                        rule=stats.RULE,
                        **r,
                        **extra,
                        sastm_inert=inert,
                    )
                )
        for is_primary in (True, False):
            fam = [
                b
                for b in block
                if b["primary"] == is_primary and construction.judged(b, CLAIMS[b["claim"]].check)
            ]
            tested = [b["n"] >= stats.MIN_N for b in fam]  # too few pairs: not tested
            ps = stats.holm([b["p_ttest"] if t else NAN for b, t in zip(fam, tested)])
            pp = stats.holm([b["p_perm"] if t else NAN for b, t in zip(fam, tested)])
            size = int(np.isfinite(ps).sum())
            label = "primary" if is_primary else "secondary"
            worse = failures.excess(block)  # the treatment failed more often: no "holds"
            for b, p, q in zip(fam, ps, pp):
                c = CLAIMS[b["claim"]]
                fav = stats.favourable(b["diff_mean"], c.kind, c.direction, c.margin)
                b["family"] = f"{label}: Holm over {size} rows"
                b["p_holm"], b["p_perm_holm"] = p, q
                b["verdict"] = failures.settle(stats.decide(p, fav, b["n"]), b["p_robust"], worse)
                b["perm_verdict"] = stats.decide(q, fav, b["n"])
                b["tests_disagree"] = b["verdict"] != b["perm_verdict"]
        construction.settle(block, {b["claim"] for b in block if CLAIMS[b["claim"]].check})
        rows += block
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)
