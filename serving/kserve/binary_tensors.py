"""KServe v2's binary tensor extension, as Triton defines it: raw tensor bytes after the JSON.

A request whose `Inference-Header-Content-Length` header is N carries N bytes of JSON, then the
bytes of each input whose `parameters.binary_data_size` is set, in the order of `inputs`:
row-major and little-endian, the datatype's own width (BOOL one byte); BYTES elements each as
its 4-byte little-endian length, then its bytes, as Triton serializes them
(`tritonclient.utils.serialize_byte_tensor`; gRPC's raw contents are the same). An answer is
binary the same way for the outputs a request asks so (`binary_data` on an output,
`binary_data_output` on the request), and then carries the header too. This is what Triton's own
client, `tritonclient.http`, sends and asks for by default: a 28x28 image is 3 KB of bytes
instead of ~5 KB of JSON numbers that must be parsed back.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

from zoo.export.contract import STRING
from zoo.serving.core import strings
from zoo.serving.core.errors import InvalidArgument

HEADER = b"inference-header-content-length"  # as ASGI spells request headers: lower case
SIZE = "binary_data_size"


def split(body: bytes, header_length: bytes) -> tuple[bytes, memoryview]:
    """The JSON header and the binary part of a body, by the header's declared length."""
    digits = header_length.lstrip(b"0") or b"0"
    # More digits than the body's length has is too long, and not given to int(), which refuses
    # more than 4,300 of them (a 500).
    too_long = len(digits) > len(str(len(body)))
    if not header_length.isdigit() or too_long or int(digits) > len(body):
        raise InvalidArgument(
            f"Inference-Header-Content-Length {header_length.decode(errors='replace')!r} "
            f"is not a length within the body's {len(body)} bytes"
        )
    length = int(digits)
    return body[:length], memoryview(body)[length:]


class Chunks:
    """The binary part of a request, handed out input by input in order."""

    def __init__(self, data: memoryview) -> None:
        self._data = data
        self._offset = 0

    def array(self, name: str, size: Any, dtype: np.dtype, shape: list[int]) -> np.ndarray:
        """The next `size` bytes as input `name`: `shape` of the model's `dtype`."""
        expected = math.prod(shape) * dtype.itemsize
        if dtype == STRING:
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise InvalidArgument(
                    f"input {name}: binary_data_size {size!r} is not a size in bytes"
                )
        elif not isinstance(size, int) or size != expected:
            raise InvalidArgument(
                f"input {name}: binary_data_size {size!r}, but shape {shape} of "
                f"{dtype.name} is {expected} bytes"
            )
        if self._offset + size > len(self._data):
            raise InvalidArgument(
                f"input {name}: the body ends {self._offset + size - len(self._data)} bytes "
                "before its binary data does"
            )
        chunk = self._data[self._offset : self._offset + size]
        self._offset += size
        return from_bytes(name, chunk, dtype, shape)

    def check_used(self) -> None:
        """Refuse bytes that no input claimed: the header's sizes and the body disagree."""
        if self._offset != len(self._data):
            raise InvalidArgument(
                f"{len(self._data) - self._offset} bytes after the binary inputs belong to none"
            )


def wants_binary(request: Mapping[str, Any], output: Mapping[str, Any] | None) -> bool:
    """Whether an output is answered in binary: its own `binary_data`, else the request's
    `binary_data_output`."""
    own = parameters(output)
    if "binary_data" in own:
        return own["binary_data"] is True
    return parameters(request).get("binary_data_output") is True


def parameters(tensor_or_request: Any) -> Mapping[str, Any]:
    """Its `parameters` object ({} when there is none; a 400 when it is not an object)."""
    if not isinstance(tensor_or_request, dict):
        return {}
    found = tensor_or_request.get("parameters")
    if found is not None and not isinstance(found, dict):
        raise InvalidArgument(f"'parameters' must be an object, got {found!r}")
    return found or {}


def from_bytes(name: str, data: bytes | memoryview, dtype: np.dtype, shape) -> np.ndarray:
    """Input `name` from its bytes, as both the binary extension and gRPC's raw contents carry
    them; the caller has checked that a fixed-width dtype's bytes are exactly the shape's."""
    if dtype == STRING:
        return strings.array(_elements(name, data, math.prod(shape)), shape)
    return np.frombuffer(data, dtype.newbyteorder("<")).astype(dtype, copy=False).reshape(shape)


_LENGTH = struct.Struct("<I")


def _elements(name: str, data: bytes | memoryview, count: int) -> list[bytes]:
    """`count` length-prefixed BYTES elements, which must fill `data` exactly. More elements than
    `data` has room for lengths is refused before any is read."""
    if count * _LENGTH.size > len(data):
        raise InvalidArgument(
            f"input {name}: {len(data)} bytes cannot hold {count} BYTES elements "
            "(each is a 4-byte length, then its bytes)"
        )
    data, offset, elements = bytes(data), 0, []
    for _ in range(count):
        if offset + _LENGTH.size > len(data):
            break
        (length,) = _LENGTH.unpack_from(data, offset)
        offset += _LENGTH.size
        elements.append(data[offset : offset + length])
        offset += length
    if len(elements) != count or offset != len(data):
        raise InvalidArgument(
            f"input {name}: {len(data)} bytes are not {count} BYTES elements, "
            "each a 4-byte little-endian length and then its bytes"
        )
    return elements


def to_bytes(value: np.ndarray) -> bytes:
    """An output's bytes as the extension and gRPC's raw contents send them: little-endian, or
    BYTES elements each after its length."""
    if value.dtype == STRING:
        return b"".join(_LENGTH.pack(len(v)) + v for v in value.ravel())
    return np.ascontiguousarray(value, value.dtype.newbyteorder("<")).tobytes()
