"""FID and KID from Inception features, through torch-fidelity's own functions.

FID (Heusel et al. 2017), between Gaussians fitted to the two feature sets:

    FID = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})

torch-fidelity (after TTUR) evaluates Tr((S1 S2)^{1/2}) as the sum of the square roots of
the eigenvalues of S1 S2, which stays finite when S is singular (fewer samples than 2048).

KID (Binkowski et al. 2018): the unbiased MMD^2 with the cubic polynomial kernel
k(x, y) = (x.y / d + 1)^3, averaged over ``subsets`` random subsets of ``subset_size``
features from each set (mean and std over the subsets).
"""

from __future__ import annotations

import numpy as np
import torch
from torch_fidelity.defaults import DEFAULTS
from torch_fidelity.metric_fid import (
    KEY_METRIC_FID,
    fid_features_to_statistics,
    fid_statistics_to_metric,
)
from torch_fidelity.metric_kid import (
    KEY_METRIC_KID_MEAN,
    KEY_METRIC_KID_STD,
    kid_features_to_metric,
)

KID_SUBSETS = DEFAULTS["kid_subsets"]  # torch-fidelity's default (100)


def statistics(features: torch.Tensor) -> dict[str, np.ndarray]:
    """N x d features -> {"mu": d, "sigma": d x d} in float64 (mean and unbiased covariance)."""
    if features.dim() != 2 or len(features) < 2:
        raise ValueError(f"need at least 2 feature vectors, got shape {tuple(features.shape)}")
    return fid_features_to_statistics(features.detach().cpu().double())


def fid(stats1: dict, stats2: dict) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})."""
    return float(fid_statistics_to_metric(stats1, stats2, verbose=False)[KEY_METRIC_FID])


def kid(
    features1: torch.Tensor,
    features2: torch.Tensor,
    subset_size: int,
    subsets: int = KID_SUBSETS,
    seed: int = 0,
) -> tuple[float, float, int]:
    """(KID mean, KID std, subset size used); the subset size is capped by both set sizes."""
    size = min(subset_size, len(features1), len(features2))
    out = kid_features_to_metric(
        features1.detach().cpu(),
        features2.detach().cpu(),
        kid_subsets=subsets,
        kid_subset_size=size,
        rng_seed=seed,
        verbose=False,
    )
    return float(out[KEY_METRIC_KID_MEAN]), float(out[KEY_METRIC_KID_STD]), size
