"""One import root: export/, serving/ and cli/ are installed as zoo.export, zoo.serving, zoo.cli."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tomllib

import zoo.cli
import zoo.export
import zoo.serving

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _package_name(folder: Path) -> str:
    for name, where in PYPROJECT["package-dir"].items():
        try:
            rest = folder.relative_to(ROOT / where)
        except ValueError:
            continue
        if name == "zoo" and rest.parts[:1] and rest.parts[0] in ("export", "serving", "cli"):
            continue
        return ".".join([name, *rest.parts])
    raise AssertionError(f"{folder} is under no package-dir root")


def test_every_package_folder_is_listed():
    folders = {
        init.parent
        for where in PYPROJECT["package-dir"].values()
        for init in (ROOT / where).rglob("__init__.py")
    }
    assert sorted(PYPROJECT["packages"]) == sorted(_package_name(f) for f in folders)


def test_the_folders_are_imported_from_this_checkout():
    for package, folder in ((zoo.export, "export"), (zoo.serving, "serving"), (zoo.cli, "cli")):
        assert Path(package.__file__).parent == ROOT / folder


def test_no_top_level_package_but_zoo(tmp_path):
    """From outside the checkout, `serving`, `export` and `cli` are free for other projects."""
    code = "import importlib.util as u; print([n for n in ('serving','export','cli') if u.find_spec(n)])"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
