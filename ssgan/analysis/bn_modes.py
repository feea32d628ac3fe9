"""How much FID depends on the generator's BatchNorm mode when sampling (``fid.bn_mode``):
runs evaluated in both modes on the same latents (``fid.compare_bn_modes``; fid.json
``fid_by_bn_mode``) give per seed d_s = log(FID_batch,s / FID_eval,s). Per dataset x method:
both FIDs' mean ± std, the mean ratio exp(mean d) and its Student-t 95% interval. A difference
between methods here means the sampling mode is not neutral for their comparison.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ssgan.analysis import stats
from ssgan.analysis.runs import dataset_order, method_order

COLUMNS = [
    "dataset",
    "method",
    "n",
    "fid_eval_mean",
    "fid_eval_std",
    "fid_batch_mean",
    "fid_batch_std",
    "ratio_batch_eval",
    "ratio_ci_low",
    "ratio_ci_high",
    "protocol_id",
]


def bn_mode_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset x method with runs evaluated in both modes (completed, FID ok)."""
    both = (
        (runs["status"] == "completed")
        & (runs["fid_status"] == "ok")
        & np.isfinite(pd.to_numeric(runs["fid_eval"], errors="coerce"))
        & np.isfinite(pd.to_numeric(runs["fid_batch"], errors="coerce"))
    )
    ok = runs[both]
    rows = []
    for d in dataset_order(ok["dataset"]):
        for m in method_order(ok.loc[ok["dataset"] == d, "method"]):
            sub = ok[(ok["dataset"] == d) & (ok["method"] == m)]
            ev, ba = sub["fid_eval"].astype(float), sub["fid_batch"].astype(float)
            d_s = np.log(ba.to_numpy() / ev.to_numpy())
            lo, hi = stats.t_ci(d_s)
            e_mean, e_std, n = stats.mean_std(ev)
            b_mean, b_std, _ = stats.mean_std(ba)
            rows.append(
                dict(
                    dataset=d,
                    method=m,
                    n=n,
                    fid_eval_mean=e_mean,
                    fid_eval_std=e_std,
                    fid_batch_mean=b_mean,
                    fid_batch_std=b_std,
                    ratio_batch_eval=math.exp(d_s.mean()),
                    ratio_ci_low=math.exp(lo) if np.isfinite(lo) else math.nan,
                    ratio_ci_high=math.exp(hi) if np.isfinite(hi) else math.nan,
                    protocol_id=sub["protocol_id"].dropna().iloc[0]
                    if sub["protocol_id"].notna().any()
                    else None,
                )
            )
    return pd.DataFrame(rows, columns=COLUMNS)
