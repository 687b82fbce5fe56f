"""Warmup: `zoo export` writes TF Serving's warmup file and Triton's model_warmup, and `zoo serve`
replays them through its request path before a version is served, counted apart from clients."""

import json
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from helpers import Server, counted, examples, running, samples, wait_for
from tensorflow_serving.apis import prediction_log_pb2
from tritonclient.grpc import model_config_pb2

from zoo.serving.core.batching import BatchingParameters
from zoo.serving.core.limits import Limits
from zoo.serving.core.metrics import Metrics
from zoo.serving.core.servables import load
from zoo.serving.core.tfrecord import read_records
from zoo.serving.warmup import Warmup, WarmupError

WARMUP_FILE = "assets.extra/tf_serving_warmup_requests"
WARMUP_COUNT = ":tensorflow:serving:warmup_request_count_total"
REQUESTS = ":tensorflow:serving:request_count_total"
BATCHES = ":tensorflow:serving:batching:processed_batch_size_count"


def official_records(path) -> list[prediction_log_pb2.PredictionLog]:
    """The file as TensorFlow's own TFRecord reader (checksums verified) and TF Serving's proto
    read it."""
    raw = list(tf.data.TFRecordDataset(str(path)).as_numpy_iterator())
    assert raw == list(read_records(path))  # zoo serve's reader reads the same records
    return [prediction_log_pb2.PredictionLog.FromString(record) for record in raw]


def test_export_writes_predict_logs_of_real_examples_and_triton_model_warmup(cnn_mnist_root):
    version = cnn_mnist_root / "models" / "cnn-mnist" / "1"
    logs = official_records(version / WARMUP_FILE)
    assert [log.WhichOneof("log_type") for log in logs] == ["predict_log", "predict_log"]
    signature = tf.saved_model.load(str(version)).signatures["serving_default"]
    (wanted,) = signature.structured_input_signature[1].values()
    real = examples("cnn-mnist", 4)  # the export's parity inputs: its first test images
    for log, size in zip(logs, (1, 4), strict=True):
        request = log.predict_log.request
        assert request.model_spec.signature_name == "serving_default"
        assert list(request.inputs) == [wanted.name]
        sent = tf.make_ndarray(request.inputs[wanted.name])
        assert sent.dtype == wanted.dtype.as_numpy_dtype and wanted.shape.is_compatible_with(
            sent.shape
        )
        np.testing.assert_array_equal(sent, real[:size])

    config = text_format.Parse(
        (version.parent / "config.pbtxt").read_text(), model_config_pb2.ModelConfig()
    )
    (warmup,) = config.model_warmup
    assert warmup.batch_size == 1
    (declared,) = config.input
    sample = warmup.inputs[declared.name]
    assert sample.zero_data and sample.data_type == declared.data_type
    assert list(sample.dims) == list(declared.dims)


def add_version(model_root, version: int, records: list[bytes] | bytes) -> None:
    """Version `version` of the model: a copy of version 1 with its warmup file replaced by
    `records` (written by TensorFlow) or by raw bytes."""
    target = model_root / str(version)
    shutil.copytree(model_root / "1", model_root / f".{version}")
    warmup = model_root / f".{version}" / WARMUP_FILE
    if isinstance(records, bytes):
        warmup.write_bytes(records)
    else:
        write_records(warmup, records)
    (model_root / f".{version}").rename(target)


@pytest.mark.parametrize("backend", ["onnx", "tf"])
def test_warmup_runs_before_ready_counted_apart_and_a_failed_one_fails_its_version(
    cnn_mnist_root, tmp_path, backend
):
    root = tmp_path / "root"
    shutil.copytree(cnn_mnist_root / "models", root / "models")
    model = root / "models" / "cnn-mnist"
    with running(Server(root, "--backend", backend)) as server:
        log = server.log.read_text()
        warmed = re.search(
            rf"cnn-mnist: version 1 loaded \({backend} on [^)]*\), warmed up: 2 runs of "
            rf"{WARMUP_FILE} in ",
            log,
        ).start()
        assert warmed < log.index("REST on"), log  # warm before the server answers at all
        first = samples(server, "/metrics")
        v1 = {"model_name": "cnn-mnist", "version": "1"}
        assert counted({}, first, WARMUP_COUNT, **v1, API="Predict", status="OK") == 2
        assert counted({}, first, WARMUP_COUNT, entrypoint="warmup") == 2
        assert counted({}, first, REQUESTS) == 0  # no client has asked anything yet
        assert counted({}, first, BATCHES) == 0  # nor are the warmup's batches the clients'

        wrong_input = prediction_log_pb2.PredictionLog()
        request = wrong_input.predict_log.request
        request.model_spec.signature_name = "serving_default"
        request.inputs["nope"].CopyFrom(tf.make_tensor_proto(examples("cnn-mnist", 1)))
        good = (model / "1" / WARMUP_FILE).read_bytes()
        add_version(model, 2, [wrong_input.SerializeToString()])
        add_version(model, 3, good[:-1])  # a damaged file: its last checksum is cut short
        add_version(model, 4, list(read_records(model / "1" / WARMUP_FILE)))
        wait_for(server, "/v1/models/cnn-mnist/versions/4", 200)
        after = samples(server, "/metrics")
        v4 = {"model_name": "cnn-mnist", "version": "4"}
        assert counted({}, after, WARMUP_COUNT, **v4, status="OK") == 2  # replayed before AVAILABLE
        states = {
            int(s["version"]): s
            for s in server.rest("/v1/models/cnn-mnist")[1]["model_version_status"]
        }
        assert states[4]["state"] == "AVAILABLE" and states[1]["state"] == "AVAILABLE"
        assert states[2]["state"] == "END"
        assert "warmup record 1" in states[2]["status"]["error_message"]
        assert "nope" in states[2]["status"]["error_message"]
        assert states[3]["state"] == "END"
        assert "TFRecord" in states[3]["status"]["error_message"]
        body = json.dumps({"instances": examples("cnn-mnist", 1).tolist()})
        assert server.rest("/v1/models/cnn-mnist/versions/1:predict", body)[0] == 200
        last = samples(server, "/metrics")
        assert counted(after, last, REQUESTS, **v1, entrypoint="REST") == 1
        assert counted(after, last, WARMUP_COUNT) == 0  # a client's request is never a warmup


def test_an_onnx_folder_without_the_file_is_warmed_by_config_pbtxt(cnn_mnist_root, tmp_path):
    """Triton's model_warmup, for a folder TF Serving's file is missing from (Triton's layout)."""
    root = tmp_path / "root"
    model = root / "models" / "cnn-mnist"
    shutil.copytree(cnn_mnist_root / "models" / "cnn-mnist", model)
    for name in ("saved_model.pb", "variables", "assets.extra", "zoo.json"):
        path = model / "1" / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    with running(Server(root)) as server:
        assert re.search(
            r"loaded \(onnx on [^)]*\), warmed up: 1 runs of config.pbtxt model_warmup",
            server.log.read_text(),
        )
        found = samples(server, "/metrics")
        warmups = {"model_name": "cnn-mnist", "API": "ModelInfer", "status": "OK"}
        assert counted({}, found, WARMUP_COUNT, **warmups) == 1


def write_records(path, records: list[bytes]) -> None:
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("1001 records", "Number of warmup records exceeds the maximum (1000)"),
        ("a session_run log", "Unsupported log_type for warmup: session_run_log"),
        ("not a PredictionLog", "Failed to parse warmup record"),
    ],
)
def test_tf_servings_limits_on_the_file(cnn_mnist_root, tmp_path, case, reason):
    """TF Serving's rules on the file, in process on the real servable: a version with more than
    1,000 records, a log type it does not replay or a record that is no PredictionLog fails."""
    version = tmp_path / "cnn-mnist" / "1"
    shutil.copytree(cnn_mnist_root / "models" / "cnn-mnist" / "1", version)
    good = next(read_records(version / WARMUP_FILE))
    session_run = prediction_log_pb2.PredictionLog()
    session_run.session_run_log.SetInParent()
    records = {
        "1001 records": [good] * 1001,
        "a session_run log": [good, session_run.SerializeToString()],
        "not a PredictionLog": [good, b"\xff\xff"],
    }[case]
    write_records(version / WARMUP_FILE, records)
    metrics = Metrics()
    servable = load(version, "onnx")
    servable.batching = BatchingParameters.default()  # as the repository sets it on loading
    with pytest.raises(WarmupError, match=re.escape(reason)):
        Warmup(metrics, Limits())("cnn-mnist", 1, servable)
    text = metrics.text().decode()
    ran = 1000 if case == "1001 records" else 1  # replayed in order until the one that fails
    assert f'status="OK",version="1"}} {ran:.1f}' in text, text
