"""Test setup: the real data in ../shared/data, a throwaway Keras cache, and the `zoo` command.

The environment is set at import time, before anything imports Keras (which reads KERAS_HOME once),
so no test reads or writes the user's ~/.keras.
"""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[1]

os.environ.setdefault("ZOO_DATA_DIR", str(_REPO.parent / "shared" / "data"))
os.environ["KERAS_HOME"] = tempfile.mkdtemp(prefix="zoo-test-keras-")
atexit.register(shutil.rmtree, os.environ["KERAS_HOME"], ignore_errors=True)


def run_zoo(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    """Run the installed `zoo` console script (or `python -m zoo.cli.main`) as a user would."""
    script = Path(sys.executable).parent / "zoo"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "zoo.cli.main"]
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd or _REPO,
        timeout=600,
    )


@pytest.fixture(scope="module")
def cnn_mnist_root(tmp_path_factory) -> Path:
    """A folder holding runs/ and models/: a fresh (untrained) cnn-mnist exported as version 1.
    One per test module, so a module that changes it changes only its own copy."""
    from helpers import fake_run  # here, not above: helpers loads Keras, which conftest must not

    from zoo.export import export_run

    root = tmp_path_factory.mktemp("cnn-mnist")
    export_run(fake_run(root / "runs", "cnn-mnist"), model_dir=root / "models", samples=4)
    return root


@pytest.fixture
def zoo_cli():
    """The `zoo` command, run in a subprocess: `zoo_cli("train", "xor-mlp")` -> CompletedProcess."""
    return run_zoo
