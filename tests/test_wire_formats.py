"""The fast request paths read exactly what the general ones read, and leave everything else to them.

REST bodies: simdjson's fast path must give the same arrays as orjson + NumPy for the common body
and step aside (None) for every other, so that it keeps the general path's answers and errors.
gRPC tensors: `tensor_proto` must read and write what TensorFlow's own conversions do.
"""

import numpy as np
import orjson
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2

from zoo.export.contract import PREDICT_METHOD, SIGNATURE_NAME, TensorSpec
from zoo.serving.core import json_io
from zoo.serving.core.errors import InvalidArgument
from zoo.serving.core.signature import ModelSignature
from zoo.serving.kserve.flat_data import parse_flat_data
from zoo.serving.tfserving import json_tensors
from zoo.serving.tfserving.tensor_proto import from_ndarray, to_ndarray

IMAGES = ModelSignature(
    SIGNATURE_NAME,
    PREDICT_METHOD,
    (TensorSpec("images", np.dtype("float32"), (-1, 28, 28, 1)),),
    (),
)
TABLE = ModelSignature(
    SIGNATURE_NAME, PREDICT_METHOD, (TensorSpec("features", np.dtype("float32"), (-1, 2)),), ()
)
PIXELS = np.random.default_rng(0).integers(0, 256, (3, 28, 28, 1)).astype(np.float32)


def general(body: bytes, signature: ModelSignature):
    request = json_io.parse(body)
    fmt, inputs = json_tensors.predict_inputs(request, signature)
    return fmt, inputs, request.get("signature_name")


@pytest.mark.parametrize(
    "body",
    [
        orjson.dumps({"instances": PIXELS.tolist()}),
        orjson.dumps({"instances": PIXELS.astype(int).tolist()}),
        orjson.dumps({"inputs": {"images": PIXELS[:1].tolist()}}),
        orjson.dumps({"signature_name": "serving_default", "inputs": PIXELS.tolist()}),
        orjson.dumps({"instances": PIXELS.tolist(), "signature_name": "other"}),
    ],
    ids=["rows", "integers", "named columns", "signature first", "signature last"],
)
def test_the_fast_path_reads_what_the_general_path_reads(body):
    fast = json_tensors.fast_predict_inputs(body, IMAGES)
    assert fast is not None
    fmt, inputs, name = general(body, IMAGES)
    assert fast[0] == fmt and fast[2] == name
    np.testing.assert_array_equal(fast[1]["images"], inputs["images"])
    assert fast[1]["images"].dtype == inputs["images"].dtype == np.float32


@pytest.mark.parametrize(
    "body",
    [
        b'{"instances": [[1 , 2],\n [3e0, -4.5E-1]]}',
        b'{"inputs": [[1, 2]]}',
    ],
)
def test_whitespace_and_exponents_take_the_fast_path_too(body):
    fast = json_tensors.fast_predict_inputs(body, TABLE)
    np.testing.assert_array_equal(fast[1]["features"], general(body, TABLE)[1]["features"])


@pytest.mark.parametrize(
    "body",
    [
        b'{"instances": [[1, 2], [3]]}',  # ragged
        b'{"instances": [[1, 2], [3, [4]]]}',  # ragged, same count of numbers
        b'{"instances": [[1, 2], [3, true]]}',
        b'{"instances": [[1, 2], [3, "4"]]}',
        b'{"instances": [{"features": [1, 2]}]}',  # named rows
        b'{"instances": [[1, 2]], "extra": [1]}',
        b'{"instances": [[1, 2]], "inputs": [[1, 2]]}',
        b'{"instances": [[1, 2]], "instances": [[3, 4]]}',
        b'{"instances": [[1, 2]], "signature_name": "[a]"}',
        b'{"instances": [[1, 2]], "signature_name": 7}',
        b'{"instances": []}',
        b'{"instances": [[1, 2]]',  # not JSON
        b"[[1, 2]]",
        b'{"instances": [[1e999, 2]]}',
    ],
)
def test_everything_else_is_left_to_the_general_path(body):
    assert json_tensors.fast_predict_inputs(body, TABLE) is None


def test_the_general_path_still_refuses_a_ragged_array():
    with pytest.raises(InvalidArgument, match="not a rectangular array"):
        general(b'{"instances": [[1, 2], [3, [4]]]}', TABLE)


def v2_body(data, name="images", **extra) -> bytes:
    tensor = {"name": name, "shape": [len(data)], "datatype": "FP32", "data": data}
    return orjson.dumps({"inputs": [tensor], **extra})


def test_v2_flat_data_is_read_straight_into_numpy():
    body = v2_body(PIXELS.ravel().tolist(), id="7", outputs=[{"name": "classes"}])
    fast = parse_flat_data(body, IMAGES)
    slow = json_io.parse(body)
    np.testing.assert_array_equal(fast["inputs"][0]["data"], slow["inputs"][0]["data"])
    assert {k: v for k, v in fast["inputs"][0].items() if k != "data"} == {
        k: v for k, v in slow["inputs"][0].items() if k != "data"
    }
    assert fast["id"] == "7" and fast["outputs"] == [{"name": "classes"}]


@pytest.mark.parametrize(
    "body",
    [
        v2_body([1, [2]]),  # nested and ragged
        v2_body([[1], [2]]),  # nested: the general path reshapes it
        v2_body([1, True]),
        v2_body([1, 2], name="data"),  # "data" twice in the text
        v2_body([]),
    ],
)
def test_v2_anything_but_flat_numbers_is_left_to_the_general_path(body):
    assert parse_flat_data(body, IMAGES) is None


@pytest.mark.parametrize(
    "array",
    [
        PIXELS,
        np.arange(6, dtype=np.int64).reshape(2, 3),
        np.array([True, False]),
        np.arange(4, dtype=np.float16),
        np.arange(3, dtype=np.uint8),
        np.zeros((0, 3), np.float64),
    ],
    ids=lambda a: str(a.dtype),
)
def test_tensor_protos_round_trip_as_tensorflow_converts_them(array):
    written = tensor_pb2.TensorProto()
    from_ndarray(array, written)
    np.testing.assert_array_equal(tf.make_ndarray(written), array)
    assert tf.make_ndarray(written).dtype == array.dtype
    official = tf.make_tensor_proto(array)
    np.testing.assert_array_equal(to_ndarray("x", official), tf.make_ndarray(official))


def test_repeated_values_are_padded_with_the_last_as_tensorflow_does():
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT)
    proto.tensor_shape.dim.add(size=2)
    proto.tensor_shape.dim.add(size=2)
    for values in ([], [1.5], [1.5, 2.0], [1.0, 2.0, 3.0, 4.0]):
        del proto.float_val[:]
        proto.float_val.extend(values)
        np.testing.assert_array_equal(to_ndarray("x", proto), tf.make_ndarray(proto))
    half = tensor_pb2.TensorProto(dtype=types_pb2.DT_HALF)
    half.tensor_shape.dim.add(size=2)
    half.half_val.extend(np.array([1.5, -2.0], np.float16).view(np.uint16).tolist())
    np.testing.assert_array_equal(to_ndarray("x", half), tf.make_ndarray(half))


def test_bad_tensor_protos_are_invalid_arguments():
    too_many = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT)
    too_many.tensor_shape.dim.add(size=1)
    too_many.float_val.extend([1.0, 2.0])
    content = tf.make_tensor_proto(np.zeros((2, 2), np.float32))
    content.tensor_shape.dim[0].size = 3
    strings = tf.make_tensor_proto(np.array([b"a"]))
    for proto, fragment in (
        (too_many, "2 values"),
        (content, "16 bytes of tensor_content"),
        (strings, "DT_STRING"),
    ):
        with pytest.raises(InvalidArgument, match=fragment):
            to_ndarray("x", proto)
