"""A servable's named signatures, and the checks every request goes through before a model.

Both servables share this, so a wrong name, dtype or shape gets the same TF Serving-style message from
ONNX Runtime and TensorFlow, instead of whatever each runtime would say (or crash with). A servable
has a map of them by name, read from its model files (model_files.py), as a SavedModel has its
SignatureDefs; `signature_named` picks a request's one, for every front end.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zoo.export.contract import PREDICT_METHOD, SIGNATURE_NAME, TensorSpec
from zoo.serving.core.errors import InvalidArgument


@dataclass(frozen=True)
class ModelSignature:
    """One named signature of a servable: its method (TF Serving's predict, classify or regress),
    the inputs and outputs it is called with, and the checks of a request against them.

    `definition` is the SignatureDef a SavedModel holds (the graph tensors each alias names); None
    for one read from another format. `max_batch_size` is a Triton config.pbtxt's, where a model
    brings one. `check_shapes` is False for a SavedModel that zoo did not
    export: as TF Serving, the runtime checks its shapes (a signature's declared shape is often
    narrower than the graph tensor it feeds, and TF Serving's own test models rely on that).
    """

    name: str
    method_name: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    definition: Any = field(default=None, compare=False, repr=False)
    check_shapes: bool = True
    max_batch_size: int = 0  # config.pbtxt's bound on a request's batch (0: none), as Triton's

    @functools.cached_property
    def input_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.inputs)

    @functools.cached_property
    def output_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.outputs)

    @functools.cached_property
    def batchable(self) -> bool:
        """Whether requests can be merged into batches: every input and output has a leading
        dimension of any size (-1). Others (a scalar answer, a tensor of unknown rank) run each
        request alone, as a model without a batch dimension needs."""
        return all(
            t.shape is not None and len(t.shape) > 0 and t.shape[0] == -1
            for t in (*self.inputs, *self.outputs)
        )

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
        if self.max_batch_size:
            for name, given in inputs.items():
                if given.ndim and len(given) > self.max_batch_size:
                    raise InvalidArgument(
                        f"inference request batch-size must be <= {self.max_batch_size}: "
                        f"input {name} holds {len(given)}"
                    )
        for index, tensor in enumerate(self.inputs):
            given = inputs[tensor.name]
            if given.dtype != tensor.dtype:
                raise InvalidArgument(
                    f"Expects arg[{index}] ({tensor.name}) to be {_dtype_name(tensor.dtype)} "
                    f"but {_dtype_name(given.dtype)} is provided"
                )
            if self.check_shapes and not tensor.accepts(given.shape):
                raise InvalidArgument(
                    f"input {tensor.name} has shape {list(given.shape)}, "
                    f"the signature expects {list(tensor.shape)} (-1: any size)"
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


def default_signature(signatures: Mapping[str, ModelSignature]) -> ModelSignature:
    """The signature a request naming none gets: `serving_default`, or a model's only one (what
    KServe v2, which names no signature, is served)."""
    if SIGNATURE_NAME in signatures:
        return signatures[SIGNATURE_NAME]
    predicting = [s for s in signatures.values() if s.method_name == PREDICT_METHOD]
    return sorted(predicting or signatures.values(), key=lambda s: s.name)[0]


def signature_named(
    signatures: Mapping[str, ModelSignature], name: str | None, predict: bool = True
) -> ModelSignature:
    """The signature a request names, as TF Serving finds it (an empty name is `serving_default`),
    or its error: Predict's wording, or (`predict` False) Classify's and Regress's."""
    if name is not None and not isinstance(name, str):  # a JSON body's value may be anything
        raise InvalidArgument("'signature_name' key must be a string value.")
    name = name or SIGNATURE_NAME
    found = signatures.get(name)
    if found is None:
        raise InvalidArgument(
            f'Serving signature name: "{name}" not found in signature def'
            if predict
            else f"No signature was found with the name: {name}"
        )
    return found


def key_of(signatures: Mapping[str, ModelSignature], signature: ModelSignature) -> str:
    """The name under which `signatures` holds `signature` (one of them)."""
    return next(name for name, found in signatures.items() if found is signature)


def signature_taking(
    signatures: Mapping[str, ModelSignature], default: ModelSignature, names: Iterable[str]
) -> ModelSignature:
    """The signature a KServe v2 request reaches, which names none: the one whose inputs are the
    tensors it sends. That is `default` whenever it takes them (or when no other signature takes
    exactly them, so that `default` refuses the request in its words); an input named
    `image_bytes` alone reaches an image model's `serving_image`."""
    names = list(names)
    if not all(isinstance(name, str) for name in names):  # a JSON body's names may be anything
        return default  # which refuses them in its words
    names = set(names)
    if names <= set(default.input_names):
        return default
    taking = [s for s in signatures.values() if set(s.input_names) == names]
    return taking[0] if len(taking) == 1 else default
