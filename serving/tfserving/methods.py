"""Classify and Regress, TF Serving's Example-based methods, shared by the REST and gRPC front ends.

A signature whose method is classify or regress (a TF1 model's, TF Serving's own test models') is
run as TF Serving runs it (classifier.cc, regressor.cc): its one input takes the request's
tf.train.Examples serialized, its `classes`/`scores` or `outputs` give the result. zoo's own exports
have one `tensorflow/serving/predict` signature, so there the kind of a version decides what it
answers: a classifier (its signature has class `probabilities`) answers Classify with every
class's label and score, the labels being the export's own (zoo.json); a regressor (task regression,
one value per example) answers Regress. Any other signature gets the INVALID_ARGUMENT that TF
Serving gives when a signature's method does not match the request.
"""

from __future__ import annotations

import numpy as np
import orjson

from zoo.export.contract import (
    CLASSIFIER_OUTPUTS,
    CLASSIFY_METHOD,
    OUTPUTS,
    PREDICT_METHOD,
    REGRESS_METHOD,
)
from zoo.serving.core.errors import InvalidArgument
from zoo.serving.core.metrics import CLASSIFY, REGRESS
from zoo.serving.core.runner import Runner
from zoo.serving.core.servables import Backend
from zoo.serving.core.signature import ModelSignature
from zoo.serving.protos.tensorflow_serving.apis import classification_pb2, input_pb2, regression_pb2
from zoo.serving.tfserving.examples import input_arrays, serialized_examples

SCORES, _ = CLASSIFIER_OUTPUTS  # the classifiers' class probabilities, as the export names them
(REGRESSION_OUTPUT,) = OUTPUTS["regression"]  # a regression model's one output
# The output aliases of TF Serving's classify and regress signatures (signature_constants.py).
CLASSIFY_CLASSES, CLASSIFY_SCORES, REGRESS_OUTPUTS = "classes", "scores", "outputs"
RESULTS = "results"  # the key of TF Serving's REST answer to both methods


async def classify(
    runner: Runner,
    servable: Backend,
    signature: ModelSignature,
    request_input: input_pb2.Input,
    entrypoint: str,
) -> classification_pb2.ClassificationResult:
    """Every class's (label, score) for each Example."""
    if signature.method_name == CLASSIFY_METHOD:
        return await _classify_signature(runner, servable, signature, request_input, entrypoint)
    if servable.exported is None or SCORES not in signature.output_names:
        raise _wrong_kind("classification", CLASSIFY_METHOD, servable, signature)
    scores = await _run(runner, servable, signature, request_input, SCORES, CLASSIFY, entrypoint)
    labels = _labels(servable, scores.shape[-1])
    result = classification_pb2.ClassificationResult()
    for row in scores.tolist():
        classes = result.classifications.add().classes
        for label, score in zip(labels, row, strict=True):
            classes.add(label=label, score=score)
    return result


async def regress(
    runner: Runner,
    servable: Backend,
    signature: ModelSignature,
    request_input: input_pb2.Input,
    entrypoint: str,
) -> regression_pb2.RegressionResult:
    """One value for each Example."""
    if signature.method_name == REGRESS_METHOD:
        values = await _run_examples(
            runner, servable, signature, request_input, REGRESS_OUTPUTS, REGRESS, entrypoint
        )
        if values.ndim not in (1, 2) or (values.ndim == 2 and values.shape[1] != 1):
            raise InvalidArgument(
                "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] "
                f"but got {list(values.shape)}"
            )
    elif servable.exported is not None and signature.output_names == (REGRESSION_OUTPUT,):
        values = await _run(
            runner, servable, signature, request_input, REGRESSION_OUTPUT, REGRESS, entrypoint
        )
    else:
        raise _wrong_kind("regression", REGRESS_METHOD, servable, signature)
    result = regression_pb2.RegressionResult()
    for value in values.reshape(-1).tolist():
        result.regressions.add(value=value)
    return result


async def _classify_signature(
    runner: Runner,
    servable: Backend,
    signature: ModelSignature,
    request_input: input_pb2.Input,
    entrypoint: str,
) -> classification_pb2.ClassificationResult:
    """A classify signature's `classes` (labels) and `scores`, either of which may be missing."""
    wanted = [n for n in (CLASSIFY_CLASSES, CLASSIFY_SCORES) if n in signature.output_names]
    if not wanted:
        raise InvalidArgument(
            f"Expected classification signature outputs to contain {CLASSIFY_CLASSES} "
            f"or {CLASSIFY_SCORES}"
        )
    answers = await _run_examples(
        runner, servable, signature, request_input, tuple(wanted), CLASSIFY, entrypoint
    )
    classes, scores = answers.get(CLASSIFY_CLASSES), answers.get(CLASSIFY_SCORES)
    for tensor in answers.values():
        if tensor.ndim != 2:
            raise InvalidArgument(
                f"Expected Tensor shape: [batch_size num_classes] but got {list(tensor.shape)}"
            )
    if classes is not None and scores is not None and classes.shape != scores.shape:
        raise InvalidArgument(
            f"Tensors class and score should match in dim_size(1). Got {classes.shape[1]} "
            f"vs. {scores.shape[1]}"
        )
    rows = (classes if classes is not None else scores).shape
    result = classification_pb2.ClassificationResult()
    for i in range(rows[0]):
        into = result.classifications.add().classes
        for j in range(rows[1]):
            entry = into.add()
            if classes is not None:
                label = classes[i, j]
                entry.label = label.decode() if isinstance(label, bytes) else str(label)
            if scores is not None:
                entry.score = float(scores[i, j])
    return result


async def _run_examples(
    runner: Runner,
    servable: Backend,
    signature: ModelSignature,
    request_input: input_pb2.Input,
    outputs: str | tuple[str, ...],
    api: str,
    entrypoint: str,
):
    """A classify or regress signature run on the serialized Examples (its one input): the
    output named `outputs`, or a dict of the outputs named when it is a tuple."""
    if len(signature.inputs) != 1:
        raise InvalidArgument("Expected one input Tensor.")
    names = (outputs,) if isinstance(outputs, str) else outputs
    for name in names:
        if name not in signature.output_names:
            raise InvalidArgument(f"No output Tensor named {name} in signature {signature.name}")
    inputs = {signature.input_names[0]: serialized_examples(request_input)}
    answers = await runner.run(
        servable, inputs, names, api=api, entrypoint=entrypoint, signature=signature
    )
    return answers[outputs] if isinstance(outputs, str) else answers


async def _run(
    runner: Runner,
    servable: Backend,
    signature: ModelSignature,
    request_input: input_pb2.Input,
    output: str,
    api: str,
    entrypoint: str,
) -> np.ndarray:
    """zoo's way: the Examples' features as the signature's dense inputs."""
    inputs = input_arrays(request_input, signature)
    answers = await runner.run(
        servable, inputs, (output,), api=api, entrypoint=entrypoint, signature=signature
    )
    return answers[output]


def _labels(servable: Backend, classes: int) -> tuple[str, ...]:
    """The export's labels; class numbers when it recorded none (or not one per class)."""
    labels = servable.exported.labels if servable.exported else None
    if labels and len(labels) == classes:
        return labels
    return tuple(str(i) for i in range(classes))


def _wrong_kind(
    kind: str, method: str, servable: Backend, signature: ModelSignature
) -> InvalidArgument:
    message = f"Expected {kind} signature method_name to be {method}. Was: {signature.method_name}"
    exported = servable.exported
    if exported is not None and signature.method_name == PREDICT_METHOD:
        message += (
            f" ({exported.model} is a {exported.task} model: :classify serves classifiers, "
            ":regress regression models, :predict every model)"
        )
    return InvalidArgument(message)


def results_json(
    result: classification_pb2.ClassificationResult | regression_pb2.RegressionResult,
) -> bytes:
    """TF Serving's REST answer: `results`, [[label, score], ...] per Example, or one value each."""
    if isinstance(result, classification_pb2.ClassificationResult):
        rows = [[[c.label, c.score] for c in cs.classes] for cs in result.classifications]
    else:
        rows = [r.value for r in result.regressions]
    return orjson.dumps({RESULTS: rows})
