"""Where the served models come from: each a name, a base path, a version policy and labels.

TF Serving's ServerCore serves a list of models, each with its own base path anywhere on disk, its
platform, its `model_version_policy` and its `version_labels`; the list comes from its model flags
(`--model_name`, `--model_base_path`: one model, the latest version) or from its
`--model_config_file`. `zoo serve` adds a third source of its own, a repository folder
(`--model-dir`) whose every subfolder is a model serving all its versions. The repository
(repository.py) asks its source for the models at every poll, so a folder added to `--model-dir`
or a model config re-read while serving is applied at the next poll, as TF Serving applies them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from zoo.serving.core.errors import ServerError
from zoo.serving.core.version_labels import VersionLabels

DEFAULT_MODEL_NAME = "default"  # TF Serving's --model_name when none is given


@dataclass(frozen=True)
class VersionPolicy:
    """Which of a model's versions are served: TF Serving's ServableVersionPolicy.

    `latest` serves the `count` highest versions present, `all` every one, `specific` those of
    `versions` that are present.
    """

    kind: str = "latest"
    count: int = 1
    versions: frozenset[int] = frozenset()

    def select(self, present: Iterable[int]) -> list[int]:
        """The versions of `present` this policy serves, ascending."""
        ordered = sorted(present)
        if self.kind == "all":
            return ordered
        if self.kind == "specific":
            return [v for v in ordered if v in self.versions]
        return ordered[-self.count :]

    def describe(self) -> str:
        if self.kind == "specific":
            return f"specific {', '.join(map(str, sorted(self.versions)))}"
        return "all" if self.kind == "all" else f"latest {self.count}"


LATEST = VersionPolicy()  # TF Serving's default: only the newest version
ALL = VersionPolicy("all")  # zoo's --model-dir: every version


@dataclass(frozen=True)
class ModelSource:
    """One model as TF Serving's ModelConfig describes it; `backend` "" is the server's --backend."""

    name: str
    base_path: Path
    policy: VersionPolicy = LATEST
    labels: Mapping[str, int] = field(default_factory=dict)
    backend: str = ""


class ModelSources(Protocol):
    """What the repository polls: the models to serve as of now, by name."""

    def models(self) -> dict[str, ModelSource]: ...

    def reload(self) -> bool:
        """Read the source again where it is a file; True when what it says changed."""
        ...

    def describe(self) -> str:
        """Where the models come from, for messages ("models/", "the model config file ...")."""
        ...


@dataclass(frozen=True)
class Directory:
    """zoo's repository folder: every subfolder a model (only `only`, when given) serving every
    version, with `labels` (model -> label -> version) from --version-labels."""

    root: Path
    only: Sequence[str] | None = None
    labels: VersionLabels = field(default_factory=dict)

    def models(self) -> dict[str, ModelSource]:
        if not self.root.is_dir():
            return {}
        # An OSError (the folder being replaced as it is read) goes to the repository's poll,
        # which keeps what it serves until the next one.
        folders = sorted(p for p in self.root.iterdir() if p.is_dir())
        return {
            f.name: ModelSource(f.name, f, ALL, self.labels.get(f.name, {}))
            for f in folders
            if not f.name.startswith(".") and (self.only is None or f.name in self.only)
        }

    def reload(self) -> bool:
        return False

    def describe(self) -> str:
        only = f" among {', '.join(self.only)}" if self.only else ""
        return f"{self.root}{only}"


@dataclass(frozen=True)
class Fixed:
    """Models that never change: TF Serving's --model_name and --model_base_path give one."""

    listed: tuple[ModelSource, ...]

    def models(self) -> dict[str, ModelSource]:
        return {m.name: m for m in self.listed}

    def reload(self) -> bool:
        return False

    def describe(self) -> str:
        return ", ".join(str(m.base_path) for m in self.listed)


def choose(
    model_dir: Path | None,
    only: Sequence[str] | None,
    labels: VersionLabels,
    model_name: str | None,
    model_base_path: Path | None,
    model_config_file: Path | None,
) -> ModelSources:
    """The source the options name, first of: TF Serving's --model_config_file (which, as in TF
    Serving, replaces the model flags), zoo's --model-dir or --models, TF Serving's
    --model_base_path (with --model_name, "default" when not given), and last `models/`.

    So `docker run` arguments appended to the image's TF Serving-style entrypoint, which always
    passes the model flags, may name a config file or a repository instead.
    """
    if model_config_file is not None:
        for option, given in (
            ("--model-dir", model_dir),
            ("--models", only),
            ("--version-labels", labels),
        ):
            if given:
                raise ServerError(
                    f"{option}: the model config file names the models "
                    f"({model_config_file}); give one or the other"
                )
        from zoo.serving.core.model_config import ConfigFile  # it imports this module's types

        return ConfigFile(model_config_file)
    if model_dir is not None or only or model_base_path is None:
        if model_name is not None and model_base_path is None:
            raise ServerError("--model_name: give --model_base_path too (the model's folder)")
        root = model_dir if model_dir is not None else Path("models")
        if not root.is_dir():
            raise ServerError(f"--model-dir: {root} does not exist (`zoo export` writes one)")
        held = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name[0] != ".")
        unknown = [name for name in only or () if name not in held]
        if unknown:
            raise ServerError(
                f"--models: no {', '.join(unknown)} in {root}; "
                f"it holds {', '.join(held) or 'no models (export one with `zoo export`)'}"
            )
        return Directory(root, only, labels)
    name = model_name or DEFAULT_MODEL_NAME
    if not model_base_path.is_dir():
        raise ServerError(f"--model_base_path: {model_base_path} is no folder")
    if unknown := sorted(set(labels) - {name}):
        raise ServerError(f"--version-labels: no model {', '.join(unknown)} (serving {name})")
    return Fixed((ModelSource(name, model_base_path, LATEST, labels.get(name, {})),))
