"""Warming a version up before it is served: the first run of a model pays for the runtime's lazy
work (graph optimization, kernel selection, memory), which a client's first request would.

A version folder's `assets.extra/tf_serving_warmup_requests` is replayed as TF Serving replays it
(servables/tensorflow/saved_model_warmup_util.cc): a TFRecord file of PredictionLog records whose
predict, classify, regress and multi_inference requests are each run `ITERATIONS` times, in order;
more than `MAX_RECORDS` records, a record that does not parse or a request that fails makes the
version fail to load, with the reason. A version without the file is warmed by its model folder's
config.pbtxt `model_warmup`, as Triton does (zero_data or random_data inputs), when it has one.

The requests go through a `Runner`, the way every client request takes (checks, batcher, model),
with its own event loop in the loading thread, before the version enters the repository's table:
so it is reported AVAILABLE, and the server ready, only once warm. They are counted in the warmup
metrics (`Metrics.warmups`), never as clients' requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
from google.protobuf.message import DecodeError
from tritonclient.grpc import model_config_pb2

from zoo.export.contract import DATATYPES, STRING, WARMUP_REQUESTS
from zoo.serving.core import model_files, tfrecord
from zoo.serving.core.limits import Limits
from zoo.serving.core.metrics import MODEL_INFER, WARMUP, Metrics
from zoo.serving.core.runner import Runner
from zoo.serving.core.servables import Backend
from zoo.serving.protos.tensorflow_serving.apis import (
    classification_pb2,
    prediction_log_pb2,
    regression_pb2,
)
from zoo.serving.tfserving.grpc_api import check_tasks, examples, multi_inference, predict
from zoo.serving.tfserving.methods import classify, regress

MAX_RECORDS = 1000  # TF Serving's WarmupConsts::kMaxNumRecords
ITERATIONS = 1  # TF Serving's default num_request_iterations
_DTYPES = {datatype: np.dtype(name) for name, datatype in DATATYPES.items()}

Request = Callable[[Runner, Backend], Awaitable[object]]
Requests = Iterator[tuple[str, Request]]  # each with where it comes from, for a failure's reason


class WarmupError(Exception):
    """Why a version's warmup failed: its load fails with this reason."""


class Warmup:
    """Warms each version the repository loads (its `warm` hook), counting into `metrics`."""

    def __init__(self, metrics: Metrics, limits: Limits) -> None:
        self.metrics = metrics
        self.limits = limits

    def __call__(self, name: str, version: int, servable: Backend) -> str:
        """Warm `servable` up; what it ran, for the log ("" when it has no warmup)."""
        file = servable.path / WARMUP_REQUESTS
        if file.is_file():
            requests, source = self._records(file), str(WARMUP_REQUESTS)
        else:
            requests, source = triton_requests(servable), "config.pbtxt model_warmup"
        started = time.perf_counter()
        count = asyncio.run(self._replay(servable, requests))
        took = (time.perf_counter() - started) * 1e3
        return f"{count} runs of {source} in {took:.0f} ms" if count else ""

    async def _replay(self, servable: Backend, requests: Iterable[tuple[str, Request]]) -> int:
        runner = Runner(asyncio.get_running_loop(), 0, self.metrics.warmups())
        count = 0
        try:
            for where, request in requests:
                try:
                    await request(runner, servable)
                except Exception as exc:
                    raise WarmupError(f"{where}: {type(exc).__name__}: {exc}") from exc
                count += 1
        finally:
            runner.close()
        return count

    def _records(self, file: Path) -> Requests:
        """(where, request) for each record of a TF Serving warmup file, each `ITERATIONS` times."""
        try:
            for index, record in enumerate(tfrecord.read_records(file), 1):
                where = f"warmup record {index} of {file}"
                if index > MAX_RECORDS:
                    raise WarmupError(
                        f"Number of warmup records exceeds the maximum ({MAX_RECORDS}) at {file}"
                    )
                request = self._request(prediction_log_pb2.PredictionLog.FromString(record))
                for _ in range(ITERATIONS):
                    yield where, request
        except tfrecord.TFRecordError as exc:
            raise WarmupError(
                f"{exc}. Please verify your warmup data is in TFRecord format."
            ) from None
        except DecodeError as exc:
            raise WarmupError(f"Failed to parse warmup record from {file}: {exc}") from None

    def _request(self, log: prediction_log_pb2.PredictionLog) -> Request:
        """The request a PredictionLog holds, as a call on the version; TF Serving's four kinds."""
        kind = log.WhichOneof("log_type")
        if kind == "predict_log":
            return lambda runner, found: predict(
                runner, found, log.predict_log.request, self.limits, WARMUP
            )
        if kind in ("classify_log", "regress_log"):
            method, response = (
                (classify, classification_pb2.ClassificationResponse)
                if kind == "classify_log"
                else (regress, regression_pb2.RegressionResponse)
            )
            request = getattr(log, kind).request
            return lambda runner, found: examples(
                method, runner, found, request, response(), WARMUP
            )
        if kind == "multi_inference_log":
            request = log.multi_inference_log.request

            async def run(runner: Runner, found: Backend) -> object:
                check_tasks(request)
                return await multi_inference(runner, found, request, WARMUP)

            return run
        raise WarmupError(f"Unsupported log_type for warmup: {kind}")


def triton_requests(servable: Backend) -> Requests:
    """(where, request) for each sample of the model folder's config.pbtxt `model_warmup`, each
    run `count` times (at least once), as Triton runs them."""
    config = model_files.triton_config(servable.path.parent)
    for sample in config.model_warmup if config is not None else ():
        where = f"config.pbtxt model_warmup {sample.name!r}"
        inputs = {
            name: _sample_input(where, name, entry, sample.batch_size, config.max_batch_size)
            for name, entry in sample.inputs.items()
        }

        async def request(runner: Runner, found: Backend, inputs=inputs) -> object:
            return await runner.run(found, inputs, api=MODEL_INFER, entrypoint=WARMUP)

        for _ in range(max(sample.count, 1)):
            yield where, request


def _sample_input(
    where: str, name: str, entry: model_config_pb2.ModelWarmup.Input, batch: int, max_batch: int
) -> np.ndarray:
    """One input of a Triton warmup sample: zeros or random values in [0, 1) of its type and dims
    (after the batch size when the model batches)."""
    datatype = model_config_pb2.DataType.Name(entry.data_type).removeprefix("TYPE_")
    dtype = _DTYPES.get("BYTES" if datatype == "STRING" else datatype)
    if dtype is None:
        raise WarmupError(f"{where}: input '{name}' has data type {datatype}, unsupported")
    shape = (*((max(batch, 1),) if max_batch else ()), *entry.dims)
    kind = entry.WhichOneof("input_data_type")
    if kind == "zero_data":
        return np.full(shape, b"", dtype=object) if dtype == STRING else np.zeros(shape, dtype)
    if kind == "random_data":
        if dtype == STRING:
            return np.full(shape, b"warmup", dtype=object)
        return np.random.default_rng(0).uniform(0, 1, shape).astype(dtype)
    raise WarmupError(f"{where}: input '{name}' uses {kind}, which zoo serve does not read")
