"""Plugins: the models a user registers in a module of their own join the zoo everywhere.

A plugin is a module whose import runs `@zoo.register(...)`: its builders and specs are all it
needs (no row in zoo/catalogue.json, no published weights). `zoo list`, `train`, `evaluate` and
`export` find it in one of two ways:

- an installed distribution's entry point in the group `zoo.models`, whose value is the module
  (`[project.entry-points."zoo.models"]` in its pyproject.toml: `my-models = "my_models"`);
- ZOO_PLUGINS, for a quick script: import names or paths of .py files, comma separated.

The registry loads them once, lazily, where it first needs its list of models, so a command that
never asks for a model never imports one. An exported plugin model is served as any other: the
server reads the version folder, not the registry.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType

from zoo import registry
from zoo.errors import PluginError

GROUP = "zoo.models"  # the entry-point group an installed distribution declares its models in
ENV = "ZOO_PLUGINS"  # import names or .py paths, comma separated
PACKAGE = Path(__file__).parent


@dataclass(frozen=True)
class Plugin:
    """One plugin: its name (an entry point's, or the ZOO_PLUGINS item), where it was found, and
    how to import it."""

    name: str
    origin: str
    load: Callable[[], object]

    def __str__(self) -> str:
        return f"{self.name!r} ({self.origin})"


def configured() -> list[Plugin]:
    """This environment's plugins: installed entry points first, then ZOO_PLUGINS's items."""
    found = [
        Plugin(entry.name, f"entry point of {_distribution(entry)}", entry.load)
        for entry in metadata.entry_points(group=GROUP)
    ]
    for item in os.environ.get(ENV, "").split(","):
        item = item.strip()
        if item:
            load = _from_file(Path(item)) if item.endswith(".py") else _from_name(item)
            found.append(Plugin(item, ENV, load))
    return found


_started = False
_failure: PluginError | None = None


def load() -> None:
    """Import every plugin, once per process; a plugin that fails is a PluginError naming it,
    raised again on every later call (its models would be missing, or half there)."""
    global _started, _failure
    if not _started:
        _started = True  # first, so a plugin that asks the registry while it loads starts no reload
        for plugin in configured():
            try:
                with registry.registering_for(plugin.name):
                    plugin.load()
            except Exception as exc:
                _failure = PluginError(f"plugin {plugin} did not load: {_cause(exc)}")
                break
    if _failure is not None:
        raise _failure


def _distribution(entry: metadata.EntryPoint) -> str:
    return entry.dist.name if entry.dist is not None else "an unknown distribution"


def _from_name(name: str) -> Callable[[], ModuleType]:
    return lambda: importlib.import_module(name)


def _from_file(path: Path) -> Callable[[], ModuleType]:
    """Import a .py file as the module named by its stem, as `python -c "import stem"` next to it
    would (so `import stem` elsewhere in the process finds the same module)."""

    def load() -> ModuleType:
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}")
        known = sys.modules.get(path.stem)
        if known is not None:
            if (
                getattr(known, "__file__", None)
                and Path(known.__file__).resolve() == path.resolve()
            ):
                return known  # imported already (its models registered then)
            raise ImportError(f"a module named {path.stem!r} is imported already: rename {path}")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[path.stem]
            raise
        return module

    return load


def _cause(exc: Exception) -> str:
    """The exception in one line, with the plugin's line that raised it (the first frame of its
    own, below the import machinery and zoo's code)."""
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith(("<", str(PACKAGE))) and "importlib" not in frame.filename
    ]
    where = f" ({Path(frames[0].filename).name}:{frames[0].lineno})" if frames else ""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}{where}"
