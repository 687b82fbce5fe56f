"""The fast request paths read exactly what the general ones read, and leave everything else to them.

REST bodies: simdjson's fast path must give the same arrays as orjson + NumPy for the common body
and step aside (None) for every other, so that it keeps the general path's answers and errors.
gRPC tensors: `tensor_proto` must read and write what TensorFlow's own conversions do, for every
dtype and for strings; TF Serving's JSON strings, KServe's BYTES as Triton's client serializes them,
and the runtimes' own refusals of an input, as the front ends hand them on.
"""

import base64
import re

import ml_dtypes
import numpy as np
import onnxruntime
import orjson
import pytest
import tensorflow as tf
from helpers import write_text_model
from tensorflow.core.framework import tensor_pb2, types_pb2
from tritonclient.utils import deserialize_bytes_tensor, serialize_byte_tensor

from zoo.export.contract import PREDICT_METHOD, SIGNATURE_NAME, STRING, TensorSpec
from zoo.serving.core import json_io, strings
from zoo.serving.core.errors import InvalidArgument, ResourceExhausted, runtime_input_error
from zoo.serving.core.limits import Limits
from zoo.serving.core.signature import ModelSignature
from zoo.serving.kserve import binary_tensors, rest_api
from zoo.serving.kserve.flat_data import parse_flat_data
from zoo.serving.tfserving import json_tensors
from zoo.serving.tfserving.tensor_proto import as_proto_content, as_proto_field, to_ndarray

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
    text_content = tf.make_tensor_proto(np.array([b"a"]))
    text_content.tensor_content = b"a"
    complex_ = tf.make_tensor_proto(np.array([1j], np.complex64))
    for proto, fragment in (
        (too_many, "2 values"),
        (content, "16 bytes of tensor_content"),
        (text_content, "DT_STRING values go in string_val"),
        (complex_, "DT_COMPLEX64 tensors are not supported"),
    ):
        with pytest.raises(InvalidArgument, match=fragment):
            to_ndarray("x", proto)


# Every dtype TF Serving and Triton carry, and strings: object arrays of bytes.

DTYPES = [
    np.float32,
    np.float64,
    np.float16,
    ml_dtypes.bfloat16,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
    np.bool_,
]
TEXT = strings.array([b"plain", "ünï".encode(), b"\xff\x00 not utf-8", b""], (2, 2))
ARRAYS = [np.arange(6).reshape(2, 3).astype(d) for d in DTYPES] + [TEXT]


@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: a.dtype.name)
def test_answers_are_written_in_the_typed_field_as_tf_serving_writes_them(array):
    written = tensor_pb2.TensorProto()
    as_proto_field(array, written)
    assert not written.tensor_content
    assert len(getattr(written, TYPED[written.dtype])) == array.size
    read = tf.make_ndarray(written)
    assert read.dtype == array.dtype
    np.testing.assert_array_equal(read, array)


TYPED = {
    types_pb2.DT_FLOAT: "float_val",
    types_pb2.DT_DOUBLE: "double_val",
    types_pb2.DT_HALF: "half_val",  # the bits of each value
    types_pb2.DT_BFLOAT16: "half_val",
    types_pb2.DT_INT8: "int_val",
    types_pb2.DT_INT16: "int_val",
    types_pb2.DT_INT32: "int_val",
    types_pb2.DT_INT64: "int64_val",
    types_pb2.DT_UINT8: "int_val",
    types_pb2.DT_UINT16: "int_val",
    types_pb2.DT_UINT32: "uint32_val",
    types_pb2.DT_UINT64: "uint64_val",
    types_pb2.DT_BOOL: "bool_val",
    types_pb2.DT_STRING: "string_val",
}


@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: a.dtype.name)
def test_requests_tensorflow_writes_are_read_as_it_reads_them(array):
    official = tf.make_tensor_proto(array)
    read = to_ndarray("x", official)
    assert read.dtype == array.dtype == tf.make_ndarray(official).dtype
    np.testing.assert_array_equal(read, tf.make_ndarray(official))
    written = tensor_pb2.TensorProto()
    as_proto_content(array, written)  # zoo predict --grpc's requests
    assert bool(written.tensor_content) == (array.dtype != STRING)
    np.testing.assert_array_equal(tf.make_ndarray(written), array)


def test_string_values_are_padded_with_the_last_as_tensorflow_does():
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING)
    proto.tensor_shape.dim.add(size=3)
    for values in ([], [b"a"], [b"a", b"\xff"]):
        del proto.string_val[:]
        proto.string_val.extend(values)
        read = to_ndarray("x", proto)
        assert read.dtype == STRING and all(isinstance(v, bytes) for v in read)
        official = [v if isinstance(v, bytes) else v.encode() for v in tf.make_ndarray(proto)]
        assert read.tolist() == official  # TensorFlow pads an empty list with "" (as str)
    bfloat = tensor_pb2.TensorProto(dtype=types_pb2.DT_BFLOAT16)
    bfloat.tensor_shape.dim.add(size=2)
    bfloat.half_val.append(int(np.array(1.5, ml_dtypes.bfloat16).view(np.uint16)))
    np.testing.assert_array_equal(to_ndarray("x", bfloat), tf.make_ndarray(bfloat))


def test_a_string_tensor_padded_past_the_size_limit_is_resource_exhausted():
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[b"x" * 100])
    proto.tensor_shape.dim.add(size=2**40)
    with pytest.raises(ResourceExhausted, match="above this server's limit"):
        to_ndarray("x", proto, Limits(max_request_bytes=2**20))


def rows_signature(*inputs: TensorSpec) -> ModelSignature:
    return ModelSignature(SIGNATURE_NAME, PREDICT_METHOD, inputs, ())


WORDS = rows_signature(TensorSpec("words", STRING, (-1, 2)))


RAW = base64.b64encode(b"\xff\x00 not utf-8").decode()
WORD_ROWS = [["plain", "ünï"], [{"b64": RAW}, ""]]


@pytest.mark.parametrize(
    "request_",
    [
        {"instances": WORD_ROWS},
        {"inputs": WORD_ROWS},
        {"inputs": {"words": WORD_ROWS}},
        # b64 without its padding, which absl's Base64Unescape takes too
        {"instances": [{"words": ["plain", {"b64": "w7xuw68"}]}, {"words": WORD_ROWS[1]}]},
    ],
    ids=["rows", "columns", "named columns", "named rows"],
)
def test_tf_serving_json_strings_plain_and_b64_in_both_formats(request_):
    _, inputs = json_tensors.predict_inputs(request_, WORDS)
    assert inputs["words"].dtype == STRING
    np.testing.assert_array_equal(inputs["words"], TEXT)


def test_rows_of_b64_objects_are_values_not_named_rows():
    signature = rows_signature(TensorSpec("image_bytes", STRING, (-1,)))
    rows = [{"b64": base64.b64encode(b"\x89PNG").decode()}, {"b64": ""}]
    _, inputs = json_tensors.predict_inputs({"instances": rows}, signature)
    assert inputs["image_bytes"].tolist() == [b"\x89PNG", b""]


@pytest.mark.parametrize(
    ("request_", "fragment"),
    [
        ({"instances": [["a", 1]]}, "JSON Value: 1 Type: Number is not of expected type: string"),
        ({"instances": [["a", {"b64": "YQ==", "x": 1}]]}, "not formatted correctly for base64"),
        ({"instances": [["a", {"b64": "!!"}]]}, "Unable to base64 decode"),
        ({"instances": [["a", "b"], ["c"]]}, "Encountered list at unexpected size: 1"),
        ({"instances": [["a", "b"], "c"]}, "found at incorrect level: 2"),
        ({"instances": [["a", "b"], [["c"], "d"]]}, "Encountered list at unexpected size"),
    ],
)
def test_bad_json_strings_get_tf_servings_errors(request_, fragment):
    with pytest.raises(InvalidArgument, match=re.escape(fragment)):
        json_tensors.predict_inputs(request_, WORDS)


def test_string_outputs_are_plain_or_b64_as_tf_serving_writes_them():
    outputs = {"words": TEXT, "words_bytes": TEXT}
    rows = orjson.loads(json_tensors.predict_answer(json_tensors.ROW, outputs))["predictions"]
    b64 = [[base64.b64encode(v).decode() for v in row] for row in TEXT.tolist()]
    assert rows == [
        {
            "words": ["plain", "ünï"],
            "words_bytes": [{"b64": b64[0][0]}, {"b64": b64[0][1]}],
        },
        {
            # not UTF-8, which TF Serving would write into its JSON raw: b64 keeps it JSON
            "words": [{"b64": b64[1][0]}, ""],
            "words_bytes": [{"b64": b64[1][0]}, {"b64": b64[1][1]}],
        },
    ]
    columns = orjson.loads(json_tensors.predict_answer(json_tensors.COLUMNAR, outputs))["outputs"]
    assert columns == {name: [row[name] for row in rows] for name in outputs}


def test_kserve_bytes_binary_is_tritons_serialization():
    serialized = serialize_byte_tensor(TEXT).item()
    assert binary_tensors.to_bytes(TEXT) == serialized
    read = binary_tensors.from_bytes("x", serialized, STRING, [2, 2])
    np.testing.assert_array_equal(read, TEXT)
    np.testing.assert_array_equal(deserialize_bytes_tensor(serialized).reshape(2, 2), read)
    for data, count, fragment in (
        (serialized[:-1], 4, "are not 4 BYTES elements"),
        (serialized + b"\0", 4, "are not 4 BYTES elements"),
        (serialized, 5, "are not 5 BYTES elements"),
        (serialized, 2**40, "cannot hold 1099511627776 BYTES elements"),
    ):
        with pytest.raises(InvalidArgument, match=fragment):
            binary_tensors.from_bytes("x", serialized if data is None else data, STRING, [count])


def test_strings_reach_onnx_runtime_as_utf8_and_come_back_as_bytes(tmp_path):
    session = onnxruntime.InferenceSession(write_text_model(tmp_path / "1") / "model.onnx")
    text = strings.array([b"abc", "ünï".encode()], (2,))
    answers = session.run(
        ["echo_bytes", "shout"],
        strings.for_onnx_runtime({"text": text, "index": np.zeros(2, np.int64)}),
    )
    got = strings.from_onnx_runtime(dict(zip(["echo_bytes", "shout"], answers, strict=True)))
    np.testing.assert_array_equal(got["echo_bytes"], text)
    np.testing.assert_array_equal(got["shout"], strings.array([b"abc!", "ünï!".encode()], (2,)))
    with pytest.raises(InvalidArgument, match="ONNX Runtime takes strings as UTF-8"):
        strings.for_onnx_runtime({"text": strings.array([b"\xff"], (1,))})


def test_runtime_input_errors_are_invalid_arguments_in_the_runtime_s_words(tmp_path):
    session = onnxruntime.InferenceSession(write_text_model(tmp_path / "1") / "model.onnx")
    try:
        session.run(["picked"], {"text": np.array(["a"], object), "index": np.array([7])})
    except Exception as exc:
        refused = runtime_input_error(exc)
    assert refused is not None and "indices element out of data bounds, idx=7" in str(refused)
    try:
        tf.strings.to_number(["not a number"])
    except Exception as exc:
        refused = runtime_input_error(exc)
    assert refused is not None and "StringToNumberOp could not correctly convert" in str(refused)
    parse = tf.function(tf.strings.to_number, input_signature=[tf.TensorSpec([None], tf.string)])
    try:
        parse(np.array([b"\xff"], object))
    except UnicodeDecodeError as exc:  # TensorFlow's, for a message it cannot decode
        refused = runtime_input_error(exc)
    assert refused is not None and "convert string: \\xff" in str(refused)
    assert runtime_input_error(ValueError("not the runtime's")) is None


@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: a.dtype.name)
def test_kserve_binary_tensors_round_trip_every_datatype_as_tritonclient_sends_them(array):
    sent = serialize_byte_tensor(array).item() if array.dtype == STRING else array.tobytes()
    assert binary_tensors.to_bytes(array) == sent
    read = binary_tensors.from_bytes("x", sent, array.dtype, list(array.shape))
    assert read.dtype == array.dtype
    np.testing.assert_array_equal(read, array)


def test_kserve_bytes_outputs_are_json_strings_unless_not_utf8():
    text = strings.array([b"plain", "ünï".encode()], (2,))
    body, header_length = rest_api._answer("m", 1, None, {"t": text}, {"t": False})
    assert header_length is None
    assert orjson.loads(body)["outputs"][0]["data"] == ["plain", "ünï"]
    raw = strings.array([b"\xff"], (1,))
    with pytest.raises(InvalidArgument, match=r"not UTF-8.*binary"):
        rest_api._answer("m", 1, None, {"t": raw}, {"t": False})
    body, header_length = rest_api._answer("m", 1, None, {"t": raw}, {"t": True})
    assert body[header_length:] == serialize_byte_tensor(raw).item()
