"""Classify and Regress, TF Serving's Example-based methods, shared by the REST and gRPC front ends.

A model's own signature is run as TF Serving runs it (classifier.cc, regressor.cc): its one input,
`inputs`, takes the request's tf.train.Examples serialized, its `classes`/`scores` or `outputs`
give the result, with TF Serving's checks and errors. zoo's own exports have one
`tensorflow/serving/predict` signature over dense tensors, so there the kind of a version decides
what it answers: a classifier (its signature has class `probabilities`) answers Classify with every
class's label and score, the labels being the export's own (zoo.json); a regressor (task regression,
one value per example) answers Regress. Any other signature gets the INVALID_ARGUMENT that TF
Serving gives when a signature's method does not match the request.
"""

from __future__ import annotations

import numpy as np
import orjson
from google.protobuf import text_format

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
from zoo.serving.tfserving.metadata import signature_def

SCORES, _ = CLASSIFIER_OUTPUTS  # the classifiers' class probabilities, as the export names them
(REGRESSION_OUTPUT,) = OUTPUTS["regression"]  # a regression model's one output
# The output aliases of TF Serving's classify and regress signatures (signature_constants.py).
CLASSIFY_CLASSES, CLASSIFY_SCORES, REGRESS_OUTPUTS = "classes", "scores", "outputs"
EXAMPLES_INPUT = "inputs"  # the input alias of both, which takes the serialized Examples
RESULTS = "results"  # the key of TF Serving's REST answer to both methods


async def classify(
    runner: Runner,
    servable: Backend,
    signature: ModelSignature,
    request_input: input_pb2.Input,
    entrypoint: str,
) -> classification_pb2.ClassificationResult:
    """Every class's (label, score) for each Example."""
    if not _zoo_predict(servable, signature):
        return await _classify_signature(runner, servable, signature, request_input, entrypoint)
    if SCORES not in signature.output_names:
        raise _wrong_kind("classification", CLASSIFY_METHOD, servable)
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
    if not _zoo_predict(servable, signature):
        values = await _regress_signature(runner, servable, signature, request_input, entrypoint)
    elif signature.output_names == (REGRESSION_OUTPUT,):
        values = await _run(
            runner, servable, signature, request_input, REGRESSION_OUTPUT, REGRESS, entrypoint
        )
    else:
        raise _wrong_kind("regression", REGRESS_METHOD, servable)
    result = regression_pb2.RegressionResult()
    for value in values.reshape(-1).tolist():
        result.regressions.add(value=value)
    return result


def _zoo_predict(servable: Backend, signature: ModelSignature) -> bool:
    """Whether this is the predict signature of one of zoo's exports, which reads dense features
    from the Examples and answers with the export's labels."""
    return servable.exported is not None and signature.method_name == PREDICT_METHOD


async def _classify_signature(
    runner: Runner,
    servable: Backend,
    signature: ModelSignature,
    request_input: input_pb2.Input,
    entrypoint: str,
) -> classification_pb2.ClassificationResult:
    """TF Serving's Classify (classifier.cc): the signature's `classes` (labels) and `scores`,
    either of which may be missing. As in TF Serving by default (its
    --enable_signature_method_name_check is off), any signature of that shape answers."""
    _one_input(signature, "classification")
    outputs = len(signature.outputs)
    if outputs not in (1, 2):
        raise InvalidArgument(f"Expected one or two output Tensors, found {outputs}")
    wanted = tuple(n for n in (CLASSIFY_CLASSES, CLASSIFY_SCORES) if n in signature.output_names)
    if not wanted:
        raise InvalidArgument(
            "Expected classification signature outputs to contain at least one of "
            f'"{CLASSIFY_CLASSES}" or "{CLASSIFY_SCORES}". Signature was: {_text(signature)}'
        )
    examples = serialized_examples(request_input)
    answers = await _run_examples(
        runner, servable, signature, examples, wanted, CLASSIFY, entrypoint
    )
    classes, scores = answers.get(CLASSIFY_CLASSES), answers.get(CLASSIFY_SCORES)
    for name, tensor, dtype in ((CLASSIFY_CLASSES, classes, "O"), (CLASSIFY_SCORES, scores, "f4")):
        if tensor is None:
            continue
        if tensor.ndim != 2:
            raise InvalidArgument(
                f"Expected Tensor shape: [batch_size num_classes] but got {list(tensor.shape)}"
            )
        if tensor.dtype != np.dtype(dtype):
            wanted_type = "DT_STRING" if dtype == "O" else "DT_FLOAT"
            raise InvalidArgument(f"Expected {name} Tensor of {wanted_type}. Got: {tensor.dtype}")
        if len(tensor) != len(examples):
            raise InvalidArgument(
                f"Expected {name} output batch size of {len(examples)}. Got: {len(tensor)}"
            )
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise InvalidArgument(
            f"Tensors class and score should match in dim_size(1). Got {classes.shape[1]} "
            f"vs. {scores.shape[1]}"
        )
    count = (classes if classes is not None else scores).shape[1]
    result = classification_pb2.ClassificationResult()
    for i in range(len(examples)):
        into = result.classifications.add().classes
        for j in range(count):
            entry = into.add()
            if classes is not None:
                entry.label = bytes(classes[i, j]).decode(errors="replace")
            if scores is not None:
                entry.score = float(scores[i, j])
    return result


async def _regress_signature(
    runner: Runner,
    servable: Backend,
    signature: ModelSignature,
    request_input: input_pb2.Input,
    entrypoint: str,
) -> np.ndarray:
    """TF Serving's Regress (regressor.cc): the signature's `outputs`, one float per Example."""
    _one_input(signature, "regression")
    if len(signature.outputs) != 1:
        raise InvalidArgument("Expected one output Tensor.")
    if REGRESS_OUTPUTS not in signature.output_names:
        raise InvalidArgument(f"No regression outputs found in SignatureDef: {_text(signature)}")
    examples = serialized_examples(request_input)
    answers = await _run_examples(
        runner, servable, signature, examples, (REGRESS_OUTPUTS,), REGRESS, entrypoint
    )
    values = answers[REGRESS_OUTPUTS]
    if not (values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1)):
        raise InvalidArgument(
            "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] "
            f"but got {list(values.shape)}"
        )
    if len(values) != len(examples):
        raise InvalidArgument(
            f"Input batch size did not match output batch size: {len(examples)} vs. {len(values)}"
        )
    if values.dtype != np.float32:
        raise InvalidArgument(f"Expected output Tensor of DT_FLOAT.  Got: {values.dtype}")
    return values


def _one_input(signature: ModelSignature, kind: str) -> None:
    """TF Serving's checks of an Example-based signature's input: one, called `inputs`."""
    if len(signature.inputs) != 1:
        raise InvalidArgument("Expected one input Tensor.")
    if signature.input_names != (EXAMPLES_INPUT,):
        raise InvalidArgument(f"No {kind} inputs found in SignatureDef: {_text(signature)}")


def _text(signature: ModelSignature) -> str:
    """The SignatureDef in protobuf's text format, as TF Serving's errors print it."""
    return text_format.MessageToString(signature_def(signature), as_one_line=True)


async def _run_examples(
    runner: Runner,
    servable: Backend,
    signature: ModelSignature,
    examples: np.ndarray,
    outputs: tuple[str, ...],
    api: str,
    entrypoint: str,
) -> dict[str, np.ndarray]:
    """The named outputs of an Example-based signature, fed the serialized Examples."""
    return await runner.run(
        servable,
        {EXAMPLES_INPUT: examples},
        outputs,
        api=api,
        entrypoint=entrypoint,
        signature=signature,
    )


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


def _wrong_kind(kind: str, method: str, servable: Backend) -> InvalidArgument:
    """A zoo export asked for the other kind of answer, worded as TF Serving words a signature
    whose method does not match, and saying which kind the model is."""
    exported = servable.exported
    return InvalidArgument(
        f"Expected {kind} signature method_name to be {method}. Was: {PREDICT_METHOD} "
        f"({exported.model} is a {exported.task} model: :classify serves classifiers, "
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
