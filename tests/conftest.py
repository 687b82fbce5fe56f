"""Test setup: the real data in ../shared/data, throwaway Keras and Hypothesis caches, the `zoo`
command, and a check at the end that no test left a file in the clone (tests write in tmp_path).

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
from hypothesis.configuration import set_hypothesis_home_dir

_REPO = Path(__file__).resolve().parents[1]

os.environ.setdefault("ZOO_DATA_DIR", str(_REPO.parent / "shared" / "data"))
os.environ["KERAS_HOME"] = tempfile.mkdtemp(prefix="zoo-test-keras-")
atexit.register(shutil.rmtree, os.environ["KERAS_HOME"], ignore_errors=True)
# Hypothesis caches the constants it finds in ./.hypothesis/ even without a database.
set_hypothesis_home_dir(Path(os.environ["KERAS_HOME"]) / "hypothesis")


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


# What may appear in the clone while tests run: caches and the installed package's metadata.
_SCRATCH = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", "build"}


def _clone_files() -> set[str]:
    """Every file of the clone outside git, the venv and caches."""
    found = set()
    for parent, dirs, files in os.walk(_REPO):
        dirs[:] = [d for d in dirs if d not in _SCRATCH and not d.endswith(".egg-info")]
        found.update(os.path.relpath(os.path.join(parent, f), _REPO) for f in files)
    return found


_BEFORE = _clone_files()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a test (or a command it ran) left a file in the clone: tests write under
    tmp_path, never into runs/ or models/ of the checkout they test."""
    added = sorted(_clone_files() - _BEFORE)
    if added:
        shown = ", ".join(added[:5]) + (f" and {len(added) - 5} more" if len(added) > 5 else "")
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"\ntests wrote into the clone: {shown}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
