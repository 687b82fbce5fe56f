"""TF Serving's gRPC API with its official protos: PredictionService and ModelService on grpc.aio.

Tensors go through `tensor_proto`, which reads `tensor_content` and the repeated value fields as
`tf.make_ndarray` does, straight into NumPy, and answers in the typed fields as TF Serving does. A request's ModelSpec
is resolved by the core (`resolve`); refusals get their status from `grpc_status.maps_errors`.
"""

from __future__ import annotations

import grpc

from zoo.export.contract import CLASSIFY_METHOD, REGRESS_METHOD, SIGNATURE_NAME
from zoo.serving.core.errors import InvalidArgument
from zoo.serving.core.limits import Limits
from zoo.serving.core.metrics import CLASSIFY, GRPC, PREDICT, REGRESS
from zoo.serving.core.repository import Repository
from zoo.serving.core.resolve import ServableRequest, servable, signature, status
from zoo.serving.core.runner import Runner
from zoo.serving.core.servables import Backend
from zoo.serving.grpc_status import maps_errors
from zoo.serving.protos.tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from zoo.serving.tfserving.metadata import signature_def_map
from zoo.serving.tfserving.methods import classify, regress
from zoo.serving.tfserving.tensor_proto import as_proto_field, to_ndarray

SIGNATURE_DEF = "signature_def"
MULTI_INFERENCE_METHODS = (CLASSIFY_METHOD, REGRESS_METHOD)


def _request(spec: model_pb2.ModelSpec) -> ServableRequest:
    """What a ModelSpec names: its version is a wrapped int64, its label a string ("": none)."""
    version = spec.version.value if spec.HasField("version") else None
    return ServableRequest(spec.name, version, spec.version_label or None)


def _answer_spec(spec: model_pb2.ModelSpec, servable: Backend, into: model_pb2.ModelSpec) -> None:
    into.name = spec.name
    into.version.value = servable.version
    into.signature_name = spec.signature_name or SIGNATURE_NAME


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict, Classify, Regress, MultiInference and GetModelMetadata, by signature name."""

    def __init__(self, repository: Repository, runner: Runner, limits: Limits) -> None:
        self.repository = repository
        self.runner = runner
        self.limits = limits

    @maps_errors
    async def Predict(
        self, request: predict_pb2.PredictRequest, context
    ) -> predict_pb2.PredictResponse:
        found = servable(self.repository, _request(request.model_spec))
        named = signature(found, request.model_spec.signature_name)
        self.runner.refuse_if_full(found, api=PREDICT, entrypoint=GRPC, signature=named)
        return await predict(self.runner, found, request, self.limits, GRPC)

    @maps_errors
    async def Classify(
        self, request: classification_pb2.ClassificationRequest, context
    ) -> classification_pb2.ClassificationResponse:
        response = classification_pb2.ClassificationResponse()
        return await self._examples(classify, CLASSIFY, request, response)

    @maps_errors
    async def Regress(
        self, request: regression_pb2.RegressionRequest, context
    ) -> regression_pb2.RegressionResponse:
        response = regression_pb2.RegressionResponse()
        return await self._examples(regress, REGRESS, request, response)

    async def _examples(self, method, api, request, response):
        """`response` with the model spec and the result of Classify or Regress (`method`)."""
        found = servable(self.repository, _request(request.model_spec))
        named = signature(found, request.model_spec.signature_name, predict=False)
        self.runner.refuse_if_full(found, api=api, entrypoint=GRPC, signature=named)
        return await examples(method, self.runner, found, request, response, GRPC)

    @maps_errors
    async def MultiInference(
        self, request: inference_pb2.MultiInferenceRequest, context
    ) -> inference_pb2.MultiInferenceResponse:
        check_tasks(request)
        found = servable(self.repository, _request(request.tasks[0].model_spec))
        return await multi_inference(self.runner, found, request, GRPC)

    @maps_errors
    async def GetModelMetadata(
        self, request: get_model_metadata_pb2.GetModelMetadataRequest, context
    ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        found = servable(self.repository, _request(request.model_spec))
        for field in request.metadata_field:
            if field != SIGNATURE_DEF:
                raise InvalidArgument(f"Metadata field {field} is not supported")
        if not request.metadata_field:
            raise InvalidArgument(
                "GetModelMetadataRequest must specify at least one metadata_field"
            )
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        _answer_spec(request.model_spec, found, response.model_spec)
        response.metadata[SIGNATURE_DEF].Pack(signature_def_map(found))
        return response


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus; HandleReloadConfigRequest answers UNIMPLEMENTED (the repository is polled)."""

    def __init__(self, repository: Repository) -> None:
        self.repository = repository

    @maps_errors
    async def GetModelStatus(
        self, request: get_model_status_pb2.GetModelStatusRequest, context
    ) -> get_model_status_pb2.GetModelStatusResponse:
        found = status(self.repository, _request(request.model_spec))
        response = get_model_status_pb2.GetModelStatusResponse()
        states = get_model_status_pb2.ModelVersionStatus.State
        for version in found:
            entry = response.model_version_status.add(
                version=version.version, state=states.Value(version.state)
            )
            entry.status.error_code = (
                2 if version.error else 0
            )  # tensorflow.error.Code UNKNOWN / OK
            entry.status.error_message = version.error
        return response


def add_services(
    server: grpc.aio.Server, repository: Repository, runner: Runner, limits: Limits
) -> None:
    """Register TF Serving's two services on a grpc.aio server."""
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(repository, runner, limits), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(repository), server)


async def predict(
    runner: Runner,
    found: Backend,
    request: predict_pb2.PredictRequest,
    limits: Limits,
    entrypoint: str,
) -> predict_pb2.PredictResponse:
    """The answer of version `found` to a PredictRequest (its model spec already resolved)."""
    named = signature(found, request.model_spec.signature_name)
    inputs = {name: to_ndarray(name, proto, limits) for name, proto in request.inputs.items()}
    outputs = await runner.run(
        found, inputs, request.output_filter, api=PREDICT, entrypoint=entrypoint, signature=named
    )
    response = predict_pb2.PredictResponse()
    _answer_spec(request.model_spec, found, response.model_spec)
    for name, value in outputs.items():
        as_proto_field(value, response.outputs[name])
    return response


async def examples(method, runner: Runner, found: Backend, request, response, entrypoint: str):
    """`response` with the model spec and the result of Classify or Regress (`method`) by `found`."""
    named = signature(found, request.model_spec.signature_name, predict=False)
    result = await method(runner, found, named, request.input, entrypoint)
    _answer_spec(request.model_spec, found, response.model_spec)
    response.result.CopyFrom(result)
    return response


def check_tasks(request: inference_pb2.MultiInferenceRequest) -> None:
    """A MultiInferenceRequest's tasks, checked before its model is looked up, as TF Serving does."""
    if not request.tasks:
        raise InvalidArgument("MultiInferenceRequest must specify at least one task")
    names = {task.model_spec.name for task in request.tasks}
    if "" in names:
        raise InvalidArgument("Found ModelSpec with an empty model name.")
    if len(names) > 1:
        raise InvalidArgument(
            "All ModelSpecs in a MultiInferenceRequest must access the same model name."
        )


async def multi_inference(
    runner: Runner, found: Backend, request: inference_pb2.MultiInferenceRequest, entrypoint: str
) -> inference_pb2.MultiInferenceResponse:
    """Several classify and regress signatures of `found` on the same Examples, checked and
    answered as TF Serving's multi_inference.cc does (each task is run here on its own)."""
    named = []
    for task in request.tasks:
        name = task.model_spec.signature_name or SIGNATURE_NAME
        if name in (n.name for n in named):
            raise InvalidArgument(f"Duplicate evaluation of signature: {name}")
        if name not in found.signatures:
            raise InvalidArgument(f"Requested signature not found in model graph: {name}")
        if task.method_name not in MULTI_INFERENCE_METHODS:
            raise InvalidArgument(f"Unsupported signature method_name: {task.method_name}")
        # Each task's own input tensor is fed the same Examples: TF Serving keeps a set of
        # them (a TF2 SavedModel has one placeholder per signature), no longer one for all.
        named.append(found.signatures[name])
    response = inference_pb2.MultiInferenceResponse()
    for task, each in zip(request.tasks, named, strict=True):
        method = classify if task.method_name == CLASSIFY_METHOD else regress
        answer = await method(runner, found, each, request.input, entrypoint)
        result = response.results.add()
        if task.method_name == CLASSIFY_METHOD:
            result.classification_result.CopyFrom(answer)
        else:
            result.regression_result.CopyFrom(answer)
        _answer_spec(task.model_spec, found, result.model_spec)
    return response
