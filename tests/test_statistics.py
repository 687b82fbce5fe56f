"""Triton's statistics extension on a real `zoo serve`, through tritonclient over HTTP and gRPC: the
counts equal the requests sent and the Prometheus metrics, and the warmup replay counts in neither."""

import time

import numpy as np
import pytest
import tritonclient.grpc
import tritonclient.http
from helpers import Server, counted, examples, running, samples
from tritonclient.utils import InferenceServerException

from zoo.serving.core import statistics
from zoo.serving.core.metrics import Metrics

MODEL = "cnn-mnist"
METRICS = "/metrics"


@pytest.fixture(scope="module")
def server(cnn_mnist_root):
    with running(Server(cnn_mnist_root)) as started:
        yield started


def clients(server: Server):
    return (
        tritonclient.http.InferenceServerClient(server.url.removeprefix("http://")),
        tritonclient.grpc.InferenceServerClient(server.grpc_target),
    )


def infer(client, module, raw: np.ndarray):
    images = module.InferInput("images", list(raw.shape), "FP32")
    images.set_data_from_numpy(raw)
    return client.infer(MODEL, [images])


def stats_of(answer: dict) -> dict:
    """The one version's statistics, its numbers as ints (gRPC's JSON writes uint64 as strings)."""
    (found,) = answer["model_stats"]
    return _ints(found)


def _ints(value):
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return int(value) if isinstance(value, str) and value.isdigit() else value


def _nonzero(value):
    if isinstance(value, dict):
        kept = {k: _nonzero(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (0, {})}
    return [_nonzero(v) for v in value] if isinstance(value, list) else value


def test_statistics_count_the_requests_sent_and_agree_with_the_metrics(server):
    rest, grpc = clients(server)
    assert {"statistics", "model_repository"} <= set(rest.get_server_metadata()["extensions"])
    assert {"statistics", "model_repository"} <= set(grpc.get_server_metadata().extensions)
    # The version replayed its warmup requests before it was served: they count in neither.
    before = stats_of(rest.get_inference_statistics(MODEL))
    assert before["inference_stats"]["success"]["count"] == 0
    assert before["inference_count"] == before["execution_count"] == 0
    assert samples(server, METRICS) and before["last_inference"] == 0

    sent, batch = 5, 2
    raw = examples(MODEL, batch)
    for index in range(sent):
        client, module = (rest, tritonclient.http) if index % 2 else (grpc, tritonclient.grpc)
        assert infer(client, module, raw).as_numpy("probabilities").shape[0] == batch
    with pytest.raises(InferenceServerException):  # reaches the version, then refused: a failure
        infer(rest, tritonclient.http, raw[:, :, :, 0])

    answer = rest.get_inference_statistics(MODEL)
    assert [(s["name"], s["version"]) for s in answer["model_stats"]] == [(MODEL, "1")]
    found = stats_of(answer)
    over_grpc = stats_of(grpc.get_inference_statistics(MODEL, as_json=True))
    assert _nonzero(found) == _nonzero(over_grpc)  # protobuf's JSON leaves zeros out
    assert found == stats_of(rest.get_inference_statistics(MODEL, "1"))
    inference = found["inference_stats"]
    assert inference["success"]["count"] == sent and inference["fail"]["count"] == 1
    for phase in ("queue", "compute_input", "compute_infer", "compute_output"):
        assert inference[phase]["count"] == sent, phase
    assert inference["success"]["ns"] > inference["compute_infer"]["ns"] > 0
    assert found["inference_count"] == sent * batch
    assert found["execution_count"] == sum(
        b["compute_infer"]["count"] for b in found["batch_stats"]
    )
    assert {b["batch_size"] for b in found["batch_stats"]} <= {batch, 2 * batch, 3 * batch}
    assert 0 < time.time() * 1000 - found["last_inference"] < 60_000

    # The metrics say the same: requests by status, their latency, the batches run.
    metrics = samples(server, METRICS)
    version = {"model_name": MODEL, "version": "1"}
    requests = ":tensorflow:serving:request_count_total"
    assert counted({}, metrics, requests, status="OK", **version) == sent
    assert counted({}, metrics, requests, status="INVALID_ARGUMENT", **version) == 1
    latency = counted({}, metrics, ":tensorflow:serving:request_latency_sum", **version)
    total = inference["success"]["ns"] + inference["fail"]["ns"]
    assert abs(latency * 1000 - total) <= 2  # the same microseconds, rounded to nanoseconds
    batches = ":tensorflow:serving:batching:processed_batch_size"
    assert counted({}, metrics, f"{batches}_count", **version) == found["execution_count"]
    assert counted({}, metrics, f"{batches}_sum", **version) == found["inference_count"]
    assert counted({}, metrics, "nv_inference_count_total", **version) == sent * batch


def test_statistics_of_every_model_and_refusals(server):
    rest, grpc = clients(server)
    every = rest.get_inference_statistics()["model_stats"]
    assert [(s["name"], s["version"]) for s in every] == [(MODEL, "1")]
    assert len(grpc.get_inference_statistics().model_stats) == 1
    for name, version in (("no-such-model", ""), (MODEL, "7")):
        with pytest.raises(InferenceServerException) as refused:
            rest.get_inference_statistics(name, version)
        assert refused.value.status() == "404"
        with pytest.raises(InferenceServerException) as refused:
            grpc.get_inference_statistics(name, version)
        assert refused.value.status() == "StatusCode.NOT_FOUND"


def test_statistics_are_summed_over_workers(cnn_mnist_root):
    """Under --workers, whichever worker answers reports every worker's requests, as the metrics."""
    with running(Server(cnn_mnist_root, "--workers", "2", log="workers.log")) as server:
        rest, _ = clients(server)
        for _ in range(6):  # new connections: the kernel spreads them over the workers
            fresh, _ = clients(server)
            infer(fresh, tritonclient.http, examples(MODEL, 1))
        for _ in range(3):  # each answer is the sum, whichever worker gives it
            found = stats_of(rest.get_inference_statistics(MODEL))
            assert found["inference_stats"]["success"]["count"] == 6
            assert found["inference_count"] == found["execution_count"] == 6
            assert found["last_inference"] > 0


def test_the_statistics_are_the_metrics_read_back():
    """The pieces, in one process: what the runner and batcher count, the statistics read."""
    metrics = Metrics()
    timing = statistics.Timing()
    timing.examples, timing.queue, timing.compute = 3, 0.002, [0.001, 0.004, 0.0005]
    answered = metrics.requests(MODEL, 1, "ModelInfer", "REST")
    answered.done("OK", time.perf_counter() - 0.01, timing)
    answered.done("INVALID_ARGUMENT", time.perf_counter() - 0.001)
    metrics.batch_recorder(MODEL, 1)(3, (0.001, 0.004, 0.0005))
    warmups = metrics.warmups()  # counted apart: in no statistic
    warmups.requests(MODEL, 1, "ModelInfer", "warmup").done("OK", time.perf_counter(), timing)
    warmups.batch_recorder(MODEL, 1)(3, (0.001, 0.004, 0.0005))

    (found,) = statistics.read(metrics.families(), [(MODEL, 1)])
    assert (found.success.count, found.fail.count) == (1, 1)
    assert found.success.ns >= 10_000_000 and found.fail.ns >= 1_000_000
    assert (found.queue.count, found.queue.ns) == (1, 2_000_000)
    assert [found.compute_input.ns, found.compute_infer.ns, found.compute_output.ns] == [
        1_000_000,
        4_000_000,
        500_000,
    ]
    assert (found.inference_count, found.execution_count) == (3, 1)
    (batch,) = found.batch_stats
    assert (batch.batch_size, batch.compute_infer.count, batch.compute_infer.ns) == (
        3,
        1,
        4_000_000,
    )
    assert found.last_inference > 0
    (other,) = statistics.read(metrics.families(), [(MODEL, 2)])  # a version never asked
    assert other == statistics.VersionStatistics(MODEL, 2)
