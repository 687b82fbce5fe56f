"""The installed size of zoo: the whole package against the serving-only install, each in a fresh venv.

    python bench/install_size.py          # builds the wheel, installs it twice in a temporary folder

"whole" is `pip install keras_zoo-*.whl` (TensorFlow and all); "serving" is the serving-only install
of deploy/Dockerfile: `pip install -r deploy/requirements-serving.txt`, then the wheel with
`--no-deps`. Sizes are each venv's site-packages (pip and setuptools included). The image is an
estimate, the base image plus site-packages: there is no Docker here to build it.

tests/test_installed.py builds and installs with these same functions.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVING_REQUIREMENTS = ROOT / "deploy" / "requirements-serving.txt"
# python:3.11-slim (deploy/Dockerfile's base), uncompressed: the size commonly reported for it.
BASE_IMAGE = "python:3.11-slim"
BASE_IMAGE_MB = 150
PIP = ("-m", "pip", "--disable-pip-version-check", "--no-input")


def _run(*command: str | Path) -> None:
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(map(str, command))} failed:\n{done.stdout}{done.stderr}")


def build_wheel(into: Path) -> Path:
    """keras-zoo's wheel, built from this checkout as pip builds it for `pip install .`."""
    _run(sys.executable, *PIP, "wheel", "-q", "--no-deps", "-w", into, ROOT)
    (wheel,) = into.glob("keras_zoo-*.whl")
    return wheel


def new_venv(where: Path) -> Path:
    """A fresh virtual environment (no system packages); its python."""
    _run(sys.executable, "-m", "venv", where)
    return where / "bin" / "python"


def install_whole(wheel: Path, venv: Path) -> Path:
    """`pip install` of the wheel: zoo with everything it declares. Returns the venv's python."""
    python = new_venv(venv)
    _run(python, *PIP, "install", "-q", wheel)
    return python


def install_serving(wheel: Path, venv: Path) -> Path:
    """The serving-only install, as deploy/Dockerfile does it. Returns the venv's python."""
    python = new_venv(venv)
    _run(python, *PIP, "install", "-q", "-r", SERVING_REQUIREMENTS)
    _run(python, *PIP, "install", "-q", "--no-deps", wheel)
    return python


def site_packages_mb(venv: Path) -> float:
    """The bytes under the venv's site-packages, in MB (10^6)."""
    (site,) = venv.glob("lib/python*/site-packages")
    files = (Path(d) / f for d, _, names in os.walk(site) for f in names)
    return sum(f.lstat().st_size for f in files) / 1e6


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        wheel = build_wheel(folder)
        install_whole(wheel, folder / "whole")
        install_serving(wheel, folder / "serving")
        print(f"wheel: {wheel.name}, {wheel.stat().st_size / 1e6:.1f} MB")
        print(f"| install | site-packages MB | image estimate ({BASE_IMAGE} + site-packages) |")
        print("| --- | --- | --- |")
        for name in ("whole", "serving"):
            size = site_packages_mb(folder / name)
            print(f"| {name} | {size:,.0f} | {BASE_IMAGE_MB + size:,.0f} MB |")


if __name__ == "__main__":
    main()
