"""The warmup requests written with each version, so that a server pays the model's first run
before its clients do: TF Serving's `assets.extra/tf_serving_warmup_requests` (and `zoo serve`,
which replays it with either backend) and Triton's `model_warmup` in config.pbtxt.

The file is TFRecord framing around PredictionLog records (PredictLog with the request), as TF
Serving reads it: a few of the real examples the export's parity check ran, one alone and the rest
as one batch, sent to `serving_default`. Triton's entry is written by `repository.triton_config`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.export.contract import SIGNATURE_NAME, WARMUP_REQUESTS
from zoo.serving.core.tfrecord import frame
from zoo.serving.protos.tensorflow_serving.apis import predict_pb2, prediction_log_pb2
from zoo.serving.tfserving.tensor_proto import as_proto_field

BATCH_SIZES = (1, 8)  # one request alone, then a batch of up to 8 examples


def write_warmup_requests(folder: Path, model: str, input_name: str, examples: np.ndarray) -> Path:
    """The version folder's warmup file: PredictLog records of `examples`' first rows."""
    records = []
    for size in sorted({min(size, len(examples)) for size in BATCH_SIZES}):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model
        request.model_spec.signature_name = SIGNATURE_NAME
        as_proto_field(np.asarray(examples[:size]), request.inputs[input_name])
        log = prediction_log_pb2.PredictionLog()
        log.predict_log.request.CopyFrom(request)
        records.append(log.SerializeToString())
    path = folder / WARMUP_REQUESTS
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(frame(records))  # in the staging folder: published whole, by its rename
    return path
