"""Errors every layer of the package raises: a module without package imports, so the data and
method registries raise them without importing ``ssgan.config`` (which asks those registries).
"""


class ConfigError(ValueError):
    """A bad configuration value; the message names the key."""


def unknown_key_message(path: str, known: list[str]) -> str:
    """``unknown config key 'train.iteratons' (did you mean 'iterations'?); known keys here: ...``"""
    import difflib

    leaf = path.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(leaf, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown config key '{path}'{hint}; known keys here: {', '.join(sorted(known))}"
