"""`zoo serve --workers N` and port safety, on real processes: the ports are claimed before any
model loads, a second server on a port in use is refused, and N workers answer (SIGTERM stopping
them all: test_reliability.py)."""

import itertools
import json
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
import tensorflow as tf
from conftest import run_zoo
from helpers import (
    Server,
    assert_one_line_error,
    examples,
    grpc_request,
    running,
    samples,
    worker_pids,
)
from tensorflow_serving.apis import prediction_service_pb2_grpc


@pytest.fixture(scope="module")
def workers(cnn_mnist_root):
    with running(Server(cnn_mnist_root, "--workers", "2")) as served:
        worker_pids(served)  # every worker serves, not only the first to answer
        yield served


def test_two_workers_answer_rest_and_grpc_predict(workers):
    raw = examples("cnn-mnist", 2)
    body = json.dumps({"instances": raw.tolist()})
    # Fresh connections each time, so the kernel hands them to both workers.
    rest = [workers.rest("/v1/models/cnn-mnist:predict", body) for _ in range(6)]
    assert all(status == 200 for status, _ in rest)
    assert all(answer == rest[0][1] for _, answer in rest)
    for _ in range(6):
        with grpc.insecure_channel(workers.grpc_target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            answer = stub.Predict(grpc_request("cnn-mnist", tf.make_tensor_proto(raw)), timeout=30)
        np.testing.assert_allclose(
            tf.make_ndarray(answer.outputs["probabilities"]),
            [p["probabilities"] for p in rest[0][1]["predictions"]],
            atol=1e-5,
        )
    counted = sum(
        value
        for (name, labels), value in samples(workers, "/metrics").items()
        if name == ":tensorflow:serving:request_count_total" and ("status", "OK") in labels
    )
    assert counted == 12  # whichever worker answers the scrape counts both workers' requests
    log = workers.log.read_text()
    assert log.count("cnn-mnist: version 1 loaded") == 1, log  # worker 0 speaks for both
    assert len(set(worker_pids(workers))) == 2


def test_a_port_in_use_or_no_models_is_one_line_before_any_model_loads(
    workers, cnn_mnist_root, tmp_path
):
    """REST or gRPC port, one process or several: refused, and nothing was loaded first; a worker
    that cannot start ends the same way. All at once: each is mostly TensorFlow's import."""
    model_dir = str(cnn_mnist_root / "models")
    busy = (
        ("--rest-port", workers.rest_port, "(REST)"),
        ("--grpc-port", workers.grpc_port, "(gRPC)"),
    )
    cases = [(model_dir, *port, count) for port in busy for count in ("1", "2")]
    (tmp_path / "none").mkdir()
    cases.append((str(tmp_path / "none"), "--rest-port", 0, "no models to serve", "2"))

    def zoo_serve(case):
        folder, flag, port, _, count = case
        ports = {"--rest-port": "0", "--grpc-port": "0", flag: str(port)}
        options = itertools.chain.from_iterable(ports.items())
        return run_zoo("serve", "--model-dir", folder, *options, "--workers", count)

    with ThreadPoolExecutor(len(cases)) as pool:
        answers = list(pool.map(zoo_serve, cases))
    for (_, _, port, error, _), answer in zip(cases, answers, strict=True):
        assert_one_line_error(
            answer, error if port == 0 else f"cannot listen on 127.0.0.1:{port} {error}"
        )
        assert answer.stdout == "", answer.stdout  # not a model loaded, no banner
    assert "Error" not in workers.log.read_text()
