"""Request logs: `zoo serve --access-log` writes one JSON line per request on every front end, and
`--log-requests` the requests and answers as TF Serving's PredictionLog records, which a second
server replays as its warmup. Each log is read back and checked against the requests sent."""

import json
import shutil
import urllib.request
from datetime import datetime, timedelta, timezone

import grpc
import numpy as np
import pytest
import tensorflow as tf
import tritonclient.grpc as triton
from helpers import (
    Server,
    assert_one_line_error,
    examples,
    grpc_request,
    running,
    v2_input,
    worker_pids,
)
from tensorflow_serving.apis import get_model_status_pb2, predict_pb2, prediction_log_pb2

from zoo.serving.access_log import grpc_api, rest_api
from zoo.serving.core.tfrecord import frame, read_records
from zoo.serving.log_files import BackgroundWriter, RotatingFile
from zoo.serving.tfserving.tensor_proto import as_proto_content

MODEL = "cnn-mnist"
KEYS = [
    "time",
    "request_id",
    "protocol",
    "api",
    "model",
    "version",
    "status",
    "latency_us",
    "batch_size",
    "bytes_in",
    "bytes_out",
]
WARMUP_FILE = "assets.extra/tf_serving_warmup_requests"


def post(server: Server, path: str, body: bytes, request_id: str | None = None):
    """(status, answer body bytes) of a REST POST with an x-request-id header."""
    headers = {"x-request-id": request_id} if request_id else {}
    request = urllib.request.Request(server.url + path, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def lines(text: str) -> list[dict]:
    """The access log's lines in `text` (a log file, or a server's stdout mixed with them)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def logged(cnn_mnist_root, tmp_path_factory):
    """A server with both logs, asked over every front end; (access lines, payload records, what
    was sent and answered) once it has stopped and flushed its logs."""
    logs = tmp_path_factory.mktemp("logs")
    access, payload = logs / "access.jsonl", logs / "requests.tfrecord"
    server = Server(
        cnn_mnist_root,
        *("--access-log", str(access), "--log-requests", str(payload)),
        log="serve-logs.log",
    )
    images = examples(MODEL, 4).astype(np.float32)
    sent = {}
    with running(server):
        # TF Serving REST :predict, two examples, named by the client.
        body = json.dumps({"instances": images[:2].tolist()}).encode()
        status, answer = post(server, f"/v1/models/{MODEL}:predict", body, "tfs-rest-1")
        assert status == 200, answer
        predictions = json.loads(answer)["predictions"]
        scores = np.array([row["probabilities"] for row in predictions])
        sent["tfs-rest-1"] = (body, answer, images[:2], scores)
        # An unknown model: refused, logged with its status.
        status, answer = post(server, "/v1/models/nope:predict", body, "tfs-rest-404")
        sent["tfs-rest-404"] = (body, answer)
        assert status == 404
        # TF Serving gRPC Predict, three examples, the id in the call's metadata.
        request = grpc_request(MODEL, tf.make_tensor_proto(images[:3]))
        response = server.predictions.Predict(
            request, timeout=30, metadata=[("x-request-id", "tfs-grpc-1")]
        )
        scores = tf.make_ndarray(response.outputs["probabilities"])
        sent["tfs-grpc-1"] = (request, response, images[:3], scores)
        missing = grpc_request("nope", tf.make_tensor_proto(images[:1]), input_name="images")
        with pytest.raises(grpc.RpcError) as refused:
            server.predictions.Predict(missing, metadata=[("x-request-id", "tfs-grpc-404")])
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND
        sent["tfs-grpc-404"] = (missing,)
        status_request = get_model_status_pb2.GetModelStatusRequest()
        status_request.model_spec.name = MODEL
        sent["tfs-grpc-status"] = (
            status_request,
            server.models.GetModelStatus(
                status_request, metadata=[("x-request-id", "tfs-grpc-status")]
            ),
        )
        # KServe v2 REST infer, one example, the id in the body (no header).
        v2 = {"id": "v2-rest-1", "inputs": [v2_input(images[:1])]}
        body = json.dumps(v2).encode()
        status, answer = post(server, f"/v2/models/{MODEL}/infer", body)
        assert status == 200, answer
        outputs = {o["name"]: o for o in json.loads(answer)["outputs"]}
        scores = np.reshape(outputs["probabilities"]["data"], outputs["probabilities"]["shape"])
        sent["v2-rest-1"] = (body, answer, images[:1], scores)
        # KServe v2 gRPC infer with Triton's client, four examples, the request's own id.
        client = triton.InferenceServerClient(server.grpc_target)
        tensor = triton.InferInput("images", list(images.shape), "FP32")
        tensor.set_data_from_numpy(images)
        result = client.infer(MODEL, [tensor], request_id="v2-grpc-1")
        sent["v2-grpc-1"] = (result, images, result.as_numpy("probabilities"))
        assert client.is_server_live()
        status, answer = post(server, "/v2/health/ready", None, "v2-health")
        sent["v2-health"] = (answer,)
    return lines(access.read_text()), list(read_records(payload)), sent, server.log.read_text()


def by_id(lines: list[dict]) -> dict[str, dict]:
    return {line["request_id"]: line for line in lines}


def test_the_access_log_has_one_line_per_request_with_every_key(logged):
    access, _, sent, _ = logged
    assert all(list(line) == KEYS for line in access)
    # Each request the test sent, and the one readiness probe per server start, once each.
    found = by_id(access)
    assert set(sent) <= set(found)
    assert len({line["request_id"] for line in access}) == len(access)
    now = datetime.now(timezone.utc)
    for line in access:
        when = datetime.fromisoformat(line["time"].replace("Z", "+00:00"))
        assert now - timedelta(minutes=10) < when <= now
        assert isinstance(line["latency_us"], int) and line["latency_us"] > 0


def test_rest_lines_say_what_was_asked_and_answered(logged):
    access, _, sent, _ = logged
    found = by_id(access)
    body, answer, _, _ = sent["tfs-rest-1"]
    assert found["tfs-rest-1"] | {"time": None, "latency_us": None} == {
        "time": None,
        "request_id": "tfs-rest-1",
        "protocol": "rest",
        "api": "tfserving.predict",
        "model": MODEL,
        "version": 1,
        "status": 200,
        "latency_us": None,
        "batch_size": 2,
        "bytes_in": len(body),
        "bytes_out": len(answer),
    }
    refused = found["tfs-rest-404"]
    assert (refused["status"], refused["model"], refused["version"]) == (404, "nope", None)
    assert refused["bytes_out"] == len(sent["tfs-rest-404"][1])
    body, answer, _, _ = sent["v2-rest-1"]
    v2 = found["v2-rest-1"]
    assert (v2["protocol"], v2["api"], v2["model"], v2["version"]) == (
        "rest",
        "kserve.infer",
        MODEL,
        1,
    )
    assert (v2["status"], v2["batch_size"]) == (200, 1)
    assert (v2["bytes_in"], v2["bytes_out"]) == (len(body), len(answer))
    health = found["v2-health"]
    assert (health["api"], health["status"], health["model"], health["batch_size"]) == (
        "kserve.health",
        200,
        None,
        None,
    )


def test_grpc_lines_say_what_was_asked_and_answered(logged):
    access, _, sent, _ = logged
    found = by_id(access)
    request, response, _, _ = sent["tfs-grpc-1"]
    line = found["tfs-grpc-1"]
    assert (line["protocol"], line["api"], line["model"], line["version"]) == (
        "grpc",
        "tfserving.predict",
        MODEL,
        1,
    )
    assert (line["status"], line["batch_size"]) == ("OK", 3)
    assert (line["bytes_in"], line["bytes_out"]) == (request.ByteSize(), response.ByteSize())
    refused = found["tfs-grpc-404"]
    assert (refused["status"], refused["model"], refused["bytes_in"]) == (
        "NOT_FOUND",
        "nope",
        sent["tfs-grpc-404"][0].ByteSize(),
    )
    status = found["tfs-grpc-status"]
    assert (status["api"], status["model"], status["status"]) == ("tfserving.status", MODEL, "OK")
    assert status["bytes_out"] == sent["tfs-grpc-status"][1].ByteSize()
    result, images, _ = sent["v2-grpc-1"]
    v2 = found["v2-grpc-1"]
    assert (v2["api"], v2["model"], v2["version"], v2["status"], v2["batch_size"]) == (
        "kserve.infer",
        MODEL,
        1,
        "OK",
        len(images),
    )
    assert v2["bytes_out"] == result.get_response().ByteSize()
    # Triton's client asks whether the server is live: a line without a model, its id made here.
    live = [
        line for line in access if line["api"] == "kserve.health" and line["protocol"] == "grpc"
    ]
    assert len(live) == 1 and live[0]["model"] is None and live[0]["status"] == "OK"


def test_the_payload_log_holds_each_answered_request_as_a_predict_log(logged):
    _, records, sent, _ = logged
    logs = [prediction_log_pb2.PredictionLog.FromString(record) for record in records]
    assert [log.WhichOneof("log_type") for log in logs] == ["predict_log"] * 4  # refusals: none
    # In the order they were answered: TF Serving REST and gRPC, KServe v2 REST and gRPC.
    order = ["tfs-rest-1", "tfs-grpc-1", "v2-rest-1", "v2-grpc-1"]
    for log, key in zip(logs, order, strict=True):
        *_, images, scores = sent[key]
        request, response = log.predict_log.request, log.predict_log.response
        assert request.model_spec.name == MODEL
        assert request.model_spec.signature_name == "serving_default"
        np.testing.assert_array_equal(tf.make_ndarray(request.inputs["images"]), images)
        np.testing.assert_allclose(
            tf.make_ndarray(response.outputs["probabilities"]), scores, rtol=1e-5
        )
        assert response.model_spec.version.value == 1
        assert log.log_metadata.model_spec.name == MODEL
        assert log.log_metadata.sampling_config.sampling_rate == 1.0


def test_a_logged_day_is_replayed_as_a_second_servers_warmup(logged, cnn_mnist_root, tmp_path):
    _, records, _, _ = logged
    root = tmp_path / "second"
    shutil.copytree(cnn_mnist_root / "models", root / "models")
    warmup = root / "models" / MODEL / "1" / WARMUP_FILE
    warmup.write_bytes(b"".join(frame(record) for record in records))
    server = Server(root)
    with running(server):
        status, _ = server.rest(f"/v1/models/{MODEL}")
        assert status == 200
    assert f"warmed up: {len(records)} runs of {WARMUP_FILE}" in server.log.read_text()


def test_workers_share_stdout_and_write_their_own_payload_logs(cnn_mnist_root, tmp_path):
    payload = tmp_path / "requests.tfrecord"
    server = Server(
        cnn_mnist_root,
        *("--workers", "2", "--access-log", "-", "--log-requests", str(payload)),
        *("--log-sample-rate", "1"),
        log="serve-workers.log",
    )
    image = examples(MODEL, 1).astype(np.float32)
    body = json.dumps({"instances": image.tolist()}).encode()
    count = 24
    with running(server):
        worker_pids(server)  # both serve (each has opened its payload log)
        for index in range(count):
            status, _ = post(server, f"/v1/models/{MODEL}:predict", body, f"w-{index}")
            assert status == 200
    predicted = [line for line in lines(server.log.read_text()) if line["request_id"][:2] == "w-"]
    assert sorted(line["request_id"] for line in predicted) == sorted(
        f"w-{i}" for i in range(count)
    )
    files = sorted(tmp_path.glob("requests.tfrecord.worker*"))
    assert [f.name for f in files] == ["requests.tfrecord.worker0", "requests.tfrecord.worker1"]
    assert not payload.exists()
    assert sum(len(list(read_records(f))) for f in files) == count


def test_the_api_vocabulary_is_the_same_on_rest_and_grpc():
    metrics = ("/metrics",)
    pairs = [
        ("/v1/models/m:predict", "/tensorflow.serving.PredictionService/Predict", "tfserving.predict"),
        ("/v1/models/m/versions/2:classify", "/tensorflow.serving.PredictionService/Classify", "tfserving.classify"),
        ("/v1/models/m/labels/a:regress", "/tensorflow.serving.PredictionService/Regress", "tfserving.regress"),
        ("/v1/models/m/metadata", "/tensorflow.serving.PredictionService/GetModelMetadata", "tfserving.metadata"),
        ("/v1/models/m", "/tensorflow.serving.ModelService/GetModelStatus", "tfserving.status"),
        ("/v2/models/m/versions/1/infer", "/inference.GRPCInferenceService/ModelInfer", "kserve.infer"),
        ("/v2/models/m", "/inference.GRPCInferenceService/ModelMetadata", "kserve.metadata"),
        ("/v2/models/m/ready", "/inference.GRPCInferenceService/ModelReady", "kserve.ready"),
        ("/v2/models/m/config", "/inference.GRPCInferenceService/ModelConfig", "kserve.config"),
        ("/v2/health/live", "/inference.GRPCInferenceService/ServerLive", "kserve.health"),
        ("/v2", "/inference.GRPCInferenceService/ServerMetadata", "kserve.server"),
        ("/v2/repository/index", "/inference.GRPCInferenceService/RepositoryIndex", "kserve.repository"),
    ]  # fmt: skip
    for path, method, api in pairs:
        assert (rest_api(path, metrics), grpc_api(method)) == (api, api)
    assert grpc_api("/inference.GRPCInferenceService/ModelStatistics") == "kserve.model_statistics"
    assert grpc_api("/tensorflow.serving.PredictionService/MultiInference") == (
        "tfserving.multi_inference"
    )
    assert [rest_api(p, metrics) for p in ("/metrics", "/", "/v1/nope")] == [
        "metrics",
        "other",
        "other",
    ]


def test_payload_files_rotate_by_size_and_read_back_whole(tmp_path):
    path = tmp_path / "requests.tfrecord"
    (tmp_path / "requests.tfrecord.7").write_bytes(b"")  # an older run's: never overwritten
    records = []
    for index in range(10):
        request = predict_pb2.PredictRequest()
        as_proto_content(np.full((index + 1, 3), index, np.float32), request.inputs["x"])
        records.append(request.SerializeToString())
    rotating = RotatingFile(path, max_bytes=200)
    rotating.write([frame(record) for record in records[:6]])  # a batch, as the writer hands it
    for record in records[6:]:
        rotating.write([frame(record)])
    rotating.close()
    rotated = sorted(tmp_path.glob("requests.tfrecord.*"), key=lambda p: int(p.suffix[1:]))
    assert rotated[0].name == "requests.tfrecord.7" and rotated[1].name == "requests.tfrecord.8"
    files = [*rotated[1:], path]
    assert all(f.stat().st_size <= 200 or len(list(read_records(f))) == 1 for f in files)
    assert [r for f in files for r in read_records(f)] == records
    official = [r for f in files for r in tf.data.TFRecordDataset(str(f)).as_numpy_iterator()]
    assert official == records  # TensorFlow's reader checks the checksums


def test_a_full_writer_drops_and_counts_instead_of_waiting():
    written, dropped = [], []
    writer = BackgroundWriter("test", written.extend, 10, lambda: dropped.append(1))
    writer.offer(b"x" * 11)  # more than the queue holds at all
    for _ in range(3):
        writer.offer(b"abc")
    writer.close()
    assert written == [b"abc"] * 3
    assert writer.dropped == len(dropped) == 1


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (["--log-sample-rate", "1.5"], "--log-sample-rate"),
        (["--log-max-bytes", "0"], "--log-max-bytes"),
        (["--access-log", "{tmp}/missing/access.jsonl"], "cannot write the access log"),
        (["--log-requests", "{tmp}/missing/requests.tfrecord"], "cannot write the payload log"),
    ],
)
def test_bad_log_options_are_one_line_errors(zoo_cli, tmp_path, options, fragment):
    (tmp_path / "models").mkdir()
    options = [o.replace("{tmp}", str(tmp_path)) for o in options]
    result = zoo_cli(
        "serve",
        "--model-dir",
        str(tmp_path / "models"),
        "--rest-port",
        "0",
        "--grpc-port",
        "0",
        *options,
    )
    assert_one_line_error(result, fragment)
