"""STU-GAN on SN-GAN, as the STU-GAN reference trains it (Liu et al. 2022, arXiv 2203.02770):
the sparse-to-sparse training of ssgan/methods/stu_gan.py (masks, exploration, sparse moving
average) on SN-GAN's critic and loss (ssgan/methods/sn_gan.py: spectral normalisation on every
critic layer, hinge loss, no gradient penalty). Under spectral normalisation the mask acts on
the raw weight (``parametrizations.weight.original``), so W / sigma is as sparse as the mask.

Its comparisons are STU-GAN's own hypotheses: non-inferiority to the dense SN-GAN (N0, the
primary claim) and lower FID (C0); exploration vs static masks is a second comparison between
two stu_sngan variants (config/stu_gan.yaml).
"""

from __future__ import annotations

from ssgan.methods.base import register_method
from ssgan.methods.sn_gan import SNGAN
from ssgan.methods.stu_gan import STUGAN


@register_method("stu_sngan")
class STUSNGAN(STUGAN, SNGAN):
    """Method resolution: STU-GAN's masks and records, then SN-GAN's networks and losses."""

    unused_sections = ("sastm", "sr")
    display_name = "STU-GAN (SN-GAN)"
    color = "#64B5CD"
    claims = ("N0", "C0")
