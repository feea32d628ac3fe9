"""Methods registry: a method builds G and D and runs one training iteration.

Add a method with one file in this package holding a subclass of ``Method`` decorated with
``@register_method("name")``, and one import line below.
"""

from ssgan.methods import (  # noqa: E402,F401  (registration)
    sn_gan,
    sr_gan,
    ssgan,
    stu_gan,
    stu_sngan,
    wgan_gp,
)
from ssgan.methods.base import METHODS, Method, get_method, register_method

# The package's own methods, before any plugin registers more (ssgan/plugins.py)
BUILT_IN = tuple(sorted(METHODS))

__all__ = ["BUILT_IN", "METHODS", "Method", "get_method", "register_method"]
