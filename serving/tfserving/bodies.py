"""TF Serving's REST POST bodies decoded into what the core runs: a signature and its inputs.

Module-level functions of the body and the servable's signatures (plain, picklable data), so that
a large body is decoded in the decoding process (core/decoding.py) as a small one is in place.
They name the signature they chose by its key: the front end takes its own copy of it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from zoo.serving.core import json_io
from zoo.serving.core.signature import ModelSignature, default_signature, key_of, signature_named
from zoo.serving.protos.tensorflow_serving.apis import input_pb2
from zoo.serving.tfserving import json_tensors
from zoo.serving.tfserving.examples import input_from_json


def predict(
    body: bytes, signatures: Mapping[str, ModelSignature]
) -> tuple[str, str, dict[str, np.ndarray]]:
    """(signature key, format, input arrays) of a :predict body: the common body by the fast path
    (for the default signature), any other by orjson."""
    default = default_signature(signatures)
    fast = json_tensors.fast_predict_inputs(body, default)
    if fast is not None:
        fmt, inputs, name = fast
        if signature_named(signatures, name) is default:
            return key_of(signatures, default), fmt, inputs
    parsed = json_io.parse(body)
    named = signature_named(signatures, parsed.get("signature_name"), predict=True)
    fmt, inputs = json_tensors.predict_inputs(parsed, named)
    return key_of(signatures, named), fmt, inputs


def examples(body: bytes, signatures: Mapping[str, ModelSignature]) -> tuple[str, input_pb2.Input]:
    """(signature key, the Examples as an Input proto) of a :classify or :regress body."""
    parsed = json_io.parse(body)
    named = signature_named(signatures, parsed.get("signature_name"), predict=False)
    return key_of(signatures, named), input_from_json(parsed)
