"""Importing TensorFlow without its start-up chatter, for every process that does (the CLI's
commands, `zoo serve`'s workers)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence the native libraries' start-up chatter (CUDA probes, oneDNN notices) on fd 2.

    TensorFlow's C++ logging ignores TF_CPP_MIN_LOG_LEVEL for messages printed before absl starts,
    so a one-line error would otherwise arrive under several lines of noise.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
