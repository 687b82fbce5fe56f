"""TF Serving's JSON tensors: the row (`instances`) and columnar (`inputs`) request formats and answers.

As in TF Serving, a JSON list takes the dtype of the signature's input, so clients may send integers
for float pixels; anything numpy cannot turn into that dtype and a rectangular array is a 400.

The common :predict body, one float input as a rectangular array of numbers (`{"instances":
[[[[0], ...]]]}`), takes a fast path that does no work per element in Python: simdjson parses and
validates the JSON and copies the numbers into one buffer, and the array's shape is proven by its
skeleton, the body's text between its outer brackets less numbers and whitespace, which must be
exactly the brackets and commas of that shape. Anything else (named rows, several inputs, ragged or
mixed arrays, odd keys) is read by orjson and NumPy as before, with the same errors.

String (DT_STRING) inputs take JSON strings (their UTF-8 bytes) and `{"b64": "..."}` objects, in
both formats. String outputs are written as TF Serving writes them: plain strings, or `{"b64":
"..."}` when the output's alias ends in "_bytes". A plain-named output whose bytes are not UTF-8,
which TF Serving would write into its JSON unescaped, is written as `{"b64": ...}` too, so the
answer stays JSON and loses nothing.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson
import simdjson

from zoo.export.contract import STRING, TensorSpec
from zoo.serving.core.errors import InvalidArgument
from zoo.serving.core.json_io import (
    NUMBER_OR_SPACE,
    array,
    dumps,
    jsonable,
    one_float_input,
    read_fast,
    skeleton,
    text,
)
from zoo.serving.core.limits import MAX_DIMS
from zoo.serving.core.signature import ModelSignature

ROW, COLUMNAR = "instances", "inputs"
B64, BYTES_SUFFIX = "b64", "_bytes"  # json_tensor.cc's kBase64Key and kBytesTensorNameSuffix
_ANSWER_KEYS = {ROW: "predictions", COLUMNAR: "outputs"}


_SIGNATURE_NAME = "signature_name"


def fast_predict_inputs(
    body: bytes, signature: ModelSignature
) -> tuple[str, dict[str, np.ndarray], str | None] | None:
    """(format, inputs, signature name) of the common :predict body; None for any other body."""
    tensor = one_float_input(signature)
    return tensor and read_fast(body, lambda document: _rectangular(document, body, tensor))


def _rectangular(document: Any, body: bytes, tensor: TensorSpec):
    if not isinstance(document, simdjson.Object):
        return None
    keys = list(document.keys())
    formats = [k for k in keys if k in _ANSWER_KEYS]
    if len(formats) != 1 or not set(keys) <= {*formats, _SIGNATURE_NAME}:
        return None
    (fmt,) = formats
    name = document[_SIGNATURE_NAME] if _SIGNATURE_NAME in keys else None
    if name is not None and not isinstance(name, str):
        return None
    value = document[fmt]
    if fmt == COLUMNAR and isinstance(value, simdjson.Object):
        if list(value.keys()) != [tensor.name]:
            return None
        value = value[tensor.name]
    shape = _shape(value)
    if shape is None:
        return None
    # The one array in the body, from its first "[" to its last "]": anything else in between
    # (another value, a key, a string) leaves more than brackets and commas in the skeleton.
    outer = body[body.index(b"[") : body.rindex(b"]") + 1]
    if outer.translate(None, NUMBER_OR_SPACE) != skeleton(shape):
        return None
    values = np.frombuffer(value.as_buffer(of_type="d"), np.float64)
    return fmt, {tensor.name: values.astype(tensor.dtype).reshape(shape)}, name


def _shape(value: Any) -> tuple[int, ...] | None:
    """The shape an array would have, read down its first elements; None if it is no array of
    numbers, has an empty dimension or more than NumPy's 64 (the general path refuses those; the
    skeleton of hundreds would recurse past Python's limit)."""
    shape = []
    while isinstance(value, simdjson.Array):
        if not len(value) or len(shape) == MAX_DIMS:
            return None
        shape.append(len(value))
        value = value[0]
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    return tuple(shape) if shape and numeric else None


def predict_inputs(
    request: Mapping[str, Any], signature: ModelSignature
) -> tuple[str, dict[str, np.ndarray]]:
    """(format, input arrays by name) of a :predict body, named or unnamed, row or columnar."""
    if ROW in request and COLUMNAR in request:
        raise InvalidArgument(
            "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist"
        )
    if ROW in request:
        return ROW, _rows(request[ROW], signature)
    if COLUMNAR in request:
        return COLUMNAR, _columns(request[COLUMNAR], signature)
    raise InvalidArgument("Missing 'inputs' or 'instances' key")


def _rows(instances: Any, signature: ModelSignature) -> dict[str, np.ndarray]:
    if not isinstance(instances, list) or not instances:
        raise InvalidArgument("'instances' must be a non-empty JSON array")
    # named: one object per example (a {"b64": ...} string is a value, as json_tensor.cc has it)
    if all(isinstance(row, dict) and not is_b64(row) for row in instances):
        names = signature.input_names
        for row in instances:
            if set(row) != set(names):
                raise InvalidArgument(
                    f"each instance must name exactly the inputs {list(names)}, got {sorted(row)}"
                )
        return {n: _array(n, [row[n] for row in instances], signature) for n in names}
    return _unnamed(instances, signature)


def _columns(inputs: Any, signature: ModelSignature) -> dict[str, np.ndarray]:
    if isinstance(inputs, dict):
        return {name: _array(name, value, signature) for name, value in inputs.items()}
    return _unnamed(inputs, signature)


def _unnamed(value: Any, signature: ModelSignature) -> dict[str, np.ndarray]:
    if len(signature.inputs) != 1:
        raise InvalidArgument(f"the model has inputs {list(signature.input_names)}: name each one")
    (name,) = signature.input_names
    return {name: _array(name, value, signature)}


def _array(name: str, value: Any, signature: ModelSignature) -> np.ndarray:
    return array(name, value, signature, string_element)


def is_b64(value: Any) -> bool:
    """Whether a JSON value is bytes as TF Serving writes them: {"b64": "<base64>"}, alone."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(B64), str)


def string_element(value: Any) -> bytes:
    """A string input's element (or an Example's bytes feature's): a JSON string, or bytes as
    {"b64": "<base64>"}."""
    if not isinstance(value, dict):
        return text(value)
    if not is_b64(value):
        raise InvalidArgument(
            f"JSON Value: {orjson.dumps(value).decode()} not formatted correctly for base64 data"
        )
    encoded = value[B64]
    try:
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument("Unable to base64 decode") from None


def _b64(value: bytes) -> dict[str, str]:
    return {B64: base64.b64encode(value).decode()}


def _text_or_b64(value: bytes) -> str | dict[str, str]:
    try:
        return value.decode()
    except UnicodeDecodeError:
        return _b64(value)


def _json_output(name: str, value: np.ndarray) -> Any:
    """An output as JSON takes it: string tensors as TF Serving writes them, numbers as they are."""
    if value.dtype != STRING:
        return value
    return jsonable(value, _b64 if name.endswith(BYTES_SUFFIX) else _text_or_b64)


def predict_answer(fmt: str, outputs: Mapping[str, np.ndarray]) -> bytes:
    """`predictions` (one value, or an object per example for several outputs) or `outputs`."""
    key = _ANSWER_KEYS[fmt]
    outputs = {name: _json_output(name, value) for name, value in outputs.items()}
    if len(outputs) == 1:
        (value,) = outputs.values()
        return dumps({key: value})
    if fmt == COLUMNAR:
        return dumps({key: dict(outputs)})
    batch = len(next(iter(outputs.values())))
    return dumps({key: [{name: value[i] for name, value in outputs.items()} for i in range(batch)]})
