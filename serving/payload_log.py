"""`zoo serve --log-requests PATH`: sampled requests and their answers, as TF Serving's
PredictionLog records in a TFRecord file: the format of a version's
`assets.extra/tf_serving_warmup_requests`, so a logged file can be replayed as warmup (by zoo
serve or TF Serving) or read back as a benchmark's load.

Each request answered by the Runner with TF Serving's Predict or KServe v2's ModelInfer, over
REST or gRPC, is logged as a PredictLog: a PredictRequest of the model name, the signature that
ran, the inputs as the model took them (a KServe v2 request after it was mapped onto the model's
signature; tensors as `tensor_content`, strings in `string_val`) and the outputs the request
named (`output_filter`), with the PredictResponse answered. The version that answered is in the
response's and the log_metadata's model_spec, not in the request, so that a replay is answered
by whichever version the replaying server has. Classify, Regress and MultiInference requests are
not logged (the access log has them).

Each request is kept with probability `sample_rate` (a random draw); a kept one is serialized on
the event loop (tens of µs for an MNIST image) and written on the log's own thread, which holds
the GIL as little as it can (log_files.py says why). At most CAPACITY_BYTES of records wait for
it: a request offered beyond that is dropped and counted. The file is rotated
by size (log_files.RotatingFile): PATH.1, PATH.2, ... are the older ones.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from zoo.serving.core.metrics import MODEL_INFER, PREDICT
from zoo.serving.core.signature import ModelSignature
from zoo.serving.core.tfrecord import frame
from zoo.serving.log_files import BackgroundWriter, RotatingFile
from zoo.serving.protos.tensorflow_serving.apis import prediction_log_pb2
from zoo.serving.tfserving.tensor_proto import as_proto_content

LOGGED_APIS = frozenset((PREDICT, MODEL_INFER))
CAPACITY_BYTES = 64 * 2**20  # of records waiting to be written


class Logged(NamedTuple):
    """A sampled request and its answer, as the Runner hands it over."""

    time: float
    model: str
    version: int
    signature: str
    inputs: Mapping[str, np.ndarray]
    requested: Sequence[str]
    answer: Mapping[str, np.ndarray]


class PayloadLog:
    """The Runner's `payload_log`: samples the requests answered and writes them to `path`."""

    def __init__(
        self,
        path: Path,
        sample_rate: float,
        max_bytes: int,
        on_drop: Callable[[], None] = lambda: None,
    ) -> None:
        self.sample_rate = sample_rate
        self._file = RotatingFile(path, max_bytes)
        self._writer = BackgroundWriter("payload-log", self._file.write, CAPACITY_BYTES, on_drop)

    @property
    def dropped(self) -> int:
        return self._writer.dropped

    def __call__(
        self,
        model: str,
        version: int,
        signature: ModelSignature,
        api: str,
        inputs: Mapping[str, np.ndarray],
        requested: Sequence[str],
        answer: dict[str, np.ndarray],
    ) -> None:
        if api not in LOGGED_APIS or random.random() >= self.sample_rate:
            return
        logged = Logged(time.time(), model, version, signature.name, inputs, requested, answer)
        self._writer.offer(frame(prediction_log(logged, self.sample_rate).SerializeToString()))

    def close(self) -> None:
        self._writer.close()
        self._file.close()


def prediction_log(logged: Logged, sample_rate: float) -> prediction_log_pb2.PredictionLog:
    """The PredictionLog of one request, as TF Serving's request logger writes it."""
    log = prediction_log_pb2.PredictionLog()
    spec = log.log_metadata.model_spec
    spec.name, spec.signature_name = logged.model, logged.signature
    spec.version.value = logged.version
    log.log_metadata.sampling_config.sampling_rate = sample_rate
    log.log_metadata.timestamp_secs = int(logged.time)
    request, response = log.predict_log.request, log.predict_log.response
    request.model_spec.name, request.model_spec.signature_name = logged.model, logged.signature
    for name, value in logged.inputs.items():
        as_proto_content(np.asarray(value), request.inputs[name])
    request.output_filter.extend(logged.requested)
    response.model_spec.CopyFrom(spec)
    for name, value in logged.answer.items():
        as_proto_content(value, response.outputs[name])
    return log
