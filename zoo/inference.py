"""Turning network outputs into answers a person reads: values, class ids, labels, probabilities."""

from __future__ import annotations

from typing import Any

import numpy as np

from zoo.registry import ModelSpec


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
