"""JSON as both REST protocols read and write it: request bodies, answers with NumPy arrays, errors.

TF Serving's JSON (`tfserving.json_tensors`) and KServe v2's (`kserve.rest_api`, `kserve.flat_data`)
share these: orjson for the general path, with TF Serving's parse errors, and the pieces of the fast
paths that read one array of numbers straight into NumPy with simdjson, without work per element in
Python. An array's shape is proven by its skeleton, the body's text between its brackets less numbers
and whitespace, which must be exactly the brackets and commas of that shape.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import orjson
import simdjson

from zoo.export.contract import STRING, TensorSpec
from zoo.serving.core import strings
from zoo.serving.core.errors import InvalidArgument
from zoo.serving.core.limits import MAX_DIMS
from zoo.serving.core.signature import ModelSignature

NUMBER_OR_SPACE = b"0123456789+-.eE \t\n\r"  # what a numeric array's skeleton leaves out
_DUMP = orjson.OPT_SERIALIZE_NUMPY
_parser = simdjson.Parser()  # one parser, reused: its buffers are allocated once


def parse(body: bytes) -> dict[str, Any]:
    """The request object, or TF Serving's parse error."""
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"JSON Parse error: {exc}") from None
    if not isinstance(request, dict):
        raise InvalidArgument("JSON Value is not an object")
    return request


def _tolist(value: Any) -> Any:
    """What orjson's numpy support lacks (ONNX Runtime's int64 comes back as numpy.longlong)."""
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(answer: Mapping[str, Any]) -> bytes:
    """An answer holding numpy arrays and scalars as JSON."""
    return orjson.dumps(answer, option=_DUMP, default=_tolist)


def error(message: str) -> bytes:
    return orjson.dumps({"error": message})


def text(value: Any) -> bytes:
    """A JSON string as a string tensor's element: its UTF-8 bytes."""
    if not isinstance(value, str):
        raise InvalidArgument(
            f"JSON Value: {orjson.dumps(value).decode()} Type: {_json_type(value)} "
            "is not of expected type: string"
        )
    return value.encode()


def _json_type(value: Any) -> str:
    """A JSON value's type as TF Serving's errors name it."""
    for kind, name in ((bool, "Bool"), (int | float, "Number"), (dict, "Object"), (list, "Array")):
        if isinstance(value, kind):
            return name
    return "Null" if value is None else "String"


def array(
    name: str, value: Any, signature: ModelSignature, element: Callable[[Any], bytes] = text
) -> np.ndarray:
    """A JSON list as the named input's dtype, or a 400 when it is not a rectangular array of it.

    As in TF Serving, a JSON list takes the dtype of the signature's input, so clients may send
    integers for float pixels. A string input's elements are read by `element` (JSON strings, and
    TF Serving's {"b64": ...} objects where its front end passes them)."""
    dtype = signature.input(name).dtype
    if dtype == STRING:
        return _strings(name, value, element)
    try:
        return np.asarray(value, dtype=dtype)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(
            f"input {name}: not a rectangular array of {dtype.name}: {exc}"
        ) from None


def _strings(name: str, value: Any, element: Callable[[Any], bytes]) -> np.ndarray:
    """Nested lists of strings as an object array of bytes, its shape read down the first elements
    and every list held to it, as TF Serving's json_tensor.cc fills a DT_STRING tensor."""
    shape, first = [], value
    while isinstance(first, list) and len(shape) <= MAX_DIMS:
        shape.append(len(first))
        first = first[0] if first else None
    if len(shape) > MAX_DIMS:
        raise InvalidArgument(f"input {name}: more than {MAX_DIMS} dimensions")
    values: list[bytes] = []

    def fill(item: Any, level: int) -> None:
        if not isinstance(item, list):
            if level != len(shape):
                raise InvalidArgument(
                    f"input {name}: JSON Value: {orjson.dumps(item).decode()} found at incorrect "
                    f"level: {level + 1} in the JSON DOM. Expected at level: {len(shape)}"
                )
            try:
                values.append(element(item))
            except InvalidArgument as exc:
                raise InvalidArgument(f"input {name}: {exc}") from None
        elif level >= len(shape) or len(item) != shape[level]:
            raise InvalidArgument(
                f"input {name}: Encountered list at unexpected size: {len(item)} at level: "
                f"{level} expected size: {shape[level] if level < len(shape) else 'none'}"
            )
        else:
            for each in item:
                fill(each, level + 1)

    fill(value, 0)
    return strings.array(values, shape)


def jsonable(value: np.ndarray, element: Callable[[bytes], Any]) -> Any:
    """A string tensor as nested JSON lists, each element written by `element`."""
    return strings.mapped(value, element).tolist()


def one_float_input(signature: ModelSignature) -> TensorSpec | None:
    """The signature's input when it has one, of a float dtype: what the fast paths read."""
    (tensor, *others) = signature.inputs
    return None if others or tensor.dtype.kind != "f" else tensor


def read_fast(body: bytes, read: Callable[[Any], Any]) -> Any:
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


@functools.lru_cache(maxsize=64)
def skeleton(shape: tuple[int, ...]) -> bytes:
    """The brackets and commas of a rectangular array of `shape`: (2, 1) -> b"[[],[]]"."""
    inner = skeleton(shape[1:]) if len(shape) > 1 else b""
    return b"[" + b",".join([inner] * shape[0]) + b"]"
