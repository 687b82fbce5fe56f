"""Reliability: a real `zoo serve` under faults — oversized and amplifying requests, given-up
requests, versions that are broken, added and removed under load, SIGTERM (with requests in
flight, and with workers) and SIGKILL.
Each test is bounded in time and in requests, on loopback only (docs/RELIABILITY.md)."""

import contextlib
import gzip
import json
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from conftest import run_zoo
from helpers import (
    Server,
    assert_one_line_error,
    counted,
    examples,
    grpc_request,
    http,
    running,
    samples,
    v2_input,
    wait_for,
    worker_pids,
)
from PIL import Image
from tensorflow_serving.apis import get_model_status_pb2

from zoo.serving.core.batching import QUEUE_FULL
from zoo.serving.core.model_sources import Directory
from zoo.serving.core.repository import END, Repository
from zoo.serving.core.servables import load

TOLERANCE = 1e-5
LIMIT = 100_000  # bytes: a few MNIST images fit, a batch of 64 does not
BATCH_METRIC = ":tensorflow:serving:batching:processed_batch_size"


@pytest.fixture(scope="module")
def expected(cnn_mnist_root):
    """What ONNX Runtime answers in process for the first 8 test images."""
    servable = load(cnn_mnist_root / "models" / "cnn-mnist" / "1", "onnx")
    return servable.run_batch({"images": examples("cnn-mnist", 8)})["probabilities"]


def post(server: Server, path: str, body: bytes, **headers: str) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(server.url + path, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_requests_above_the_size_limit_are_refused_and_good_ones_answered(cnn_mnist_root, expected):
    predict = "/v1/models/cnn-mnist:predict"
    with running(
        Server(cnn_mnist_root, "--max-request-bytes", str(LIMIT), log="limits.log")
    ) as server:
        big = json.dumps({"instances": examples("cnn-mnist", 64).tolist()}).encode()
        status, answer = post(server, predict, big)
        assert status == 413 and "above this server's limit of 100,000" in answer["error"]
        bomb = gzip.compress(b" " * (50 * LIMIT))  # 5 MB of spaces in 5 KB
        status, answer = post(server, predict, bomb, **{"Content-Encoding": "gzip"})
        assert status == 413 and "decompresses to more than" in answer["error"], answer

        with pytest.raises(grpc.RpcError) as refused:
            server.predictions.Predict(
                grpc_request("cnn-mnist", tf.make_tensor_proto(examples("cnn-mnist", 64))),
                timeout=30,
            )
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        padded = tf.make_tensor_proto(0.5, dtype=tf.float32, shape=[1])
        padded.tensor_shape.dim[0].size = 100_000  # one value, padded to 100,000 x 784 floats
        for size in (28, 28, 1):
            padded.tensor_shape.dim.add(size=size)
        with pytest.raises(grpc.RpcError) as refused:
            server.predictions.Predict(grpc_request("cnn-mnist", padded), timeout=30)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "tensor images of shape [100000, 28, 28, 1]" in refused.value.details()

        small = json.dumps({"instances": examples("cnn-mnist", 2).tolist()}).encode()
        status, answer = post(server, predict, gzip.compress(small), **{"Content-Encoding": "gzip"})
        assert status == 200, answer
        got = [p["probabilities"] for p in answer["predictions"]]
        np.testing.assert_allclose(got, expected[:2], atol=TOLERANCE)
        answer = server.predictions.Predict(
            grpc_request("cnn-mnist", tf.make_tensor_proto(examples("cnn-mnist", 2))), timeout=30
        )
        got = tf.make_ndarray(answer.outputs["probabilities"])
        np.testing.assert_allclose(got, expected[:2], atol=TOLERANCE)

        huge = cnn_mnist_root / "huge.png"
        Image.new("L", (5000, 5000)).save(huge)
        result = run_zoo("predict", "cnn-mnist", str(huge), "--url", server.url)
        assert_one_line_error(result, "5000x5000", "larger than")
    assert "Traceback" not in server.log.read_text()


WAITING = (  # one batch at a time, which waits 2 s for more; no room for a second batch
    "max_batch_size { value: 4 }\nbatch_timeout_micros { value: 2000000 }\n"
    "max_enqueued_batches { value: 1 }\nnum_batch_threads { value: 1 }\n"
)


@pytest.mark.parametrize("give_up", ["gRPC deadline", "REST timeout", "REST client gone"])
def test_given_up_requests_free_their_place_and_are_never_run(cnn_mnist_root, expected, give_up):
    """A gRPC call past its deadline, a REST request past --rest-api-timeout-in-ms, and one whose
    client disconnects leave the queue: a full batch that the waiting one would have kept out is
    admitted at once, and the given-up request is never computed (the batch-size metric counts
    only what ran). Only the timeout case has a REST timeout, so each case shows its own cause."""
    parameters = cnn_mnist_root / "waiting.txt"
    parameters.write_text(WAITING)
    timeout = "300" if give_up == "REST timeout" else "0"
    options = ("--batching-parameters-file", str(parameters), "--rest-api-timeout-in-ms", timeout)
    images = examples("cnn-mnist", 4)
    body = json.dumps({"instances": images[:1].tolist()}).encode()
    with running(Server(cnn_mnist_root, *options, log=f"{give_up}.log")) as server:
        before = samples(server, "/metrics")
        started = time.monotonic()
        if give_up == "gRPC deadline":
            with pytest.raises(grpc.RpcError) as late:
                one = grpc_request("cnn-mnist", tf.make_tensor_proto(images[:1]))
                server.predictions.Predict(one, timeout=0.3)
            assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        elif give_up == "REST timeout":
            status, answer = post(server, "/v1/models/cnn-mnist:predict", body)
            assert status == 504 and "Deadline exceeded: no answer within 0.3 s" in answer["error"]
        else:
            with socket.create_connection(("127.0.0.1", server.rest_port)) as client:
                client.sendall(
                    b"POST /v1/models/cnn-mnist:predict HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                time.sleep(0.3)  # queued, then the client goes away
        four = grpc_request("cnn-mnist", tf.make_tensor_proto(images))
        answer = server.predictions.Predict(four, timeout=30)  # a batch of its own: admitted
        assert time.monotonic() - started < 1.5  # it did not wait out the 2 s batch
        got = tf.make_ndarray(answer.outputs["probabilities"])
        np.testing.assert_allclose(got, expected[:4], atol=TOLERANCE)
        time.sleep(2.2)  # past the given-up batch's timeout: it would have run by now
        after = samples(server, "/metrics")
    version = {"model_name": "cnn-mnist", "version": "1"}
    assert counted(before, after, f"{BATCH_METRIC}_count", **version) == 1
    assert counted(before, after, f"{BATCH_METRIC}_sum", **version) == 4
    assert "Traceback" not in server.log.read_text()


FULL_QUEUE = (  # batches of 512 run one at a time; the queue's bound is one waiting batch
    "max_batch_size { value: 512 }\nmax_enqueued_batches { value: 1 }\n"
    "num_batch_threads { value: 1 }\n"
)
QUEUE_METRIC = ":tensorflow:serving:batching:queue_size"


def queued(server: Server) -> float:
    return sum(v for (name, _), v in samples(server, "/metrics").items() if name == QUEUE_METRIC)


def test_a_full_queue_refuses_before_parsing_the_request(cnn_mnist_root, expected):
    """Past saturation a refusal must cost no parsing (parsing requests only to refuse them takes
    the core from the batches): while the queue is full, a body that is not JSON (TF Serving REST,
    KServe v2 REST) and a tensor that would not convert (gRPC) get the queue's refusal, not their
    parse errors. Once the queue drains, the same requests get their 400s and good ones answers."""
    parameters = cnn_mnist_root / "full.txt"
    parameters.write_text(FULL_QUEUE)
    big = np.resize(examples("cnn-mnist", 8), (24 * 512, 28, 28, 1))  # 24 batches: seconds here
    bad = grpc_request("cnn-mnist", tf.make_tensor_proto(examples("cnn-mnist", 1)))
    bad.inputs["images"].tensor_content = b"not 784 floats"
    options = ("--batching-parameters-file", str(parameters))

    def refusals():
        return (
            post(server, "/v1/models/cnn-mnist:predict", b"not json"),
            post(server, "/v2/models/cnn-mnist/infer", b"not json"),
            server.predictions.Predict.future(bad, timeout=30).exception(),
        )

    with running(Server(cnn_mnist_root, *options, log="full-queue.log")) as server:
        long = server.predictions.Predict.future(
            grpc_request("cnn-mnist", tf.make_tensor_proto(big)), timeout=120
        )
        wait_until(lambda: queued(server) > 0, server)
        rest, v2, grpc_error = refusals()
        still_full = queued(server) > 0
        got = tf.make_ndarray(long.result().outputs["probabilities"])
        rest_after, v2_after, grpc_after = refusals()
    assert still_full, "the queue drained before the refusals: make the long request longer"
    assert rest == (503, {"error": QUEUE_FULL}) and v2 == (503, {"error": QUEUE_FULL})
    assert grpc_error.code() == grpc.StatusCode.UNAVAILABLE and grpc_error.details() == QUEUE_FULL
    assert rest_after[0] == 400 and v2_after[0] == 400, (rest_after, v2_after)
    assert grpc_after.code() == grpc.StatusCode.INVALID_ARGUMENT
    np.testing.assert_allclose(got[:8], expected, atol=TOLERANCE)
    np.testing.assert_allclose(got[-8:], expected, atol=TOLERANCE)


def copy_version(source, target) -> None:
    """Publish a version as zoo export does: copied aside, then renamed into place."""
    staged = target.with_name(f".staged-{target.name}")
    shutil.copytree(source, staged)
    os.rename(staged, target)


def version_status(server: Server, model: str) -> dict[str, dict]:
    status, answer = server.rest(f"/v1/models/{model}")
    assert status == 200, answer
    return {s["version"]: s for s in answer["model_version_status"]}


def wait_until(condition, server: Server, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, server.log.read_text()
        time.sleep(0.1)


def test_a_broken_version_is_reported_others_serve_and_a_fixed_copy_is_loaded(
    cnn_mnist_root, expected
):
    good = cnn_mnist_root / "models" / "cnn-mnist" / "1"
    with running(Server(cnn_mnist_root, log="broken.log")) as server:
        digits = server.model_dir / "digits"
        copy_version(good, digits / "1")
        wait_for(server, "/v1/models/digits/versions/1", 200)
        broken = digits / ".staged-2"
        shutil.copytree(good, broken)
        onnx = broken / "model.onnx"
        onnx.write_bytes(onnx.read_bytes()[: onnx.stat().st_size // 2])  # a truncated file
        os.rename(broken, digits / "2")
        wait_until(lambda: "2" in version_status(server, "digits"), server)
        failed = version_status(server, "digits")["2"]
        assert failed["state"] == END and failed["status"]["error_code"] == "UNKNOWN"
        assert "model.onnx" in failed["status"]["error_message"]
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name, request.model_spec.version.value = "digits", 2
        (entry,) = server.models.GetModelStatus(request, timeout=30).model_version_status
        assert entry.state == get_model_status_pb2.ModelVersionStatus.END
        assert entry.status.error_code == 2 and "model.onnx" in entry.status.error_message

        body = json.dumps({"instances": examples("cnn-mnist", 2).tolist()})
        for model in ("digits", "cnn-mnist"):  # the latest good version, and the other model
            status, answer = server.rest(f"/v1/models/{model}:predict", body)
            assert status == 200, answer
            got = [p["probabilities"] for p in answer["predictions"]]
            np.testing.assert_allclose(got, expected[:2], atol=TOLERANCE)

        shutil.copy(good / "model.onnx", digits / "2" / "model.onnx")  # the copy is completed
        wait_until(lambda: version_status(server, "digits")["2"]["state"] == "AVAILABLE", server)
        status, answer = server.rest("/v1/models/digits/metadata")
        assert answer["model_spec"]["version"] == "2"
        (digits / "²").mkdir()  # a folder name that isdigit() but is no version: ignored
        shutil.rmtree(digits / "1")
        wait_for(server, "/v1/models/digits/versions/1", 404)
    log = server.log.read_text()
    assert "digits: version 2 failed to load" in log and "digits: version 2 loaded" in log
    assert "poll of" not in log and "Traceback" not in log


def test_versions_added_and_removed_under_load_fail_no_request(cnn_mnist_root, expected):
    """Two clients ask for the latest version without pause while version 2 is added (the default
    moves to it), version 1 removed, then version 3 added as version 2 is removed."""
    good = cnn_mnist_root / "models" / "cnn-mnist" / "1"
    images = examples("cnn-mnist", 2)
    with running(Server(cnn_mnist_root, log="reload.log")) as server:
        live = server.model_dir / "live"
        copy_version(good, live / "1")
        wait_for(server, "/v1/models/live/versions/1", 200)
        stop, answers = threading.Event(), []

        def grpc_client():
            request = grpc_request("live", tf.make_tensor_proto(images), input_name="images")
            while not stop.is_set():
                try:
                    answer = server.predictions.Predict(request, timeout=30)
                except grpc.RpcError as exc:
                    answers.append(("gRPC", None, f"{exc.code()}: {exc.details()}"))
                    continue
                got = tf.make_ndarray(answer.outputs["probabilities"])
                right = np.allclose(got, expected[:2], atol=TOLERANCE)
                answers.append(("gRPC", answer.model_spec.version.value, not right and "wrong"))

        def rest_client():  # KServe v2, whose answers name their version
            body = json.dumps({"inputs": [v2_input(images)]})
            while not stop.is_set():
                status, answer = http(f"{server.url}/v2/models/live/infer", body)
                if status != 200:
                    answers.append(("REST", None, f"{status}: {answer}"))
                    continue
                got = np.reshape(answer["outputs"][0]["data"], (2, 10))
                right = np.allclose(got, expected[:2], atol=TOLERANCE)
                answers.append(("REST", int(answer["model_version"]), not right and "wrong"))

        def default_version() -> str:
            return server.rest("/v1/models/live/metadata")[1]["model_spec"]["version"]

        clients = [threading.Thread(target=f) for f in (grpc_client, rest_client)]
        for client in clients:
            client.start()
        try:
            time.sleep(0.5)
            copy_version(good, live / "2")
            wait_until(lambda: default_version() == "2", server)
            shutil.rmtree(live / "1")
            wait_for(server, "/v1/models/live/versions/1", 404)
            copy_version(good, live / "3")
            shutil.rmtree(live / "2")
            wait_until(lambda: default_version() == "3", server)
            wait_for(server, "/v1/models/live/versions/2", 404)
            time.sleep(0.5)
        finally:
            stop.set()
            for client in clients:
                client.join(timeout=60)
    failed = [a for a in answers if a[2]]
    by_protocol = {p: sum(a[0] == p for a in answers) for p in ("gRPC", "REST")}
    print(f"hot reload: {len(answers)} requests {by_protocol}, {len(failed)} failed")  # -s shows it
    assert not failed, failed[:5]
    served = {version for _, version, _ in answers}
    assert served <= {1, 2, 3} and {1, 3} <= served, served
    assert {protocol for protocol, _, _ in answers} == {"gRPC", "REST"}
    assert len(answers) >= 100


def test_sigterm_answers_the_requests_in_flight_then_exits_0(cnn_mnist_root, expected):
    parameters = cnn_mnist_root / "slow-batch.txt"
    parameters.write_text("max_batch_size { value: 64 }\nbatch_timeout_micros { value: 1000000 }\n")
    server = Server(
        cnn_mnist_root, "--batching-parameters-file", str(parameters), log="sigterm.log"
    )
    server.wait_ready()
    images = examples("cnn-mnist", 2)
    body = json.dumps({"instances": images.tolist()})
    request = grpc_request("cnn-mnist", tf.make_tensor_proto(images))
    with ThreadPoolExecutor(4) as pool:
        rests = [pool.submit(http, f"{server.url}/v1/models/cnn-mnist:predict", body)]
        rests.append(pool.submit(http, f"{server.url}/v1/models/cnn-mnist:predict", body))
        grpcs = [pool.submit(server.predictions.Predict, request, timeout=30) for _ in range(2)]
        time.sleep(0.5)  # all four wait in the batch's second
        server.process.send_signal(signal.SIGTERM)
        for done in rests:
            status, answer = done.result()
            assert status == 200, answer
            got = [p["probabilities"] for p in answer["predictions"]]
            np.testing.assert_allclose(got, expected[:2], atol=TOLERANCE)
        for done in grpcs:
            got = tf.make_ndarray(done.result().outputs["probabilities"])
            np.testing.assert_allclose(got, expected[:2], atol=TOLERANCE)
    assert server.process.wait(timeout=15) == 0
    with pytest.raises(OSError):
        http(f"{server.url}/v1/models/cnn-mnist")
    log = server.log.read_text()
    assert "shutting down" in log and "Traceback" not in log


def test_sigterm_stops_every_worker_cleanly(cnn_mnist_root):
    server = Server(cnn_mnist_root, "--workers", "2", log="sigterm-workers.log")
    server.wait_ready()
    pids = worker_pids(server)
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=60) == 0
    log = server.log.read_text()
    assert "stopping 2 workers" in log and "Traceback" not in log, log
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return False


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigkill_leaves_nothing_to_clean(cnn_mnist_root, expected, workers):
    """The server's processes go with it, and a new server takes the same ports at once (and,
    with workers, removes the metrics folder the killed one left)."""
    killed = Server(cnn_mnist_root, "--workers", workers, log=f"killed-{workers}.log")
    killed.wait_ready()
    spawned = [p for p in children(killed.process.pid) if workers != "1"]
    killed.process.kill()
    killed.process.wait(timeout=30)
    deadline = time.monotonic() + 30
    while any(alive(p) for p in spawned):
        assert time.monotonic() < deadline, "a worker outlived its killed parent"
        time.sleep(0.1)
    metrics = Path(tempfile.gettempdir()).glob(f"zoo-metrics-{killed.process.pid}-*")
    ports = (killed.rest_port, killed.grpc_port)
    with running(
        Server(cnn_mnist_root, "--workers", workers, log=f"after-{workers}.log", ports=ports)
    ):
        body = json.dumps({"instances": examples("cnn-mnist", 2).tolist()})
        status, answer = http(f"{killed.url}/v1/models/cnn-mnist:predict", body)
        assert status == 200, answer
        got = [p["probabilities"] for p in answer["predictions"]]
        np.testing.assert_allclose(got, expected[:2], atol=TOLERANCE)
        assert not list(metrics)


def test_a_savedmodel_without_variables_fails_alone_and_its_copy_is_loaded(
    cnn_mnist_root, tmp_path
):
    """The TensorFlow backend's broken version, in the repository itself (no server needed)."""
    good = cnn_mnist_root / "models" / "cnn-mnist" / "1"
    copy_version(good, tmp_path / "digits" / "1")
    copy_version(good, tmp_path / "digits" / "2")
    shutil.rmtree(tmp_path / "digits" / "2" / "variables")
    lines = []
    repository = Repository(Directory(tmp_path), "tf", log=lines.append)
    repository.poll()
    assert repository.models == {"digits": [1]}
    failed, served = repository.status("digits")
    assert (failed.version, failed.state) == (2, END) and "variables" in failed.error
    answer = repository.servable("digits").run_batch({"images": examples("cnn-mnist", 2)})
    assert answer["probabilities"].shape == (2, 10) and served.state == "AVAILABLE"
    repository.poll()
    assert sum("failed to load" in line for line in lines) == 1  # logged once, not every poll
    shutil.copytree(good / "variables", tmp_path / "digits" / "2" / "variables")
    repository.poll()
    assert repository.models == {"digits": [1, 2]}
