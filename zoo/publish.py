"""Pretrained weights meet runs: `publish` stores a finished run's weights in `weights/`
(zoo/weights.py), and `pretrained_run` lays published weights out as a finished run folder, so
that export, evaluate and generate (which read runs) need no second code path for them.

Both build, compile and evaluate models, so this module imports training and evaluation; loading
weights (`create_model(pretrained=True)`) does not, and lives apart in zoo/weights.py. Only the
CLI (inside the commands that load TensorFlow) and bench/weights.py import this module.

A model is published again only when its recipe changes; `bench/weights.py` is how.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import keras

from zoo import runs, weights
from zoo.evaluate import evaluate
from zoo.registry import create_model, get_spec
from zoo.train import compile_model

HALF_FROM = 100_000  # parameters from which a file stores float16: half the size, same accuracy


def publish(
    run: str | os.PathLike[str],
    directory: Path | None = None,
    runs_dir: str | os.PathLike[str] = "runs",
) -> dict[str, Any]:
    """Store a finished run's weights in the manifest (replacing the model's earlier ones).

    The test figures are measured on the file as `pretrained=True` loads it, in its pretrained
    run folder under `runs_dir`, not taken from the run: float16 storage rounds the weights. A
    pretrained run may be published again (to store it differently); its origin is kept.
    """
    run_dir = Path(run)
    model_path = runs.require_model(run_dir)
    config = runs.read_json(run_dir / runs.CONFIG)
    name = config["model"]
    spec = get_spec(name)
    directory = directory or weights.weights_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{name}{weights.SUFFIX}"
    # The layers' weights only: a compiled model's file would carry its optimizer's state too.
    bare = create_model(name)
    bare.set_weights(keras.saving.load_model(model_path).get_weights())
    # Staged beside the target and measured there: the published file is replaced only once its
    # figures exist, so the file and the manifest never disagree.
    staged = directory / f".{name}.staged{weights.SUFFIX}"
    try:
        dtype = _write_weights(weights.stored_part(bare, spec), staged)
        sha256 = weights.sha256(staged)
        origin = config.get("pretrained") or _origin(run_dir, config)
        measured = _weights_run(name, staged, origin, _pretrained_dir(name, sha256, runs_dir))
        evaluate(measured, runs_dir=runs_dir)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    staged.replace(target)
    found = weights.manifest(directory)
    found[name] = {
        "file": target.name,
        "sha256": sha256,
        "dtype": dtype,
        "test": runs.read_json(measured / runs.METRICS)["test"],
        "run": origin,
    }
    runs.write_json(directory / weights.MANIFEST, dict(sorted(found.items())))
    return found[name]


def _origin(run_dir: Path, config: dict[str, Any]) -> dict[str, Any]:
    """The training run a file comes from, as the manifest records it."""
    metrics = runs.read_json(run_dir / runs.METRICS)
    return {
        "id": run_dir.name,
        "recipe": config.get("recipe"),
        "seed": config.get("seed"),
        "limit": config.get("limit"),
        "epochs": metrics.get("epochs"),
        "train_seconds": metrics.get("train_seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "versions": config.get("versions"),
    }


def _write_weights(part: Any, target: Path) -> str:
    """Save `part`'s weights to `target` atomically; float16 from HALF_FROM parameters on."""
    with runs.atomic_path(target) as tmp:
        # Keras wants the name to end in .weights.h5; the temporary name ends in .h5 only.
        saved = tmp.with_suffix(weights.SUFFIX)
        part.save_weights(saved)
        if part.count_params() < HALF_FROM:
            saved.rename(tmp)
            return "float32"
        _halve(saved, tmp)
        saved.unlink()
        return "float16"


def _halve(source: Path, target: Path) -> None:
    """Copy a Keras weights file with its float32 arrays stored as float16.

    A copy, not an in-place rewrite: HDF5 does not give back the space of a deleted dataset.
    Keras's `load_weights` assigns float16 arrays to float32 variables, widening them exactly.
    """
    import h5py
    import numpy as np

    with h5py.File(source, "r") as src, h5py.File(target, "w") as dst:
        dst.attrs.update(src.attrs)

        def copy(path: str, item: Any) -> None:
            if isinstance(item, h5py.Group):
                dst.require_group(path).attrs.update(item.attrs)
                return
            array = item[()]
            if array.dtype == np.float32:
                array = array.astype(np.float16)
            dst.create_dataset(path, data=array).attrs.update(item.attrs)

        src.visititems(copy)


def pretrained_run(name: str, runs_dir: str | os.PathLike[str] = "runs") -> Path:
    """A finished run folder holding `name`'s pretrained weights: runs/<name>/pretrained-<sha>/.

    Its id carries the weights' hash, so new weights make a new folder; an existing one is reused.
    """
    published = weights.entry(name)
    run_dir = _pretrained_dir(name, published["sha256"], runs_dir)
    if (run_dir / runs.MODEL).is_file():
        return run_dir
    return _weights_run(name, weights.checked_file(name), published["run"], run_dir)


def _pretrained_dir(name: str, sha256: str, runs_dir: str | os.PathLike[str]) -> Path:
    return Path(runs_dir) / name / f"pretrained-{sha256[:8]}"


def _weights_run(name: str, path: Path, origin: dict[str, Any], run_dir: Path) -> Path:
    """Lay weights file `path` out in `run_dir` as a finished run: config, metrics, whole model."""
    spec = get_spec(name)
    model = create_model(name)
    weights.stored_part(model, spec).load_weights(path)
    compile_model(model, spec, spec.recipe, steps_per_epoch=1)  # evaluate needs its loss, metrics
    # Create the optimizers' variables as loading will, so the model saves whole as a trained one.
    model.compile_from_config(model.get_compile_config())
    run_dir.mkdir(parents=True, exist_ok=True)
    runs.write_json(
        run_dir / runs.CONFIG, {"model": name, "spec": spec.to_json(), "pretrained": origin}
    )
    runs.write_json(run_dir / runs.METRICS, {})
    with runs.atomic_path(run_dir / runs.MODEL) as tmp:
        model.save(tmp)
    return run_dir
