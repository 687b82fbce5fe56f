"""One import root: export/, serving/ and cli/ are installed as zoo.export, zoo.serving, zoo.cli."""

from __future__ import annotations

import ast
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
    """Every folder with an __init__.py, and the folders of data only (the playground's page),
    which are listed with their files in package-data."""
    folders = {
        init.parent
        for where in PYPROJECT["package-dir"].values()
        for init in (ROOT / where).rglob("__init__.py")
    }
    modules = {_package_name(f) for f in folders}
    data_only = set(PYPROJECT["packages"]) - modules
    assert modules <= set(PYPROJECT["packages"]), modules - set(PYPROJECT["packages"])
    assert data_only <= set(PYPROJECT["package-data"]), data_only


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


def _zoo_imports() -> dict[str, set[str]]:
    """zoo/'s own modules -> the zoo/ modules each imports, at the top or inside a function
    (a cycle either way), leaving out `if TYPE_CHECKING:` blocks, which never run."""
    folder = ROOT / "zoo"
    modules = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
        for p in folder.rglob("*.py")
    }

    def statements(node: ast.AST):
        for child in ast.iter_child_nodes(node):
            if not (isinstance(child, ast.If) and getattr(child.test, "id", "") == "TYPE_CHECKING"):
                yield child
                yield from statements(child)

    graph = {}
    for module, path in modules.items():
        graph[module] = set()
        for node in statements(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                graph[module] |= {a.name for a in node.names} & modules.keys()
            elif isinstance(node, ast.ImportFrom) and node.module in modules:
                named = {f"{node.module}.{a.name}" for a in node.names} & modules.keys()
                graph[module] |= named or {node.module}
    return graph


def test_zoos_only_import_cycle_is_the_registrys_own():
    """Loading weights (`create_model(pretrained=True)`) must not pull training, evaluation and data
    into the registry's circle: zoo/publish.py, which needs them, is imported by nobody in zoo/."""
    graph = _zoo_imports()

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        return seen

    circle = {m for m in graph if "zoo.registry" in reach(m) and m in reach("zoo.registry")}
    assert circle == {
        "zoo.registry",
        "zoo.plugins",  # a user's models, registered as the zoo's own are
        "zoo.models",
        *(f"zoo.models.{p.stem}" for p in (ROOT / "zoo" / "models").glob("[!_]*.py")),
    }
