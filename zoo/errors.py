"""Errors a user can act on.

Everything the library raises on purpose derives from `ZooError`, so the CLI can turn it into one line
and exit code 2 while a genuine bug still shows its traceback.
"""


class ZooError(Exception):
    """A problem with the user's input or files, described in one line."""


class UnknownModelError(ZooError):
    """The model id is not in the registry."""


class DataNotFoundError(ZooError):
    """A data file is neither in the data directory, the Keras cache, nor downloadable."""


class CorruptDataError(ZooError):
    """A data file exists but is truncated or not in the expected format."""


class RunError(ZooError):
    """A run directory is missing, incomplete, or cannot be resumed."""
