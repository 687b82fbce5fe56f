"""The model repository as the server sees it: every model and integer version, re-scanned on a poll.

The models, their base paths, version policies and labels come from a ModelSources
(model_sources.py: zoo's --model-dir, TF Serving's model flags or its --model_config_file), asked
again at every poll; each model serves the versions its policy selects of those present.

`poll` builds the new table aside and swaps it in with one assignment, so a request never sees a
half-updated table; a request that already holds an unloaded version finishes on it, and the
runtime frees it when the last reference goes. With `--model-control-mode explicit`
(model_control.py) only the models asked for are polled, at start, and `load_model` and
`unload_model` change one model's entry the same way.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from zoo.export.repository import version_folders
from zoo.serving.core import batching
from zoo.serving.core.batching import BatchingParameters
from zoo.serving.core.errors import InvalidArgument, NotFound, Unavailable
from zoo.serving.core.execution import Execution
from zoo.serving.core.model_control import ModelControl
from zoo.serving.core.model_sources import ModelSource, ModelSources
from zoo.serving.core.servables import Backend, load
from zoo.serving.core.version_labels import VersionLabels

AVAILABLE = "AVAILABLE"
END = "END"  # TF Serving's state for a version that is gone or failed to load


@dataclass(frozen=True)
class VersionStatus:
    """One version's state as TF Serving reports it; `error` is set when it failed to load."""

    version: int
    state: str
    error: str = ""


@dataclass(frozen=True)
class _Failure:
    """Why a version failed to load, and what its folder held then (to notice when it changes)."""

    error: str
    fingerprint: tuple


def _fingerprint(folder: Path) -> tuple:
    """Every file under `folder` with its size and modification time: changes when any does."""
    found = []
    for parent, _, names in os.walk(folder):
        for name in names:
            with contextlib.suppress(OSError):  # removed while we look: the next poll sees it
                info = os.stat(os.path.join(parent, name))
                found.append((os.path.join(parent, name), info.st_size, info.st_mtime_ns))
    return tuple(sorted(found))


class Repository:
    """The servables of the models `sources` names, loaded with `backend` where a model's
    platform names none.

    A model's labels (label -> version) let requests name a version by label. Each version is
    batched with `batching`, updated by its model folder's own `batching_parameters.txt` when
    there is one (read when the version loads; a bad file fails that version's load, as a broken
    model would). Each version runs with `execution`'s threads and device, as its config.pbtxt
    updates them.
    `warm(name, version, servable)` runs on each version once it is loaded and before it is served
    (it is AVAILABLE only once warm), and says what it ran for the log ("": nothing); if it
    raises, the version fails to load with that reason, as TF Serving fails a version whose
    warmup fails. `control` says which models a poll loads, and whether clients may load and
    unload them.
    """

    def __init__(
        self,
        sources: ModelSources,
        backend: str,
        log: Callable[[str], None] = print,
        batching_parameters: BatchingParameters | None = None,
        warm: Callable[[str, int, Backend], str] | None = None,
        control: ModelControl | None = None,
        execution: Execution | None = None,
    ) -> None:
        self.warm = warm
        self.control = control or ModelControl()
        self.execution = execution or Execution()
        self._wanted: set[str] | None = None  # the models a poll loads (None: all of them)
        self.sources = sources
        self.batching = batching_parameters or BatchingParameters.default()
        self.backend = backend
        self.log = log
        self._servables: dict[str, dict[int, Backend]] = {}
        self._models: dict[str, ModelSource] = {}  # as the sources said at the last poll
        self._folders: dict[str, dict[int, str]] = {}  # model -> version -> its folder's name
        self._failed: dict[tuple[str, int], _Failure] = {}
        self._polling = threading.Lock()  # the file system's poll and the config's reload

    @property
    def version_labels(self) -> VersionLabels:
        """Model name -> label -> version, as the sources said at the last poll."""
        return {name: dict(m.labels) for name, m in self._models.items() if m.labels}

    @property
    def models(self) -> dict[str, list[int]]:
        """Model name -> the versions being served, ascending."""
        return {name: sorted(table) for name, table in self._servables.items()}

    def names(self) -> list[str]:
        """Every model with a version served or failed, sorted."""
        return sorted({*self._servables, *(name for name, _ in self._failed)})

    def available(self) -> list[str]:
        """Every model the sources name now, loaded or not, sorted."""
        try:
            return sorted(self.sources.models())
        except OSError:  # the repository folder being replaced: what was seen last
            return sorted(self._models)

    def start(self) -> None:
        """The first poll: the models the control mode loads at start."""
        with self._polling:
            self._wanted = self.control.at_start(self.available())
            self._poll()

    def reload(self) -> None:
        """Read the sources again (a model config file), then poll: models added or removed,
        policies and labels changed are applied. A source that has become bad raises, and the
        models stay as they were."""
        with self._polling:
            if self.sources.reload():
                self.log(f"{self.sources.describe()} changed: applying it")
            self._poll()

    def poll(self) -> None:
        """Load new versions and drop removed ones.

        A version that fails to load is logged once and kept as failed until its folder changes
        (a half-copied version that is then completed, a broken file that is replaced): then it is
        loaded again. The scan survives folders that vanish while it reads them.
        """
        with self._polling:
            self._poll()

    def _poll(self) -> None:
        found = self._scan()
        table: dict[str, dict[int, Backend]] = {}
        for name, present in found.items():
            versions, _ = self._versions(name, present)
            if versions:
                table[name] = versions
        self._failed = {k: v for k, v in self._failed.items() if k[1] in found.get(k[0], ())}
        self._replace(table)

    def _versions(
        self, name: str, present: list[int], retry: bool = False
    ) -> tuple[dict[int, Backend], list[str]]:
        """The model's versions among `present`: those served kept, the others loaded (those
        that failed before and are unchanged only when `retry`); and why any failed."""
        loaded = self._servables.get(name, {})
        versions = {
            v: loaded[v]
            for v in present
            if v in loaded and loaded[v].path == self._folder(name, v)  # same base path
        }
        failures = []
        for version in present:
            if version not in versions and (retry or not self._still_failed(name, version)):
                self._load(name, version, versions)
                if version not in versions:
                    failures.append(f"version {version}: {self._failed[(name, version)].error}")
        return versions, failures

    def _replace(self, table: dict[str, dict[int, Backend]], why: str = "removed") -> None:
        """Serve `table` from now on; the versions it leaves out are logged, and collected.

        A TensorFlow version's graph and session are held in reference cycles (about 500
        objects), which the cyclic collector's rare full passes left in memory for hundreds of
        reloads: +46 MiB over 190 reloads (bench/reloads.py --backend tf). A full pass over what
        was made since the server started (the rest is frozen, server.py) takes about 2.5 ms, here
        in the poll's thread; a version that a request still holds goes at a later pass."""
        removed = 0
        for name, loaded in self._servables.items():
            for version in sorted(set(loaded) - set(table.get(name, {}))):
                self.log(f"{name}: version {version} {why}, no longer served")
                removed += 1
        self._servables = table
        if removed:
            gc.collect()

    def _scan(self) -> dict[str, list[int]]:
        """Each wanted model's versions that its policy selects among the folders present."""
        try:
            self._models = self.sources.models()
        except OSError:  # the repository folder itself is being replaced: nothing to see this time
            return {name: sorted(table) for name, table in self._servables.items()}
        self._folders = {
            name: self._selected(model)
            for name, model in self._models.items()
            if self._wanted is None or name in self._wanted
        }
        return {name: list(folders) for name, folders in self._folders.items()}

    @staticmethod
    def _selected(model: ModelSource) -> dict[int, str]:
        """The versions the model's policy serves among its folders, with their folders' names."""
        present = version_folders(model.base_path)
        return {v: present[v] for v in model.policy.select(present)}

    def load_model(self, name: str) -> None:
        """Load `name`, or load it again, from its folder as it is now (a client's request).

        All or nothing: when a version fails to load, the versions served before stay served,
        and InvalidArgument says why (the failed versions are listed failed, with the reason).
        """
        self.control.check("load")
        with self._polling:
            try:
                self._models = self.sources.models()
            except OSError as exc:
                raise Unavailable(f"cannot read {self.sources.describe()}: {exc}") from None
            model = self._models.get(name)
            if model is None:
                raise NotFound(f"no model {name} in {self.sources.describe()}")
            self._folders[name] = self._selected(model)
            present = list(self._folders[name])
            versions, failures = self._versions(name, present, retry=True)
            self._failed = {
                k: v for k, v in self._failed.items() if k[0] != name or k[1] in present
            }
            if not present:
                failures = [f"no version folder in {model.base_path}"]
            if failures:
                served = self._servables.get(name)
                kept = f"; serving on versions {', '.join(map(str, served))}" if served else ""
                raise InvalidArgument(f"failed to load {name}: {'; '.join(failures)}{kept}")
            if self._wanted is not None:
                self._wanted.add(name)
            self._replace({**self._servables, name: versions})

    def unload_model(self, name: str) -> None:
        """Stop serving `name` (a client's request): requests already holding one of its
        versions finish on it; new ones are refused as for a model never loaded."""
        self.control.check("unload")
        with self._polling:
            if name not in self._servables and name not in self.available():
                raise NotFound(f"no model {name} in {self.sources.describe()}")
            if self._wanted is not None:
                self._wanted.discard(name)
            table = {n: versions for n, versions in self._servables.items() if n != name}
            self._failed = {k: v for k, v in self._failed.items() if k[0] != name}
            self._replace(table, "unloaded")

    def _still_failed(self, name: str, version: int) -> bool:
        """Whether this version failed to load and its folder has not changed since."""
        failed = self._failed.get((name, version))
        return failed is not None and failed.fingerprint == _fingerprint(
            self._folder(name, version)
        )

    def _folder(self, name: str, version: int) -> Path:
        """The version's folder by its real name (`00000123` for version 123)."""
        return self._models[name].base_path / self._folders.get(name, {}).get(version, str(version))

    def _load(self, name: str, version: int, into: dict[int, Backend]) -> None:
        folder = self._folder(name, version)
        fingerprint = _fingerprint(folder)  # before loading: a change while it loads is seen next
        try:
            servable = load(folder, self._models[name].backend or self.backend, self.execution)
            servable.batching = self._batching(name)
            warmed = self.warm(name, version, servable) if self.warm is not None else ""
            into[version] = servable
        except Exception as exc:  # a broken version must not stop the others from serving
            self._failed[(name, version)] = _Failure(f"{type(exc).__name__}: {exc}", fingerprint)
            self.log(
                f"{name}: version {version} failed to load: {self._failed[(name, version)].error}"
            )
        else:
            self._failed.pop((name, version), None)
            warmed = f", warmed up: {warmed}" if warmed else ""
            self.log(f"{name}: version {version} loaded ({into[version].describe()}){warmed}")

    def _batching(self, name: str) -> BatchingParameters:
        own = self._models[name].base_path / batching.FILE_NAME
        return batching.read_file(own, self.batching) if own.is_file() else self.batching

    def servable(self, name: str, version: int | None = None) -> Backend:
        """The version `version` of `name`, the latest when None; NotFound as TF Serving words it.
        Requests resolve their version (labels, 0) first, in `resolve`."""
        table = self._servables.get(name)
        if version is None:
            if not table:
                raise NotFound(f"Servable not found for request: Latest({name})")
            return table[max(table)]
        if not table or version not in table:
            raise NotFound(f"Servable not found for request: Specific({name}, {version})")
        return table[version]

    def serves(self, name: str, version: int) -> bool:
        """Whether that version of the model is being served."""
        return version in self._servables.get(name, {})

    def status(self, name: str, version: int | None = None) -> list[VersionStatus]:
        """The versions of a model (or the one asked for) with their states, newest first."""
        loaded = self._servables.get(name, {})
        failed = {v: f.error for (n, v), f in self._failed.items() if n == name}
        states = {v: VersionStatus(v, AVAILABLE) for v in loaded}
        states.update({v: VersionStatus(v, END, e) for v, e in failed.items()})
        if version is not None:
            states = {v: s for v, s in states.items() if v == version}
        if not states:
            raise NotFound(
                f"Could not find any versions of model {name}"
                if version is None
                else f"Could not find version {version} of model {name}"
            )
        return [states[v] for v in sorted(states, reverse=True)]
