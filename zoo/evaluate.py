"""Evaluation on the test split, which training never sees: metrics, and a confusion matrix for classifiers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from zoo import data, plots, quality, runs
from zoo.data.own import run_spec
from zoo.data.pipeline import make_pipeline
from zoo.inference import class_ids, predict_example
from zoo.registry import ModelSpec


@dataclass
class Evaluation:
    """Test metrics of one run, where its confusion matrix was drawn (classifiers only), and the
    table a generator's quality is printed as."""

    run_dir: Path
    metrics: dict[str, float]
    confusion: np.ndarray | None
    confusion_png: Path | None
    example: list[tuple[tuple[float, ...], Any, Any]]
    report: str | None = None
    short_run: str | None = None  # how the run fell short of its recipe, if it did
    spec: ModelSpec | None = None  # the run's: on its own data, with its classes, if it had some


def evaluate(
    run: str | os.PathLike[str],
    *,
    runs_dir: str | os.PathLike[str] = "runs",
    data_dir: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    batch_size: int = 256,
) -> Evaluation:
    """Evaluate a finished run on its dataset's test split and record the result in metrics.json."""
    run_dir = runs.resolve_run(run, runs_dir)
    model_path = runs.require_model(run_dir)
    config = runs.read_json(run_dir / runs.CONFIG)
    spec = run_spec(config)
    short = short_run(config, spec)
    if spec.task == "generative":
        evaluation = _evaluate_generator(run_dir, spec.name, model_path, data_dir, limit)
        evaluation.short_run, evaluation.spec = short, spec
        return evaluation
    x, y = data.load(spec.dataset, "test", data_dir)
    if limit is not None:
        x, y = x[:limit], y[:limit]

    model = keras.saving.load_model(model_path)
    test_ds = make_pipeline(x, y, spec, batch_size, training=False)
    metrics = model.evaluate(test_ds, return_dict=True, verbose=0)
    metrics = {k: float(v) for k, v in metrics.items()}
    metrics["examples"] = len(x)

    confusion = confusion_png = None
    if spec.task in ("binary", "multiclass"):
        predicted = class_ids(spec, model.predict(test_ds, verbose=0))
        labels = spec.labels or ("0", "1")
        confusion = confusion_counts(y.reshape(-1).astype(np.int64), predicted, len(labels))
        confusion_png = run_dir / runs.CONFUSION
        plots.confusion_matrix(confusion, labels, confusion_png, f"{spec.name}: test confusion")

    _record(run_dir, metrics)
    return Evaluation(
        run_dir,
        metrics,
        confusion,
        confusion_png,
        predict_example(spec, model),
        short_run=short,
        spec=spec,
    )


def short_run(config: dict[str, Any], spec: ModelSpec) -> str | None:
    """Why this run's figures may not be the recipe's: trained on a subset, or for fewer epochs."""
    reasons = []
    if config.get("limit") is not None:
        reasons.append(f"trained on the first {config['limit']:,} examples (--limit)")
    epochs = config.get("recipe", {}).get("epochs", spec.recipe.epochs)
    if epochs < spec.recipe.epochs:
        reasons.append(f"for {epochs} of the recipe's {spec.recipe.epochs} epochs")
    return ", ".join(reasons) or None


def _evaluate_generator(
    run_dir: Path,
    name: str,
    model_path: Path,
    data_dir: str | os.PathLike[str] | None,
    limit: int | None,
) -> Evaluation:
    """A generator has no test labels to score: measure its samples with the yardstick classifier."""
    classifier = quality.feature_classifier()
    model = keras.saving.load_model(model_path)
    measured = quality.measure(
        model, name, classifier, samples=limit or quality.SAMPLES, data_dir=data_dir
    )
    _record(run_dir, measured.to_json())
    metrics = {**measured.scalars(), "examples": measured.samples}
    return Evaluation(run_dir, metrics, None, None, [], report=measured.table())


def _record(run_dir: Path, test: dict[str, Any]) -> None:
    """Add the test figures to the run's metrics.json."""
    recorded = runs.read_json(run_dir / runs.METRICS)
    recorded["test"] = test
    runs.write_json(run_dir / runs.METRICS, recorded)


def confusion_counts(true: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """matrix[i, j] = how many test examples of class i were predicted as class j."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (true, predicted), 1)
    return matrix
