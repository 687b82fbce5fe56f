"""Importing TensorFlow without its start-up chatter, for every process that does (the CLI's
commands that train or export, and `zoo serve --backend tf` when it loads a SavedModel)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any


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


def load_tensorflow() -> Any:
    """TensorFlow, imported quietly the first time (later calls only return the module)."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with quiet_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe logs an error on machines without a GPU
    return tf
