"""Turning network outputs into answers a person reads: values, class ids, labels, probabilities.

`predict` is the one Python call that does all of it for a zoo model: raw inputs in, as an export
takes them (0-255 pixels), one answer per example out, whatever the model's last layer emits.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zoo.errors import ZooError
from zoo.registry import ModelSpec, create_model, get_spec

BATCH = 256  # examples per call of the network in `predict`: memory, not the answers


def probabilities(spec: ModelSpec, outputs: np.ndarray) -> np.ndarray:
    """Class probabilities from the last layer, whether it emits probabilities or logits."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if not spec.recipe.from_logits:
        return outputs
    if spec.task == "binary":
        return 1 / (1 + np.exp(-outputs))
    shifted = np.exp(outputs - outputs.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def class_ids(spec: ModelSpec, outputs: np.ndarray) -> np.ndarray:
    """The predicted class of each row: threshold 0.5 for one sigmoid unit, argmax otherwise."""
    probs = probabilities(spec, outputs)
    if spec.task == "binary":
        return (probs[:, 0] > 0.5).astype(np.int64)
    return probs.argmax(axis=-1).astype(np.int64)


def class_probabilities(spec: ModelSpec, outputs: np.ndarray) -> np.ndarray:
    """One column per class, in the labels' order: one sigmoid unit's p becomes [1 - p, p]."""
    probs = probabilities(spec, outputs)
    return np.concatenate([1 - probs, probs], axis=-1) if spec.task == "binary" else probs


def answers(spec: ModelSpec, outputs: np.ndarray) -> list[dict[str, Any]]:
    """Per example: a classifier's `label` and every class's `probabilities` (label -> p), or a
    regressor's `value`."""
    if spec.task == "regression":
        return [{"value": value} for value in decode(spec, outputs)]
    table = class_probabilities(spec, outputs)
    labels = spec.labels or tuple(str(i) for i in range(table.shape[-1]))
    return [
        {"label": labels[best], "probabilities": dict(zip(labels, row.tolist(), strict=True))}
        for best, row in zip(class_ids(spec, outputs), table, strict=True)
    ]


def predict(model: Any, inputs: Any, spec: str | ModelSpec | None = None) -> list[dict[str, Any]]:
    """The answers of `model` to raw `inputs`, one dict per example (`answers`).

    `model` is a model id, which means its pretrained weights (`create_model(name,
    pretrained=True)`, built anew on each call: pass the model itself to ask it often), or a Keras
    model built by `zoo.create_model`, which knows its spec; any other Keras model of the zoo's
    architecture (a run's model.keras) names it with `spec`. `inputs` are what an export takes: an
    image model's raw 0-255 pixels, a table's features; a batch, or one example of the model's
    input shape. The input's scale and the last layer's logits are dealt with here, as in the
    exported graph.
    """
    if isinstance(model, str):
        spec, model = get_spec(model), create_model(model, pretrained=True)
    elif isinstance(spec, str):
        spec = get_spec(spec)
    spec = spec or getattr(model, "zoo_spec", None)
    if spec is None:
        raise ZooError(
            "zoo.predict needs the model's spec: pass spec=NAME (a model made by "
            "zoo.create_model knows its own)"
        )
    if spec.task not in ("multiclass", "binary", "regression"):
        raise ZooError(f"{spec.name} is a {spec.task} model: draw from it with `zoo generate`")
    raw = np.asarray(inputs, dtype=spec.input.dtype)
    if raw.shape == spec.input.shape:
        raw = raw[None]
    if raw.shape[1:] != spec.input.shape:
        raise ZooError(
            f"{spec.name} takes examples of shape {list(spec.input.shape)}, "
            f"got inputs of shape {list(raw.shape)}"
        )
    if not len(raw):
        return []
    scaled = raw * np.asarray(spec.input.scale, dtype=raw.dtype)
    outputs = [  # direct calls, batch by batch: no tf.function to trace
        np.asarray(model(scaled[start : start + BATCH], training=False))
        for start in range(0, len(scaled), BATCH)
    ]
    return answers(spec, np.concatenate(outputs))


def decode(spec: ModelSpec, outputs: np.ndarray) -> list[Any]:
    """One answer per row: the regressed value, or the class label (its id if it has no label)."""
    if spec.task == "regression":
        return [float(v) for v in np.asarray(outputs)[:, 0]]
    ids = class_ids(spec, outputs)
    if spec.task == "multiclass" and spec.labels:
        return [spec.labels[i] for i in ids]
    return [int(i) for i in ids]


def predict_example(spec: ModelSpec, model: Any) -> list[tuple[tuple[float, ...], Any, Any]]:
    """The slide's own test inputs with our model's answer and the slide's, row by row."""
    if spec.example is None:
        return []
    inputs = np.asarray(spec.example.inputs, dtype=np.float32) * spec.input.scale
    answers = decode(spec, np.asarray(model(inputs, training=False)))  # direct call: no tf.function
    return list(zip(spec.example.inputs, answers, spec.example.expected, strict=True))


def format_example(spec: ModelSpec, rows: list[tuple[tuple[float, ...], Any, Any]]) -> str:
    """The slide check as a short table: input -> ours (slide: theirs)."""
    lines = []
    for inputs, ours, slide in rows:
        shown = f"{ours:.4f}" if isinstance(ours, float) else str(ours)
        args = ", ".join(f"{v:g}" for v in inputs)
        lines.append(f"  {spec.name}([{args}]) = {shown}   (slide: {slide})")
    return "\n".join(lines)
