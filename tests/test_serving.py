"""Serving: a real `zoo serve` process on an exported repository, called as TF Serving's clients call it."""

import base64
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import keras
import numpy as np
import onnxruntime
import pytest
import tensorflow as tf
import tritonclient.grpc as triton_grpc
import tritonclient.http
from conftest import run_zoo
from google.protobuf import json_format, text_format
from helpers import (
    READY_SECONDS,
    ZOO,
    Server,
    assert_one_line_error,
    counted,
    examples,
    fake_run,
    free_port,
    grpc_request,
    http,
    running,
    samples,
    v2_input,
    wait_for,
    write_text_model,
)
from PIL import Image
from tensorflow.core.framework import tensor_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    predict_pb2,
    regression_pb2,
)
from tritonclient.grpc import model_config_pb2, service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

import zoo
from zoo import runs
from zoo.export import export_run
from zoo.export.parity import expected_outputs
from zoo.serving import playground
from zoo.serving.core import version_labels
from zoo.serving.core.errors import ServerError

MODELS = ("cnn-mnist", "softmax-classification", "linear-regression")
LABELS = "cnn-mnist:stable=1,cnn-mnist:next=2"  # no test makes a version 2 of cnn-mnist


@pytest.fixture(scope="module")
def root_and_exports(tmp_path_factory):
    """(the folder holding runs/ and models/, model name -> ExportResult) for each of MODELS."""
    root = tmp_path_factory.mktemp("serving")
    results = {
        name: export_run(fake_run(root / "runs", name), model_dir=root / "models", samples=4)
        for name in MODELS
    }
    return root, results


@pytest.fixture(scope="module")
def server(root_and_exports):
    root, _ = root_and_exports
    with running(Server(root, "--version-labels", LABELS)) as served:
        yield served


def keras_answers(root_and_exports, name: str, raw: np.ndarray) -> dict[str, np.ndarray]:
    _, results = root_and_exports
    model = keras.saving.load_model(results[name].run_dir / runs.MODEL)
    return expected_outputs(zoo.get_spec(name), model, raw)


def test_status_and_metadata_are_tf_servings(server):
    assert server.rest("/v1/models/cnn-mnist") == (
        200,
        {
            "model_version_status": [
                {
                    "version": "1",
                    "state": "AVAILABLE",
                    "status": {"error_code": "OK", "error_message": ""},
                }
            ]
        },
    )
    assert server.rest("/v1/models/cnn-mnist/versions/1")[0] == 200
    status, metadata = server.rest("/v1/models/cnn-mnist/metadata")
    assert status == 200
    assert metadata["model_spec"] == {"name": "cnn-mnist", "signature_name": "", "version": "1"}
    signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["method_name"] == "tensorflow/serving/predict"
    images = signature["inputs"]["images"]
    assert images["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in images["tensor_shape"]["dim"]] == ["-1", "28", "28", "1"]
    assert signature["outputs"]["classes"]["dtype"] == "DT_INT64"
    assert [d["size"] for d in signature["outputs"]["probabilities"]["tensor_shape"]["dim"]] == [
        "-1",
        "10",
    ]


def test_rest_predict_row_and_columnar_match_keras(server, root_and_exports):
    raw = examples("cnn-mnist", 3)
    expected = keras_answers(root_and_exports, "cnn-mnist", raw)
    path = "/v1/models/cnn-mnist:predict"

    status, rows = server.rest(path, json.dumps({"instances": raw.tolist()}))
    assert status == 200 and len(rows["predictions"]) == 3
    np.testing.assert_allclose(
        [r["probabilities"] for r in rows["predictions"]], expected["probabilities"], atol=1e-4
    )
    assert [r["classes"] for r in rows["predictions"]] == expected["classes"].tolist()

    named_rows = [{"images": x} for x in raw.tolist()]
    body = {"signature_name": "serving_default", "instances": named_rows}
    assert server.rest("/v1/models/cnn-mnist/versions/1:predict", json.dumps(body)) == (200, rows)

    for inputs in (raw.tolist(), {"images": raw.tolist()}):
        status, columns = server.rest(path, json.dumps({"inputs": inputs}))
        assert status == 200
        np.testing.assert_allclose(
            columns["outputs"]["probabilities"], expected["probabilities"], atol=1e-4
        )
        assert columns["outputs"]["classes"] == expected["classes"].tolist()

    # One output: predictions and outputs are the values themselves, as in TF Serving.
    raw = np.array([[4.0], [1.0]], np.float32)
    expected = keras_answers(root_and_exports, "linear-regression", raw)["predictions"]
    status, answer = server.rest(
        "/v1/models/linear-regression:predict", json.dumps({"instances": [[4], [1]]})
    )
    assert status == 200
    np.testing.assert_allclose(answer["predictions"], expected, atol=1e-4)
    status, answer = server.rest(
        "/v1/models/linear-regression:predict", json.dumps({"inputs": [[4], [1]]})
    )
    np.testing.assert_allclose(answer["outputs"], expected, atol=1e-4)


def test_grpc_predict_with_both_tensor_encodings(server, root_and_exports):
    raw = examples("softmax-classification", 3)
    expected = keras_answers(root_and_exports, "softmax-classification", raw)
    content = tf.make_tensor_proto(raw)
    assert content.tensor_content
    repeated = tensor_pb2.TensorProto(dtype=tf.float32.as_datatype_enum)
    repeated.tensor_shape.CopyFrom(content.tensor_shape)
    repeated.float_val.extend(raw.ravel().tolist())
    for proto in (content, repeated):
        answer = server.predictions.Predict(
            grpc_request("softmax-classification", proto), timeout=30
        )
        assert answer.model_spec.name == "softmax-classification"
        assert answer.model_spec.version.value == 1
        np.testing.assert_allclose(
            tf.make_ndarray(answer.outputs["probabilities"]), expected["probabilities"], atol=1e-4
        )
        np.testing.assert_array_equal(
            tf.make_ndarray(answer.outputs["classes"]), expected["classes"]
        )
        # In the typed fields, as TF Serving answers and its mnist_client.py reads them.
        probabilities = answer.outputs["probabilities"]
        assert not probabilities.tensor_content and not answer.outputs["classes"].tensor_content
        np.testing.assert_allclose(
            np.array(probabilities.float_val).reshape(
                [d.size for d in probabilities.tensor_shape.dim]
            ),
            expected["probabilities"],
            atol=1e-4,
        )
        assert list(answer.outputs["classes"].int64_val) == expected["classes"].tolist()

    filtered = grpc_request("softmax-classification", content, version=1)
    filtered.output_filter.append("classes")
    assert list(server.predictions.Predict(filtered, timeout=30).outputs) == ["classes"]


def test_grpc_metadata_and_status(server):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "cnn-mnist"
    answer = server.predictions.GetModelMetadata(request, timeout=30)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    assert answer.metadata["signature_def"].Unpack(signatures)
    definition = signatures.signature_def["serving_default"]
    assert definition.method_name == "tensorflow/serving/predict"
    assert [d.size for d in definition.inputs["images"].tensor_shape.dim] == [-1, 28, 28, 1]
    assert set(definition.outputs) == {"probabilities", "classes"}

    status = get_model_status_pb2.GetModelStatusRequest()
    status.model_spec.name = "cnn-mnist"
    (version,) = server.models.GetModelStatus(status, timeout=30).model_version_status
    assert version.version == 1
    assert version.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE


def example_body(name: str, raw: np.ndarray) -> str:
    """A :classify / :regress body: each example's values, flattened, under the input's name."""
    feature = zoo.get_spec(name).input.name
    return json.dumps({"examples": [{feature: row.ravel().tolist()} for row in raw]})


def test_rest_classify_and_regress_match_keras(server, root_and_exports):
    for name in ("softmax-classification", "cnn-mnist"):
        raw = examples(name, 3)
        expected = keras_answers(root_and_exports, name, raw)["probabilities"]
        status, answer = server.rest(f"/v1/models/{name}:classify", example_body(name, raw))
        assert status == 200, answer
        labels = list(zoo.get_spec(name).labels)
        assert [[label for label, _ in row] for row in answer["results"]] == [labels] * 3
        scores = [[score for _, score in row] for row in answer["results"]]
        np.testing.assert_allclose(scores, expected, atol=1e-4)

    # Values every example shares may come once, in the context.
    raw = examples("softmax-classification", 1)
    body = {"context": {"features": raw[0].tolist()}, "examples": [{}, {"unused": 1}]}
    status, answer = server.rest("/v1/models/softmax-classification:classify", json.dumps(body))
    assert status == 200 and len(answer["results"]) == 2
    expected = keras_answers(root_and_exports, "softmax-classification", raw)["probabilities"][0]
    np.testing.assert_allclose([s for _, s in answer["results"][1]], expected, atol=1e-4)

    raw = np.array([[4.0], [1.0]], np.float32)
    expected = keras_answers(root_and_exports, "linear-regression", raw)["predictions"]
    body = '{"examples": [{"features": 4}, {"features": [1.0]}]}'
    status, answer = server.rest("/v1/models/linear-regression/versions/1:regress", body)
    assert status == 200, answer
    np.testing.assert_allclose(answer["results"], expected.ravel(), atol=1e-4)


def tf_example(**features: np.ndarray) -> tf.train.Example:
    return tf.train.Example(
        features=tf.train.Features(
            feature={
                k: tf.train.Feature(float_list=tf.train.FloatList(value=v.ravel()))
                for k, v in features.items()
            }
        )
    )


def test_grpc_classify_and_regress_with_examples(server, root_and_exports):
    raw = examples("cnn-mnist", 2)
    expected = keras_answers(root_and_exports, "cnn-mnist", raw)["probabilities"]
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "cnn-mnist"
    request.input.example_list.examples.extend(tf_example(images=x) for x in raw)
    answer = server.predictions.Classify(request, timeout=30)
    assert answer.model_spec.version.value == 1
    labels = list(zoo.get_spec("cnn-mnist").labels)
    for classes, probabilities in zip(answer.result.classifications, expected, strict=True):
        assert [c.label for c in classes.classes] == labels
        np.testing.assert_allclose([c.score for c in classes.classes], probabilities, atol=1e-4)

    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "linear-regression"
    shared = request.input.example_list_with_context
    shared.context.CopyFrom(tf_example(features=np.array([4.0])))
    shared.examples.extend([tf_example(features=np.array([1.0])), tf.train.Example()])
    answer = server.predictions.Regress(request, timeout=30)
    raw = np.array([[1.0], [4.0]], np.float32)
    expected = keras_answers(root_and_exports, "linear-regression", raw)["predictions"].ravel()
    np.testing.assert_allclose([r.value for r in answer.result.regressions], expected, atol=1e-4)

    # The wrong kind of model, or an example without the input's feature, is INVALID_ARGUMENT.
    request.model_spec.name = "cnn-mnist"
    wrong = classification_pb2.ClassificationRequest(model_spec={"name": "linear-regression"})
    wrong.input.example_list.examples.add()
    missing = classification_pb2.ClassificationRequest(model_spec={"name": "cnn-mnist"})
    missing.input.example_list.examples.add()
    for call, bad, fragment in (
        (server.predictions.Regress, request, "Expected regression signature"),
        (server.predictions.Classify, wrong, "Expected classification signature"),
        (server.predictions.Classify, missing, "no feature 'images'"),
    ):
        with pytest.raises(grpc.RpcError) as error:
            call(bad, timeout=30)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert fragment in error.value.details()


def test_version_labels_over_rest_and_grpc(server, root_and_exports):
    raw = examples("cnn-mnist", 2)
    expected = keras_answers(root_and_exports, "cnn-mnist", raw)["probabilities"]
    status, answer = server.rest(
        "/v1/models/cnn-mnist/labels/stable:predict", json.dumps({"instances": raw.tolist()})
    )
    assert status == 200
    np.testing.assert_allclose(
        [r["probabilities"] for r in answer["predictions"]], expected, atol=1e-4
    )
    assert server.rest("/v1/models/cnn-mnist/labels/stable/metadata")[1]["model_spec"][
        "version"
    ] == ("1")
    status, answer = server.rest("/v1/models/cnn-mnist/labels/stable")
    assert status == 200 and answer["model_version_status"][0]["version"] == "1"
    # A label whose version is not served is that version's 404; an unknown label is a 400.
    status, answer = server.rest("/v1/models/cnn-mnist/labels/next:predict", '{"inputs": []}')
    assert (status, answer["error"]) == (
        404,
        "Servable not found for request: Specific(cnn-mnist, 2)",
    )
    status, answer = server.rest("/v1/models/cnn-mnist/labels/nope")
    assert (status, answer["error"]) == (400, "Unrecognized servable version label: nope")

    request = grpc_request("cnn-mnist", tf.make_tensor_proto(raw))
    request.model_spec.version_label = "stable"
    answer = server.predictions.Predict(request, timeout=30)
    assert answer.model_spec.version.value == 1
    np.testing.assert_allclose(
        tf.make_ndarray(answer.outputs["probabilities"]), expected, atol=1e-4
    )
    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = "cnn-mnist"
    status_request.model_spec.version_label = "stable"
    (version,) = server.models.GetModelStatus(status_request, timeout=30).model_version_status
    assert version.version == 1
    for label, code in (
        ("nope", grpc.StatusCode.INVALID_ARGUMENT),
        ("next", grpc.StatusCode.NOT_FOUND),
    ):
        request.model_spec.version_label = label
        with pytest.raises(grpc.RpcError) as error:
            server.predictions.Predict(request, timeout=30)
        assert error.value.code() == code


def test_kserve_v2_health_metadata_and_infer(server, root_and_exports):
    assert server.rest("/v2/health/live") == (200, {"live": True})
    assert server.rest("/v2/health/ready") == (200, {"ready": True})
    status, answer = server.rest("/v2")
    assert status == 200 and answer["name"] == "zoo"
    assert server.rest("/v2/models/cnn-mnist") == (
        200,
        {
            "name": "cnn-mnist",
            "versions": ["1"],
            "platform": "onnxruntime_onnx",
            "inputs": [{"name": "images", "datatype": "FP32", "shape": [-1, 28, 28, 1]}],
            "outputs": [
                {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]},
                {"name": "classes", "datatype": "INT64", "shape": [-1]},
            ],
        },
    )
    assert server.rest("/v2/models/cnn-mnist/versions/1")[1]["name"] == "cnn-mnist"
    assert server.rest("/v2/models/cnn-mnist/versions/1/ready") == (
        200,
        {"name": "cnn-mnist", "ready": True},
    )

    raw = examples("cnn-mnist", 3)
    expected = keras_answers(root_and_exports, "cnn-mnist", raw)
    body = {"id": "r1", "inputs": [v2_input(raw)]}
    status, answer = server.rest("/v2/models/cnn-mnist/infer", json.dumps(body))
    assert status == 200, answer
    assert (answer["model_name"], answer["model_version"], answer["id"]) == ("cnn-mnist", "1", "r1")
    outputs = {o["name"]: o for o in answer["outputs"]}
    assert outputs["probabilities"]["shape"] == [3, 10]
    assert outputs["probabilities"]["datatype"] == "FP32"
    np.testing.assert_allclose(
        np.reshape(outputs["probabilities"]["data"], (3, 10)), expected["probabilities"], atol=1e-4
    )
    assert outputs["classes"] == {
        "name": "classes",
        "datatype": "INT64",
        "shape": [3],
        "data": expected["classes"].tolist(),
    }
    body = {"inputs": [{**v2_input(raw), "data": raw.tolist()}], "outputs": [{"name": "classes"}]}
    status, answer = server.rest("/v2/models/cnn-mnist/versions/1/infer", json.dumps(body))
    assert status == 200 and [o["name"] for o in answer["outputs"]] == ["classes"]


one = np.zeros((1, 1), np.float32)
BAD_V2 = [
    ("/v2/models/nope", None, 404, "Servable not found"),
    ("/v2/models/linear-regression/versions/9/ready", None, 404, "Specific"),
    ("/v2/models/nope/infer", {"inputs": [v2_input(one, "features")]}, 404, "Latest(nope)"),
    ("/v2/models/linear-regression/infer", "{", 400, "JSON Parse error"),
    ("/v2/models/linear-regression/infer", {"inputs": []}, 400, "'inputs'"),
    ("/v2/models/linear-regression/infer", {"inputs": [{"name": "features"}]}, 400, "shape"),
    (
        "/v2/models/linear-regression/infer",
        {"inputs": [v2_input(one, "features", "FP64")]},
        400,
        "datatype FP64",
    ),
    (
        "/v2/models/linear-regression/infer",
        {"inputs": [{**v2_input(one, "features"), "shape": [1, 2]}]},
        400,
        "do not fill",
    ),
    (
        "/v2/models/linear-regression/infer",
        {"inputs": [v2_input(np.zeros((1, 2), np.float32), "features")]},
        400,
        "shape",
    ),
    ("/v2/models/linear-regression/infer", {"inputs": [v2_input(one, "x")]}, 400, "alias"),
    (
        "/v2/models/linear-regression/infer",
        {"inputs": [v2_input(one, "features")], "outputs": [{"name": "y"}]},
        400,
        "alias",
    ),
    ("/v2/models/linear-regression/explain", {}, 404, "Not found: POST"),
    ("/v2/models/linear-regression", {}, 405, "use GET"),
    ("/v2/models/linear-regression/infer", None, 405, "use POST"),
]


@pytest.mark.parametrize(("path", "body", "code", "fragment"), BAD_V2)
def test_bad_kserve_v2_requests_get_errors(server, path, body, code, fragment):
    body = json.dumps(body) if isinstance(body, dict) else body
    status, answer = server.rest(path, body)
    assert status == code and fragment in answer["error"], answer
    good = {"inputs": [v2_input(np.ones((1, 1), np.float32), "features")]}
    assert server.rest("/v2/models/linear-regression/infer", json.dumps(good))[0] == 200


def onnx_runtime(root_and_exports, name: str, raw: np.ndarray) -> dict[str, np.ndarray]:
    """The outputs of the exported model.onnx in this process, by name."""
    _, results = root_and_exports
    session = onnxruntime.InferenceSession(str(results[name].version_dir / "model.onnx"))
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(names, {session.get_inputs()[0].name: raw}), strict=True))


def test_tritonclient_http_binary_and_json_match_onnx_runtime(server, root_and_exports):
    """Triton's own HTTP client, unmodified: binary tensors by default, JSON when asked."""
    client = tritonclient.http.InferenceServerClient(server.url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("cnn-mnist")
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    raw = examples("cnn-mnist", 5)
    expected = onnx_runtime(root_and_exports, "cnn-mnist", raw)

    images = tritonclient.http.InferInput("images", list(raw.shape), "FP32")
    images.set_data_from_numpy(raw)  # binary_data=True: the client's default
    answer = client.infer("cnn-mnist", [images])  # no outputs named: all of them, binary
    assert all("binary_data_size" in o["parameters"] for o in answer.get_response()["outputs"])
    for name, value in expected.items():
        np.testing.assert_allclose(answer.as_numpy(name), value, atol=1e-5)

    images.set_data_from_numpy(raw, binary_data=False)
    outputs = [tritonclient.http.InferRequestedOutput("probabilities", binary_data=False)]
    answer = client.infer(
        "cnn-mnist", [images], model_version="0", outputs=outputs, request_id="json"
    )
    response = answer.get_response()
    assert (response["id"], response["model_version"]) == ("json", "1")
    assert [o["name"] for o in response["outputs"]] == ["probabilities"]
    assert "data" in response["outputs"][0]
    np.testing.assert_allclose(
        answer.as_numpy("probabilities"), expected["probabilities"], atol=1e-5
    )

    images.set_data_from_numpy(raw)
    outputs = [
        tritonclient.http.InferRequestedOutput("classes"),
        tritonclient.http.InferRequestedOutput("probabilities", binary_data=False),
    ]
    answer = client.infer(
        "cnn-mnist", [images], outputs=outputs, request_compression_algorithm="gzip"
    )
    np.testing.assert_array_equal(answer.as_numpy("classes"), expected["classes"])
    np.testing.assert_allclose(
        answer.as_numpy("probabilities"), expected["probabilities"], atol=1e-5
    )


def binary_post(server: Server, path: str, header: dict, data: bytes, length=None):
    """(status, JSON answer) of a binary-extension POST: the JSON header, then `data`."""
    head = json.dumps(header).encode()
    length = len(head) if length is None else length
    request = urllib.request.Request(
        server.url + path,
        data=head + data,
        headers={"Inference-Header-Content-Length": str(length)},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_bad_binary_tensor_requests_get_clear_errors(server):
    raw = np.ones((2, 1), np.float32)
    binary = {"name": "features", "shape": [2, 1], "datatype": "FP32"}
    path = "/v2/models/linear-regression/infer"
    cases = [
        ({"inputs": [{**binary, "parameters": {"binary_data_size": 4}}]}, raw, None, "8 bytes"),
        ({"inputs": [{**binary, "parameters": {"binary_data_size": 8}}]}, raw[:1], None, "ends 4"),
        ({"inputs": [{**binary, "parameters": {"binary_data_size": 8}}]}, raw, 10**6, "length"),
        ({"inputs": [v2_input(raw, "features")]}, raw, None, "8 bytes after"),
        ({"inputs": [binary]}, raw, None, "binary_data_size instead of data"),
    ]
    for header, data, length, fragment in cases:
        status, answer = binary_post(server, path, header, data.tobytes(), length)
        assert status == 400 and fragment in answer["error"], answer
    good = {"inputs": [{**binary, "parameters": {"binary_data_size": 8}}]}
    status, answer = binary_post(server, path, good, raw.tobytes())
    assert status == 200 and json.loads(answer)["outputs"][0]["shape"] == [2, 1]


def test_version_0_means_the_default_version(server):
    raw = np.zeros((1, 28, 28, 1), np.float32)
    request = grpc_request("cnn-mnist", tf.make_tensor_proto(raw), version=0)
    assert server.predictions.Predict(request, timeout=30).model_spec.version.value == 1
    status = get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "cnn-mnist"})
    status.model_spec.version.value = 0
    (version,) = server.models.GetModelStatus(status, timeout=30).model_version_status
    assert version.version == 1
    assert (
        server.rest("/v1/models/cnn-mnist/versions/0/metadata")[1]["model_spec"]["version"] == "1"
    )
    assert server.rest("/v2/models/cnn-mnist/versions/0")[0] == 200


def test_metrics_count_the_requests_just_sent(server):
    before = samples(server, "/metrics")
    body = json.dumps({"instances": examples("cnn-mnist", 2).tolist()})
    for _ in range(3):
        assert server.rest("/v1/models/cnn-mnist:predict", body)[0] == 200
    assert server.rest("/v1/models/cnn-mnist/versions/9:predict", body)[0] == 404  # no version
    assert server.rest("/v1/models/cnn-mnist:predict", '{"instances": [[1]]}')[0] == 400
    request = grpc_request("cnn-mnist", tf.make_tensor_proto(examples("cnn-mnist", 1)))
    server.predictions.Predict(request, timeout=30)
    v2 = {"inputs": [v2_input(examples("cnn-mnist", 1))]}
    assert server.rest("/v2/models/cnn-mnist/infer", json.dumps(v2))[0] == 200
    after = samples(server, "/monitoring/prometheus/metrics")

    requests = ":tensorflow:serving:request_count_total"
    mnist = {"model_name": "cnn-mnist", "version": "1"}
    rest = {**mnist, "API": "Predict", "entrypoint": "REST"}
    assert counted(before, after, requests, **rest, status="OK") == 3
    assert counted(before, after, requests, **rest, status="INVALID_ARGUMENT") == 1
    assert counted(before, after, requests, **mnist, API="Predict", entrypoint="GRPC") == 1
    assert counted(before, after, requests, **mnist, API="ModelInfer", entrypoint="REST") == 1
    assert counted(before, after, requests, model_name="cnn-mnist") == 6  # not the missing version
    latency = ":tensorflow:serving:request_latency"
    assert counted(before, after, f"{latency}_count", **rest) == 4
    assert counted(before, after, f"{latency}_sum", **rest) > 0
    batches = ":tensorflow:serving:batching:processed_batch_size"
    assert counted(before, after, f"{batches}_sum", **mnist) == 3 * 2 + 1 + 1
    loaded = ":tensorflow:serving:model_versions_loaded"
    assert after[(loaded, frozenset({("model_name", "cnn-mnist")}))] == 1
    queue = ":tensorflow:serving:batching:queue_size"
    assert after[(queue, frozenset(mnist.items()))] == 0  # every request has been answered


BAD_REST = [
    ("/v1/models/nope:predict", '{"instances": [[1]]}', 404, "Servable not found"),
    ("/v1/models/nope", None, 404, "Could not find any versions of model nope"),
    ("/v1/models/linear-regression/versions/9:predict", '{"instances": [[1]]}', 404, "Specific"),
    ("/v1/models/linear-regression:predict", '{"instances": [[1, 2]]}', 400, "shape"),
    ("/v1/models/linear-regression:predict", '{"instances": [["a"]]}', 400, "float32"),
    ("/v1/models/linear-regression:predict", '{"instances": [[1], [2, 3]]}', 400, "rectangular"),
    ("/v1/models/linear-regression:predict", '{"instances": [[1]', 400, "JSON Parse error"),
    ("/v1/models/linear-regression:predict", "{}", 400, "Missing 'inputs' or 'instances' key"),
    ("/v1/models/linear-regression:predict", '{"inputs": {"x": [[1]]}}', 400, "alias not found"),
    (
        "/v1/models/linear-regression:predict",
        '{"signature_name": "s", "inputs": [[1]]}',
        400,
        '"s"',
    ),
    ("/v1/models/linear-regression:explain", "{}", 404, "Not found: POST"),
    ("/v1/models/linear-regression:predict", None, 405, "Method GET is not allowed"),
    ("/v1/models/linear-regression/metadata", "{}", 405, "use GET"),
    ("/v1/model", None, 404, "zoo serves /v1/models/"),
    ("/index.html", None, 404, "Not found: GET /index.html"),
    ("/v1/models/cnn-mnist:classify", '{"instances": [[1]]}', 400, "'examples' is expected"),
    ("/v1/models/cnn-mnist:classify", '{"examples": []}', 400, "empty array"),
    ("/v1/models/cnn-mnist:classify", '{"examples": [{"images": [1]}]}', 400, "has 1 values"),
    ("/v1/models/cnn-mnist:classify", '{"examples": [{"x": [1]}]}', 400, "no feature 'images'"),
    ("/v1/models/cnn-mnist:classify", '{"examples": [{"images": ["a"]}]}', 400, "numbers"),
    ("/v1/models/cnn-mnist:classify", '{"examples": [{"images": [[1]]}]}', 400, "JSON type"),
    ("/v1/models/cnn-mnist:classify", '{"examples": [1]}', 400, "Example must be JSON object"),
    ("/v1/models/linear-regression:classify", '{"examples": [{}]}', 400, "classification"),
    ("/v1/models/cnn-mnist:regress", '{"examples": [{}]}', 400, "regression signature"),
    ("/v1/models/nope:regress", '{"examples": [{}]}', 404, "Latest(nope)"),
    ("/v1/models/cnn-mnist/labels/nope:classify", "{}", 400, "Unrecognized servable version"),
]


@pytest.mark.parametrize(("path", "body", "code", "fragment"), BAD_REST)
def test_bad_rest_requests_get_tf_servings_errors(server, path, body, code, fragment):
    status, answer = server.rest(path, body)
    assert status == code and fragment in answer["error"], answer
    assert server.rest("/v1/models/linear-regression:predict", '{"instances": [[4]]}')[0] == 200


def test_bad_grpc_requests_get_tf_servings_codes(server):
    raw = np.zeros((1, 28, 28, 1), np.float32)
    cases = [
        (
            grpc_request("nope", tf.make_tensor_proto(raw), input_name="images"),
            grpc.StatusCode.NOT_FOUND,
            "nope",
        ),
        (grpc_request("cnn-mnist", tf.make_tensor_proto(raw), 7), grpc.StatusCode.NOT_FOUND, "7"),
        (
            grpc_request("cnn-mnist", tf.make_tensor_proto(raw[:, :14])),
            grpc.StatusCode.INVALID_ARGUMENT,
            "shape",
        ),
        (
            grpc_request("cnn-mnist", tf.make_tensor_proto(raw.astype(np.float64))),
            grpc.StatusCode.INVALID_ARGUMENT,
            "double",
        ),
        (
            predict_pb2.PredictRequest(model_spec={"name": "cnn-mnist"}),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Missing",
        ),
    ]
    for request, code, fragment in cases:
        with pytest.raises(grpc.RpcError) as error:
            server.predictions.Predict(request, timeout=30)
        assert error.value.code() == code and fragment in error.value.details()
    good = grpc_request("cnn-mnist", tf.make_tensor_proto(raw))
    assert server.predictions.Predict(good, timeout=30).outputs["classes"]


def test_zoo_predict_tabular_and_png(server, tmp_path):
    answer = run_zoo("predict", "softmax-classification", "1", "11", "7", "9", "--url", server.url)
    assert answer.returncode == 0, answer.stderr
    first, *top = answer.stdout.splitlines()
    assert first in zoo.get_spec("softmax-classification").labels and len(top) == 3

    images, _ = zoo.data.load("mnist", "test")
    png = tmp_path / "digit.png"
    Image.fromarray(np.asarray(images[0]).reshape(28, 28).astype(np.uint8)).save(png)
    answer = run_zoo(
        "predict", "cnn-mnist", str(png), "--grpc", server.grpc_target, "--json", "--top-k", "2"
    )
    assert answer.returncode == 0, answer.stderr
    (digit,) = json.loads(answer.stdout)
    assert digit["label"] in zoo.get_spec("cnn-mnist").labels and len(digit["top_k"]) == 2
    rest_answer = run_zoo(
        "predict", "cnn-mnist", str(png), "--url", server.url, "--json", "--top-k", "2"
    )
    assert json.loads(rest_answer.stdout)[0]["label"] == digit["label"]


def test_zoo_predict_without_a_server_is_one_line(tmp_path):
    port = free_port()
    answer = run_zoo("predict", "linear-regression", "4", "--url", f"http://127.0.0.1:{port}")
    assert_one_line_error(answer, "cannot reach")


def test_zoo_predict_waits_for_a_server_that_is_starting(root_and_exports):
    """`zoo serve & zoo predict --wait S` pasted together: both protocols wait for the ports."""
    root, _ = root_and_exports
    rest_port, grpc_port = free_port(), free_port()
    ask = (str(ZOO), "predict", "linear-regression", "4", "--json", "--wait", "60")
    asking = [
        subprocess.Popen([*ask, *where], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for where in (
            ("--url", f"http://127.0.0.1:{rest_port}"),
            ("--grpc", f"127.0.0.1:{grpc_port}"),
        )
    ]
    try:
        time.sleep(2)  # long past a refusal without --wait (..._without_a_server_is_one_line)
        assert [p.poll() for p in asking] == [None, None]
        with running(
            Server(root, log="late.log", ports=(rest_port, grpc_port)), "linear-regression"
        ):
            answers = [p.communicate(timeout=READY_SECONDS) for p in asking]
    finally:
        for process in asking:
            process.kill()
    assert [p.returncode for p in asking] == [0, 0], answers
    [rest_answer], [grpc_answer] = (json.loads(out) for out, _ in answers)
    assert grpc_answer["predictions"] == pytest.approx(rest_answer["predictions"])


def test_zoo_serve_refuses_an_empty_repository_and_a_busy_port(tmp_path, server):
    (tmp_path / "none").mkdir()
    empty = run_zoo(
        *("serve", "--model-dir", str(tmp_path / "none"), "--rest-port", "0", "--grpc-port", "0")
    )
    assert_one_line_error(empty, "no models")  # the ports are claimed first: free ones here
    busy = run_zoo(
        "serve", "--model-dir", str(server.model_dir), "--rest-port", str(server.rest_port)
    )
    assert_one_line_error(busy, "cannot listen", str(server.rest_port))
    bad = run_zoo("serve", "--model-dir", str(server.model_dir), "--version-labels", "a=1")
    assert_one_line_error(bad, "--version-labels", "MODEL:LABEL=VERSION")


def test_version_labels_parse():
    assert version_labels.parse("cnn-mnist:stable=1, cnn-mnist:canary=2,mlp:stable=3") == {
        "cnn-mnist": {"stable": 1, "canary": 2},
        "mlp": {"stable": 3},
    }
    assert version_labels.parse(None) == {}
    for bad, fragment in (("a:1=1", "not be a number"), ("a:x=1,a:x=2", "twice"), ("a:x", "MODEL")):
        with pytest.raises(ServerError, match=fragment):
            version_labels.parse(bad)


def test_a_new_version_is_served_without_restart_and_a_removed_one_stops(server, root_and_exports):
    root, _ = root_and_exports
    run = fake_run(root / "runs", "softmax-classification", run_id="20250102-000000", seed=7)
    export_run(run, model_dir=server.model_dir, samples=4)
    wait_for(server, "/v1/models/softmax-classification/versions/2", 200)
    raw = examples("softmax-classification", 2)
    model = keras.saving.load_model(run / runs.MODEL)
    expected = expected_outputs(zoo.get_spec("softmax-classification"), model, raw)
    status, answer = server.rest(
        "/v1/models/softmax-classification:predict", json.dumps({"inputs": raw.tolist()})
    )
    assert status == 200
    np.testing.assert_allclose(
        answer["outputs"]["probabilities"], expected["probabilities"], atol=1e-4
    )

    shutil.rmtree(server.model_dir / "softmax-classification" / "2")
    wait_for(server, "/v1/models/softmax-classification/versions/2", 404)
    status, answer = server.rest("/v1/models/softmax-classification/metadata")
    assert answer["model_spec"]["version"] == "1"
    assert "version 2 removed" in server.log.read_text()


IN_FLIGHT = 12_000  # images a request: a second or more of inference, longer than a poll
QUEUED = 3  # such requests queued one behind another, so the last outlasts the poll by far


def test_a_removed_version_finishes_the_requests_in_flight(server, root_and_exports):
    """Requests that hold a version when the version is removed still get their whole answers."""
    staged = server.model_dir / "digits" / ".tmp-1"  # servers ignore non-numeric folders
    shutil.copytree(server.model_dir / "cnn-mnist" / "1", staged)
    # a queue long enough for every part of every request (each is split into batches)
    (server.model_dir / "digits" / "batching_parameters.txt").write_text(
        "max_enqueued_batches { value: 100000 }\n"
    )
    os.rename(staged, staged.with_name("1"))
    wait_for(server, "/v1/models/digits/versions/1", 200)

    raw = np.resize(examples("cnn-mnist", 8), (IN_FLIGHT, 28, 28, 1))
    request = grpc_request("digits", tf.make_tensor_proto(raw), version=1, input_name="images")
    answers = [server.predictions.Predict.future(request, timeout=300) for _ in range(QUEUED)]
    time.sleep(1.0)  # the requests have arrived (38 MB tensors on loopback) and hold version 1
    shutil.rmtree(server.model_dir / "digits")
    wait_for(server, "/v1/models/digits", 404)
    assert not all(answer.done() for answer in answers), "all ended before the removal"
    assert "digits: version 1 removed" in server.log.read_text()

    expected = keras_answers(root_and_exports, "cnn-mnist", raw[:8])["probabilities"]
    for answer in answers:
        probabilities = tf.make_ndarray(answer.result().outputs["probabilities"])
        assert probabilities.shape == (IN_FLIGHT, 10)
        np.testing.assert_allclose(probabilities[:8], expected, atol=1e-4)
        np.testing.assert_allclose(probabilities[-8:], expected, atol=1e-4)


PAGE_FILES = {
    "/": "index.html",
    "/playground.js": "playground.js",
    "/playground.css": "playground.css",
}


def test_the_playground_s_files_are_served_at_the_root_and_need_nothing_from_elsewhere(server):
    for path, name in PAGE_FILES.items():
        with urllib.request.urlopen(server.url + path, timeout=30) as answer:
            headers, body = answer.headers, answer.read()
        assert body == (playground.FOLDER / name).read_bytes()
        assert headers["Content-Type"] == playground.FILES[path][1].decode()
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert re.search(rb"https?://", body) is None, f"{name} loads something from elsewhere"
    status, answer = http(server.url + "/", b"")
    assert status == 405 and answer["error"] == "Method POST is not allowed on /: use GET"


def test_triton_s_repository_index_lists_every_served_version(server):
    client = tritonclient.http.InferenceServerClient(server.url.removeprefix("http://"))
    index = client.get_model_repository_index()
    assert {(m, "1", "READY") for m in MODELS} <= {
        (e["name"], e["version"], e["state"]) for e in index
    }
    status, answer = server.rest("/v2/repository/index")
    assert status == 405, answer


def test_no_ui_serves_no_page(root_and_exports):
    root, _ = root_and_exports
    with running(Server(root, "--no-ui", log="no-ui.log")) as served:
        status, answer = served.rest("/")
        assert served.rest("/v1/models/cnn-mnist")[0] == 200
    assert status == 404 and "playground" not in answer["error"]
    assert "playground:" not in served.log.read_text()


@pytest.fixture(scope="module")
def tf_server(root_and_exports):
    root, _ = root_and_exports
    options = ("--backend", "tf", "--models", ",".join(MODELS))
    with running(Server(root, *options, log="serve-tf.log")) as served:
        yield served


def maps_tensorflow(server: Server) -> bool:
    """Whether the server process has TensorFlow's native library loaded."""
    return "_pywrap_tensorflow" in Path(f"/proc/{server.process.pid}/maps").read_text()


def test_only_the_tf_backend_loads_tensorflow(server, tf_server):
    assert not maps_tensorflow(server), "zoo serve --backend onnx imported TensorFlow"
    assert maps_tensorflow(tf_server)


def named_outputs(answer: dict) -> dict:
    """A columnar answer's outputs by name (TF Serving gives a lone output's value bare)."""
    outputs = answer["outputs"]
    return outputs if isinstance(outputs, dict) else {"predictions": outputs}


def test_tf_backend_serves_the_savedmodel_with_the_same_answers(
    tf_server, server, root_and_exports
):
    for name in MODELS:
        raw = examples(name, 3)
        expected = keras_answers(root_and_exports, name, raw)
        path, body = f"/v1/models/{name}/versions/1:predict", json.dumps({"inputs": raw.tolist()})
        tf_status, tf_answer = tf_server.rest(path, body)
        onnx_status, onnx_answer = server.rest(path, body)
        assert tf_status == onnx_status == 200, tf_answer
        for output, value in expected.items():
            from_tf = named_outputs(tf_answer)[output]
            np.testing.assert_allclose(from_tf, value, atol=1e-4)
            np.testing.assert_allclose(from_tf, named_outputs(onnx_answer)[output], atol=1e-4)

    raw = examples("cnn-mnist", 2)
    expected = keras_answers(root_and_exports, "cnn-mnist", raw)["probabilities"]
    answer = tf_server.predictions.Predict(
        grpc_request("cnn-mnist", tf.make_tensor_proto(raw)), timeout=30
    )
    np.testing.assert_allclose(
        tf.make_ndarray(answer.outputs["probabilities"]), expected, atol=1e-4
    )
    status, answer = tf_server.rest("/v1/models/cnn-mnist:classify", example_body("cnn-mnist", raw))
    assert status == 200
    np.testing.assert_allclose(
        [[score for _, score in row] for row in answer["results"]], expected, atol=1e-4
    )
    assert tf_server.rest("/v2/models/cnn-mnist")[1]["platform"] == "tensorflow_savedmodel"
    status, answer = tf_server.rest("/v1/models/cnn-mnist:predict", '{"instances": [[1]]}')
    assert status == 400 and "shape" in answer["error"]


# KServe v2 over gRPC, with tritonclient.grpc unmodified, and Triton's model configuration.


@pytest.fixture(scope="module")
def triton(server):
    client = triton_grpc.InferenceServerClient(server.grpc_target)
    yield client
    client.close()


def v2_stub(server: Server) -> service_pb2_grpc.GRPCInferenceServiceStub:
    return service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(server.grpc_target))


def onnx_answers(server: Server, name: str, raw: np.ndarray) -> dict[str, np.ndarray]:
    """What ONNX Runtime, in this process, answers on the served version's model.onnx."""
    session = onnxruntime.InferenceSession(str(server.model_dir / name / "1" / "model.onnx"))
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {session.get_inputs()[0].name: raw}), strict=True))


def tensors(metadata) -> list[dict]:
    return [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in metadata]


def test_kserve_v2_grpc_health_and_metadata_agree_with_rest(server, triton):
    assert triton.is_server_live() and triton.is_server_ready()
    assert triton.is_model_ready("cnn-mnist") and triton.is_model_ready("cnn-mnist", "1")
    assert not triton.is_model_ready("nope") and not triton.is_model_ready("cnn-mnist", "9")
    metadata = triton.get_server_metadata()
    rest = server.rest("/v2")[1]
    assert (metadata.name, metadata.version, list(metadata.extensions)) == (
        rest["name"],
        rest["version"],
        rest["extensions"],
    )
    assert "model_configuration" in metadata.extensions
    for name in MODELS:
        metadata = triton.get_model_metadata(name)
        status, rest = server.rest(f"/v2/models/{name}")
        assert status == 200
        assert (metadata.name, list(metadata.versions), metadata.platform) == (
            rest["name"],
            rest["versions"],
            rest["platform"],
        )
        assert tensors(metadata.inputs) == rest["inputs"]
        assert tensors(metadata.outputs) == rest["outputs"]
    assert triton.get_model_metadata("cnn-mnist", "1").inputs[0].shape == [-1, 28, 28, 1]
    with pytest.raises(InferenceServerException) as error:
        triton.get_system_shared_memory_status()  # an extension zoo serve does not offer
    assert error.value.status() == "StatusCode.UNIMPLEMENTED"


def test_kserve_v2_grpc_infer_raw_matches_onnx_runtime(server, triton):
    for name in MODELS:
        raw = examples(name, 3).astype(np.float32)
        expected = onnx_answers(server, name, raw)
        given = triton_grpc.InferInput(
            triton.get_model_metadata(name).inputs[0].name, raw.shape, "FP32"
        )
        given.set_data_from_numpy(raw)
        result = triton.infer(name, [given], model_version="1", request_id="r1")
        response = result.get_response()
        assert (response.model_name, response.model_version, response.id) == (name, "1", "r1")
        assert sorted(o.name for o in response.outputs) == sorted(expected)
        for output, value in expected.items():
            assert result.as_numpy(output).dtype == value.dtype
            np.testing.assert_allclose(result.as_numpy(output), value, rtol=0, atol=1e-5)

    raw = examples("cnn-mnist", 2).astype(np.float32)
    given = triton_grpc.InferInput("images", raw.shape, "FP32")
    given.set_data_from_numpy(raw)
    result = triton.infer(
        "cnn-mnist", [given], outputs=[triton_grpc.InferRequestedOutput("classes")]
    )
    assert [o.name for o in result.get_response().outputs] == ["classes"]
    assert result.as_numpy("probabilities") is None
    assert (
        result.as_numpy("classes").tolist()
        == onnx_answers(server, "cnn-mnist", raw)["classes"].tolist()
    )


def typed_request(
    model: str, name: str, raw: np.ndarray, **fields
) -> service_pb2.ModelInferRequest:
    request = service_pb2.ModelInferRequest(model_name=model, **fields)
    tensor = request.inputs.add(name=name, datatype="FP32", shape=raw.shape)
    tensor.contents.fp32_contents.extend(raw.ravel().tolist())
    return request


def test_kserve_v2_grpc_typed_contents_are_answered_raw_as_triton_does(server):
    raw = examples("softmax-classification", 3).astype(np.float32)
    expected = onnx_answers(server, "softmax-classification", raw)
    request = typed_request("softmax-classification", "features", raw, id="typed")
    response = v2_stub(server).ModelInfer(request, timeout=30)
    assert response.id == "typed" and len(response.raw_output_contents) == 2
    outputs = {o.name: o for o in response.outputs}
    assert not any(o.HasField("contents") for o in response.outputs)
    assert (outputs["probabilities"].datatype, list(outputs["probabilities"].shape)) == (
        "FP32",
        [3, 3],
    )
    assert outputs["classes"].datatype == "INT64"
    result = triton_grpc.InferResult(response)  # what tritonclient's infer() hands its caller
    np.testing.assert_allclose(
        result.as_numpy("probabilities"), expected["probabilities"], rtol=0, atol=1e-5
    )
    assert result.as_numpy("classes").tolist() == expected["classes"].tolist()


def raw_request(model: str, name: str, raw: np.ndarray, datatype: str = "FP32", **fields):
    request = service_pb2.ModelInferRequest(model_name=model, **fields)
    request.inputs.add(name=name, datatype=datatype, shape=raw.shape)
    request.raw_input_contents.append(raw.tobytes())
    return request


single = np.ones((1, 1), np.float32)
both = raw_request("linear-regression", "features", single)
both.inputs[0].contents.fp32_contents.append(1)
BAD_V2_GRPC = [
    (raw_request("nope", "features", single), grpc.StatusCode.NOT_FOUND, "Latest(nope)"),
    (
        raw_request("linear-regression", "features", single, model_version="9"),
        grpc.StatusCode.NOT_FOUND,
        "Specific(linear-regression, 9)",
    ),
    (
        raw_request("linear-regression", "features", single, model_version="latest"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "model version must be an integer",
    ),
    (
        raw_request("linear-regression", "features", single.astype(np.float64), "FP64"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "datatype FP64, the model expects FP32",
    ),
    (
        raw_request("linear-regression", "features", np.ones((1, 2), np.float32)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "the signature expects [-1, 1]",
    ),
    (
        service_pb2.ModelInferRequest(
            model_name="linear-regression",
            inputs=[{"name": "features", "datatype": "FP32", "shape": [1, 1]}],
            raw_input_contents=[b"\0" * 8],
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "8 bytes of raw_input_contents, the shape [1, 1] of FP32 needs 4",
    ),
    (
        service_pb2.ModelInferRequest(
            model_name="linear-regression",
            inputs=[
                {
                    "name": "features",
                    "datatype": "FP32",
                    "shape": [1, 1],
                    "contents": {"fp32_contents": [1, 2]},
                }
            ],
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "2 values do not fill the shape [1, 1]",
    ),
    (both, grpc.StatusCode.INVALID_ARGUMENT, "contents and raw_input_contents are both given"),
    (
        raw_request("linear-regression", "x", single),
        grpc.StatusCode.INVALID_ARGUMENT,
        "alias not found",
    ),
    (
        raw_request("linear-regression", "features", single, outputs=[{"name": "y"}]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "output tensor alias not found",
    ),
    (
        service_pb2.ModelInferRequest(model_name="linear-regression"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "'inputs'",
    ),
]


@pytest.mark.parametrize(("request_", "code", "fragment"), BAD_V2_GRPC)
def test_bad_kserve_v2_grpc_requests_get_codes_and_messages(server, request_, code, fragment):
    stub = v2_stub(server)
    with pytest.raises(grpc.RpcError) as error:
        stub.ModelInfer(request_, timeout=30)
    assert error.value.code() == code and fragment in error.value.details(), error.value.details()
    assert stub.ModelInfer(raw_request("linear-regression", "features", single), timeout=30).outputs


def test_tritonclient_sees_kserve_v2_grpc_errors(triton):
    raw = np.zeros((1, 2), np.float32)
    given = triton_grpc.InferInput("features", raw.shape, "FP32")
    given.set_data_from_numpy(raw)
    with pytest.raises(InferenceServerException) as error:
        triton.infer("nope", [given])
    assert error.value.status() == "StatusCode.NOT_FOUND"
    assert "Servable not found for request: Latest(nope)" in error.value.message()
    with pytest.raises(InferenceServerException) as error:
        triton.infer("linear-regression", [given])
    assert error.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "has shape [1, 2]" in error.value.message()
    given = triton_grpc.InferInput("features", [1, 1], "FP64")
    given.set_data_from_numpy(np.zeros((1, 1), np.float64))
    with pytest.raises(InferenceServerException) as error:
        triton.infer("linear-regression", [given])
    assert error.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "datatype FP64, the model expects FP32" in error.value.message()
    with pytest.raises(InferenceServerException) as error:
        triton.get_model_config("nope")
    assert error.value.status() == "StatusCode.NOT_FOUND"


def test_v2_model_config_over_rest_and_grpc_is_config_pbtxt(server, triton):
    on_disk = text_format.Parse(
        (server.model_dir / "cnn-mnist" / "config.pbtxt").read_text(),
        model_config_pb2.ModelConfig(),
    )
    assert triton.get_model_config("cnn-mnist").config == on_disk
    assert triton.get_model_config("cnn-mnist", "1").config == on_disk

    status, config = server.rest("/v2/models/cnn-mnist/config")
    assert status == 200, config
    assert json_format.ParseDict(config, model_config_pb2.ModelConfig()) == on_disk
    assert (config["name"], config["platform"], config["max_batch_size"]) == (
        "cnn-mnist",
        "onnxruntime_onnx",
        256,
    )
    images = config["input"][0]
    assert (images["name"], images["data_type"], images["dims"]) == (
        "images",
        "TYPE_FP32",
        [28, 28, 1],
    )
    probabilities, classes = config["output"]
    assert probabilities["label_filename"] == "labels.txt" and probabilities["dims"] == [10]
    assert (classes["data_type"], classes["dims"], classes["reshape"]) == (
        "TYPE_INT64",
        [1],
        {"shape": []},
    )
    assert config["default_model_filename"] == ""  # scalar fields are all printed, as Triton does
    assert server.rest("/v2/models/cnn-mnist/versions/1/config") == (200, config)
    status, answer = server.rest("/v2/models/cnn-mnist/versions/9/config")
    assert status == 404 and "Specific(cnn-mnist, 9)" in answer["error"]
    status, answer = server.rest("/v2/models/nope/config")
    assert status == 404 and "Latest(nope)" in answer["error"]


def test_v2_config_of_a_model_without_config_pbtxt_is_what_zoo_export_writes(server):
    root = server.model_dir / "unconfigured"
    staged = root / ".tmp-1"  # servers ignore non-numeric folders
    shutil.copytree(server.model_dir / "cnn-mnist" / "1", staged)
    shutil.copy(server.model_dir / "cnn-mnist" / "labels.txt", root / "labels.txt")
    os.rename(staged, root / "1")
    try:
        wait_for(server, "/v2/models/unconfigured", 200)
        status, config = server.rest("/v2/models/unconfigured/config")
        assert status == 200, config
        assert config == {**server.rest("/v2/models/cnn-mnist/config")[1], "name": "unconfigured"}
    finally:
        shutil.rmtree(root)
    wait_for(server, "/v2/models/unconfigured", 404)


# String tensors: a model of onnx.helper's that takes strings and gives them back.


@pytest.fixture(scope="module")
def text_model(server):
    """The name of write_text_model's model, added to the running server's repository."""
    root = server.model_dir / "text"
    os.rename(write_text_model(root / ".tmp-1"), root / "1")  # servers ignore non-numeric folders
    wait_for(server, "/v1/models/text", 200)
    yield "text"
    shutil.rmtree(root)


TEXT = np.array(["plain", "ünï", ""], object)
TEXT_BYTES = np.array([v.encode() for v in TEXT], object)
INDEX = np.array([0, 2, 1], np.int64)


def text_answers(server: Server) -> dict[str, np.ndarray]:
    """What ONNX Runtime, in this process, answers on TEXT and INDEX, strings as UTF-8 bytes."""
    session = onnxruntime.InferenceSession(str(server.model_dir / "text" / "1" / "model.onnx"))
    names = [o.name for o in session.get_outputs()]
    answers = session.run(names, {"text": TEXT, "index": INDEX})
    return {
        name: np.array([v.encode() for v in value], object) if value.dtype == object else value
        for name, value in zip(names, answers, strict=True)
    }


def b64(value: bytes) -> dict[str, str]:
    return {"b64": base64.b64encode(value).decode()}


def test_string_tensors_over_every_protocol_match_onnx_runtime(server, text_model):
    expected = text_answers(server)
    signature = server.rest("/v1/models/text/metadata")[1]["metadata"]["signature_def"]
    inputs = signature["signature_def"]["serving_default"]["inputs"]
    assert (inputs["text"]["dtype"], inputs["index"]["dtype"]) == ("DT_STRING", "DT_INT64")
    metadata = server.rest("/v2/models/text")[1]
    assert [t["datatype"] for t in metadata["inputs"]] == ["BYTES", "INT64"]
    assert [t["datatype"] for t in metadata["outputs"]] == ["BYTES", "BYTES", "FP32"]
    # TF Serving REST: plain strings and {"b64": ...} in, plain strings out, and b64 for the
    # output whose alias ends in "_bytes".
    rows = [
        {"text": "plain", "index": 0},
        {"text": b64("ünï".encode()), "index": 2},
        {"text": "", "index": 1},
    ]
    status, answer = server.rest("/v1/models/text:predict", json.dumps({"instances": rows}))
    assert status == 200, answer
    assert answer["predictions"] == [
        {"echo_bytes": b64(echo), "shout": shout.decode(), "picked": float(picked)}
        for echo, shout, picked in zip(*expected.values(), strict=True)
    ]
    columns = {"text": TEXT.tolist(), "index": INDEX.tolist()}
    status, answer = server.rest("/v1/models/text:predict", json.dumps({"inputs": columns}))
    assert status == 200, answer
    assert answer["outputs"]["shout"] == [v.decode() for v in expected["shout"]]
    assert answer["outputs"]["echo_bytes"] == [b64(v) for v in expected["echo_bytes"]]

    # TF Serving gRPC: string_val in and out.
    request = grpc_request("text", tf.make_tensor_proto(TEXT_BYTES), input_name="text")
    request.inputs["index"].CopyFrom(tf.make_tensor_proto(INDEX))
    answer = server.predictions.Predict(request, timeout=30)
    assert list(answer.outputs["shout"].string_val) == expected["shout"].tolist()
    assert list(answer.outputs["picked"].float_val) == expected["picked"].tolist()
    np.testing.assert_array_equal(
        tf.make_ndarray(answer.outputs["echo_bytes"]), expected["echo_bytes"]
    )

    # KServe v2 REST, JSON (BYTES as strings) and binary, with tritonclient.http.
    body = {
        "inputs": [
            {"name": "text", "datatype": "BYTES", "shape": [3], "data": TEXT.tolist()},
            {"name": "index", "datatype": "INT64", "shape": [3], "data": INDEX.tolist()},
        ]
    }
    status, answer = server.rest("/v2/models/text/infer", json.dumps(body))
    assert status == 200, answer
    outputs = {o["name"]: o for o in answer["outputs"]}
    assert outputs["shout"]["datatype"] == "BYTES"
    assert outputs["shout"]["data"] == [v.decode() for v in expected["shout"]]
    client = tritonclient.http.InferenceServerClient(server.url.removeprefix("http://"))
    for binary in (True, False):
        given = [
            tritonclient.http.InferInput("text", [3], "BYTES"),
            tritonclient.http.InferInput("index", [3], "INT64"),
        ]
        given[0].set_data_from_numpy(TEXT, binary_data=binary)
        given[1].set_data_from_numpy(INDEX, binary_data=binary)
        wanted = [tritonclient.http.InferRequestedOutput(n, binary_data=binary) for n in expected]
        result = client.infer("text", given, outputs=wanted)
        for name, value in expected.items():
            got = result.as_numpy(name)
            if value.dtype == object and not binary:  # tritonclient keeps JSON's strings as str
                got = np.array([v.encode() for v in got], object)
            np.testing.assert_array_equal(got, value)

    # KServe v2 gRPC: raw BYTES with tritonclient.grpc, and typed bytes_contents; raw answers.
    triton = triton_grpc.InferenceServerClient(server.grpc_target)
    given = [
        triton_grpc.InferInput("text", [3], "BYTES"),
        triton_grpc.InferInput("index", [3], "INT64"),
    ]
    given[0].set_data_from_numpy(TEXT)
    given[1].set_data_from_numpy(INDEX)
    result = triton.infer("text", given)
    for name, value in expected.items():
        np.testing.assert_array_equal(result.as_numpy(name), value)
    request = service_pb2.ModelInferRequest(model_name="text")
    request.inputs.add(name="text", datatype="BYTES", shape=[3]).contents.bytes_contents.extend(
        TEXT_BYTES.tolist()
    )
    request.inputs.add(name="index", datatype="INT64", shape=[3]).contents.int64_contents.extend(
        INDEX.tolist()
    )
    response = v2_stub(server).ModelInfer(request, timeout=30)
    assert len(response.raw_output_contents) == 3
    result = triton_grpc.InferResult(response)
    for name, value in expected.items():
        np.testing.assert_array_equal(result.as_numpy(name), value)


def test_inputs_the_runtime_refuses_are_invalid_arguments_in_its_words(server, text_model):
    out_of_range = "indices element out of data bounds, idx=7"
    body = {"inputs": {"text": ["a"], "index": [7]}}
    status, answer = server.rest("/v1/models/text:predict", json.dumps(body))
    assert status == 400 and out_of_range in answer["error"], answer
    body = {"inputs": {"text": [b64(b"\xff")], "index": [0]}}
    status, answer = server.rest("/v1/models/text:predict", json.dumps(body))
    assert status == 400 and "ONNX Runtime takes strings as UTF-8" in answer["error"], answer
    request = grpc_request("text", tf.make_tensor_proto(np.array([b"a"])), input_name="text")
    request.inputs["index"].CopyFrom(tf.make_tensor_proto(np.array([7])))
    with pytest.raises(grpc.RpcError) as error:
        server.predictions.Predict(request, timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert out_of_range in error.value.details()
    # One bad request refuses no other: the server still answers.
    request.inputs["index"].CopyFrom(tf.make_tensor_proto(np.array([1])))
    assert list(server.predictions.Predict(request, timeout=30).outputs["picked"].float_val) == [
        1.5
    ]


def write_parse_model(version_dir: Path) -> None:
    """A tf.Module SavedModel (no zoo.json: it loads from its files): `text` (strings) -> `number` (each parsed
    as a float, TensorFlow's InvalidArgumentError for one that is not a number) and
    `text_bytes` (the strings themselves)."""

    class Parse(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve(self, text):
            return {"number": tf.strings.to_number(text), "text_bytes": text}

    module = Parse()
    tf.saved_model.save(module, str(version_dir), signatures={"serving_default": module.serve})


def test_tensorflow_takes_and_gives_strings_and_its_refusals_are_invalid_arguments(tmp_path):
    write_parse_model(tmp_path / "models" / "parse" / "1")
    with running(Server(tmp_path, "--backend", "tf"), "parse") as served:
        rows = ["1.5", b64(b"-2")]
        status, answer = served.rest("/v1/models/parse:predict", json.dumps({"instances": rows}))
        assert status == 200, answer
        assert answer["predictions"] == [
            {"number": 1.5, "text_bytes": b64(b"1.5")},
            {"number": -2.0, "text_bytes": b64(b"-2")},
        ]
        request = grpc_request("parse", tf.make_tensor_proto([b"7", b"\xff"]), input_name="text")
        with pytest.raises(grpc.RpcError) as error:
            served.predictions.Predict(request, timeout=30)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        # TensorFlow's own message quotes the bytes (TensorFlow itself fails to decode it).
        assert "could not correctly convert string: \\xff" in error.value.details()
        request.inputs["text"].CopyFrom(tf.make_tensor_proto([b"7", b"8.25"]))
        answer = served.predictions.Predict(request, timeout=30)
        assert list(answer.outputs["number"].float_val) == [7.0, 8.25]
        assert list(answer.outputs["text_bytes"].string_val) == [b"7", b"8.25"]
        status, answer = served.rest(
            "/v1/models/parse:predict", json.dumps({"inputs": {"text": ["abc"]}})
        )
        assert status == 400 and "could not correctly convert string: abc" in answer["error"]


# Every numeric dtype, through every protocol: an ONNX model that hands each input back.

NUMERIC = ("float16", "float32", "float64", "int8", "int16", "int32", "int64")
NUMERIC += ("uint8", "uint16", "uint32", "uint64", "bool")


def write_identity_model(version_dir: Path) -> dict[str, np.ndarray]:
    """An onnx.helper model with one input `x_DTYPE` per NUMERIC dtype, answered unchanged as
    `y_DTYPE`: the arrays to send it, by input name."""
    import onnx
    from onnx import helper

    def info(name: str, dtype: str):
        return helper.make_tensor_value_info(
            name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), ["batch", 3]
        )

    graph = helper.make_graph(
        [helper.make_node("Identity", [f"x_{d}"], [f"y_{d}"]) for d in NUMERIC],
        "identity",
        [info(f"x_{d}", d) for d in NUMERIC],
        [info(f"y_{d}", d) for d in NUMERIC],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    version_dir.mkdir(parents=True)
    onnx.save(model, version_dir / "model.onnx")
    values = np.array([[0, 1, 2], [3, 4, 5]])
    return {f"x_{d}": (values % 2 == 1 if d == "bool" else values.astype(d)) for d in NUMERIC}


def test_every_numeric_dtype_goes_through_every_protocol_unchanged(server):
    root = server.model_dir / "identity"
    sent = write_identity_model(root / ".tmp-1")
    os.rename(root / ".tmp-1", root / "1")
    try:
        wait_for(server, "/v1/models/identity", 200)
        expected = {name.replace("x_", "y_"): value for name, value in sent.items()}

        def assert_unchanged(got: dict) -> None:
            assert sorted(got) == sorted(expected)
            for name, value in expected.items():
                assert np.asarray(got[name]).dtype == value.dtype, name
                np.testing.assert_array_equal(got[name], value)

        body = json.dumps({"inputs": {k: v.tolist() for k, v in sent.items()}})
        status, answer = server.rest("/v1/models/identity:predict", body)
        assert status == 200, answer
        assert_unchanged(
            {k: np.asarray(v, expected[k].dtype) for k, v in answer["outputs"].items()}
        )
        assert answer["outputs"] == {k: v.tolist() for k, v in expected.items()}

        request = predict_pb2.PredictRequest()
        request.model_spec.name = "identity"
        for name, value in sent.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        answer = server.predictions.Predict(request, timeout=30)
        assert not any(proto.tensor_content for proto in answer.outputs.values())
        assert_unchanged({k: tf.make_ndarray(v) for k, v in answer.outputs.items()})

        client = tritonclient.http.InferenceServerClient(server.url.removeprefix("http://"))
        for binary in (True, False):
            given = []
            for name, value in sent.items():
                given.append(
                    tritonclient.http.InferInput(name, value.shape, np_to_triton_dtype(value.dtype))
                )
                given[-1].set_data_from_numpy(value, binary_data=binary)
            wanted = [
                tritonclient.http.InferRequestedOutput(n, binary_data=binary) for n in expected
            ]
            result = client.infer("identity", given, outputs=wanted)
            assert_unchanged({name: result.as_numpy(name) for name in expected})

        given = []
        for name, value in sent.items():
            given.append(triton_grpc.InferInput(name, value.shape, np_to_triton_dtype(value.dtype)))
            given[-1].set_data_from_numpy(value)
        result = triton_grpc.InferenceServerClient(server.grpc_target).infer("identity", given)
        assert_unchanged({name: result.as_numpy(name) for name in expected})
    finally:
        shutil.rmtree(root)
