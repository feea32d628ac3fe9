"""Networks: the DCGAN family (generator, critic) and the SASTM module."""

from ssgan.models.dcgan import Critic, Generator, count_parameters
from ssgan.models.sastm import SASTM

__all__ = ["Critic", "Generator", "SASTM", "count_parameters"]
