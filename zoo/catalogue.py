"""The registry's listing as a table in the package, so `zoo list` answers without Keras.

Listing a model means registering it, and registering imports its family's module, which imports
Keras (and so TensorFlow: seconds and hundreds of MB); counting its parameters means building it.
The registry stays the one source of truth and this table is its cache: zoo/catalogue.json records
the sha256 of the sources it was built from (zoo/registry.py and zoo/models/), and the first reader
that finds them changed (a model added or edited) rebuilds it from the registry and rewrites it.
So adding a model needs its decorated builder only; the rewritten file is committed with it, so an
installed package reads a table whose sources match and never loads Keras to list.
The CLI checks a model id here too (`require`), so a mistyped one is refused before TensorFlow
loads.

The table holds the zoo's own models only. A plugin's (zoo/plugins.py) are read from the registry
each time, which imports the plugin: where none is installed or named, nothing more is loaded.
"""

from __future__ import annotations

import contextlib
import fnmatch
import glob
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from zoo import plugins, runs
from zoo.errors import UnknownModelError
from zoo.registry import ModelSpec

PATH = Path(__file__).with_name("catalogue.json")
PACKAGE = Path(__file__).parent


@dataclass(frozen=True)
class Entry:
    """What `zoo list` shows of one model, and the labels `zoo predict` names its answers with."""

    name: str
    task: str
    dataset: str
    params: int
    slide_metric: str | None = None
    slide_value: float | None = None
    labels: tuple[str, ...] | None = None
    slide_inputs: tuple[tuple[float, ...], ...] | None = None  # the slide's own test inputs
    slide_answers: tuple | None = None  # and the answers the slide shows for them
    plugin: str | None = None  # the plugin that registers it; None: one of the zoo's own


def entries(pattern: str = "*", path: Path = PATH) -> list[Entry]:
    """The entries whose id matches a shell-style pattern, the plugins' with the zoo's, sorted by
    id (as list_models)."""
    own = [_entry(row) for row in _rows(path) if fnmatch.fnmatch(row["name"], pattern)]
    return sorted(own + _plugin_entries(pattern), key=lambda entry: entry.name)


def lookup(name: str, path: Path = PATH) -> Entry | None:
    """The entry of model id `name`, or None when it is neither the zoo's nor a plugin's."""
    own = next((_entry(row) for row in _rows(path) if row["name"] == name), None)
    return own or next(iter(_plugin_entries(glob.escape(name))), None)


def sources_digest(package: Path = PACKAGE) -> str:
    """The sha256 of what the registry's table is made of: registry.py and every module under
    models/ (line endings aside, so a Windows checkout reads the same table)."""
    digest = hashlib.sha256()
    for path in [package / "registry.py", *sorted((package / "models").rglob("*.py"))]:
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()


def _rows(path: Path) -> list[dict[str, Any]]:
    """The table's rows, rebuilt from the registry first when its sources changed since."""
    table = _stored(path)
    digest = sources_digest()
    if table.get("sources") != digest:
        table = {"sources": digest, "models": [asdict(entry) for entry in from_registry()]}
        # A read-only install still answers, from memory.
        with contextlib.suppress(OSError), runs.atomic_path(path) as tmp:
            tmp.write_text(json.dumps(table, indent=1) + "\n")
    return table["models"]


def _stored(path: Path) -> dict[str, Any]:
    """The table as written, or {} (so rebuilt, as a stale one) when it is missing or damaged."""
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return table if isinstance(table, dict) else {}


def require(name: str, path: Path = PATH) -> Entry:
    """The entry of model id `name`; an unknown id is an UnknownModelError, raised without Keras,
    that suggests the nearest ids."""
    entry = lookup(name, path)
    if entry is None:
        raise UnknownModelError.among(name, [e.name for e in entries(path=path)])
    return entry


def _entry(row: dict[str, Any]) -> Entry:
    tuples = {
        key: None if row.get(key) is None else tuple(row[key])
        for key in ("labels", "slide_inputs", "slide_answers")
    }
    if tuples["slide_inputs"] is not None:
        tuples["slide_inputs"] = tuple(map(tuple, tuples["slide_inputs"]))
    return Entry(**{**row, **tuples})


def from_registry() -> list[Entry]:
    """The zoo's own entries as the registry has them now (builds every model: needs Keras)."""
    from zoo.registry import get_spec, list_models

    return [_built(get_spec(name)) for name in list_models(plugins=False)]


def _plugin_entries(pattern: str) -> list[Entry]:
    """The plugins' entries whose id matches `pattern`: none, at once, where there are no plugins."""
    if not plugins.configured():
        return []
    from zoo.registry import get_spec, list_models

    specs = [get_spec(name) for name in list_models(pattern)]
    return [_built(spec) for spec in specs if spec.plugin is not None]


def _built(spec: ModelSpec) -> Entry:
    """The entry of one model, from its spec and its built network's parameters (needs Keras)."""
    from zoo.quiet import load_tensorflow
    from zoo.registry import create_model

    load_tensorflow()  # without its start-up chatter on a `zoo list`'s stderr
    model = create_model(spec.name)
    return Entry(
        spec.name,
        spec.task,
        spec.dataset,
        sum(int(w.shape.num_elements()) for w in model.trainable_weights),
        spec.slide_metric,
        spec.slide_value,
        spec.labels,
        spec.example.inputs if spec.example else None,
        spec.example.expected if spec.example else None,
        spec.plugin,
    )
