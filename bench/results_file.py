"""The JSON file a benchmark keeps its results in, one entry per model, and where they were measured.

A long benchmark writes each model's entry as soon as it finishes, re-reading the file first, so a
run that is stopped keeps what it measured and two benchmark processes do not erase each other.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

from zoo import runs, versions


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def save(path: Path, name: str, result: dict[str, Any]) -> None:
    """Add or replace one model's entry, atomically."""
    runs.write_json(path, {**load(path), name: result})


def markdown_table(head: list[str], rows: list[list[str]]) -> str:
    """A Markdown table, as the README shows the benchmarks' results."""
    lines = [head, ["---"] * len(head), *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def provenance() -> dict[str, Any]:
    """The machine and package versions a result was measured with."""
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "versions": versions.package_versions(),
    }
