"""ssgan-bench: Self-Sparse GAN vs WGAN-GP reproducibility suite."""

__version__ = "0.1.0"
