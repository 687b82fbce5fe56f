"""A version's contract, read from its zoo.json, and the checks every request goes through before a model.

Both backends share this, so a wrong name, dtype or shape gets the same TF Serving-style message from
ONNX Runtime and TensorFlow, instead of whatever each runtime would say (or crash with).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.serving.errors import InvalidArgument

METADATA = "zoo.json"  # written by `zoo export` beside the SavedModel and the ONNX model
SIGNATURE_NAME = "serving_default"
METHOD = "tensorflow/serving/predict"


@dataclass(frozen=True)
class TensorSpec:
    """One named input or output; -1 in `shape` is the dynamic batch dimension."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]

    def accepts(self, shape: tuple[int, ...]) -> bool:
        return len(shape) == len(self.shape) and all(
            want in (-1, got) for want, got in zip(self.shape, shape, strict=True)
        )


@dataclass(frozen=True)
class ModelSignature:
    """What `zoo export` promised for one version: the model id, its task, tensors and labels."""

    model: str
    task: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    labels: tuple[str, ...] | None
    files: Mapping[str, str]

    @classmethod
    def read(cls, version_dir: Path) -> ModelSignature:
        described = json.loads((version_dir / METADATA).read_text())
        return cls(
            model=described["model"],
            task=described["task"],
            inputs=_tensors(described["inputs"]),
            outputs=_tensors(described["outputs"]),
            labels=tuple(described["labels"]) if described.get("labels") else None,
            files=described["files"],
        )

    @functools.cached_property
    def input_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.inputs)

    @functools.cached_property
    def output_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.outputs)

    def input(self, name: str) -> TensorSpec:
        """The input called `name`, or TF Serving's error for an alias the signature lacks."""
        for tensor in self.inputs:
            if tensor.name == name:
                return tensor
        raise InvalidArgument(
            f"input tensor alias not found in signature: {name}. "
            f"Inputs expected to be in the set {{{','.join(self.input_names)}}}."
        )

    def check_inputs(self, inputs: Mapping[str, np.ndarray]) -> None:
        """Refuse anything the graph would not take, in TF Serving's words where it has them."""
        for name in inputs:
            self.input(name)
        missing = [t.name for t in self.inputs if t.name not in inputs]
        if missing:
            raise InvalidArgument(f"Missing input(s): {', '.join(missing)}")
        for index, tensor in enumerate(self.inputs):
            given = inputs[tensor.name]
            if given.dtype != tensor.dtype:
                raise InvalidArgument(
                    f"Expects arg[{index}] ({tensor.name}) to be {_dtype_name(tensor.dtype)} "
                    f"but {_dtype_name(given.dtype)} is provided"
                )
            if not tensor.accepts(given.shape):
                raise InvalidArgument(
                    f"input {tensor.name} has shape {list(given.shape)}, "
                    f"the signature expects {list(tensor.shape)} (-1: any batch size)"
                )

    def check_outputs(self, names: Iterable[str]) -> tuple[str, ...]:
        """The outputs a request asked for (all of them when it names none)."""
        names = tuple(names) or self.output_names
        for name in names:
            if name not in self.output_names:
                raise InvalidArgument(
                    f"output tensor alias not found in signature: {name} Outputs expected to be "
                    f"in the set {{{','.join(self.output_names)}}}."
                )
        return names


def _tensors(described: list[dict]) -> tuple[TensorSpec, ...]:
    return tuple(TensorSpec(t["name"], np.dtype(t["dtype"]), tuple(t["shape"])) for t in described)


def _dtype_name(dtype: np.dtype) -> str:
    """TensorFlow's short names (float, double, int64), as its dtype errors print them."""
    return {"float32": "float", "float64": "double"}.get(dtype.name, dtype.name)
