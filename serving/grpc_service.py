"""TF Serving's gRPC API with its official protos: PredictionService and ModelService on grpc.aio.

Tensors go through `tensor_proto`, which reads `tensor_content` and the repeated value fields as
`tf.make_ndarray` does, straight into NumPy, and answers in `tensor_content`. KServe v2's
GRPCInferenceService (`kserve_grpc`) is registered beside them, on the same port.
"""

from __future__ import annotations

import grpc
from tritonclient.grpc import service_pb2_grpc

from zoo.serving.backends import Backend
from zoo.serving.errors import InvalidArgument, ServingError
from zoo.serving.grpc_status import abort
from zoo.serving.json_tensors import check_signature_name
from zoo.serving.kserve_grpc import KServeService
from zoo.serving.limits import Limits
from zoo.serving.metadata import signature_def_map
from zoo.serving.methods import classify, regress
from zoo.serving.metrics import CLASSIFY, GRPC, PREDICT, REGRESS
from zoo.serving.protos.tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from zoo.serving.repository import Repository
from zoo.serving.runner import Runner
from zoo.serving.tensor_proto import from_ndarray, to_ndarray

SIGNATURE_DEF = "signature_def"


def _servable(repository: Repository, spec: model_pb2.ModelSpec) -> Backend:
    version = spec.version.value if spec.HasField("version") else None
    return repository.servable(spec.name, version, spec.version_label or None)


def _answer_spec(spec: model_pb2.ModelSpec, servable: Backend, into: model_pb2.ModelSpec) -> None:
    into.name = spec.name
    into.version.value = servable.version
    into.signature_name = spec.signature_name or "serving_default"


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict, Classify, Regress and GetModelMetadata; MultiInference answers UNIMPLEMENTED."""

    def __init__(self, repository: Repository, runner: Runner, limits: Limits) -> None:
        self.repository = repository
        self.runner = runner
        self.limits = limits

    async def Predict(
        self, request: predict_pb2.PredictRequest, context
    ) -> predict_pb2.PredictResponse:
        try:
            servable = _servable(self.repository, request.model_spec)
            check_signature_name(request.model_spec.signature_name)
            self.runner.refuse_if_full(servable, api=PREDICT, entrypoint=GRPC)
            inputs = {
                name: to_ndarray(name, proto, self.limits) for name, proto in request.inputs.items()
            }
            outputs = await self.runner.run(
                servable, inputs, request.output_filter, api=PREDICT, entrypoint=GRPC
            )
        except ServingError as exc:
            await abort(context, exc)
        response = predict_pb2.PredictResponse()
        _answer_spec(request.model_spec, servable, response.model_spec)
        for name, value in outputs.items():
            from_ndarray(value, response.outputs[name])
        return response

    async def Classify(
        self, request: classification_pb2.ClassificationRequest, context
    ) -> classification_pb2.ClassificationResponse:
        response = classification_pb2.ClassificationResponse()
        return await self._examples(classify, CLASSIFY, request, response, context)

    async def Regress(
        self, request: regression_pb2.RegressionRequest, context
    ) -> regression_pb2.RegressionResponse:
        response = regression_pb2.RegressionResponse()
        return await self._examples(regress, REGRESS, request, response, context)

    async def _examples(self, method, api, request, response, context):
        """`response` with the model spec and the result of Classify or Regress (`method`)."""
        try:
            servable = _servable(self.repository, request.model_spec)
            check_signature_name(request.model_spec.signature_name)
            self.runner.refuse_if_full(servable, api=api, entrypoint=GRPC)
            result = await method(self.runner, servable, request.input, GRPC)
        except ServingError as exc:
            await abort(context, exc)
        _answer_spec(request.model_spec, servable, response.model_spec)
        response.result.CopyFrom(result)
        return response

    async def GetModelMetadata(
        self, request: get_model_metadata_pb2.GetModelMetadataRequest, context
    ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        try:
            servable = _servable(self.repository, request.model_spec)
            for field in request.metadata_field:
                if field != SIGNATURE_DEF:
                    raise InvalidArgument(f"Metadata field {field} is not supported")
            if not request.metadata_field:
                raise InvalidArgument(
                    "GetModelMetadataRequest must specify at least one metadata_field"
                )
        except ServingError as exc:
            await abort(context, exc)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        _answer_spec(request.model_spec, servable, response.model_spec)
        response.metadata[SIGNATURE_DEF].Pack(signature_def_map(servable.signature))
        return response


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus; HandleReloadConfigRequest answers UNIMPLEMENTED (the repository is polled)."""

    def __init__(self, repository: Repository) -> None:
        self.repository = repository

    async def GetModelStatus(
        self, request: get_model_status_pb2.GetModelStatusRequest, context
    ) -> get_model_status_pb2.GetModelStatusResponse:
        spec = request.model_spec
        try:
            found = self.repository.status(
                spec.name,
                spec.version.value if spec.HasField("version") else None,
                spec.version_label or None,
            )
        except ServingError as exc:
            await abort(context, exc)
        response = get_model_status_pb2.GetModelStatusResponse()
        states = get_model_status_pb2.ModelVersionStatus.State
        for status in found:
            entry = response.model_version_status.add(
                version=status.version, state=states.Value(status.state)
            )
            entry.status.error_code = 2 if status.error else 0  # tensorflow.error.Code UNKNOWN / OK
            entry.status.error_message = status.error
        return response


def add_services(
    server: grpc.aio.Server, repository: Repository, runner: Runner, limits: Limits
) -> None:
    """Register TF Serving's two services and KServe v2's on a grpc.aio server (one port)."""
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(repository, runner, limits), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(repository), server)
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
        KServeService(repository, runner), server
    )
