"""Stage 4, probes: measurements of the generator during training (``generator``: SASTM and
feature-map sparsity, weight signs and histograms, dead units after BatchNorm) and of the
critic's spectra (``spectral``, also SR-GAN's compensation).

``from ssgan import probes`` gives the generator probes (``probes.weight_rows``, ...), as before.
"""

from ssgan.probes.generator import (
    DEAD_COLUMNS,
    FEATURE_SPARSITY_COLUMNS,
    HIST_COLUMNS,
    QUANTILES,
    SPARSITY_COLUMNS,
    WEIGHT_COLUMNS,
    activation_rows,
    dead_channel_frac,
    dead_frac,
    generator_convolutions,
    histogram_rows,
    named_layers,
    weight_rows,
    zero_frac,
)

__all__ = [
    "DEAD_COLUMNS",
    "FEATURE_SPARSITY_COLUMNS",
    "HIST_COLUMNS",
    "QUANTILES",
    "SPARSITY_COLUMNS",
    "WEIGHT_COLUMNS",
    "activation_rows",
    "dead_channel_frac",
    "dead_frac",
    "generator_convolutions",
    "histogram_rows",
    "named_layers",
    "weight_rows",
    "zero_frac",
]
