"""Mode-collapse measures on the Inception pool3 features FID uses: improved precision and
recall (Kynkäänniemi et al. 2019) and density and coverage (Naeem et al. 2020).

With real features X (N) and generated features Y (M), NND_k(v) the distance from v to its
k-th nearest neighbour in its own set (itself excluded) and B(v, r) the closed ball:

    precision = 1/M sum_j 1[Y_j in U_i B(X_i, NND_k(X_i))]   (fakes on the real manifold)
    recall    = 1/N sum_i 1[X_i in U_j B(Y_j, NND_k(Y_j))]   (reals on the fake manifold)
    density   = 1/(k M) sum_j sum_i 1[Y_j in B(X_i, NND_k(X_i))]
    coverage  = 1/N sum_i 1[min_j ||X_i - Y_j|| <= NND_k(X_i)]

Precision and recall are torch-fidelity's (``metric_prc``, k = ``fid.prc_k``, 3 as in the
paper); density and coverage are computed here (k = ``fid.dc_k``, 5 as Naeem et al.
recommend). A collapsed generator keeps its precision but loses recall and coverage.

Sample counts: both sets are cut to the same n = min(``fid.manifold_samples``, n_fake,
n_real), since the k-NN radii and so all four numbers depend on the set sizes; n and each k
used (capped at n - 1) are recorded. The fakes are the first n (their latents are i.i.d.); the
reals are a random subset of the reference features drawn with ``fid.manifold_seed`` (the same
subset for every run of a dataset), not the first n in file order, which in a class-sorted
folder (mini-ImageNet's ``train/<class>/``) covers a few classes only and biases recall and
coverage down. The seed is recorded and part of the FID protocol id; null keeps the first n
(the records written before the key). With n < 2 nothing is computed and
the fields are null. At small n (the quick config: 64) the radii are wide and the numbers are
noisy and biased upwards; compare them only at equal n and k, like FIDs at equal n_fake.
"""

from __future__ import annotations

import torch
from torch_fidelity.metric_prc import calculate_precision_recall_part

FIELDS = ("precision", "recall", "density", "coverage")
BATCH = 2048  # rows of a distance matrix block


def _kth_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row of x to its k-th nearest other row."""
    return torch.cat(
        [torch.cdist(b, x).kthvalue(k + 1, dim=1).values for b in x.split(BATCH)]
    )  # k + 1: the row itself is at distance 0


def density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020, eqs. 4 and 5) of ``fake`` against ``real``."""
    radii = _kth_radii(real, k)
    inside = torch.zeros(len(fake), dtype=torch.long)  # number of real balls each fake lies in
    nearest = torch.full((len(real),), float("inf"), dtype=real.dtype)  # each real's nearest fake
    for i, b in enumerate(real.split(BATCH)):
        d = torch.cdist(b, fake)  # reals of this block x fakes
        r = radii[i * BATCH : i * BATCH + len(b)]
        inside += (d <= r[:, None]).sum(0)
        nearest[i * BATCH : i * BATCH + len(b)] = d.min(1).values
    density = int(inside.sum()) / (k * len(fake))
    coverage = float((nearest <= radii).double().mean())
    return density, coverage


def reference_subset(real: torch.Tensor, n: int, seed: int | None) -> torch.Tensor:
    """n rows of ``real``: drawn without replacement with ``seed`` (None: the first n)."""
    if seed is None:
        return real[:n]
    pick = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))[:n]
    return real[pick]


def measures(real: torch.Tensor, fake: torch.Tensor, fid_cfg: dict) -> dict:
    """fid.json's mode-collapse fields for real and fake feature sets (N x d, M x d)."""
    n = min(fid_cfg["manifold_samples"], len(real), len(fake))
    out = dict.fromkeys(FIELDS)
    out.update(
        manifold_n=n if n >= 2 else None,
        manifold_seed=fid_cfg["manifold_seed"],
        prc_k=None,
        dc_k=None,
    )
    if n < 2:
        return out
    real, fake = reference_subset(real, n, fid_cfg["manifold_seed"]).double(), fake[:n].double()
    out["prc_k"], out["dc_k"] = min(fid_cfg["prc_k"], n - 1), min(fid_cfg["dc_k"], n - 1)
    # torch-fidelity's convention: features_1 generated, features_2 real
    out["precision"], out["recall"] = calculate_precision_recall_part(
        fake, real, neighborhood=out["prc_k"], batch_size=BATCH
    )
    out["density"], out["coverage"] = density_coverage(real, fake, out["dc_k"])
    return out
