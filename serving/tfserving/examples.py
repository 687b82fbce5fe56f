"""Classify's and Regress's input: tf.train.Examples, and how they become our dense named inputs.

TF Serving parses Examples inside the graph with a feature spec: a classify or regress signature
takes them serialized (`serialized_examples`). zoo's exports take dense tensors instead, so the
mapping is fixed here, once, for REST and gRPC alike: an Example's feature named
like an input (`features`, `images`) holds that input's values for one example, flattened in
row-major order (784 pixels for a 28x28x1 image; a string input, such as `serving_image`'s
`image_bytes`, takes one bytes value per example, in JSON a string or {"b64": ...}). Features no input names are ignored, as
`tf.io.parse_example` ignores them; a feature missing from an example is taken from the context
(`example_list_with_context`), so values all examples share can be sent once.

REST's JSON examples are first turned into the same `tensorflow.serving.Input` proto, typed as TF
Serving types them (a JSON float makes a float feature, integers an int64 one), so both front ends
share one path from here on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from zoo.export.contract import STRING
from zoo.serving.core.errors import InvalidArgument
from zoo.serving.core.signature import ModelSignature
from zoo.serving.protos.tensorflow.core.example import example_pb2
from zoo.serving.protos.tensorflow_serving.apis import input_pb2
from zoo.serving.tfserving.json_tensors import is_b64, string_element

EXAMPLES, CONTEXT = "examples", "context"


def input_from_json(request: Mapping[str, Any]) -> input_pb2.Input:
    """The `examples` (and optional `context`) of a :classify or :regress body as an Input proto."""
    if EXAMPLES not in request:
        raise InvalidArgument(f"key '{EXAMPLES}' is expected and was not found")
    examples = request[EXAMPLES]
    if not isinstance(examples, list):
        raise InvalidArgument(f"Expecting '{EXAMPLES}' value to be an list/array")
    if not examples:
        raise InvalidArgument(f"'{EXAMPLES}' value is an empty array")
    result = input_pb2.Input()
    if CONTEXT in request:
        listed = result.example_list_with_context
        _fill_example(request[CONTEXT], listed.context)
    else:
        listed = result.example_list
    for example in examples:
        _fill_example(example, listed.examples.add())
    return result


def _fill_example(value: Any, into: example_pb2.Example) -> None:
    if not isinstance(value, dict):
        raise InvalidArgument(f"Example must be JSON object but got JSON {type(value).__name__}")
    for name, content in value.items():
        items = content if isinstance(content, list) else [content]
        kind = _kind(name, items)
        values = [string_element(item) for item in items] if kind == "bytes_list" else items
        try:
            getattr(into.features.feature[name], kind).value.extend(values)
        except ValueError as exc:  # an integer past int64 (JSON numbers have no bound)
            raise InvalidArgument(f"Feature: {name}: {exc}") from None


def _kind(name: str, items: list[Any]) -> str:
    """The feature list for JSON values: strings (and {"b64": ...} bytes) are bytes, integers
    int64, any float makes floats.

    TF Serving refuses `[1.5, 2]` (a float, then an integer); a list of numbers is taken as floats
    here, since every input of ours is a float tensor.
    """
    items = ["" if is_b64(item) else item for item in items]  # bytes, as a string is
    for item in items:
        if item is None or isinstance(item, list | dict):
            raise InvalidArgument(
                f"Feature: {name} has element with unexpected JSON type: {type(item).__name__}"
            )
    strings = sum(isinstance(item, str) for item in items)
    if 0 < strings < len(items):
        raise InvalidArgument(f"Unexpected element type in feature: {name}: strings and numbers")
    if strings:
        return "bytes_list"
    return "float_list" if any(isinstance(item, float) for item in items) else "int64_list"


def serialized_examples(request_input: input_pb2.Input) -> np.ndarray:
    """The Examples serialized, one string each, as a classify or regress signature takes them:
    with a context, its serialized bytes come first, so that each example parses as the context
    merged with it (TF Serving's InputToSerializedExampleTensor)."""
    kind = request_input.WhichOneof("kind")
    listed = getattr(request_input, kind) if kind else None
    if listed is None or not listed.examples:
        raise InvalidArgument("Input is empty.")
    context = listed.context.SerializeToString() if kind == "example_list_with_context" else b""
    serialized = np.empty(len(listed.examples), dtype=object)
    serialized[:] = [context + example.SerializeToString() for example in listed.examples]
    return serialized


def input_arrays(
    request_input: input_pb2.Input, signature: ModelSignature
) -> dict[str, np.ndarray]:
    """The batch of each of the signature's inputs, one row per Example, in the request's order."""
    kind = request_input.WhichOneof("kind")
    listed = getattr(request_input, kind) if kind else None
    if listed is None or not listed.examples:
        raise InvalidArgument("Input is empty.")
    context = listed.context if kind == "example_list_with_context" else example_pb2.Example()
    arrays = {}
    for tensor in signature.inputs:
        size = int(np.prod(tensor.shape[1:]))
        rows = [
            _feature_values(tensor.name, index, example, context, size, tensor.dtype)
            for index, example in enumerate(listed.examples)
        ]
        arrays[tensor.name] = np.asarray(rows, tensor.dtype).reshape(-1, *tensor.shape[1:])
    return arrays


def _feature_values(
    name: str,
    index: int,
    example: example_pb2.Example,
    context: example_pb2.Example,
    size: int,
    dtype: np.dtype,
) -> list[float] | list[bytes]:
    found = example.features.feature
    feature = found[name] if name in found else context.features.feature.get(name)
    if feature is None:
        raise InvalidArgument(
            f"Example {index} has no feature '{name}': the model's input {name} is read from "
            f"the feature of that name ({size} numbers, flattened)"
        )
    kind = feature.WhichOneof("kind")
    if dtype == STRING:
        if kind != "bytes_list":
            raise InvalidArgument(
                f"Feature {name} of example {index} must hold bytes, not {kind or 'nothing'}"
            )
    elif kind not in ("float_list", "int64_list"):
        raise InvalidArgument(
            f"Feature {name} of example {index} must hold numbers, not {kind or 'nothing'}"
        )
    values = list(getattr(feature, kind).value)
    if len(values) != size:
        raise InvalidArgument(
            f"Feature {name} of example {index} has {len(values)} values; "
            f"the input {name} takes {size} per example"
        )
    return values
