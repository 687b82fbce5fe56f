"""A Keras model trained anywhere, as `zoo export PATH.keras` takes it: the file, its labels, what it is.

Nothing in the zoo's registry describes such a model, so the description that the export needs
(a ModelSpec without a builder or a data set) is read off the model itself:

- the input: the model's one input, by its name, shape and dtype; its scale is 1.0, since the model
  takes what it takes (an image model trained on 0-255 pixels with a Rescaling layer inside serves
  raw pixels, one trained on [0, 1] serves [0, 1]);
- the task, from the layer that makes the output and the labels, if any:
  a softmax over several columns is a classifier's probabilities, one sigmoid unit a binary
  classifier's; with labels, any other last layer (a linear one) is read as logits, of one class
  per label or, for two labels and one unit, of the positive class; without labels, its outputs are
  served as they are, as a regression's `predictions`. Labels that do not fit the output are refused.

The parity check has no test split to draw from: it runs seeded random inputs of the input's shape
(standard normal floats, integers 0 and 1, which any embedding takes) through Keras and each format.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from zoo.export.errors import ExportError
from zoo.registry import InputSpec, ModelSpec, Recipe

SUFFIX = ".keras"
OPEN_DIMENSION = 8  # the size parity inputs get in a dimension the model leaves open (a length)
PARITY_SEED = 0
SOFTMAX, SIGMOID = "softmax", "sigmoid"


def is_keras_file(ref: str | os.PathLike[str]) -> bool:
    """Whether `zoo export` was given a file rather than a run or a model id: a name ending in
    .keras, or any file that exists (which `load` refuses unless it is a .keras file)."""
    return str(ref).endswith(SUFFIX) or Path(ref).is_file()


def load(path: str | os.PathLike[str], name: str | None, labels_file: Path | None) -> ModelSpec:
    """The spec of the model saved at `path`, named `name` (the file's stem when None), with the
    labels of `labels_file`; its builder returns the loaded model. Every problem is an ExportError."""
    import keras

    path = check_file(path)
    labels = read_labels(labels_file) if labels_file is not None else None
    try:
        model = keras.saving.load_model(path)
    except Exception as exc:  # a damaged zip, an unknown layer, a bad config: Keras raises anything
        raise ExportError(f"cannot load {path} as a Keras model: {_first_line(exc)}") from None
    return describe(model, name or path.stem, labels, path.name)


def check_file(path: str | os.PathLike[str]) -> Path:
    """`path`, once it names a .keras file that exists: checked before TensorFlow loads."""
    path = Path(path)
    if path.suffix != SUFFIX:
        raise ExportError(
            f"{path} is not a .keras file: zoo export takes a run, a model id, or a model saved "
            "with model.save('NAME.keras')"
        )
    if not path.is_file():
        raise ExportError(f"{path}: no such file")
    return path


def read_labels(path: Path) -> tuple[str, ...]:
    """One label per line, line i naming class i; blank or repeated labels are refused."""
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ExportError(f"cannot read the labels file {path}: {_first_line(exc)}") from None
    labels = tuple(line.strip() for line in lines)
    if not labels:
        raise ExportError(f"the labels file {path} is empty: write one label per line")
    if "" in labels:
        raise ExportError(f"{path}: line {labels.index('') + 1} is blank: one label per line")
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ExportError(f"{path}: labels must differ, {', '.join(repeated)} repeats")
    return labels


def describe(model: Any, name: str, labels: tuple[str, ...] | None, source: str) -> ModelSpec:
    """A ModelSpec of `model` (see the module's docstring), whose description says how its outputs
    are read; `source` names the model in errors."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ExportError(
            f"{source} has {len(model.inputs)} inputs and {len(model.outputs)} outputs: "
            "zoo export takes a model of one input and one output"
        )
    (tensor,) = model.inputs
    dtype = np.dtype(tensor.dtype)
    if dtype.kind not in "biuf":
        raise ExportError(f"{source}'s input {tensor.name!r} is {dtype.name}: numbers only")
    task, from_logits, reading = _task(model, labels, source)
    return ModelSpec(
        name=name,
        builder=lambda: model,
        task=task,
        dataset="",
        input=InputSpec(tensor.name, tuple(tensor.shape[1:]), dtype.name),
        recipe=Recipe(from_logits=from_logits),
        description=reading,
        labels=labels,
    )


def parity_inputs(spec: ModelSpec, samples: int) -> np.ndarray:
    """Seeded random examples of the input's shape and dtype (see the module's docstring)."""
    shape = (samples, *(OPEN_DIMENSION if d is None else d for d in spec.input.shape))
    rng = np.random.default_rng(PARITY_SEED)
    dtype = np.dtype(spec.input.dtype)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    return rng.integers(0, 2, shape).astype(dtype)


def _task(model: Any, labels: tuple[str, ...] | None, source: str) -> tuple[str, bool, str]:
    """(task, from_logits, how the outputs are read) from the last layer and the labels."""
    shape = tuple(model.outputs[0].shape)
    width = shape[-1] if len(shape) == 2 else None  # one row of numbers per example
    activation = _last_activation(model)
    if width and width > 1 and activation == SOFTMAX:
        task, logits, reading = "multiclass", False, f"softmax over {width} classes"
    elif width == 1 and activation == SIGMOID:
        task, logits, reading = (
            "binary",
            False,
            "one sigmoid unit, the positive class's probability",
        )
    elif labels and width and activation not in (SOFTMAX, SIGMOID):
        task, logits = ("multiclass", True) if width > 1 else ("binary", True)
        reading = f"{activation or 'its last layer'} outputs read as logits (labels given)"
    else:
        task, logits, reading = "regression", False, "outputs served as they are"
    if labels:
        wanted = 2 if task == "binary" else width if task == "multiclass" else None
        if wanted is None:
            raise ExportError(
                f"{source}'s output {list(shape)} ({activation or 'its last layer'}) is no "
                "classifier's: labels name the columns of a softmax, or one sigmoid unit's two "
                "classes; export it without --labels"
            )
        if len(labels) != wanted:
            raise ExportError(
                f"{len(labels)} labels for {source}, whose output has {wanted} classes "
                f"({reading}): give one label per class"
            )
    return task, logits, reading


def _last_activation(model: Any) -> str | None:
    """The name of what makes the output: a layer's activation (Dense(..., activation="softmax"),
    Activation), or the layer itself (Softmax); None when the model does not say."""
    history = getattr(model.outputs[0], "_keras_history", None)  # (layer, node, index) in Keras 3
    if history is None:
        return None
    layer = history[0]
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", None) or type(layer).__name__
    return name.lower()


def _first_line(exc: BaseException) -> str:
    """An exception's message on one line: the CLI prints an error as one."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
