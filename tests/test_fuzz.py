"""Property-based fuzzing: hypothesis-generated requests to one real `zoo serve`, over TF Serving's
REST and gRPC APIs and KServe v2's REST and gRPC protocols.

Three exported models with different input signatures (cnn-mnist images [-1, 28, 28, 1],
softmax-classification features [-1, 4], linear-regression features [-1, 1]) are served, and
one that takes strings (helpers.write_text_model: text [-1] of strings, index [-1]); the
requests vary the model names (unicode, "..", "%2e", very long), versions and labels (negative,
huge, non-digit), the bodies (good ones, mutated ones: wrong shapes, ragged and deep nesting,
mixed types, huge numbers, NaN literals, unknown keys; random JSON; raw bytes; bodies past the
size limit), the headers (Content-Type, Content-Encoding, the binary extension's
Inference-Header-Content-Length with wrong lengths) and the gRPC messages (dtype enums, dims,
tensor_content and raw_input_contents of random lengths, typed value lists; strings as text, b64
of any bytes or none, other JSON values, string_val padded past the limit, raw BYTES whose length
prefixes lie).

The properties: every REST answer is a 2xx or a 4xx, and a 4xx is JSON with an "error"; every gRPC
call ends OK or with a client's code (INVALID_ARGUMENT, NOT_FOUND, ...), never UNKNOWN or INTERNAL
or a deadline; every good request gets ONNX Runtime's answer (1e-5); the server stays up, and
after the fuzzing good requests over every protocol are still answered right and the log has no
traceback. The requests sent per protocol are written to fuzz-counts.json under pytest's temporary
folder (and ZOO_FUZZ_REPORT, when set); `pytest -v` prints their total and where they are.

Short profile (CI, the default: ZOO_FUZZ_EXAMPLES=150 examples per protocol):

    ZOO_DATA_DIR=../shared/data .venv/bin/pytest tests/test_fuzz.py

Long profile (on demand, 4 x 600 = 2,400 generated requests):

    ZOO_FUZZ_EXAMPLES=600 ZOO_DATA_DIR=../shared/data .venv/bin/pytest tests/test_fuzz.py
"""

import base64
import functools
import gzip
import json
import math
import os
import time
import urllib.parse
import zlib
from collections import Counter
from dataclasses import dataclass, field
from http.client import HTTPConnection

import grpc
import numpy as np
import pytest
import tensorflow as tf
from helpers import (
    TABLE,
    Server,
    examples,
    fake_run,
    grpc_request,
    http,
    running,
    v2_input,
    write_text_model,
)
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2
from tritonclient.grpc import service_pb2, service_pb2_grpc

from zoo.export import export_run
from zoo.serving.core.servables import load

SERVED = ("cnn-mnist", "softmax-classification", "linear-regression")
INPUT = {
    "cnn-mnist": "images",
    "softmax-classification": "features",
    "linear-regression": "features",
}
OUTPUTS = {
    "cnn-mnist": ("probabilities", "classes"),
    "softmax-classification": ("probabilities", "classes"),
    "linear-regression": ("predictions",),
}
TEXT_MODEL = "text"  # helpers.write_text_model's: strings and an index in, strings and floats out
LABELS = "cnn-mnist:stable=1"
LIMIT = 1_000_000  # bytes: --max-request-bytes, so that bodies past it are cheap to make
TIMEOUT = 10  # seconds: an answer later than this is a hang
TOLERANCE = 1e-5
EXAMPLES = int(os.environ.get("ZOO_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the checkout; a failure prints its reproduction
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)
TF_REST, V2_REST, TF_GRPC, V2_GRPC = (
    "TF Serving REST",
    "KServe v2 REST",
    "TF Serving gRPC",
    "KServe v2 gRPC",
)
SENT: Counter = Counter()  # requests sent, by protocol
SECONDS: Counter = Counter()  # time spent in them, by protocol
OUTCOMES: Counter = Counter()  # (protocol, HTTP status or gRPC code): how they were answered
REST_STATUSES = {200, 400, 404, 405, 413}
GRPC_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE,
}
V2_NUMPY = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64, "INT32": np.int32}


@pytest.fixture(scope="module")
def served_root(tmp_path_factory):
    """A folder holding runs/ and models/: each SERVED model, untrained, exported as version 1."""
    root = tmp_path_factory.mktemp("fuzz")
    for name in SERVED:
        export_run(fake_run(root / "runs", name), model_dir=root / "models", samples=4)
    write_text_model(root / "models" / TEXT_MODEL / "1")
    return root


@pytest.fixture(scope="module")
def onnx(served_root):
    """ONNX Runtime in process, the reference answers: model name -> servable."""
    return {name: load(served_root / "models" / name / "1", "onnx") for name in SERVED}


@pytest.fixture(scope="module")
def server(served_root, tmp_path_factory, pytestconfig):
    options = ("--version-labels", LABELS, "--max-request-bytes", str(LIMIT))
    with running(Server(served_root, *options, log="fuzz.log")) as served:
        yield served
    report = {
        p: {
            "requests": SENT[p],
            "seconds": round(SECONDS[p], 1),
            "answers": {str(k): n for (q, k), n in sorted(OUTCOMES.items()) if q == p},
        }
        for p in SENT
    }
    report["total"] = {"requests": sum(SENT.values()), "seconds": round(sum(SECONDS.values()), 1)}
    text = json.dumps(report, indent=1)
    written = [tmp_path_factory.getbasetemp() / "fuzz-counts.json"]
    if os.environ.get("ZOO_FUZZ_REPORT"):
        written.append(os.environ["ZOO_FUZZ_REPORT"])
    for path in written:
        with open(path, "w") as out:
            out.write(text)
    plugins = pytestconfig.pluginmanager
    terminal, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if pytestconfig.get_verbosity() > 0 and terminal is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # one line, and only with -v: -q stays quiet
            terminal.write_line(
                f"\nfuzzed {report['total']['requests']:,} requests ({EXAMPLES} examples per "
                f"protocol); the counts: {written[0]}"
            )


@functools.cache
def good_rows(name: str, count: int) -> np.ndarray:
    return examples(name, count).astype(np.float32)


def expected(onnx, name: str, raw: np.ndarray, wanted=()) -> dict[str, np.ndarray]:
    answers = onnx[name].run_batch({INPUT[name]: raw.astype(np.float32)})
    return {k: v for k, v in answers.items() if not wanted or k in wanted}


def assert_same(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert sorted(got) == sorted(want)
    for name, value in want.items():
        np.testing.assert_allclose(np.asarray(got[name]), value, rtol=0, atol=TOLERANCE)


def alive(server: Server) -> None:
    assert server.process.poll() is None, server.log.read_text()[-5000:]


# ----------------------------------------------------------------------------- shared strategies

quote = functools.partial(urllib.parse.quote, safe="")
ASCII = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=24)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e308, -1e308, 5e-324, 3.4e38, 3.5e38, 2**63 - 1, 2**63, -(2**63), 2**64 - 1]),
    st.text(max_size=8),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=20,
)
NUMBERS = st.one_of(st.integers(-(2**40), 2**40), st.floats(allow_nan=False, allow_infinity=False))
NESTED = st.recursive(NUMBERS, lambda inner: st.lists(inner, max_size=3), max_leaves=40)
WEIRD_SEGMENTS = [
    *("..", ".", "%2e%2e", "%2E", "%2e", "%2f", "%2F..", "%00", "%ff", "%c3%28", "a%2Fb", "%25"),
    *("%20", "cnn-mnist%3Apredict", "~", "*", "cnn-mnist%2Fversions%2F1", "CNN-MNIST"),
]
LONG_NAMES = st.builds(lambda c, n: quote(c * n), st.characters(), st.integers(100, 2000))
VERSIONS = st.one_of(
    st.integers(-3, 3).map(str),
    st.integers(0, 10**30).map(str),
    st.sampled_from(
        [
            "",
            "00",
            "+1",
            "1e3",
            "0x1",
            " 1",
            "\u0663",
            "\uff11",
            "\u00b2",
            "9" * 5000,
            "1.0",
            "latest",
        ]
    ),
    st.text(max_size=6),
)


def fuzz_path(draw) -> bool:
    """Whether this request's path, method, model or version is fuzzed too (a quarter of them);
    the others name a served model the right way, so that their bodies are read."""
    return draw(st.integers(0, 3)) == 0


def segment(model: str):
    """A model name in a URL path: the model itself, another, or something odd (quoted)."""
    return st.one_of(
        st.just(model),
        st.just(model),
        st.sampled_from(SERVED),
        st.sampled_from(WEIRD_SEGMENTS),
        st.text(max_size=20).map(quote),
        LONG_NAMES,
    )


def mutated(draw, value):
    """A JSON tensor (nested lists) made wrong in one way."""
    how = draw(st.sampled_from(["ragged", "leaf", "reshape", "wrap", "unwrap", "empty", "strings"]))
    if how == "ragged":
        return _ragged(draw, value)
    if how == "leaf":
        return _leaf(draw, value, draw(JSON_VALUES))
    if how == "reshape":
        flat = np.asarray(value).ravel()
        shapes = [(flat.size,), (1, flat.size), (flat.size, 1), (1, 1, flat.size, 1)]
        if flat.size % 2 == 0:
            shapes.append((2, flat.size // 2))
        return flat.reshape(draw(st.sampled_from(shapes))).tolist()
    if how == "wrap":
        return [value]
    if how == "unwrap":
        return value[0] if isinstance(value, list) and value else value
    if how == "empty":
        return draw(st.sampled_from([[], [[]], [[], []], {}, [{}], None, ""]))
    return np.asarray(value).astype(str).tolist()


def _ragged(draw, value):
    if not isinstance(value, list) or not value:
        return [value, [value]]
    if not isinstance(value[0], list):
        return value[:-1] if len(value) > 1 else [*value, value]
    index = draw(st.integers(0, len(value) - 1))
    return [*value[:index], _ragged(draw, value[index]), *value[index + 1 :]]


def _leaf(draw, value, new):
    if not isinstance(value, list) or not value:
        return new
    index = draw(st.integers(0, len(value) - 1))
    return [*value[:index], _leaf(draw, value[index], new), *value[index + 1 :]]


def raw_bodies():
    """Bodies that are not what they say: bytes, cut JSON, deep nesting, non-standard literals."""
    cut = st.builds(
        lambda n, k: json.dumps({"instances": good_rows("linear-regression", n).tolist()})[:k],
        st.integers(1, 3),
        st.integers(0, 40),
    )
    deep = st.builds(lambda d: "[" * d + "1" + "]" * d, st.integers(1, 3000))
    literals = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-0", "01", "1.", ".5"])
    return st.one_of(
        st.binary(max_size=300),
        cut.map(str.encode),
        deep.map(lambda d: b'{"instances": ' + d.encode() + b"}"),
        deep.map(lambda d: b'{"inputs": [{"name": "images", "data": ' + d.encode() + b"}]}"),
        literals.map(lambda x: f'{{"instances": [[{x}]]}}'.encode()),
        literals.map(
            lambda x: (
                f'{{"inputs": [{{"name": "features", "shape": [1, 1], "datatype": "FP32", "data": [{x}]}}]}}'.encode()
            )
        ),
        st.sampled_from([b"", b"[]", b"1", b'"x"', b"null", b"{}", b"\xff\xfe{}", b'{"a":1}{}']),
        JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    )


@functools.cache
def big_body(name: str, tenths: int) -> bytes:
    """Examples of `name` as a row-format body of about `tenths` tenths of the size limit."""
    row = json.dumps(good_rows(name, 1)[0].tolist())
    rows = math.ceil(LIMIT * tenths / 10 / (len(row) + 1))
    return ('{"instances": [' + ",".join([row] * rows) + "]}").encode()


BIG = st.sampled_from([3, 9, 11, 20])  # tenths of the size limit
# Shapes that hold few values or none, but that no array can have.
HUGE_SHAPES = [[0, 2**62, 2**62], [0, 2**63 - 1, 2], [2**31, 2**31, 0], [1] * 65, [0] * 100]


def encoded(draw, body: bytes) -> tuple[bytes, dict[str, str], bool]:
    """(body, headers, whether the server can read it) with a random Content-Type and Encoding."""
    headers = {}
    kind = draw(st.sampled_from([None, None, None, "json", "text", "octet", "random"]))
    types = {"json": "application/json", "text": "text/plain", "octet": "application/octet-stream"}
    if kind == "random":
        headers["Content-Type"] = draw(ASCII)
    elif kind:
        headers["Content-Type"] = types[kind]
    how = draw(
        st.sampled_from(
            [
                None,
                None,
                None,
                None,
                "gzip",
                "deflate",
                "identity",
                "fake gzip",
                "cut gzip",
                "other",
            ]
        )
    )
    readable = how in (None, "gzip", "deflate", "identity")
    if how == "gzip":
        body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
    elif how == "deflate":
        body, headers["Content-Encoding"] = zlib.compress(body), "deflate"
    elif how == "identity":
        headers["Content-Encoding"] = "identity"
    elif how == "fake gzip":
        headers["Content-Encoding"] = "gzip"
    elif how == "cut gzip":
        compressed = gzip.compress(body)
        body, headers["Content-Encoding"] = (
            compressed[: draw(st.integers(0, len(compressed) - 1))],
            "gzip",
        )
    elif how == "other":
        headers["Content-Encoding"] = draw(
            st.sampled_from(["br", "GZIP", "gzip, deflate", "zstd"]) | ASCII
        )
    return body, headers, readable


# ----------------------------------------------------------------------------- REST calls


@dataclass
class RestCall:
    """One HTTP request; `good` is (model, inputs, output names wanted) when it must be answered
    with ONNX Runtime's outputs, `fmt` how those come back."""

    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    good: tuple | None = None
    fmt: str = ""

    def __repr__(self) -> str:  # a 5,000-digit version or a 1 MB body, shortened
        return (
            f"RestCall({self.method!r}, {_short(self.path)}, {_short(self.body)}, "
            f"{self.headers!r}, good={self.good is not None}, fmt={self.fmt!r})"
        )


def _short(value: str | bytes, keep: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= keep else f"{text[:keep]}...({len(value):,} long)"


def send(server: Server, call: RestCall, protocol: str) -> tuple[int, bytes, dict[str, str]]:
    """Send `call`; (status, body, headers), asserting a timely 2xx/4xx with a JSON error."""
    started = time.monotonic()
    connection = HTTPConnection("127.0.0.1", server.rest_port, timeout=TIMEOUT)
    try:
        try:
            connection.request(call.method, call.path, body=call.body, headers=call.headers)
        except (BrokenPipeError, ConnectionResetError):  # refused unread, past the size limit
            assert len(call.body) > LIMIT, call
        response = connection.getresponse()
        status, body = response.status, response.read()
        headers = {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()
        SENT[protocol] += 1
        SECONDS[protocol] += time.monotonic() - started
    OUTCOMES[protocol, status] += 1
    assert status in REST_STATUSES and status < 500, (status, body[:2000], call)
    if call.method != "HEAD":
        if headers.get("content-type") == "application/json":
            answer = json.loads(body)
        else:
            assert headers.get("inference-header-content-length"), (status, headers, call)
            answer = json.loads(body[: int(headers["inference-header-content-length"])])
        if status >= 400:
            assert isinstance(answer, dict) and isinstance(answer.get("error"), str), answer
    return status, body, headers


METHODS = ["POST"] * 6 + ["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]


@st.composite
def tf_rest_calls(draw) -> RestCall:
    model = draw(st.sampled_from(SERVED))
    if fuzz_path(draw):
        name = draw(segment(model))
        version = draw(
            st.sampled_from(["", "", "", "/versions/1", "/versions/0", "/labels/stable", "v", "l"])
        )
        if version == "v":
            version = "/versions/" + quote(draw(VERSIONS))
        elif version == "l":
            version = "/labels/" + quote(
                draw(st.sampled_from(["next", "STABLE", ""]) | st.text(max_size=8))
            )
        verb = draw(
            st.sampled_from(
                [":predict"] * 6
                + [":classify", ":regress", "/metadata", "", ":PREDICT", ":explain", "/"]
            )
        )
        method = draw(st.sampled_from(METHODS))
    else:
        name, method = model, "POST"
        labels = ["/labels/stable"] if model == "cnn-mnist" else []
        version = draw(st.sampled_from(["", "/versions/1", "/versions/0", *labels]))
        verb = draw(st.sampled_from([":predict"] * 4 + [":classify", ":regress"]))
    count = draw(st.integers(1, 4))
    rows = good_rows(model, count)
    kind = draw(
        st.sampled_from(
            ["good"] * 3 + ["mutated"] * 3 + ["object", "examples", "examples", "raw", "big"]
        )
    )
    fmt = draw(st.sampled_from(["instances", "inputs", "named instances", "named inputs"]))
    key = fmt.split()[-1]
    good = None
    if kind == "good":
        value = rows.tolist()
        if fmt == "named instances":
            value = [{INPUT[model]: row} for row in value]
        elif fmt == "named inputs":
            value = {INPUT[model]: value}
        request = {key: value}
        signature = draw(st.sampled_from([None, "", "serving_default"]))
        if signature is not None:
            request["signature_name"] = signature
        body = json.dumps(request).encode()
        good = (model, rows, ())
    elif kind == "mutated":
        value = mutated(draw, rows.tolist())
        if fmt.startswith("named"):
            value = draw(
                st.sampled_from([{INPUT[model]: value}, [{INPUT[model]: value}], {"x": value}])
            )
        request = {key: value}
        extra = draw(st.sampled_from([None, "signature_name", "both keys", "unknown"]))
        if extra == "signature_name":
            request["signature_name"] = draw(JSON_VALUES)
        elif extra == "both keys":
            request["inputs" if key == "instances" else "instances"] = value
        elif extra == "unknown":
            request[draw(st.text(max_size=10))] = draw(JSON_VALUES)
        body = json.dumps(request).encode()
    elif kind == "object":
        keys = st.sampled_from(
            ["instances", "inputs", "signature_name", "examples", "context"]
        ) | st.text(max_size=8)
        body = json.dumps(draw(st.dictionaries(keys, JSON_VALUES, max_size=4))).encode()
    elif kind == "examples":
        feature = draw(st.sampled_from([INPUT[model], "images", "features", "x"]))
        values = rows[0].ravel().tolist()
        one = st.one_of(
            st.just(values),
            st.just(values[:-1]),
            st.lists(SCALARS, max_size=5),
            SCALARS,
            JSON_VALUES,
            st.just([2**63, *values[1:]]),
            st.just([True] * len(values)),
        )
        features = st.dictionaries(st.just(feature) | st.text(max_size=6), one, max_size=3)
        request = {"examples": draw(st.lists(features | JSON_VALUES, max_size=3) | JSON_VALUES)}
        if draw(st.booleans()):
            request["context"] = draw(features | JSON_VALUES)
        body = json.dumps(request).encode()
    elif kind == "raw":
        body = draw(raw_bodies())
    else:
        body = big_body(model, draw(BIG))
    body, headers, readable = encoded(draw, body)
    labelled = version != "/labels/stable" or model == "cnn-mnist"
    if not (name == model and labelled and verb == ":predict" and method == "POST" and readable):
        good = None
    versions = ("", "/versions/1", "/versions/0", "/labels/stable")
    if good and version not in versions:
        good = None
    return RestCall(method, f"/v1/models/{name}{version}{verb}", body, headers, good, key)


def tf_rest_outputs(answer: dict, fmt: str, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    value = answer["predictions" if fmt == "instances" else "outputs"]
    if len(names) == 1:
        return {names[0]: np.asarray(value)}
    if fmt == "instances":
        return {n: np.asarray([row[n] for row in value]) for n in names}
    return {n: np.asarray(value[n]) for n in names}


# The bugs the fuzzing found (a 500 each, before their fix), shrunk; they run on every run.
DEEP = b"[" * 600 + b"1" + b"]" * 600  # the fast path's skeleton recursed past Python's limit
FIVE_THOUSAND_DIGITS = "9" * 5000  # int() refuses more than 4,300 digits
NO_VALUES = {"name": "features", "shape": [0, 2**62, 2**62], "datatype": "FP32", "data": []}


@FUZZ
@given(call=tf_rest_calls())
@example(call=RestCall("POST", f"/v1/models/cnn-mnist/versions/{FIVE_THOUSAND_DIGITS}:predict"))
@example(call=RestCall("POST", "/v1/models/cnn-mnist:predict", b'{"instances": ' + DEEP + b"}"))
@example(
    call=RestCall(
        "POST",
        "/v1/models/linear-regression:regress",
        b'{"examples": [{"features": [9223372036854775808]}]}',  # past int64
    )
)
@example(call=RestCall("POST", "/v1/models/cnn-mnist:predict", b'{"signature_name": [null]}'))
def test_tf_serving_rest_answers_every_request_with_a_2xx_or_4xx(server, onnx, call):
    status, body, _ = send(server, call, TF_REST)
    if call.good:
        model, rows, _ = call.good
        assert status == 200, (body[:2000], call)
        got = tf_rest_outputs(json.loads(body), call.fmt, OUTPUTS[model])
        assert_same(got, expected(onnx, model, rows))
    alive(server)


# ----------------------------------------------------------------------------- KServe v2 REST

V2_DATATYPES = [
    "FP32",
    "FP32",
    "FP64",
    "FP16",
    "INT64",
    "INT32",
    "UINT8",
    "BOOL",
    "BYTES",
    "fp32",
    "",
]


def v2_tensor_field(draw, name: str, tensor: dict) -> dict:
    """`tensor` with its field `name` changed, or removed."""
    tensor = dict(tensor)
    choices = {
        "name": st.sampled_from(["images", "features", "x", ""])
        | st.text(max_size=8)
        | JSON_VALUES,
        "shape": st.lists(st.integers(-2, 5) | st.integers(-(2**70), 2**70), max_size=5)
        | st.sampled_from(HUGE_SHAPES)
        | JSON_VALUES,
        "datatype": st.sampled_from(V2_DATATYPES) | st.text(max_size=6) | JSON_VALUES,
        "data": JSON_VALUES | NESTED,
        "parameters": JSON_VALUES
        | st.fixed_dictionaries({"binary_data_size": st.integers(-5, 10**6) | JSON_VALUES}),
    }
    if draw(st.integers(0, 5)) == 0:
        tensor.pop(name, None)
    elif name == "data" and draw(st.booleans()) and tensor.get("data") is not None:
        tensor["data"] = mutated(draw, tensor["data"])
    else:
        tensor[name] = draw(choices[name])
    return tensor


@st.composite
def v2_rest_calls(draw) -> RestCall:
    model = draw(st.sampled_from(SERVED))
    if fuzz_path(draw):
        name = draw(segment(model))
        version = draw(st.sampled_from(["", "", "/versions/1", "/versions/0", "v"]))
        if version == "v":
            version = "/versions/" + quote(draw(VERSIONS))
        verb = draw(
            st.sampled_from(["/infer"] * 8 + ["/ready", "/config", "", "/explain", "/infer/"])
        )
        method = draw(st.sampled_from(METHODS))
    else:
        name, verb, method = model, "/infer", "POST"
        version = draw(st.sampled_from(["", "/versions/1", "/versions/0"]))
    count = draw(st.integers(1, 4))
    rows = good_rows(model, count)
    good_tensor = v2_input(rows, INPUT[model])
    if draw(st.booleans()):  # nested data, as some clients send it
        good_tensor["data"] = rows.tolist()
    kind = draw(
        st.sampled_from(
            ["good"] * 3 + ["binary", "mutated", "mutated", "mutated", "consistent", "raw", "big"]
        )
    )
    headers, good, wanted = {}, None, ()
    request: dict = {}
    if draw(st.booleans()):
        request["id"] = draw(st.text(max_size=8) | JSON_VALUES)
    if draw(st.integers(0, 3)) == 0:
        outputs = st.sampled_from([*OUTPUTS[model], "probabilities", "y"]) | st.text(max_size=5)
        asked = draw(st.lists(outputs, max_size=3, unique=True))
        request["outputs"] = [{"name": n} for n in asked]
        if draw(st.booleans()):
            for entry in request["outputs"]:
                entry["parameters"] = {"binary_data": draw(st.booleans() | JSON_VALUES)}
        wanted = tuple(asked)
    if draw(st.integers(0, 4)) == 0:
        request["parameters"] = draw(
            st.fixed_dictionaries({"binary_data_output": st.booleans() | JSON_VALUES}) | JSON_VALUES
        )
    if kind in ("good", "binary"):
        tensor = good_tensor
        tail = b""
        if kind == "binary":
            tensor = {k: v for k, v in tensor.items() if k != "data"}
            tail = rows.astype("<f4").tobytes()
            tensor["parameters"] = {"binary_data_size": len(tail)}
        request["inputs"] = [tensor]
        head = json.dumps(request).encode()
        body = head + tail
        if kind == "binary":
            headers["Inference-Header-Content-Length"] = str(len(head))
        good = (model, rows, wanted)
    elif kind == "mutated":
        tensors = [good_tensor]
        for _ in range(draw(st.integers(1, 3))):
            which = draw(st.sampled_from(["name", "shape", "datatype", "data", "parameters"]))
            tensors[0] = v2_tensor_field(draw, which, tensors[0])
        more = draw(st.sampled_from([None, None, "twice", "another", "none", "not a list"]))
        if more == "twice":
            tensors.append(tensors[0])
        elif more == "another":
            tensors.append(v2_tensor_field(draw, "name", good_tensor))
        elif more == "none":
            tensors = []
        request["inputs"] = tensors if more != "not a list" else draw(JSON_VALUES)
        head = json.dumps(request).encode()
        body = head
        if draw(st.integers(0, 2)) == 0:  # the binary extension, with lengths that may disagree
            tail = draw(st.binary(max_size=64) | st.just(rows.astype("<f4").tobytes()))
            length = draw(
                st.integers(-5, len(head) + len(tail) + 5).map(str)
                | st.just(str(len(head)))
                | st.sampled_from(["", "x", "1e3", "-0", " 5", str(2**70), "9" * 5000, "\u00b2"])
            )
            headers["Inference-Header-Content-Length"] = length
            body = head + tail
    elif kind == "consistent":  # any shape, with as many values as it holds (0 included)
        shape = draw(st.lists(st.integers(0, 5), max_size=5) | st.sampled_from(HUGE_SHAPES))
        size = math.prod(shape)
        data = draw(st.lists(NUMBERS, min_size=size, max_size=size)) if size <= 200 else [0] * 200
        datatype = draw(st.sampled_from(V2_DATATYPES))
        request["inputs"] = [
            {"name": INPUT[model], "shape": shape, "datatype": datatype, "data": data}
        ]
        body = json.dumps(request).encode()
    elif kind == "raw":
        body = draw(raw_bodies())
    else:
        tensor = {"name": INPUT[model], "shape": [1], "datatype": "FP32", "data": [0.5]}
        tensor["data"] = json.loads(big_body(model, draw(BIG)))["instances"]
        body = json.dumps({"inputs": [tensor]}).encode()
    body, more_headers, readable = encoded(draw, body)
    headers.update(more_headers)
    if not (name == model and version in ("", "/versions/1", "/versions/0") and verb == "/infer"):
        good = None
    if not (method == "POST" and readable and set(wanted) <= set(OUTPUTS[model])):
        good = None
    if not isinstance(request.get("parameters", {}), dict):
        good = None
    return RestCall(method, f"/v2/models/{name}{version}{verb}", body, headers, good)


def v2_rest_outputs(body: bytes, headers: dict[str, str]) -> tuple[dict, dict[str, np.ndarray]]:
    """(the JSON answer, its outputs as arrays), binary ones read from after the JSON header."""
    length = headers.get("inference-header-content-length")
    answer = json.loads(body[: int(length)] if length else body)
    offset, outputs = int(length or 0), {}
    for output in answer["outputs"]:
        dtype = V2_NUMPY[output["datatype"]]
        size = (output.get("parameters") or {}).get("binary_data_size")
        if size is None:
            values = np.asarray(output["data"], dtype)
        else:
            values = np.frombuffer(body[offset : offset + size], np.dtype(dtype).newbyteorder("<"))
            offset += size
        outputs[output["name"]] = values.reshape(output["shape"])
    assert offset == len(body) or not length
    return answer, outputs


@FUZZ
@given(call=v2_rest_calls())
@example(call=RestCall("POST", f"/v2/models/cnn-mnist/versions/{FIVE_THOUSAND_DIGITS}/infer"))
@example(
    call=RestCall(
        "POST",
        "/v2/models/linear-regression/infer",
        b"{}",
        {"Inference-Header-Content-Length": FIVE_THOUSAND_DIGITS},
    )
)
@example(
    call=RestCall(
        "POST",
        "/v2/models/linear-regression/infer",
        json.dumps({"inputs": [NO_VALUES]}).encode(),
    )
)
@example(
    call=RestCall(
        "POST",
        "/v2/models/linear-regression/infer",
        json.dumps({"inputs": [{**NO_VALUES, "name": []}]}).encode(),  # a name that is a list
    )
)
def test_kserve_v2_rest_answers_every_request_with_a_2xx_or_4xx(server, onnx, call):
    status, body, headers = send(server, call, V2_REST)
    if call.good:
        model, rows, wanted = call.good
        assert status == 200, (body[:2000], call)
        answer, outputs = v2_rest_outputs(body, headers)
        assert answer["model_name"] == model and answer["model_version"] == "1"
        assert_same(outputs, expected(onnx, model, rows, wanted))
    alive(server)


# ----------------------------------------------------------------------------- gRPC calls


def call_grpc(server: Server, method, request, protocol: str):
    """The answer to `request`, or None when it was refused with a client's code, in time."""
    started = time.monotonic()
    try:
        answer = method(request, timeout=TIMEOUT)
    except grpc.RpcError as exc:
        code, error = exc.code(), exc
    else:
        code = grpc.StatusCode.OK
    SENT[protocol] += 1
    SECONDS[protocol] += time.monotonic() - started
    OUTCOMES[protocol, code.name] += 1
    if code == grpc.StatusCode.OK:
        return answer
    assert code in GRPC_CODES, (code, error.details(), str(request)[:3000])
    return None


TF_DTYPES = {  # what tensor_content's bytes are for the numeric DataTypes
    types_pb2.DT_FLOAT: np.float32,
    types_pb2.DT_DOUBLE: np.float64,
    types_pb2.DT_HALF: np.float16,
    types_pb2.DT_INT8: np.int8,
    types_pb2.DT_INT16: np.int16,
    types_pb2.DT_INT32: np.int32,
    types_pb2.DT_INT64: np.int64,
    types_pb2.DT_UINT8: np.uint8,
    types_pb2.DT_UINT16: np.uint16,
    types_pb2.DT_UINT32: np.uint32,
    types_pb2.DT_UINT64: np.uint64,
    types_pb2.DT_BOOL: np.bool_,
}
REPEATED = {
    "float_val": st.floats(width=32),
    "double_val": st.floats(),
    "int_val": st.integers(-(2**31), 2**31 - 1),
    "int64_val": st.integers(-(2**63), 2**63 - 1),
    "half_val": st.integers(-(2**31), 2**31 - 1),
    "bool_val": st.booleans(),
    "uint32_val": st.integers(0, 2**32 - 1),
    "uint64_val": st.integers(0, 2**64 - 1),
    "string_val": st.binary(max_size=8),
}
DIMS = (
    st.integers(-3, 6)
    | st.integers(-(2**63), 2**63 - 1)
    | st.sampled_from([2**62, 2**63 - 1, 2**31])
)


@st.composite
def tensor_protos(draw, model: str) -> tensor_pb2.TensorProto:
    """A TensorProto that may be anything: any dtype enum, dims, content and value lists."""
    count = draw(st.integers(0, 3))
    if draw(st.booleans()):
        proto = tf.make_tensor_proto(good_rows(model, max(count, 1)))
        proto.dtype = draw(st.sampled_from(list(TF_DTYPES)) | st.integers(-3, 130))
    else:
        proto = tensor_pb2.TensorProto()
        proto.dtype = draw(st.sampled_from(types_pb2.DataType.values()) | st.integers(-3, 300))
    if draw(st.booleans()):
        del proto.tensor_shape.dim[:]
        good_shape = [count, *good_rows(model, 1).shape[1:]]
        for size in draw(
            st.lists(DIMS, max_size=6) | st.just(good_shape) | st.sampled_from(HUGE_SHAPES)
        ):
            proto.tensor_shape.dim.add(size=size)
    proto.tensor_shape.unknown_rank = draw(st.integers(0, 9)) == 0
    content = draw(
        st.sampled_from(["keep", "none", "bytes", "right", "big", *REPEATED, "two fields"])
    )
    shape = [d.size for d in proto.tensor_shape.dim]
    if content != "keep":
        proto.ClearField("tensor_content")
    if content == "bytes":
        proto.tensor_content = draw(st.binary(max_size=200))
    elif content == "right":
        itemsize = np.dtype(TF_DTYPES.get(proto.dtype, np.float32)).itemsize
        size = math.prod(shape) if all(0 <= d <= 4000 for d in shape) else 1
        proto.tensor_content = bytes(min(size, 300_000) * itemsize)
    elif content == "big":  # past the size limit: refused by grpc itself
        proto.tensor_content = bytes(draw(st.integers(LIMIT // 2, 2 * LIMIT)))
    elif content in REPEATED:
        getattr(proto, content).extend(draw(st.lists(REPEATED[content], max_size=20)))
    elif content == "two fields":
        proto.float_val.extend(draw(st.lists(REPEATED["float_val"], min_size=1, max_size=5)))
        proto.int_val.extend(draw(st.lists(REPEATED["int_val"], min_size=1, max_size=5)))
    return proto


def spec_of(draw, model, request_spec) -> None:
    if not fuzz_path(draw):
        request_spec.name = model
        if draw(st.booleans()):
            request_spec.version.value = draw(st.sampled_from([0, 1]))
        request_spec.signature_name = draw(st.sampled_from(["", "serving_default"]))
        return
    request_spec.name = draw(
        st.just(model)
        | st.just(model)
        | st.sampled_from([*SERVED, "..", "", "nope"])
        | st.text(max_size=12)
    )
    how = draw(st.sampled_from([None, None, "version", "label"]))
    if how == "version":
        request_spec.version.value = draw(st.integers(-3, 3) | st.integers(-(2**63), 2**63 - 1))
    elif how == "label":
        request_spec.version_label = draw(
            st.sampled_from(["stable", "next", ""]) | st.text(max_size=8)
        )
    request_spec.signature_name = draw(
        st.sampled_from(["", "serving_default", "predict", "x"]) | st.text(max_size=6)
    )


@dataclass
class GrpcCall:
    request: object
    good: tuple | None = None


@st.composite
def tf_grpc_calls(draw) -> GrpcCall:
    model = draw(st.sampled_from(SERVED))
    rows = good_rows(model, draw(st.integers(1, 4)))
    request = predict_pb2.PredictRequest()
    spec_of(draw, model, request.model_spec)
    kind = draw(st.sampled_from(["good", "good", "repeated", "random", "random", "random"]))
    if kind == "good":
        request.inputs[INPUT[model]].CopyFrom(tf.make_tensor_proto(rows))
    elif kind == "repeated":
        proto = request.inputs[INPUT[model]]
        proto.dtype = types_pb2.DT_FLOAT
        proto.tensor_shape.CopyFrom(tf.make_tensor_proto(rows).tensor_shape)
        proto.float_val.extend(rows.ravel().tolist())
    else:
        names = st.sampled_from([INPUT[model], "images", "features", ""]) | st.text(max_size=6)
        for input_name in draw(st.lists(names, max_size=3, unique=True)):
            request.inputs[input_name].CopyFrom(draw(tensor_protos(model)))
    outputs = st.sampled_from([*OUTPUTS[model], "probabilities", "y"]) | st.text(max_size=5)
    wanted = tuple(draw(st.lists(outputs, max_size=3)) if draw(st.integers(0, 3)) == 0 else ())
    request.output_filter.extend(wanted)
    spec = request.model_spec
    good = (
        kind in ("good", "repeated") and spec.name == model and set(wanted) <= set(OUTPUTS[model])
    )
    good = good and spec.signature_name in ("", "serving_default")
    if spec.HasField("version") and spec.version.value not in (0, 1):
        good = False
    if spec.version_label and not (spec.version_label == "stable" and model == "cnn-mnist"):
        good = False
    return GrpcCall(request, (model, rows, wanted) if good else None)


def predict(model: str, dtype: int, dims: list[int], **fields) -> GrpcCall:
    """A PredictRequest for `model` whose one tensor has `dims` and `fields`."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    proto = request.inputs[INPUT[model]]
    proto.dtype = dtype
    for size in dims:
        proto.tensor_shape.dim.add(size=size)
    for name, value in fields.items():
        if name == "tensor_content":
            proto.tensor_content = value
        else:
            getattr(proto, name).extend(value)
    return GrpcCall(request)


@FUZZ
@given(call=tf_grpc_calls())
@example(call=predict("cnn-mnist", types_pb2.DT_FLOAT, [1, 28, 28, 1], tensor_content=b"\0"))
@example(call=predict("linear-regression", types_pb2.DT_INT8, [1, 1], int_val=[300]))
@example(call=predict("linear-regression", types_pb2.DT_HALF, [1, 1], half_val=[70_000]))
@example(call=predict("linear-regression", types_pb2.DT_FLOAT, [0, 2**62, 2**62]))
@example(call=predict("linear-regression", types_pb2.DT_FLOAT, [1] * 65, float_val=[1]))
@example(call=predict("cnn-mnist", types_pb2.DT_FLOAT, [0, 28, 28, 1]))  # no examples
def test_tf_serving_grpc_predict_ends_ok_or_with_a_clients_code(server, onnx, call):
    answer = call_grpc(server, server.predictions.Predict, call.request, TF_GRPC)
    if call.good:
        model, rows, wanted = call.good
        assert answer is not None, call
        got = {name: tf.make_ndarray(proto) for name, proto in answer.outputs.items()}
        assert_same(got, expected(onnx, model, rows, wanted))
    alive(server)


# ----------------------------------------------------------------------------- KServe v2 gRPC

V2_CONTENTS = {
    "bool_contents": st.booleans(),
    "int_contents": st.integers(-(2**31), 2**31 - 1),
    "int64_contents": st.integers(-(2**63), 2**63 - 1),
    "uint_contents": st.integers(0, 2**32 - 1),
    "uint64_contents": st.integers(0, 2**64 - 1),
    "fp32_contents": st.floats(width=32),
    "fp64_contents": st.floats(),
    "bytes_contents": st.binary(max_size=8),
}


@functools.cache
def v2_stub(target: str) -> service_pb2_grpc.GRPCInferenceServiceStub:
    return service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(target))


@st.composite
def v2_grpc_calls(draw) -> GrpcCall:
    model = draw(st.sampled_from(SERVED))
    rows = good_rows(model, draw(st.integers(1, 4)))
    name, version = model, draw(st.sampled_from(["", "1", "0"]))
    if fuzz_path(draw):
        name = draw(
            st.just(model)
            | st.just(model)
            | st.sampled_from([*SERVED, "..", ""])
            | st.text(max_size=12)
        )
        version = draw(st.sampled_from(["", "", "1", "0"]) | VERSIONS)
    request = service_pb2.ModelInferRequest(model_name=name, model_version=version)
    request.id = draw(st.text(max_size=6))
    kind = draw(st.sampled_from(["raw", "typed", "random", "random", "random", "consistent"]))
    if kind in ("raw", "typed"):
        tensor = request.inputs.add(name=INPUT[model], datatype="FP32", shape=rows.shape)
        if kind == "raw":
            request.raw_input_contents.append(rows.astype("<f4").tobytes())
        else:
            tensor.contents.fp32_contents.extend(rows.ravel().tolist())
    elif kind == "consistent":  # any shape with as many bytes as it holds, 0 included
        shape = draw(st.lists(st.integers(0, 5), max_size=5) | st.sampled_from(HUGE_SHAPES))
        datatype = draw(st.sampled_from(V2_DATATYPES))
        request.inputs.add(name=INPUT[model], datatype=datatype, shape=shape)
        itemsize = np.dtype(V2_NUMPY.get(datatype, np.float32)).itemsize
        request.raw_input_contents.append(bytes(math.prod(shape) * itemsize))
    else:
        names = st.sampled_from([INPUT[model], "images", "features", ""]) | st.text(max_size=6)
        datatypes = st.sampled_from(V2_DATATYPES) | st.text(max_size=5)
        for _ in range(draw(st.integers(0, 3))):
            shape = draw(
                st.lists(DIMS, max_size=5)
                | st.just(list(rows.shape))
                | st.sampled_from(HUGE_SHAPES)
            )
            tensor = request.inputs.add(name=draw(names), datatype=draw(datatypes), shape=shape)
            for field_name in draw(st.lists(st.sampled_from(list(V2_CONTENTS)), max_size=2)):
                values = draw(st.lists(V2_CONTENTS[field_name], max_size=20))
                getattr(tensor.contents, field_name).extend(values)
        raws = (
            st.binary(max_size=100)
            | st.just(rows.astype("<f4").tobytes())
            | st.builds(bytes, st.integers(LIMIT // 2, 2 * LIMIT))
        )
        request.raw_input_contents.extend(draw(st.lists(raws, max_size=3)))
    if draw(st.integers(0, 3)) == 0:
        outputs = st.sampled_from([*OUTPUTS[model], "probabilities", "y"]) | st.text(max_size=5)
        for output in draw(st.lists(outputs, max_size=3)):
            request.outputs.add(name=output)
    wanted = tuple(o.name for o in request.outputs)
    good = kind in ("raw", "typed") and name == model and version in ("", "1", "0")
    good = good and set(wanted) <= set(OUTPUTS[model]) and len(set(wanted)) == len(wanted)
    return GrpcCall(request, (model, rows, wanted) if good else None)


def v2_grpc_outputs(answer: service_pb2.ModelInferResponse) -> dict[str, np.ndarray]:
    """The answer's outputs, all in raw_output_contents whichever way the inputs came, as Triton."""
    assert len(answer.raw_output_contents) == len(answer.outputs)
    return {
        output.name: np.frombuffer(
            answer.raw_output_contents[index], np.dtype(V2_NUMPY[output.datatype]).newbyteorder("<")
        ).reshape(tuple(output.shape))
        for index, output in enumerate(answer.outputs)
    }


def infer(model: str, version: str, shape: list[int], raw: bytes | None) -> GrpcCall:
    """A ModelInferRequest for `model` whose one FP32 input has `shape` and no typed values."""
    request = service_pb2.ModelInferRequest(model_name=model, model_version=version)
    request.inputs.add(name=INPUT[model], datatype="FP32", shape=shape)
    if raw is not None:
        request.raw_input_contents.append(raw)
    return GrpcCall(request)


@FUZZ
@given(call=v2_grpc_calls())
@example(call=infer("linear-regression", "\u00b2", [1, 1], bytes(4)))  # "²".isdigit()
@example(call=infer("linear-regression", FIVE_THOUSAND_DIGITS, [1, 1], bytes(4)))
@example(call=infer("linear-regression", "", [0, 2**62, 2**62], b""))
@example(call=infer("linear-regression", "", [0, 2**62, 2**62], None))
def test_kserve_v2_grpc_infer_ends_ok_or_with_a_clients_code(server, onnx, call):
    answer = call_grpc(server, v2_stub(server.grpc_target).ModelInfer, call.request, V2_GRPC)
    if call.good:
        model, rows, wanted = call.good
        assert answer is not None, call
        assert_same(v2_grpc_outputs(answer), expected(onnx, model, rows, wanted))
    alive(server)


# ----------------------------------------------------------------------------- strings

B64 = st.binary(max_size=12).map(lambda b: {"b64": base64.b64encode(b).decode()})
STRING_LEAVES = st.one_of(
    st.text(max_size=12), B64, st.fixed_dictionaries({"b64": st.text(max_size=8)}), SCALARS
)


def _length_prefixed(elements: list[bytes]) -> bytes:
    return b"".join(len(e).to_bytes(4, "little") + e for e in elements)


@st.composite
def string_calls(draw) -> tuple[str, object]:
    """(protocol, request) for the text model over any of the four protocols, its strings
    anything: text, b64 of any bytes (not UTF-8 among them), bad b64, other JSON values, raw
    BYTES elements whose lengths may lie, an index in or out of the table's range."""
    protocol = draw(st.sampled_from([TF_REST, V2_REST, TF_GRPC, V2_GRPC]))
    count = draw(st.integers(0, 3))
    leaves = st.text(max_size=12) if draw(st.booleans()) else STRING_LEAVES  # half plain
    text = draw(st.lists(leaves, min_size=count, max_size=count))
    index = draw(st.lists(st.integers(-4, 4), min_size=count, max_size=count))
    binary = draw(st.lists(st.binary(max_size=12), min_size=count, max_size=count))
    if protocol == TF_REST:
        inputs = {
            "text": draw(st.just(text) | st.builds(mutated_strings, st.just(text))),
            "index": index,
        }
        body = (
            {"inputs": inputs}
            if draw(st.booleans())
            else {
                "instances": [
                    {"text": t, "index": i} for t, i in zip(inputs["text"], index, strict=False)
                ]
                or [{}]
            }
        )
        good = count and inputs["text"] is text and all(isinstance(t, str) for t in text)
        good = good and all(-len(TABLE) <= i < len(TABLE) for i in index)
        call = RestCall("POST", f"/v1/models/{TEXT_MODEL}:predict", json.dumps(body).encode())
        call.good = (text, index) if good else None
        return protocol, call
    if protocol == V2_REST:
        tensors = [
            {"name": "text", "datatype": "BYTES", "shape": [count], "data": text},
            {"name": "index", "datatype": "INT64", "shape": [count], "data": index},
        ]
        return protocol, RestCall(
            "POST", f"/v2/models/{TEXT_MODEL}/infer", json.dumps({"inputs": tensors}).encode()
        )
    if protocol == TF_GRPC:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = TEXT_MODEL
        proto = request.inputs["text"]
        proto.dtype = types_pb2.DT_STRING
        proto.tensor_shape.dim.add(size=draw(st.sampled_from([count, count + 1, 2**40])))
        proto.string_val.extend(binary)
        request.inputs["index"].CopyFrom(tf.make_tensor_proto(np.array(index, np.int64)))
        return protocol, request
    request = service_pb2.ModelInferRequest(model_name=TEXT_MODEL)
    request.inputs.add(name="text", datatype="BYTES", shape=[draw(st.sampled_from([count, 2**40]))])
    request.inputs.add(name="index", datatype="INT64", shape=[count])
    raw = _length_prefixed(binary)
    request.raw_input_contents.extend(
        [draw(st.just(raw) | st.binary(max_size=40)), np.array(index, "<i8").tobytes()]
    )
    return protocol, request


def mutated_strings(text: list) -> list:
    """The strings made ragged: one wrapped in a list of its own."""
    return [[text[0]], *text[1:]] if text else [[]]


@FUZZ
@given(call=string_calls())
def test_string_inputs_end_ok_or_with_a_clients_error(server, call):
    protocol, request = call
    if protocol in (TF_REST, V2_REST):
        status, body, _ = send(server, request, protocol)
        if request.good:  # plain strings and indexes in range: the model's answer
            text, index = request.good
            assert status == 200, (body[:2000], request)
            answer = json.loads(body)
            rows = answer.get("predictions") or [
                dict(zip(answer["outputs"], row, strict=True))
                for row in zip(*answer["outputs"].values(), strict=True)
            ]
            assert rows == [
                {
                    "echo_bytes": {"b64": base64.b64encode(t.encode()).decode()},
                    "shout": t + "!",
                    "picked": float(TABLE[i]),
                }
                for t, i in zip(text, index, strict=True)
            ]
    elif protocol == TF_GRPC:
        call_grpc(server, server.predictions.Predict, request, protocol)
    else:
        call_grpc(server, v2_stub(server.grpc_target).ModelInfer, request, protocol)
    alive(server)


# ----------------------------------------------------------------------------- afterwards


def test_good_requests_are_answered_right_after_the_fuzzing(server, onnx):
    """Run last: whatever came before, each protocol still answers each model right."""
    for model in SERVED:
        rows = good_rows(model, 3)
        want = expected(onnx, model, rows)
        status, answer = http(
            f"{server.url}/v1/models/{model}:predict", json.dumps({"instances": rows.tolist()})
        )
        assert status == 200, answer
        assert_same(tf_rest_outputs(answer, "instances", OUTPUTS[model]), want)
        body = json.dumps({"inputs": [v2_input(rows, INPUT[model])]}).encode()
        status, raw, headers = send(
            server, RestCall("POST", f"/v2/models/{model}/infer", body), V2_REST
        )
        assert status == 200
        assert_same(v2_rest_outputs(raw, headers)[1], want)
        proto = tf.make_tensor_proto(rows)
        answer = server.predictions.Predict(
            grpc_request(model, proto, input_name=INPUT[model]), timeout=TIMEOUT
        )
        assert_same({k: tf.make_ndarray(v) for k, v in answer.outputs.items()}, want)
        request = service_pb2.ModelInferRequest(model_name=model)
        request.inputs.add(name=INPUT[model], datatype="FP32", shape=rows.shape)
        request.raw_input_contents.append(rows.tobytes())
        assert_same(
            v2_grpc_outputs(v2_stub(server.grpc_target).ModelInfer(request, timeout=TIMEOUT)), want
        )
    alive(server)
    log = server.log.read_text()
    assert "Traceback" not in log, log[-5000:]
