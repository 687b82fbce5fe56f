"""Errors a user can act on.

Everything the library raises on purpose derives from `ZooError`, so the CLI can turn it into one line
and exit code 2 while a genuine bug still shows its traceback.
"""

from __future__ import annotations

import difflib


class ZooError(Exception):
    """A problem with the user's input or files, described in one line."""


class UnknownModelError(ZooError):
    """The model id is not in the registry."""

    @classmethod
    def among(cls, name: str, known: list[str]) -> UnknownModelError:
        """The error for a model id not in `known`: the close ones if there are any, else them all.
        (Here, so that the registry and its catalogue both raise it without importing each other.)"""
        close = difflib.get_close_matches(name, known, n=3)
        if close:
            which = repr(close[0]) if len(close) == 1 else f"one of {', '.join(map(repr, close))}"
            hint = f"did you mean {which}? (`zoo list` shows them all)"
        else:
            hint = f"known models: {', '.join(sorted(known))}"
        return cls(f"unknown model {name!r}; {hint}")


class DataNotFoundError(ZooError):
    """A data file is neither in the data directory, the Keras cache, nor downloadable."""


class CorruptDataError(ZooError):
    """A data file exists but is truncated or not in the expected format."""


class RunError(ZooError):
    """A run directory is missing, incomplete, or cannot be resumed."""


class PluginError(ZooError):
    """A plugin (an entry point of group `zoo.models`, or an item of ZOO_PLUGINS) did not load."""
