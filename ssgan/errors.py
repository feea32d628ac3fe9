"""Errors every layer of the package raises: a module without package imports, so the data and
method registries raise them without importing ``ssgan.config`` (which asks those registries).
"""


class ConfigError(ValueError):
    """A bad configuration value; the message names the key."""
