"""Pretrained weights: the small weights this project trained and measured, in `weights/`.

    weights/
        manifest.json             per model: its file, sha256, the test figures measured on it,
                                  and the run it came from (recipe, seed, epochs, package versions)
        <model>.weights.h5        Keras weights (not a whole model: the registry builds the graph)

As timm and keras-hub have them, `zoo.create_model(name, pretrained=True)` builds the registered
architecture and loads its weights; the file's sha256 is checked first, so a truncated or replaced
file is refused by name instead of loading wrong numbers. `publish` adds an evaluated run; a model
is published again only when its recipe changes.

`pretrained_run` lays the weights out as a finished run folder, so that export and evaluate (which
read runs) need no second code path for pretrained models.
"""

from __future__ import annotations

import hashlib
import os
import platform
from pathlib import Path
from typing import Any

from zoo import runs
from zoo.errors import ZooError

MANIFEST = "manifest.json"
SUFFIX = ".weights.h5"


class WeightsError(ZooError):
    """No weights for a model, or a weights file that is not the one the manifest measured."""


def weights_dir() -> Path:
    """`ZOO_WEIGHTS_DIR`, else the `weights/` folder beside the zoo package."""
    return Path(
        os.environ.get("ZOO_WEIGHTS_DIR") or Path(__file__).resolve().parents[1] / "weights"
    )


def manifest(directory: Path | None = None) -> dict[str, dict[str, Any]]:
    """Model name -> its manifest entry ({} when there is no manifest)."""
    path = (directory or weights_dir()) / MANIFEST
    return runs.read_json(path) if path.is_file() else {}


def entry(name: str, directory: Path | None = None) -> dict[str, Any]:
    """The manifest entry of `name`; WeightsError naming the models that have weights."""
    found = manifest(directory)
    if name not in found:
        have = ", ".join(sorted(found)) or "none"
        raise WeightsError(f"no pretrained weights for {name} (models with weights: {have})")
    return found[name]


def checked_file(name: str, directory: Path | None = None) -> Path:
    """The weights file of `name`, once its sha256 is the manifest's."""
    directory = directory or weights_dir()
    published = entry(name, directory)
    path = directory / published["file"]
    if not path.is_file():
        raise WeightsError(f"{path} is missing: restore it (git checkout {path.name})")
    digest = _sha256(path)
    if digest != published["sha256"]:
        raise WeightsError(
            f"{path}: sha256 {digest[:12]}... is not the manifest's "
            f"{published['sha256'][:12]}...: the file is damaged or was replaced"
        )
    return path


def load_into(model: Any, name: str, directory: Path | None = None) -> Any:
    """`model` (built by the registry for `name`) with its checked pretrained weights."""
    model.load_weights(checked_file(name, directory))
    return model


def publish(run: str | os.PathLike[str], directory: Path | None = None) -> dict[str, Any]:
    """Add an evaluated run's weights to the manifest (replacing the model's earlier ones)."""
    import keras

    from zoo.registry import create_model

    run_dir = Path(run)
    model_path = runs.require_model(run_dir)
    config = runs.read_json(run_dir / runs.CONFIG)
    metrics = runs.read_json(run_dir / runs.METRICS)
    if "test" not in metrics:
        raise WeightsError(f"{run_dir} has no test figures: run `zoo evaluate {run_dir}` first")
    name = config["model"]
    directory = directory or weights_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{name}{SUFFIX}"
    # The layers' weights only: a compiled model's file would carry its optimizer's state too.
    bare = create_model(name)
    bare.set_weights(keras.saving.load_model(model_path).get_weights())
    with runs.atomic_path(target) as tmp:
        # Keras wants the name to end in .weights.h5; the temporary name ends in .h5 only.
        bare.save_weights(tmp.with_suffix(SUFFIX))
        tmp.with_suffix(SUFFIX).rename(tmp)
    found = manifest(directory)
    found[name] = {
        "file": target.name,
        "sha256": _sha256(target),
        "test": metrics["test"],
        "run": {
            "id": run_dir.name,
            "recipe": config.get("recipe"),
            "seed": config.get("seed"),
            "limit": config.get("limit"),
            "epochs": metrics.get("epochs"),
            "train_seconds": metrics.get("train_seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "versions": config.get("versions"),
        },
    }
    runs.write_json(directory / MANIFEST, dict(sorted(found.items())))
    return found[name]


def pretrained_run(name: str, runs_dir: str | os.PathLike[str] = "runs") -> Path:
    """A finished run folder holding `name`'s pretrained weights: runs/<name>/pretrained-<sha>/.

    Its id carries the weights' hash, so new weights make a new folder; an existing one is reused.
    """
    from zoo.registry import create_model, get_spec
    from zoo.train import compile_model

    published = entry(name)
    run_dir = Path(runs_dir) / name / f"pretrained-{published['sha256'][:8]}"
    if (run_dir / runs.MODEL).is_file():
        return run_dir
    model = create_model(name, pretrained=True)
    spec = get_spec(name)
    compile_model(model, spec, spec.recipe, steps_per_epoch=1)  # evaluate needs its loss, metrics
    model.optimizer.build(model.trainable_variables)  # saved whole, as a trained model's is
    run_dir.mkdir(parents=True, exist_ok=True)
    runs.write_json(
        run_dir / runs.CONFIG,
        {"model": name, "spec": spec.to_json(), "pretrained": published["run"]},
    )
    runs.write_json(run_dir / runs.METRICS, {"pretrained_test": published["test"]})
    with runs.atomic_path(run_dir / runs.MODEL) as tmp:
        model.save(tmp)
    return run_dir


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
