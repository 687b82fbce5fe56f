"""Classify and Regress, TF Serving's Example-based methods, shared by the REST and gRPC front ends.

Our exports have one `tensorflow/serving/predict` signature, so the kind of a version decides what
it answers: a classifier (its signature has class `probabilities`) answers Classify with every
class's label and score, the labels being the export's own (zoo.json); a regressor (task regression,
one value per example) answers Regress. Asking a model of the other kind is the INVALID_ARGUMENT
that TF Serving gives when a signature's method does not match the request.
"""

from __future__ import annotations

import numpy as np
import orjson

from zoo.export.contract import CLASSIFIER_OUTPUTS, OUTPUTS, PREDICT_METHOD
from zoo.serving.core.errors import InvalidArgument
from zoo.serving.core.metrics import CLASSIFY, REGRESS
from zoo.serving.core.runner import Runner
from zoo.serving.core.servables import Backend
from zoo.serving.core.signature import ModelSignature
from zoo.serving.protos.tensorflow_serving.apis import classification_pb2, input_pb2, regression_pb2
from zoo.serving.tfserving.examples import input_arrays

CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
SCORES, _ = CLASSIFIER_OUTPUTS  # the classifiers' class probabilities, as the export names them
(REGRESSION_OUTPUT,) = OUTPUTS["regression"]  # a regression model's one output
RESULTS = "results"  # the key of TF Serving's REST answer to both methods


async def classify(
    runner: Runner, servable: Backend, request_input: input_pb2.Input, entrypoint: str
) -> classification_pb2.ClassificationResult:
    """Every class's (label, score) for each Example, in the model's class order."""
    signature = servable.signature
    if SCORES not in signature.output_names:
        raise _wrong_kind("classification", CLASSIFY_METHOD, signature)
    scores = await _run(runner, servable, request_input, SCORES, CLASSIFY, entrypoint)
    labels = _labels(signature, scores.shape[-1])
    result = classification_pb2.ClassificationResult()
    for row in scores.tolist():
        classes = result.classifications.add().classes
        for label, score in zip(labels, row, strict=True):
            classes.add(label=label, score=score)
    return result


async def regress(
    runner: Runner, servable: Backend, request_input: input_pb2.Input, entrypoint: str
) -> regression_pb2.RegressionResult:
    """One value for each Example."""
    signature = servable.signature
    if signature.output_names != (REGRESSION_OUTPUT,):
        raise _wrong_kind("regression", REGRESS_METHOD, signature)
    values = await _run(runner, servable, request_input, REGRESSION_OUTPUT, REGRESS, entrypoint)
    result = regression_pb2.RegressionResult()
    for value in values.reshape(-1).tolist():
        result.regressions.add(value=value)
    return result


async def _run(
    runner: Runner,
    servable: Backend,
    request_input: input_pb2.Input,
    output: str,
    api: str,
    entrypoint: str,
) -> np.ndarray:
    inputs = input_arrays(request_input, servable.signature)
    return (await runner.run(servable, inputs, (output,), api=api, entrypoint=entrypoint))[output]


def _labels(signature: ModelSignature, classes: int) -> tuple[str, ...]:
    """The export's labels; class numbers when it recorded none (or not one per class)."""
    if signature.labels and len(signature.labels) == classes:
        return signature.labels
    return tuple(str(i) for i in range(classes))


def _wrong_kind(kind: str, method: str, signature: ModelSignature) -> InvalidArgument:
    return InvalidArgument(
        f"Expected {kind} signature method_name to be {method}. Was: {PREDICT_METHOD} "
        f"({signature.model} is a {signature.task} model: :classify serves classifiers, "
        ":regress regression models, :predict every model)"
    )


def results_json(
    result: classification_pb2.ClassificationResult | regression_pb2.RegressionResult,
) -> bytes:
    """TF Serving's REST answer: `results`, [[label, score], ...] per Example, or one value each."""
    if isinstance(result, classification_pb2.ClassificationResult):
        rows = [[[c.label, c.score] for c in cs.classes] for cs in result.classifications]
    else:
        rows = [r.value for r in result.regressions]
    return orjson.dumps({RESULTS: rows})
