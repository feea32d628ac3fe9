"""ssgan-bench: Self-Sparse GAN vs WGAN-GP reproducibility suite."""

from ssgan import moved as _moved

__version__ = "0.1.0"

_moved.install()  # ssgan.train, ssgan.runs, ... still import (ssgan/moved.py)
