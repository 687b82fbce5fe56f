"""TF Serving's JSON tensors: the row (`instances`) and columnar (`inputs`) request formats and answers.

As in TF Serving, a JSON list takes the dtype of the signature's input, so clients may send integers
for float pixels; anything numpy cannot turn into that dtype and a rectangular array is a 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

from serving.errors import InvalidArgument
from serving.signature import SIGNATURE_NAME, ModelSignature

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
