"""The warmup requests written with each version, so that a server pays the model's first run
before its clients do: TF Serving's `assets.extra/tf_serving_warmup_requests` (and `zoo serve`,
which replays it with either backend) and Triton's `model_warmup` in config.pbtxt.

The file is TFRecord framing around PredictionLog records (PredictLog with the request), written
with TensorFlow's own writer and TF Serving's own protos, as TF Serving reads it: a few of the real examples the export's parity check ran, one alone and the rest
as one batch, sent to `serving_default`. Triton's entry is written by `repository.triton_config`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from zoo.export.contract import SIGNATURE_NAME, WARMUP_REQUESTS

BATCH_SIZES = (1, 8)  # one request alone, then a batch of up to 8 examples


def write_warmup_requests(folder: Path, model: str, input_name: str, examples: np.ndarray) -> Path:
    """The version folder's warmup file: PredictLog records of `examples`' first rows."""
    path = folder / WARMUP_REQUESTS
    path.parent.mkdir(exist_ok=True)
    # In the staging folder: the file is published whole, with the version, by its rename.
    with tf.io.TFRecordWriter(str(path)) as writer:
        for size in sorted({min(size, len(examples)) for size in BATCH_SIZES}):
            log = prediction_log_pb2.PredictionLog()
            request = log.predict_log.request
            request.model_spec.name = model
            request.model_spec.signature_name = SIGNATURE_NAME
            request.inputs[input_name].CopyFrom(tf.make_tensor_proto(np.asarray(examples[:size])))
            writer.write(log.SerializeToString())
    return path
