"""What this install of zoo leaves out, said as the pip command that adds it.

The serving-only install (the wheel with `--no-deps` over deploy/requirements-serving.txt) has no
TensorFlow, Keras, tf2onnx, Matplotlib or h5py: `zoo serve` with ONNX Runtime and `zoo predict`
never import them. A command that does need them ends in one line naming what to install, computed
from keras-zoo's own declared requirements, rather than in a ModuleNotFoundError traceback.
"""

from __future__ import annotations

import importlib.util
import shlex
from importlib import metadata

from packaging.requirements import Requirement

from zoo.errors import ZooError

DISTRIBUTION = "keras-zoo"


class MissingDependencyError(ZooError):
    """A module this command needs is not installed: a serving-only install, most likely."""


def uninstalled_requirements() -> list[str]:
    """keras-zoo's requirements (extras left out) with no installed distribution, as pip takes them."""
    missing = []
    for line in metadata.requires(DISTRIBUTION) or []:
        requirement = Requirement(line)
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue
        try:
            metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            missing.append(str(requirement))
    return missing


def missing(module: str, needed_by: str) -> MissingDependencyError:
    """The one-line error for `needed_by` lacking `module`, with the pip command that adds it."""
    wanted = uninstalled_requirements() or [module]
    return MissingDependencyError(
        f"{needed_by} needs {module}, which this install of zoo leaves out (a serving-only "
        f"install): pip install {' '.join(shlex.quote(r) for r in wanted)}"
    )


def require(module: str, needed_by: str) -> None:
    """Fail with `missing` now, before any work, when `module` cannot be imported."""
    if importlib.util.find_spec(module) is None:
        raise missing(module, needed_by)


def explain(error: ModuleNotFoundError, needed_by: str) -> Exception:
    """`error` as a MissingDependencyError when this install lacks part of keras-zoo's
    requirements (a serving-only one); unchanged in a whole install, where it is a bug."""
    if not error.name or not uninstalled_requirements():
        return error
    return missing(error.name.partition(".")[0], needed_by)
