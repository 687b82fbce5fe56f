"""A version's signature, read from its zoo.json, and the checks every request goes through before a model.

Both servables share this, so a wrong name, dtype or shape gets the same TF Serving-style message from
ONNX Runtime and TensorFlow, instead of whatever each runtime would say (or crash with). What zoo.json
holds is export's contract (export/contract.py); this adds what serving asks of it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from zoo.export.contract import SIGNATURE_NAME, Exported, TensorSpec
from zoo.serving.core.errors import InvalidArgument


def check_signature_name(name: str | None) -> None:
    """Exports have one signature; naming any other is an error, as TF Serving says it (an empty
    name means the default one)."""
    name = name or SIGNATURE_NAME
    if name != SIGNATURE_NAME:
        raise InvalidArgument(f'Serving signature name: "{name}" not found in signature def')


@dataclass(frozen=True)
class ModelSignature(Exported):
    """What `zoo export` promised for one version (`Exported.read` reads it from zoo.json), with the
    checks of a request against it."""

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


def _dtype_name(dtype: np.dtype) -> str:
    """TensorFlow's short names (float, double, string, int64), as its dtype errors print them."""
    return {"float32": "float", "float64": "double", "object": "string"}.get(dtype.name, dtype.name)
