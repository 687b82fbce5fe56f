"""Training: one function that turns a registry entry into a finished run directory.

The recipe comes from the ModelSpec, overridable per run; data comes from `zoo.data` through the
tf.data pipeline; progress, history and checkpoints come from Keras callbacks, so a run killed at any
point resumes from its last finished epoch, and on the CPU ends with the very weights of a run that
was never interrupted (each epoch's batches depend on the seed and the epoch only, and the checkpoint
keeps the optimizer's and the random streams' states).
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from zoo import data, distribute, plots, runs, versions, weights
from zoo.data import own
from zoo.data.pipeline import make_pipeline, split_validation
from zoo.errors import RunError, ZooError
from zoo.inference import predict_example
from zoo.registry import OPTIMIZERS, ModelSpec, Recipe, create_model, get_spec
from zoo.samples import SampleGrids

LOSSES = {
    "mse": keras.losses.MeanSquaredError,
    "binary_crossentropy": keras.losses.BinaryCrossentropy,
    "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
    "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
}


@dataclass
class TrainResult:
    """What a finished run produced, for the CLI to print and for tests to check."""

    run_dir: Path
    history: dict[str, list[float]]
    metrics: dict[str, Any]
    example: list[tuple[tuple[float, ...], Any, Any]]
    worker: tuple[int, int] = (0, 1)  # (index, count): only worker 0's run_dir is kept


def make_recipe(spec: ModelSpec, **overrides: Any) -> Recipe:
    """The spec's recipe with the non-None overrides applied, checked for values that cannot train."""
    recipe = dataclasses.replace(
        spec.recipe, **{k: v for k, v in overrides.items() if v is not None}
    )
    if recipe.epochs < 1:
        raise ZooError(f"epochs must be at least 1, got {recipe.epochs}")
    if recipe.batch_size < 1:
        raise ZooError(f"batch size must be at least 1, got {recipe.batch_size}")
    if not recipe.learning_rate > 0 or not math.isfinite(recipe.learning_rate):
        raise ZooError(f"learning rate must be a positive number, got {recipe.learning_rate}")
    if recipe.optimizer not in OPTIMIZERS:
        raise ZooError(
            f"unknown optimizer {recipe.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"
        )
    return recipe


def compile_model(
    model: keras.Model, spec: ModelSpec, recipe: Recipe, steps_per_epoch: int
) -> None:
    """Attach the recipe's optimizer (with its learning-rate schedule), loss and the task's metric."""
    learning_rate: Any = recipe.learning_rate
    if recipe.lr_schedule == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(
            recipe.learning_rate, decay_steps=recipe.epochs * steps_per_epoch
        )
    optimizer = type(keras.optimizers.get(recipe.optimizer))(learning_rate=learning_rate)
    loss_class = LOSSES[recipe.loss]
    loss = loss_class(from_logits=True) if recipe.from_logits else loss_class()
    # A GAN reports its own adversarial figures from its train_step.
    metrics = {"regression": ["mae"], "generative": []}.get(spec.task, ["accuracy"])
    # Tiny tables run many steps per epoch: one compiled call per epoch spares per-step overhead.
    model.compile(
        optimizer=optimizer,
        loss=loss,
        metrics=metrics,
        steps_per_execution=recipe.steps_per_epoch or 1,
    )


class EpochCheckpoint(keras.callbacks.Callback):
    """Save model + optimizer state, the random streams' states and the epoch count after every
    epoch, as one file written atomically.

    Keras's BackupAndRestore keeps weights only; a full `.keras` file also restores the optimizer's
    moments and step count (and so the learning-rate schedule), and stays loadable on its own. The
    epoch count travels inside that file (`runs.write_checkpoint_state`): two files renamed one
    after the other could be caught by a kill between them, with the weights of one epoch and the
    count of another. checkpoint.json is a copy for people to read; resume does not trust it.
    """

    def __init__(self, run_dir: Path, seconds_before: float = 0.0):
        super().__init__()
        self.run_dir = run_dir
        self.seconds_before = seconds_before
        self.started = time.perf_counter()

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        state = {
            "epoch": epoch + 1,
            "train_seconds": self.train_seconds(),
            "seed_states": [np.asarray(v).tolist() for v in seed_states(self.model)],
        }
        with runs.atomic_path(self.run_dir / runs.CHECKPOINT) as tmp:
            self.model.save(tmp)
            runs.write_checkpoint_state(tmp, state)
        runs.write_json(self.run_dir / runs.CHECKPOINT_STATE, state)

    def train_seconds(self) -> float:
        return self.seconds_before + time.perf_counter() - self.started


def seed_states(net: keras.Model) -> list[keras.Variable]:
    """The model's variables that `model.save` leaves out: the states of its SeedGenerators.

    Dropout layers and the GAN's latent noise draw from a SeedGenerator whose state is a variable
    (a seed and a counter) but not a weight, so a loaded model would start their streams over.
    """
    saved = {id(v) for v in net.weights}
    return [v for v in net.variables if id(v) not in saved]


def train(
    model: str | None = None,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    optimizer: str | None = None,
    learning_rate: float | None = None,
    seed: int = 0,
    limit: int | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    runs_dir: str | os.PathLike[str] = "runs",
    resume: str | os.PathLike[str] | None = None,
    verbose: int | str = "auto",
    strategy: str = "default",
    started: Callable[[Path], None] | None = None,
    dataset: str | os.PathLike[str] | None = None,
    label_column: str | None = None,
    pretrained: bool = False,
    tensorboard: bool = False,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> TrainResult:
    """Train `model` with its recipe (or continue the run `resume`) and return the finished run.

    `resume` is a run folder, `<model>/<run-id>` under `runs_dir`, or a model id: its newest
    unfinished run. `started` is called with the run folder once it exists, before the first
    epoch, so that a caller can name it while training runs (and after a Ctrl-C).

    `verbose="auto"` is Keras's redrawn progress bar on a terminal, and one plain line per epoch
    (Keras's verbose=2, no colours, no carriage returns) when stdout is a file or a CI log.
    `strategy` is a `zoo.distribute` strategy; under multi-worker, worker 0 writes the run and
    the others train beside it in a temporary folder (removed at the end).

    `dataset` is data of one's own instead of the model's (`zoo.data.own`: a folder of class
    folders of images, a CSV whose `label_column` holds the labels, an .npz of x and y); its
    classes become the model's (a fresh head when their number differs). `pretrained` starts from
    the weights this project published for the model, to fine-tune them.

    `tensorboard` writes Keras's TensorBoard logs into the run's `tensorboard/` folder; a resumed
    run whose folder has them goes on writing them, epochs numbered on. `callbacks` are Keras
    callbacks of your own, called after zoo's (history, logs) and before the epoch's checkpoint.
    They are Python objects, not settings: the run does not record them, so `resume` runs with
    zoo's callbacks only unless they are passed again, and then they start afresh (an
    EarlyStopping's patience counts from the resumed epoch).
    """
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    overrides = {
        "epochs": epochs,
        "batch_size": batch_size,
        "optimizer": optimizer,
        "learning_rate": learning_rate,
    }
    if limit is not None and limit < 1:
        raise ZooError(f"limit must be at least 1, got {limit}")
    if resume is not None:
        given = {"dataset": dataset, "label_column": label_column, "pretrained": pretrained or None}
        run_dir, spec, recipe, seed, limit, pretrained = _reopen(
            resume, runs_dir, model, {**overrides, **given}
        )
    else:
        if model is None:
            raise ZooError("name a model to train (see `zoo list`), or --resume a run")
        spec = _spec_for(model, dataset, label_column, pretrained)
        recipe = make_recipe(spec, **overrides)
        run_dir = None
    if strategy != "default" and spec.task == "generative":
        raise ZooError(
            f"{spec.name} is a GAN: its adversarial train step runs on one device; "
            "train it with --strategy default"
        )
    distribution = distribute.make_strategy(strategy)  # before any other TensorFlow op
    index, workers = distribute.worker(distribution)
    chief = index == 0
    if run_dir is not None and chief:  # the others only read the run they resume
        runs.tidy_after_kill(run_dir)
    tensorboard = tensorboard or (run_dir is not None and (run_dir / runs.TENSORBOARD).is_dir())

    x, y = data.load(spec.dataset, "train", data_dir)
    if limit is not None:
        x, y = x[:limit], y[:limit]
    (train_x, train_y), validation = split_validation(x, y, recipe.validation_split, seed)

    if run_dir is None and chief:  # only now that the data loaded: bad input leaves no folder
        run_dir = runs.new_run_dir(runs_dir, spec.name)
        runs.write_json(
            run_dir / runs.CONFIG,
            {
                "model": spec.name,
                "created": runs.created_now(),
                "spec": spec.to_json(),
                "recipe": dataclasses.asdict(recipe),
                "seed": seed,
                "limit": limit,
                "data": data.sources(spec.dataset, "train", data_dir),  # the files read, hashed
                "dataset": _own(spec.dataset),  # data of one's own, read again by evaluate, export
                "fine_tuned_from": _published(spec.name) if pretrained else None,
                "train_examples": len(train_x),
                "validation_examples": 0 if validation is None else len(validation[0]),
                "strategy": distribute.describe(distribution, strategy),
                "versions": versions.package_versions(),
            },
        )
    if chief and started is not None:
        started(run_dir)
    # What this worker writes: the run itself for the chief, a scratch copy for the others.
    write_dir = run_dir if chief else Path(tempfile.mkdtemp(prefix=f"zoo-worker-{index}-"))
    try:
        result = _fit(
            distribution,
            run_dir or write_dir,
            write_dir,
            (spec, recipe, seed),
            (train_x, train_y),
            validation,
            verbose,
            pretrained,
            [*_tensorboard(write_dir, tensorboard), *callbacks],
        )
        return dataclasses.replace(result, worker=(index, workers))
    finally:
        if not chief:
            shutil.rmtree(write_dir, ignore_errors=True)


def _fit(
    distribution: Any,
    read_dir: Path,
    write_dir: Path,
    what: tuple[ModelSpec, Recipe, int],
    training: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray] | None,
    verbose: int | str,
    pretrained: bool,
    callbacks: list[keras.callbacks.Callback],
) -> TrainResult:
    """Fit `what` (spec, recipe, seed) from `read_dir`'s checkpoint, if it has one (else from the
    published weights with `pretrained`), to the recipe's end, writing checkpoints, history and
    the finished run into `write_dir`, with `callbacks` called before the checkpoint's."""
    spec, recipe, seed = what
    train_x, train_y = training

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    steps = recipe.steps_per_epoch or math.ceil(len(train_x) / recipe.batch_size)
    with distribution.scope():
        net, initial_epoch, seconds_before = _model_to_continue(
            read_dir, spec, recipe, steps, pretrained
        )
    # The batches of the epochs still to train, each epoch's drawn from (seed, epoch) alone: a
    # resumed run trains on exactly what the unbroken run would have.
    train_ds = make_pipeline(
        train_x,
        train_y,
        spec,
        recipe.batch_size,
        training=True,
        seed=seed,
        epochs=range(initial_epoch, recipe.epochs),
    )
    val_ds = (
        None
        if validation is None
        else make_pipeline(*validation, spec, recipe.batch_size, training=False)
    )

    checkpoint = EpochCheckpoint(write_dir, seconds_before)
    with runs.naming(write_dir):  # Keras's CSVLogger names no file when the disk is full
        net.fit(
            train_ds,
            epochs=recipe.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps,  # the pipeline is every epoch left, one after the other
            validation_data=val_ds,
            callbacks=[
                keras.callbacks.CSVLogger(str(write_dir / runs.HISTORY), append=True),
                *_task_callbacks(spec, write_dir),
                *callbacks,
                checkpoint,  # last: an epoch counts as done only once everything above is written
            ],
            shuffle=False,  # the pipeline shuffles, seeded
            verbose=verbose,
        )
    per_epoch = steps * recipe.batch_size if recipe.steps_per_epoch else len(train_x)
    return _finish(write_dir, spec, net, per_epoch * recipe.epochs, checkpoint)


def _task_callbacks(spec: ModelSpec, run_dir: Path) -> list[keras.callbacks.Callback]:
    """What a task adds to every run: a generator draws its sample grids to watch it learn."""
    return [SampleGrids(run_dir)] if spec.task == "generative" else []


def _tensorboard(run_dir: Path, wanted: bool) -> list[keras.callbacks.Callback]:
    """Keras's TensorBoard callback, writing in the run's folder: each epoch's figures, the graph."""
    return [keras.callbacks.TensorBoard(str(run_dir / runs.TENSORBOARD))] if wanted else []


def _spec_for(
    model: str, dataset: str | os.PathLike[str] | None, label_column: str | None, pretrained: bool
) -> ModelSpec:
    """The spec to train: the registry's, on one's own data when given, checked (the data read,
    the published weights found) before a run folder exists, so bad input leaves nothing."""
    spec = get_spec(model)
    if pretrained:
        _published(spec.name)
    if dataset is None:
        if label_column is not None:
            raise ZooError("--label-column names the label column of a CSV --dataset")
        return spec
    return own.trained_spec(spec, own.describe(dataset, spec, label_column))


def _own(dataset: str | own.UserDataset) -> dict[str, Any] | None:
    """How a run records data of one's own (None: the model's own dataset)."""
    return dataset.to_json() if isinstance(dataset, own.UserDataset) else None


def _published(name: str) -> dict[str, str]:
    """The published weights a fine-tuning run starts from, checked against their manifest."""
    path = weights.checked_file(name)
    return {"file": path.name, "sha256": weights.entry(name)["sha256"]}


def _reopen(
    resume, runs_dir, model, overrides
) -> tuple[Path, ModelSpec, Recipe, int, int | None, bool]:
    """The unfinished run to resume, with the recipe, seed, limit and start it was made with."""
    run_dir = runs.resolve_run(resume, runs_dir, unfinished=True)
    if runs.is_pretrained(run_dir):
        raise RunError(
            f"{run_dir} holds pretrained weights, not a run trained here: nothing to resume"
        )
    config = runs.read_json(run_dir / runs.CONFIG)
    if model is not None and model != config["model"]:
        raise RunError(f"run {run_dir} trains {config['model']}, not {model}")
    if any(v is not None for v in overrides.values()):
        raise RunError("--resume continues a run with its own recipe; drop the other options")
    if (run_dir / runs.MODEL).exists():
        raise RunError(f"run {run_dir} already finished; nothing to resume")
    return (
        run_dir,
        own.run_spec(config),
        Recipe(**config["recipe"]),
        config["seed"],
        config["limit"],
        config.get("fine_tuned_from") is not None,
    )


def _model_to_continue(
    run_dir: Path, spec: ModelSpec, recipe: Recipe, steps: int, pretrained: bool
) -> tuple[keras.Model, int, float]:
    """The last checkpoint if the run has one, else a freshly built (or published) and compiled
    model, with a head for the spec's classes."""
    path = run_dir / runs.CHECKPOINT
    if not path.exists():
        net = create_model(spec.name, pretrained, own.num_classes(spec))
        compile_model(net, spec, recipe, steps)
        return net, 0, 0.0
    # A checkpoint from before the state moved into it has its state beside it, without seeds.
    state = runs.read_checkpoint_state(path) or runs.read_json(run_dir / runs.CHECKPOINT_STATE)
    net = keras.saving.load_model(path)
    for variable, value in zip(seed_states(net), state.get("seed_states", []), strict=False):
        variable.assign(value)
    return net, state["epoch"], state["train_seconds"]


def read_history(path: Path) -> dict[str, list[float]]:
    """history.csv as columns; an epoch logged twice (killed after logging, before its checkpoint)
    keeps its last row, and a last row without its line end (killed while writing it) is dropped."""
    rows: dict[int, dict[str, float]] = {}
    text = path.read_text()
    lines = text[: text.rfind("\n") + 1].splitlines()
    if not lines:
        return {}
    header = lines[0].split(",")
    for line in lines[1:]:
        if not line or line.startswith("epoch"):
            continue
        cells = (math.nan if v == "NA" else float(v) for v in line.split(","))
        values = dict(zip(header, cells, strict=True))
        rows[int(values["epoch"])] = values
    ordered = [rows[e] for e in sorted(rows)]
    columns = {k: [r[k] for r in ordered] for k in header if k != "epoch"}
    # CSVLogger writes NA for validation metrics of runs without a validation split.
    return {k: v for k, v in columns.items() if not all(math.isnan(x) for x in v)}


def _finish(
    run_dir: Path,
    spec: ModelSpec,
    net: keras.Model,
    examples_seen: int,
    checkpoint: EpochCheckpoint,
) -> TrainResult:
    """Write the trained model, the final metrics and the curves; a run is finished once model.keras exists."""
    seconds = checkpoint.train_seconds()
    history = read_history(run_dir / runs.HISTORY)
    last = {k: v[-1] for k, v in history.items()}
    metrics = {
        "epochs": len(next(iter(history.values()))),
        "train": {
            k: v for k, v in last.items() if not k.startswith("val_") and k != "learning_rate"
        },
        "validation": {k.removeprefix("val_"): v for k, v in last.items() if k.startswith("val_")},
        "train_seconds": round(seconds, 2),
        "examples_per_second": round(examples_seen / max(seconds, 1e-9), 1),
    }
    example = predict_example(spec, net)
    if example:
        metrics["slide_example"] = [
            {"inputs": list(i), "ours": o, "slide": s} for i, o, s in example
        ]
    curves = plots.adversarial_curves if spec.task == "generative" else plots.learning_curves
    curves(history, run_dir / runs.CURVES, f"{spec.name} — {run_dir.name}")
    runs.write_json(run_dir / runs.METRICS, metrics)
    with runs.atomic_path(run_dir / runs.MODEL) as tmp:
        net.save(tmp)
    return TrainResult(run_dir, history, metrics, example)


__all__ = ["OPTIMIZERS", "TrainResult", "compile_model", "make_recipe", "read_history", "train"]
