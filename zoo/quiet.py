"""Importing TensorFlow without its start-up chatter, in every process that imports zoo: the CLI's
commands that train or export, `zoo serve --backend tf`, and the Python API (`zoo.create_model`).

`import zoo` does not import TensorFlow (seconds); it installs `QuietTensorFlow`, so whoever imports
TensorFlow first (Keras, zoo.train, the user's own code) gets it quietly.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
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


class QuietTensorFlow(importlib.abc.MetaPathFinder):
    """An import hook for `tensorflow` alone: it finds the package as Python would, and runs its
    import, then the CUDA probe that logs on machines without a GPU, under `quiet_stderr`."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != "tensorflow":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader.exec_module = _quietly(spec.loader.exec_module)  # this spec's loader only
        return spec


def _quietly(exec_module: Callable[[ModuleType], None]) -> Callable[[ModuleType], None]:
    def run(module: ModuleType) -> None:
        with quiet_stderr():
            exec_module(module)
            module.config.list_physical_devices()

    return run


def install() -> None:
    """Make the first import of TensorFlow in this process quiet (once; a no-op if it was imported)."""
    if "tensorflow" not in sys.modules and not any(
        isinstance(f, QuietTensorFlow) for f in sys.meta_path
    ):
        sys.meta_path.insert(0, QuietTensorFlow())


def load_tensorflow() -> Any:
    """TensorFlow, imported quietly the first time (later calls only return the module)."""
    install()
    import tensorflow as tf

    return tf
