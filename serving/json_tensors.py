"""TF Serving's JSON tensors: the row (`instances`) and columnar (`inputs`) request formats and answers.

As in TF Serving, a JSON list takes the dtype of the signature's input, so clients may send integers
for float pixels; anything numpy cannot turn into that dtype and a rectangular array is a 400.

The common :predict body, one float input as a rectangular array of numbers (`{"instances":
[[[[0], ...]]]}`), takes a fast path that does no work per element in Python: simdjson parses and
validates the JSON and copies the numbers into one buffer, and the array's shape is proven by its
skeleton, the body's text between its outer brackets less numbers and whitespace, which must be
exactly the brackets and commas of that shape. Anything else (named rows, several inputs, ragged or
mixed arrays, odd keys) is read by orjson and NumPy as before, with the same errors.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import orjson
import simdjson

from zoo.serving.errors import InvalidArgument
from zoo.serving.limits import MAX_DIMS
from zoo.serving.signature import SIGNATURE_NAME, ModelSignature, TensorSpec

ROW, COLUMNAR = "instances", "inputs"
_ANSWER_KEYS = {ROW: "predictions", COLUMNAR: "outputs"}
_DUMP = orjson.OPT_SERIALIZE_NUMPY


def _tolist(value: Any) -> Any:
    """What orjson's numpy support lacks (ONNX Runtime's int64 comes back as numpy.longlong)."""
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def parse(body: bytes) -> dict[str, Any]:
    """The request object, or TF Serving's parse error."""
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"JSON Parse error: {exc}") from None
    if not isinstance(request, dict):
        raise InvalidArgument("JSON Value is not an object")
    return request


_NUMBER_OR_SPACE = b"0123456789+-.eE \t\n\r"  # what a numeric array's skeleton leaves out
_SIGNATURE_NAME = "signature_name"
_parser = simdjson.Parser()  # one parser, reused: its buffers are allocated once


def _one_float_input(signature: ModelSignature) -> TensorSpec | None:
    """The signature's input when it has one, of a float dtype: what the fast paths read."""
    (tensor, *others) = signature.inputs
    return None if others or tensor.dtype.kind != "f" else tensor


def _read_fast(body: bytes, read: Callable[[Any], Any]) -> Any:
    """`read` of simdjson's document of `body`, or None when simdjson cannot parse the body or
    `read` finds something it does not expect: the general path then reads it, with its errors."""
    global _parser
    try:
        document = _parser.parse(body)
    except RuntimeError:  # the parser is still held (by a traceback, say): use a fresh one
        _parser = simdjson.Parser()
        return None
    except ValueError:  # not JSON, or a number simdjson will not read
        return None
    try:
        return read(document)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None
    finally:
        del document  # its values point into the parser, which the next parse reuses


def fast_predict_inputs(
    body: bytes, signature: ModelSignature
) -> tuple[str, dict[str, np.ndarray], str | None] | None:
    """(format, inputs, signature name) of the common :predict body; None for any other body."""
    tensor = _one_float_input(signature)
    return tensor and _read_fast(body, lambda document: _rectangular(document, body, tensor))


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
    if outer.translate(None, _NUMBER_OR_SPACE) != _skeleton(shape):
        return None
    values = np.frombuffer(value.as_buffer(of_type="d"), np.float64)
    return fmt, {tensor.name: values.astype(tensor.dtype).reshape(shape)}, name


_DATA = b'"data"'


def parse_flat_data(body: bytes, signature: ModelSignature) -> dict[str, Any] | None:
    """A KServe v2 infer body whose one input's `data` is a flat array of numbers, as orjson would
    give it but with that array already a float64 NumPy array; None for any other body.

    The array's text is found after the body's one `"data"` key: between its "[" and the next "]"
    there must be only numbers, commas and whitespace, as many numbers as simdjson read.
    """
    if _one_float_input(signature) is None:
        return None
    at = body.find(_DATA)
    if at < 0 or body.find(_DATA, at + 1) >= 0:
        return None
    start = body.find(b"[", at)
    end = body.find(b"]", start) + 1
    if start < 0 or end == 0 or body[at + len(_DATA) : start].strip(b" \t\n\r") != b":":
        return None
    flat = body[start:end].translate(None, _NUMBER_OR_SPACE)
    return _read_fast(body, lambda document: _with_flat_data(document, flat))


def _with_flat_data(document: Any, flat: bytes) -> dict[str, Any] | None:
    inputs = document["inputs"]
    if not isinstance(inputs, simdjson.Array) or len(inputs) != 1:
        return None
    (tensor,) = inputs
    data = tensor["data"]
    if not isinstance(data, simdjson.Array) or not len(data) or flat != _skeleton((len(data),)):
        return None
    values = np.frombuffer(data.as_buffer(of_type="d"), np.float64)
    given = {k: _plain(tensor[k]) for k in tensor if k != "data"}
    request = {k: _plain(document[k]) for k in document if k != "inputs"}
    return {**request, "inputs": [{**given, "data": values}]}


def _plain(value: Any) -> Any:
    """A simdjson value as the Python objects orjson would make of it."""
    if isinstance(value, simdjson.Object):
        return value.as_dict()
    if isinstance(value, simdjson.Array):
        return value.as_list()
    return value


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


@functools.lru_cache(maxsize=64)
def _skeleton(shape: tuple[int, ...]) -> bytes:
    """The brackets and commas of a rectangular array of `shape`: (2, 1) -> b"[[],[]]"."""
    inner = _skeleton(shape[1:]) if len(shape) > 1 else b""
    return b"[" + b",".join([inner] * shape[0]) + b"]"


def check_signature_name(name: str | None) -> None:
    """Exports have one signature; naming any other is an error, as TF Serving says it."""
    name = name or SIGNATURE_NAME
    if name != SIGNATURE_NAME:
        raise InvalidArgument(f'Serving signature name: "{name}" not found in signature def')


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
    if all(isinstance(row, dict) for row in instances):  # named: one object per example
        names = signature.input_names
        for row in instances:
            if set(row) != set(names):
                raise InvalidArgument(
                    f"each instance must name exactly the inputs {list(names)}, got {sorted(row)}"
                )
        return {n: array(n, [row[n] for row in instances], signature) for n in names}
    return _unnamed(instances, signature)


def _columns(inputs: Any, signature: ModelSignature) -> dict[str, np.ndarray]:
    if isinstance(inputs, dict):
        return {name: array(name, value, signature) for name, value in inputs.items()}
    return _unnamed(inputs, signature)


def _unnamed(value: Any, signature: ModelSignature) -> dict[str, np.ndarray]:
    if len(signature.inputs) != 1:
        raise InvalidArgument(f"the model has inputs {list(signature.input_names)}: name each one")
    (name,) = signature.input_names
    return {name: array(name, value, signature)}


def array(name: str, value: Any, signature: ModelSignature) -> np.ndarray:
    """A JSON list as the named input's dtype, or a 400 when it is not a rectangular array of it."""
    dtype = signature.input(name).dtype
    try:
        return np.asarray(value, dtype=dtype)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(
            f"input {name}: not a rectangular array of {dtype.name}: {exc}"
        ) from None


def predict_answer(fmt: str, outputs: Mapping[str, np.ndarray]) -> bytes:
    """`predictions` (one value, or an object per example for several outputs) or `outputs`."""
    key = _ANSWER_KEYS[fmt]
    if len(outputs) == 1:
        (value,) = outputs.values()
        return dumps({key: value})
    if fmt == COLUMNAR:
        return dumps({key: dict(outputs)})
    batch = len(next(iter(outputs.values())))
    return dumps({key: [{name: value[i] for name, value in outputs.items()} for i in range(batch)]})


def dumps(answer: Mapping[str, Any]) -> bytes:
    """An answer holding numpy arrays and scalars as JSON."""
    return orjson.dumps(answer, option=_DUMP, default=_tolist)


def error(message: str) -> bytes:
    return orjson.dumps({"error": message})
