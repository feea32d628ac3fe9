"""A claim decided at iteration 0 gets no verdict (docs/analysis.md, "Claims decided by
construction").

Every run probes its generator at iteration 0, before the first update (ssgan/training/loop.py),
on the same probe latents as later. For a claim on a probe table, the paired differences at
iteration 0, d0_s = v_treatment,s(0) - v_baseline,s(0), measure what the two arms differ by
before any training: the architecture and its initialisation. The arms **differ by
construction** when the Student-t 95% interval of d0 (``stats.t_ci``, n >= 2 pairs) excludes 0:
the iteration-0 difference is larger than its own seed-to-seed noise, in either direction. Such
a claim's final difference cannot be credited to training, so its verdict is ``by construction``
(both ``verdict`` and ``perm_verdict``), it is left out of the Holm families (it is not tested),
and its note gives d0. Otherwise it is judged as any claim. Identical arms at iteration 0
(layers that both generators share start equal: C3's deconvolution weights) give d0 = 0 with
an interval [0, 0], never flagged. With fewer than 2 pairs at iteration 0 (runs without the
iteration-0 probe) nothing is flagged: ``by_construction`` is blank. Claims on the FID or on runs.csv
have no iteration-0 measurement and are not checked. Beside it, for every probe claim, what
training added (``training_diff_mean``, ``training_ci_low/high``): the per-seed change of the
paired difference from iteration 0 to the final probe, descriptive, never a verdict.

A manipulation check (``Claim.check``: Self-Sparse GAN's own zeros reaching the next
deconvolution) is reported with its iteration-0 columns and never judged: its verdict is
``manipulation check``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ssgan.analysis import stats

BY_CONSTRUCTION = "by construction"
CHECK = "manipulation check"
IT0_COLUMNS = [
    "it0_n",
    "it0_baseline",
    "it0_treatment",
    "it0_diff_mean",
    "it0_ci_low",
    "it0_ci_high",
    "by_construction",
    "training_diff_mean",  # mean over seeds of (final - iteration-0) paired difference
    "training_ci_low",
    "training_ci_high",
]


def _paired(values: pd.DataFrame, comp, dataset) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(baseline, treatment, treatment - baseline) per seed with both values."""
    v = values[(values["dataset"] == dataset) & np.isfinite(values["value"].astype(float))]
    vb = v[v["method"] == comp.baseline].set_index("seed")["value"].astype(float)
    vt = v[v["method"] == comp.treatment].set_index("seed")["value"].astype(float)
    seeds = vb.index.intersection(vt.index)
    return vb[seeds], vt[seeds], vt[seeds] - vb[seeds]


def iteration0(values: pd.DataFrame | None, comp, dataset, final: pd.DataFrame = None) -> dict:
    """The iteration-0 columns of one claim row from ``values`` (dataset, method, seed, value at
    iteration 0; None for claims without a probe table) and, with ``final`` (the same at the
    final probe), what training added: the paired difference's change from iteration 0,
    (d_s - d0_s), its mean and Student-t interval over the seeds with both (descriptive)."""
    out = dict.fromkeys(IT0_COLUMNS, math.nan)
    out["it0_n"], out["by_construction"] = 0, None
    if values is None:
        return out
    vb, vt, diff = _paired(values, comp, dataset)
    d0 = diff.to_numpy(float)
    lo, hi = stats.t_ci(d0)
    if final is not None:
        change = (_paired(final, comp, dataset)[2] - diff).dropna().to_numpy(float)
        out["training_diff_mean"] = change.mean() if len(change) else math.nan
        out["training_ci_low"], out["training_ci_high"] = stats.t_ci(change)
    out.update(
        it0_n=len(d0),
        it0_baseline=vb.mean(),
        it0_treatment=vt.mean(),
        it0_diff_mean=d0.mean() if len(d0) else math.nan,
        it0_ci_low=lo,
        it0_ci_high=hi,
        by_construction=bool(lo > 0 or hi < 0) if len(d0) >= 2 else None,
    )
    return out


def judged(row: dict, check: bool) -> bool:
    """Whether a claim row enters its Holm family and gets a verdict."""
    return not check and row.get("by_construction") is not True


def settle(block: list[dict], checks: set[str]) -> None:
    """Verdict and note of the rows that are not judged (after the judged rows' Holm step)."""
    for b in block:
        check = b["claim"] in checks
        if judged(b, check):
            continue
        d0 = (
            f"iteration 0: {b['treatment']} - {b['baseline']} = {b['it0_diff_mean']:.4g}, "
            f"95% t-CI [{b['it0_ci_low']:.4g}, {b['it0_ci_high']:.4g}], n = {b['it0_n']}"
        )
        if check:
            verdict, note = CHECK, f"manipulation check, not a claim ({d0})"
        else:
            verdict, note = BY_CONSTRUCTION, f"the arms differ before training ({d0})"
        b.update(
            family="not judged",
            p_holm=math.nan,
            p_perm_holm=math.nan,
            verdict=verdict,
            perm_verdict=verdict,
            tests_disagree=False,
            note=_join(note, b.get("note")),
        )


def _join(*parts) -> str:
    return "; ".join(p for p in parts if isinstance(p, str) and p)
