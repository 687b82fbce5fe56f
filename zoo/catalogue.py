"""The registry's listing as a committed table, so `zoo list` answers without Keras.

Listing a model means registering it, and registering imports its family's module, which imports
Keras (and so TensorFlow: seconds and hundreds of MB); counting its parameters means building it. The
registry stays the one source of truth: `python -m zoo.catalogue` writes this table from it, and
tests/test_registry.py fails when the committed table and the registry disagree. The CLI checks a
model id here too (`require`), so a mistyped one is refused before TensorFlow loads.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from zoo.errors import UnknownModelError

PATH = Path(__file__).with_name("catalogue.json")


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


def entries(pattern: str = "*", path: Path = PATH) -> list[Entry]:
    """The committed entries whose id matches a shell-style pattern, sorted by id (as list_models)."""
    rows = json.loads(path.read_text())
    return [_entry(row) for row in rows if fnmatch.fnmatch(row["name"], pattern)]


def lookup(name: str, path: Path = PATH) -> Entry | None:
    """The entry of model id `name`, or None when it is not one of the zoo's."""
    return next((_entry(row) for row in json.loads(path.read_text()) if row["name"] == name), None)


def require(name: str, path: Path = PATH) -> Entry:
    """The entry of model id `name`; an unknown id is an UnknownModelError, raised without Keras,
    that suggests the nearest ids."""
    entry = lookup(name, path)
    if entry is None:
        raise unknown_model(name, [e.name for e in entries(path=path)])
    return entry


def unknown_model(name: str, known: list[str]) -> UnknownModelError:
    """The error for a model id not in `known`: the close ones if there are any, else them all."""
    close = difflib.get_close_matches(name, known, n=3)
    if close:
        which = repr(close[0]) if len(close) == 1 else f"one of {', '.join(map(repr, close))}"
        hint = f"did you mean {which}? (`zoo list` shows them all)"
    else:
        hint = f"known models: {', '.join(sorted(known))}"
    return UnknownModelError(f"unknown model {name!r}; {hint}")


def _entry(row: dict) -> Entry:
    tuples = {
        key: None if row.get(key) is None else tuple(row[key])
        for key in ("labels", "slide_inputs", "slide_answers")
    }
    if tuples["slide_inputs"] is not None:
        tuples["slide_inputs"] = tuple(map(tuple, tuples["slide_inputs"]))
    return Entry(**{**row, **tuples})


def from_registry() -> list[Entry]:
    """The entries as the registry has them now (builds every model: needs Keras)."""
    from zoo.registry import create_model, get_spec, list_models

    table = []
    for name in list_models():
        spec = get_spec(name)
        model = create_model(name)
        params = sum(int(w.shape.num_elements()) for w in model.trainable_weights)
        table.append(
            Entry(
                name,
                spec.task,
                spec.dataset,
                params,
                spec.slide_metric,
                spec.slide_value,
                spec.labels,
                spec.example.inputs if spec.example else None,
                spec.example.expected if spec.example else None,
            )
        )
    return table


def write(path: Path = PATH) -> None:
    """Rewrite the committed table from the registry."""
    rows = [asdict(entry) for entry in from_registry()]
    path.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    write()
    print(f"wrote {PATH}")
