"""String tensors as every front end and runtime hands them on: NumPy object arrays of bytes.

TF Serving's `string_val`, its REST `{"b64": ...}` and plain strings, and KServe v2's BYTES all
become the same array, of dtype `contract.STRING` holding one `bytes` per element, which is what
TensorFlow takes and gives. ONNX Runtime's Python binding is the one that differs: it takes and
gives `str` (UTF-8), so its servable converts on the way in and out with the two functions below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from zoo.export.contract import STRING
from zoo.serving.core.errors import InvalidArgument


def array(values: Iterable[bytes], shape: tuple[int, ...] | list[int]) -> np.ndarray:
    """An object array of `shape` holding `values` (assigned, so that NumPy never reads a bytes
    value as a sequence of its own)."""
    values = list(values)
    result = np.empty(len(values), STRING)
    result[:] = values
    return result.reshape(shape)


def mapped(value: np.ndarray, convert: Callable[[Any], Any]) -> np.ndarray:
    """`convert` of every element, as an object array of the same shape."""
    return array((convert(v) for v in value.ravel()), value.shape)


def for_onnx_runtime(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The inputs with string tensors as `str`, which ONNX Runtime's binding needs: it would take
    a `bytes` as the text of its repr. A value that is not UTF-8 cannot reach the model."""
    return {
        name: _text(name, value) if value.dtype == STRING else value
        for name, value in inputs.items()
    }


def _text(name: str, value: np.ndarray) -> np.ndarray:
    try:
        return mapped(value, lambda v: v.decode() if isinstance(v, bytes) else v)
    except UnicodeDecodeError as exc:
        raise InvalidArgument(
            f"input {name}: ONNX Runtime takes strings as UTF-8, and a value is not: {exc}"
        ) from None


def from_onnx_runtime(outputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """ONNX Runtime's answers with its `str` strings as UTF-8 bytes, as TensorFlow gives them."""
    return {
        name: mapped(value, lambda v: v.encode() if isinstance(v, str) else v)
        if value.dtype == STRING
        else value
        for name, value in outputs.items()
    }
