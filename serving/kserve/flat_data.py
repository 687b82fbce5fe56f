"""KServe v2's common infer body read fast: one float input whose `data` is a flat array of numbers.

Tritonclient and most v2 clients send a tensor's `data` flat, in row-major order. simdjson reads the
body and copies that array into one NumPy buffer, so no Python object is made per number; any other
body is left to orjson (None), with the same errors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import simdjson

from zoo.serving.core.json_io import NUMBER_OR_SPACE, one_float_input, read_fast, skeleton
from zoo.serving.core.signature import ModelSignature

_DATA = b'"data"'


def parse_flat_data(body: bytes, signature: ModelSignature) -> dict[str, Any] | None:
    """A KServe v2 infer body whose one input's `data` is a flat array of numbers, as orjson would
    give it but with that array already a float64 NumPy array; None for any other body.

    The array's text is found after the body's one `"data"` key: between its "[" and the next "]"
    there must be only numbers, commas and whitespace, as many numbers as simdjson read.
    """
    if one_float_input(signature) is None:
        return None
    at = body.find(_DATA)
    if at < 0 or body.find(_DATA, at + 1) >= 0:
        return None
    start = body.find(b"[", at)
    end = body.find(b"]", start) + 1
    if start < 0 or end == 0 or body[at + len(_DATA) : start].strip(b" \t\n\r") != b":":
        return None
    flat = body[start:end].translate(None, NUMBER_OR_SPACE)
    return read_fast(body, lambda document: _with_flat_data(document, flat))


def _with_flat_data(document: Any, flat: bytes) -> dict[str, Any] | None:
    inputs = document["inputs"]
    if not isinstance(inputs, simdjson.Array) or len(inputs) != 1:
        return None
    (tensor,) = inputs
    data = tensor["data"]
    if not isinstance(data, simdjson.Array) or not len(data) or flat != skeleton((len(data),)):
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
