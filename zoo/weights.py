"""Pretrained weights: the small weights this project trained and measured, in `weights/`.

    weights/                      installed as the package zoo.pretrained (the wheel carries it);
                                  `ZOO_WEIGHTS_DIR` names another folder laid out the same
        manifest.json             per model: its file, sha256, the test figures measured on it,
                                  and the run it came from (recipe, seed, epochs, package versions)
        <model>.weights.h5        Keras weights (not a whole model: the registry builds the graph);
                                  a GAN's generator only; float16 for the models of 100k parameters
                                  and more, which keeps the whole set a few MB

As timm and keras-hub have them, `zoo.create_model(name, pretrained=True)` builds the registered
architecture and loads its weights; the file's sha256 is checked first, so a truncated or replaced
file is refused by name instead of loading wrong numbers. Weights are optional: a model without
them is listed, built and trained as any other (`zoo.list_models(pretrained=True)` lists those
with weights).

This module only reads: it imports neither the registry nor training, so that
`create_model(pretrained=True)` stays out of the import circle of train and evaluate. Storing a run's
weights here and laying them out as a run folder is zoo/publish.py's job.
"""

from __future__ import annotations

import hashlib
import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import runs
from zoo.errors import ZooError

if TYPE_CHECKING:
    from zoo.registry import ModelSpec

MANIFEST = "manifest.json"
SUFFIX = ".weights.h5"


class WeightsError(ZooError):
    """No weights for a model, or a weights file that is not the one the manifest measured."""


def weights_dir() -> Path:
    """`ZOO_WEIGHTS_DIR`, else the weights installed with zoo (a clone's `weights/`)."""
    override = os.environ.get("ZOO_WEIGHTS_DIR")
    return Path(override) if override else Path(str(resources.files("zoo.pretrained")))


def manifest(directory: Path | None = None) -> dict[str, dict[str, Any]]:
    """Model name -> its manifest entry ({} when there is no manifest)."""
    path = (directory or weights_dir()) / MANIFEST
    return runs.read_json(path) if path.is_file() else {}


def entry(name: str, directory: Path | None = None) -> dict[str, Any]:
    """The manifest entry of `name`; WeightsError naming the models that have weights."""
    found = manifest(directory)
    if not found:
        raise WeightsError(f"no pretrained weights for {name}: {missing_manifest(directory)}")
    if name not in found:
        have = ", ".join(sorted(found))
        raise WeightsError(f"no pretrained weights for {name} (models with weights: {have})")
    return found[name]


def missing_manifest(directory: Path | None = None) -> str:
    """Why there are no weights at all: where the manifest was looked for, and who chose there."""
    directory = directory or weights_dir()
    chosen = os.environ.get("ZOO_WEIGHTS_DIR") and directory == weights_dir()
    return f"{directory / MANIFEST}{' (ZOO_WEIGHTS_DIR)' if chosen else ''} does not exist"


def checked_file(name: str, directory: Path | None = None) -> Path:
    """The weights file of `name`, once its sha256 is the manifest's."""
    directory = directory or weights_dir()
    published = entry(name, directory)
    path = directory / published["file"]
    if not path.is_file():
        raise WeightsError(
            f"{path} is missing: reinstall keras-zoo, or in a clone `git checkout weights/{path.name}`"
        )
    digest = sha256(path)
    if digest != published["sha256"]:
        raise WeightsError(
            f"{path}: sha256 {digest[:12]}... is not the manifest's "
            f"{published['sha256'][:12]}...: the file is damaged or was replaced"
        )
    return path


def load_into(model: Any, spec: ModelSpec, directory: Path | None = None) -> Any:
    """`model` (built by the registry for `spec`) with its checked pretrained weights."""
    stored_part(model, spec).load_weights(checked_file(spec.name, directory))
    return model


def stored_part(model: Any, spec: ModelSpec) -> Any:
    """What a weights file holds: a GAN's generator, which is what is exported, served and
    measured (the discriminator only trains it), else the whole model."""
    return model.generator if spec.task == "generative" else model


def sha256(path: Path) -> str:
    """The hex sha256 of a file's bytes, as the manifest records it."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
