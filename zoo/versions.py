"""The versions zoo runs with, read from the installed distributions' metadata.

Never by importing them: asking TensorFlow its version would cost the seconds its import takes, and a
serving-only install has no TensorFlow at all. `zoo --version` prints them (the first lines of a bug
report); each run records those that decide what it computes.
"""

from __future__ import annotations

import platform
from importlib import metadata

ZOO = "keras-zoo"
# What a run computes depends on these: recorded in its config.json and the weights' manifest.
TRAINING = (ZOO, "tensorflow", "keras", "numpy")
# The runtimes `zoo --version` names, each with the distributions that install it.
RUNTIMES = {
    "TensorFlow": ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tf-nightly"),
    "Keras": ("keras", "keras-nightly"),
    "ONNX Runtime": ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino"),
}
NOT_INSTALLED = "not installed"


def installed(*distributions: str) -> str | None:
    """The version of the first of `distributions` that is installed, else None."""
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def package_versions() -> dict[str, str]:
    """The installed versions of TRAINING's packages, by distribution name."""
    return {name: version for name in TRAINING if (version := installed(name))}


def report() -> str:
    """`zoo --version`: zoo's version, then Python's and each runtime's ("not installed" where so)."""
    lines = [f"zoo {installed(ZOO) or NOT_INSTALLED} ({ZOO})"]
    lines.append(f"  Python        {platform.python_version()}")
    for runtime, distributions in RUNTIMES.items():
        lines.append(f"  {runtime:<13} {installed(*distributions) or NOT_INSTALLED}")
    return "\n".join(lines)
