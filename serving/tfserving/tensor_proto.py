"""TensorProto to and from NumPy for the gRPC front end, without TensorFlow on the request path.

A request's tensor is read as `tf.make_ndarray` reads it: `tensor_content` as the raw little-endian
bytes, or else the typed repeated field (`float_val`, `int64_val`, `string_val`, ...), where fewer
values than the shape holds are padded with the last one and none at all means zeros (or empty
strings). Strings become object arrays of bytes (`core.strings`); half and bfloat16 travel as
their bits in `half_val`.

Answers are written as TF Serving writes them, `Tensor::AsProtoField` (predict_util.cc's default,
kept "for backward compatibility"): every value in its typed field, which is what clients written
like TF Serving's mnist_client.py read (`outputs[...].float_val`). `as_proto_content` writes
`tensor_content` instead, as `tf.make_tensor_proto` does: `zoo predict --grpc` sends its requests
that way. The dtype tables are built once, at import.
"""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np

from zoo.export.contract import STRING
from zoo.serving.core import strings
from zoo.serving.core.errors import InvalidArgument
from zoo.serving.core.limits import Limits, check_shape
from zoo.serving.protos.tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

_NUMPY = {  # TensorFlow's DataType -> (numpy dtype, the repeated field holding its values)
    types_pb2.DT_FLOAT: (np.dtype(np.float32), "float_val"),
    types_pb2.DT_DOUBLE: (np.dtype(np.float64), "double_val"),
    types_pb2.DT_HALF: (np.dtype(np.float16), "half_val"),
    types_pb2.DT_BFLOAT16: (np.dtype(ml_dtypes.bfloat16), "half_val"),
    types_pb2.DT_INT8: (np.dtype(np.int8), "int_val"),
    types_pb2.DT_INT16: (np.dtype(np.int16), "int_val"),
    types_pb2.DT_INT32: (np.dtype(np.int32), "int_val"),
    types_pb2.DT_INT64: (np.dtype(np.int64), "int64_val"),
    types_pb2.DT_UINT8: (np.dtype(np.uint8), "int_val"),
    types_pb2.DT_UINT16: (np.dtype(np.uint16), "int_val"),
    types_pb2.DT_UINT32: (np.dtype(np.uint32), "uint32_val"),
    types_pb2.DT_UINT64: (np.dtype(np.uint64), "uint64_val"),
    types_pb2.DT_BOOL: (np.dtype(np.bool_), "bool_val"),
    types_pb2.DT_STRING: (STRING, "string_val"),
}
_DATATYPE = {dtype: datatype for datatype, (dtype, _) in _NUMPY.items()}
_FIELD = {dtype: field for dtype, field in _NUMPY.values()}
_BITS = "half_val"  # holds the bits of each half or bfloat16, as integers


def to_ndarray(
    name: str, proto: tensor_pb2.TensorProto, limits: Limits | None = None
) -> np.ndarray:
    """The request tensor `name` as an array, or TF Serving's parsing error. With `limits`, one
    that its values would be padded out to (or zero-filled to) above the request size limit is
    refused: what a request makes may not be larger than what it may carry."""
    found = _NUMPY.get(proto.dtype)
    if found is None:
        raise InvalidArgument(
            f"tensor parsing error: {name}: {_dtype_name(proto.dtype)} tensors are not supported"
        )
    dtype, field = found
    shape = tuple(d.size for d in proto.tensor_shape.dim)
    if any(size < 0 for size in shape):
        raise InvalidArgument(f"tensor parsing error: {name}: shape {list(shape)}")
    check_shape(f"tensor parsing error: {name}", shape, dtype.itemsize)
    size = math.prod(shape)
    if proto.tensor_content:
        values = _content(name, proto.tensor_content, dtype, shape)
    else:
        values = _repeated(name, proto, field, dtype)
        if limits is not None and values.size < size:
            limits.check_size(size * dtype.itemsize, f"tensor {name} of shape {list(shape)}")
        if not values.size:
            return strings.array([b""] * size, shape) if dtype == STRING else np.zeros(shape, dtype)
        if values.size < size:  # np.pad's "edge" mode, which object arrays do not take
            values = np.concatenate([values, np.repeat(values[-1:], size - values.size)])
    if values.size != size:
        raise InvalidArgument(
            f"tensor parsing error: {name}: {values.size} values for shape {list(shape)}"
        )
    return values.reshape(shape).astype(dtype, copy=False)


def _content(name: str, content: bytes, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """`tensor_content`: the values' little-endian bytes, whole values only and as many as the
    shape holds. Strings have no fixed width: TensorFlow's clients send them in `string_val`."""
    if dtype == STRING:
        raise InvalidArgument(
            f"tensor parsing error: {name}: DT_STRING values go in string_val, not tensor_content"
        )
    size = math.prod(shape)
    if len(content) != size * dtype.itemsize:
        raise InvalidArgument(
            f"tensor parsing error: {name}: {len(content)} bytes of tensor_content for "
            f"shape {list(shape)} of {dtype.name} ({size * dtype.itemsize} bytes)"
        )
    return np.frombuffer(content, dtype.newbyteorder("<"))


def _repeated(name: str, proto: tensor_pb2.TensorProto, field: str, dtype: np.dtype) -> np.ndarray:
    """The values of the repeated field: `int_val` holds int32s for every narrower integer dtype
    and `half_val` each half's bits, so a value can be out of the dtype's range. That is refused
    (NumPy's OverflowError would be UNKNOWN)."""
    repeated = getattr(proto, field)
    if dtype == STRING:
        return strings.array(repeated, (len(repeated),))
    try:
        if field == _BITS:
            return np.fromiter(repeated, np.uint16, len(repeated)).view(dtype)
        return np.fromiter(repeated, dtype, len(repeated))
    except OverflowError:
        raise InvalidArgument(
            f"tensor parsing error: {name}: a value of {field} is out of range for "
            f"{'the bits of a ' + dtype.name if field == _BITS else dtype.name}"
        ) from None


def _dtype_name(datatype: int) -> str:
    try:
        return types_pb2.DataType.Name(datatype)
    except ValueError:
        return f"dtype {datatype}"


def datatype(dtype: np.dtype) -> int:
    """TensorFlow's DataType enum for a NumPy dtype, as `tf.as_dtype(dtype).as_datatype_enum`."""
    return _DATATYPE[np.dtype(dtype).newbyteorder("=")]


def as_proto_field(array: np.ndarray, into: tensor_pb2.TensorProto) -> None:
    """Write an answer into `into` as TF Serving does: dtype, shape, and every value in the
    typed field (`float_val`, `int_val`, `string_val`, the bits of halves in `half_val`)."""
    _header(array, into)
    dtype = np.dtype(array.dtype).newbyteorder("=")
    if dtype in _PACKED and array.size:
        # float_val and double_val are packed fixed-width fields: on the wire, exactly the
        # values' little-endian bytes. Merging those is what extend() would give, without a
        # Python float per value (50,000 of them take milliseconds).
        data = np.ascontiguousarray(array, dtype.newbyteorder("<")).tobytes()
        into.MergeFromString(_PACKED[dtype] + _varint(len(data)) + data)
        return
    values = array.ravel()
    if _FIELD[dtype] == _BITS:
        values = values.view(np.uint16)
    getattr(into, _FIELD[dtype]).extend(values.tolist())


def _tag(field: str) -> bytes:
    """The key of a length-delimited (packed) field: its number and wire type 2."""
    return _varint(tensor_pb2.TensorProto.DESCRIPTOR.fields_by_name[field].number << 3 | 2)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_PACKED = {np.dtype(np.float32): _tag("float_val"), np.dtype(np.float64): _tag("double_val")}


def as_proto_content(array: np.ndarray, into: tensor_pb2.TensorProto) -> None:
    """Write `array` into `into` as `tf.make_tensor_proto` does: numbers as little-endian
    `tensor_content`, strings (which have no fixed width) in `string_val`."""
    if array.dtype == STRING:
        as_proto_field(array, into)
        return
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    _header(array, into)
    into.tensor_content = array.tobytes()


def _header(array: np.ndarray, into: tensor_pb2.TensorProto) -> None:
    into.dtype = datatype(array.dtype)
    into.tensor_shape.dim.extend(tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in array.shape)
