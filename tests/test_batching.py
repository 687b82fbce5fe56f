"""Dynamic batching: merged answers equal unbatched ones, in order; split requests come back whole;
a full queue refuses at once. In process on a real exported model, and through a real `zoo serve`."""

import asyncio
import itertools
import json
import threading
from concurrent.futures import ThreadPoolExecutor

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
)

from zoo.serving.core import batching
from zoo.serving.core.batching import Batcher, BatchingParameters
from zoo.serving.core.errors import ServerError, Unavailable
from zoo.serving.core.servables import load

TOLERANCE = 1e-5
# Each request a different mix of real test images, 1-5 of them, so a misplaced row shows.
SIZES = [1, 3, 2, 5, 1, 4, 2, 1, 3, 5, 2, 2, 1, 4, 3, 1]


@pytest.fixture(scope="module")
def servable(cnn_mnist_root):
    return load(cnn_mnist_root / "models" / "cnn-mnist" / "1", "onnx")


def requests(sizes=SIZES) -> list[dict[str, np.ndarray]]:
    images = examples("cnn-mnist", sum(sizes))
    starts = np.cumsum([0, *sizes])
    return [{"images": images[a:b]} for a, b in itertools.pairwise(starts)]


def run_concurrently(servable, parameters, inputs, threads: int = 0):
    """Every request sent at once to one batcher; (answers in request order, batch sizes run)."""
    sizes = []

    async def main():
        loop = asyncio.get_running_loop()
        pool = ThreadPoolExecutor(threads) if threads else None
        batcher = Batcher(servable.run_batch, parameters, loop, pool, sizes.append)
        results = await asyncio.gather(*(batcher.run(x) for x in inputs), return_exceptions=True)
        if pool:
            pool.shutdown()
        return results

    return asyncio.run(main()), sizes


def assert_unbatched(servable, inputs, answers):
    for request, answer in zip(inputs, answers, strict=True):
        alone = servable.run_batch(request)
        assert set(answer) == set(alone)
        for name, value in alone.items():
            assert answer[name].shape == value.shape
            np.testing.assert_allclose(answer[name], value, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("threads", [0, 2], ids=["on the loop", "two batch threads"])
def test_merged_answers_equal_unbatched_ones_in_order(servable, threads):
    inputs = requests()
    parameters = BatchingParameters(max_batch_size=8, num_batch_threads=threads)
    answers, sizes = run_concurrently(servable, parameters, inputs, threads)
    assert_unbatched(servable, inputs, answers)
    assert sum(sizes) == sum(SIZES) and max(sizes) <= 8
    assert len(sizes) < len(inputs), "no request was merged with another"


def test_a_request_larger_than_max_batch_size_is_split_and_reassembled(servable):
    inputs = requests([21, 2])
    answers, sizes = run_concurrently(servable, BatchingParameters(max_batch_size=8), inputs)
    assert_unbatched(servable, inputs, answers)
    assert answers[0]["probabilities"].shape == (21, 10)
    assert sizes == [8, 8, 7]  # the small request joined the big one's last part


def test_batches_are_padded_to_an_allowed_size_and_the_padding_dropped(servable):
    inputs = requests([1, 2])
    parameters = BatchingParameters(max_batch_size=8, allowed_batch_sizes=(4, 8))
    watched = Watched(servable)
    answers, sizes = run_concurrently(watched, parameters, inputs)
    assert_unbatched(servable, inputs, answers)
    assert sizes == [3]
    assert watched.sizes == [4]


class Watched:
    """The real servable, noting the size of each batch it is given."""

    def __init__(self, servable) -> None:
        self.servable = servable
        self.sizes: list[int] = []

    def run_batch(self, batch):
        self.sizes.append(len(batch["images"]))
        return self.servable.run_batch(batch)


def test_a_full_queue_refuses_at_once_and_the_rest_are_answered(servable):
    inputs = requests([1, 1, 1, 1])
    parameters = BatchingParameters(max_batch_size=1, max_enqueued_batches=2)
    answers, sizes = run_concurrently(servable, parameters, inputs)
    refused = [a for a in answers if isinstance(a, Unavailable)]
    assert len(refused) == 2 and str(refused[0]) == batching.QUEUE_FULL
    answered = [(x, a) for x, a in zip(inputs, answers, strict=True) if isinstance(a, dict)]
    assert_unbatched(servable, *zip(*answered, strict=True))
    assert sizes == [1, 1]


def test_full_means_any_request_would_be_refused_and_a_given_up_one_frees_its_place(servable):
    """`full` is what the front ends ask before parsing: an empty queue is not full, nor is one
    whose only waiting batch has room for one more example; once that fills, it is; the waiting
    requests given up free their place."""
    release = threading.Event()

    def blocked(batch):
        release.wait(30)
        return servable.run_batch(batch)

    async def main():
        parameters = BatchingParameters(
            max_batch_size=2, max_enqueued_batches=1, num_batch_threads=1
        )
        pool = ThreadPoolExecutor(1)
        batcher = Batcher(blocked, parameters, asyncio.get_running_loop(), pool)
        seen, waiting = [], []
        for request in requests([1, 1, 1]):  # the first runs in the only thread; two wait
            waiting.append(asyncio.ensure_future(batcher.run(request)))
            await asyncio.sleep(0.1)
            seen.append(batcher.full())
        for given_up in waiting[1:]:  # a deadline passed, or the client went
            given_up.cancel()
        seen.append(batcher.full())
        release.set()
        await waiting[0]
        pool.shutdown()
        return seen

    assert asyncio.run(main()) == [False, False, True, False]


def test_without_batching_each_request_runs_alone(servable):
    inputs = requests()
    parameters = BatchingParameters(max_batch_size=2, enabled=False)
    answers, sizes = run_concurrently(servable, parameters, inputs)
    assert_unbatched(servable, inputs, answers)
    assert sizes == SIZES  # never merged, and never split even past max_batch_size


def test_a_batch_waits_batch_timeout_micros_for_more(servable):
    inputs = requests([1, 1])
    sizes = []

    async def main():
        loop = asyncio.get_running_loop()
        parameters = BatchingParameters(max_batch_size=8, batch_timeout_micros=300_000)
        batcher = Batcher(servable.run_batch, parameters, loop, None, sizes.append)
        first = asyncio.ensure_future(batcher.run(inputs[0]))
        await asyncio.sleep(0.05)  # well inside the timeout: the second joins the first's batch
        return await asyncio.gather(first, batcher.run(inputs[1]))

    answers = asyncio.run(main())
    assert_unbatched(servable, inputs, answers)
    assert sizes == [2]


def test_tf_servings_batching_parameters_file_format():
    text = """
    # as in TF Serving's documentation
    max_batch_size { value: 32 }
    batch_timeout_micros { value: 1000 }
    max_enqueued_batches { value: 50 }
    num_batch_threads { value: 2 }
    thread_pool_name { value: "model_server_batch_threads" }
    allowed_batch_sizes: 8
    allowed_batch_sizes: 32
    """
    parsed = BatchingParameters().updated(text, "f.txt")
    assert parsed == BatchingParameters(32, 1000, 50, 2, (8, 32))
    assert BatchingParameters().updated(
        "allowed_batch_sizes: [4, 64]", "f"
    ).allowed_batch_sizes == (
        4,
        64,
    )
    for bad, fragment in (
        ("max_batch_size: 3", "unknown batching parameter 'max_batch_size'"),
        ("max_batch_size { value: x }", "must be an integer"),
        ("batch_size { value: 3 }", "unknown batching parameter 'batch_size'"),
        ("max_batch_size { value: 0 }", "at least 1"),
        ("max_batch_size {", "line 1"),
        ("allowed_batch_sizes: 8", "must equal max_batch_size"),
        ("max_batch_size { value: 8 } allowed_batch_sizes: [8, 4]", "increasing"),
    ):
        with pytest.raises(ServerError, match=fragment):
            BatchingParameters().updated(bad, "f")


def test_zoo_serve_reads_a_batching_parameters_file_and_refuses_a_bad_one(cnn_mnist_root, tmp_path):
    bad = tmp_path / "batching.txt"
    bad.write_text("max_batch_size { value: 0 }\n")
    models = str(cnn_mnist_root / "models")
    result = run_zoo("serve", "--model-dir", models, "--batching-parameters-file", str(bad))
    assert_one_line_error(result, "max_batch_size must be at least 1")
    missing = tmp_path / "missing.txt"
    result = run_zoo("serve", "--model-dir", models, "--batching-parameters-file", str(missing))
    assert_one_line_error(result, "cannot read", "missing.txt")


def concurrent_predictions(server: Server, count: int, images: np.ndarray):
    """`count` REST and gRPC :predict calls at once, from as many threads."""
    barrier = threading.Barrier(count)
    body = json.dumps({"instances": images.tolist()})

    def rest(_):
        barrier.wait()
        return http(f"{server.url}/v1/models/cnn-mnist:predict", body)

    def grpc_call(_):
        barrier.wait()
        try:
            answer = server.predictions.Predict(
                grpc_request("cnn-mnist", tf.make_tensor_proto(images)), timeout=60
            )
        except grpc.RpcError as exc:
            return exc.code(), exc.details()
        return grpc.StatusCode.OK, tf.make_ndarray(answer.outputs["probabilities"])

    with ThreadPoolExecutor(count) as pool:
        half = count // 2
        rests, grpcs = pool.map(rest, range(half)), pool.map(grpc_call, range(count - half))
        return list(rests), list(grpcs)


def test_a_full_queue_is_refused_over_rest_and_grpc_as_tf_serving_words_it(
    cnn_mnist_root, servable
):
    """One slow batch at a time and room for one more: the requests beyond are refused at once."""
    parameters = cnn_mnist_root / "tight.txt"
    parameters.write_text(
        "max_batch_size { value: 512 }\nmax_enqueued_batches { value: 1 }\n"
        "num_batch_threads { value: 0 }\n"
    )
    images = np.resize(examples("cnn-mnist", 8), (512, 28, 28, 1))
    expected = servable.run_batch({"images": images})["probabilities"]
    options = ("--batching-parameters-file", str(parameters))
    with running(Server(cnn_mnist_root, *options, log="tight.log")) as server:
        rests, grpcs = concurrent_predictions(server, 16, images)
    for status, answer in rests:
        assert status in (200, 503), answer
        if status == 503:
            assert answer == {"error": batching.QUEUE_FULL}
        else:
            np.testing.assert_allclose(
                answer["predictions"][0]["probabilities"], expected[0], atol=TOLERANCE
            )
    for code, answer in grpcs:
        assert code in (grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE), answer
        if code == grpc.StatusCode.UNAVAILABLE:
            assert answer == batching.QUEUE_FULL
        else:
            np.testing.assert_allclose(answer, expected, atol=TOLERANCE)
    codes = [s for s, _ in rests] + [c for c, _ in grpcs]
    assert 200 in codes or grpc.StatusCode.OK in codes
    assert 503 in codes or grpc.StatusCode.UNAVAILABLE in codes, "nothing was refused"


def test_rest_and_grpc_share_one_batcher_and_the_metrics_count_it(cnn_mnist_root, servable):
    images = examples("cnn-mnist", 2)
    expected = servable.run_batch({"images": images})["probabilities"]
    with running(Server(cnn_mnist_root, log="shared.log")) as server:
        rests, grpcs = concurrent_predictions(server, 12, images)
        found = samples(server, "/monitoring/prometheus/metrics")
    for status, answer in rests:
        assert status == 200, answer
        got = [p["probabilities"] for p in answer["predictions"]]
        np.testing.assert_allclose(got, expected, atol=TOLERANCE)
    for code, answer in grpcs:
        assert code == grpc.StatusCode.OK, answer
        np.testing.assert_allclose(answer, expected, atol=TOLERANCE)
    version = {"model_name": "cnn-mnist", "version": "1"}
    ok = counted({}, found, ":tensorflow:serving:request_count_total", status="OK", **version)
    batch = ":tensorflow:serving:batching:processed_batch_size"
    examples_run = counted({}, found, f"{batch}_sum", **version)
    batches = counted({}, found, f"{batch}_count", **version)
    assert ok >= 12 and examples_run == 2 * ok  # the readiness probe sends no predictions
    assert 1 <= batches <= ok


def test_a_bad_batching_file_in_a_model_folder_fails_only_that_model(cnn_mnist_root, tmp_path):
    import shutil

    root = tmp_path / "repo"
    shutil.copytree(cnn_mnist_root / "models", root / "models")
    shutil.copytree(root / "models" / "cnn-mnist", root / "models" / "broken")
    (root / "models" / "broken" / batching.FILE_NAME).write_text("max_batch_size { value: -1 }")
    good = root / "models" / "cnn-mnist" / batching.FILE_NAME
    good.write_text("max_batch_size { value: 4 }\n")
    with running(Server(root)) as server:
        status, answer = server.rest("/v1/models/broken")
        assert status == 200
        (version,) = answer["model_version_status"]
        assert version["state"] == "END"
        assert "max_batch_size must be at least 1" in version["status"]["error_message"]
        body = json.dumps({"instances": examples("cnn-mnist", 9).tolist()})
        status, answer = server.rest("/v1/models/cnn-mnist:predict", body)
        assert status == 200 and len(answer["predictions"]) == 9
        found = samples(server, "/metrics")
    batches = counted(
        {},
        found,
        ":tensorflow:serving:batching:processed_batch_size_count",
        model_name="cnn-mnist",
        version="1",
    )
    assert batches == 3  # 4 + 4 + 1: the model's own max_batch_size split the request
