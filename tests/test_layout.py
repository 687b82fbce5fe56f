"""The tree keeps its architecture: imports flow zoo -> export -> serving, the serving core knows no
protocol, and neither protocol package imports the other (read from the source, without importing).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"zoo": ROOT / "zoo", "zoo.export": ROOT / "export", "zoo.serving": ROOT / "serving"}


def _module(path: Path) -> str:
    """The dotted name of a source file, by the folder it is in (its package-dir root)."""
    for package, folder in sorted(FOLDERS.items(), key=lambda item: -len(str(item[1]))):
        if path.is_relative_to(folder):
            parts = path.relative_to(folder).with_suffix("").parts
            return ".".join([package, *(p for p in parts if p != "__init__")])
    raise AssertionError(f"{path} is in no package")


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, at any depth (lazy imports inside functions too), fully named:
    `from zoo.serving import ports` counts as zoo.serving.ports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _sources(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.rglob("*.py")) if "protos" not in p.relative_to(ROOT).parts]


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _in(module: str, package: str) -> bool:
    """Whether `module` is part of `package`'s own folder (zoo's modules are not export's)."""
    nested = [root for root in FOLDERS if root != package and _within(root, package)]
    return _within(module, package) and not any(_within(module, root) for root in nested)


@pytest.mark.parametrize(
    ("importer", "forbidden"),
    [
        ("zoo.serving.tfserving", "zoo.serving.kserve"),
        ("zoo.serving.kserve", "zoo.serving.tfserving"),
        ("zoo.serving.core", "zoo.serving.tfserving"),
        ("zoo.serving.core", "zoo.serving.kserve"),
        ("zoo.serving.core", "zoo.serving.http"),
        ("zoo.serving.core", "zoo.serving.server"),
        ("zoo.export", "zoo.serving"),
        ("zoo", "zoo.export"),
        ("zoo", "zoo.serving"),
    ],
)
def test_imports_flow_one_way(importer, forbidden):
    wrong = [
        f"{_module(path)} imports {name}"
        for folder in FOLDERS.values()
        for path in _sources(folder)
        if _in(_module(path), importer)
        for name in sorted(_imports(path))
        if _within(name, forbidden)
    ]
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_imports():
    """The parse finds real imports (so the test above cannot pass by reading nothing)."""
    server = _imports(ROOT / "serving" / "server.py")
    assert {"zoo.serving.tfserving.grpc_api", "zoo.serving.kserve.grpc_api"} <= server
    assert _module(ROOT / "serving" / "kserve" / "rest_api.py") == "zoo.serving.kserve.rest_api"
    assert _module(ROOT / "export" / "api.py") == "zoo.export.api"
