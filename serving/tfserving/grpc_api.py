"""TF Serving's gRPC API with its official protos: PredictionService and ModelService on grpc.aio.

Tensors go through `tensor_proto`, which reads `tensor_content` and the repeated value fields as
`tf.make_ndarray` does, straight into NumPy, and answers in the typed fields as TF Serving does. A request's ModelSpec
is resolved by the core (`resolve`); refusals get their status from `grpc_status.maps_errors`.
"""

from __future__ import annotations

import grpc

from zoo.export.contract import SIGNATURE_NAME
from zoo.serving.core.errors import InvalidArgument
from zoo.serving.core.limits import Limits
from zoo.serving.core.metrics import CLASSIFY, GRPC, PREDICT, REGRESS
from zoo.serving.core.repository import Repository
from zoo.serving.core.resolve import ServableRequest, servable, status
from zoo.serving.core.runner import Runner
from zoo.serving.core.servables import Backend
from zoo.serving.core.signature import check_signature_name
from zoo.serving.grpc_status import maps_errors
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
from zoo.serving.tfserving.metadata import signature_def_map
from zoo.serving.tfserving.methods import classify, regress
from zoo.serving.tfserving.tensor_proto import as_proto_field, to_ndarray

SIGNATURE_DEF = "signature_def"


def _request(spec: model_pb2.ModelSpec) -> ServableRequest:
    """What a ModelSpec names: its version is a wrapped int64, its label a string ("": none)."""
    version = spec.version.value if spec.HasField("version") else None
    return ServableRequest(spec.name, version, spec.version_label or None)


def _answer_spec(spec: model_pb2.ModelSpec, servable: Backend, into: model_pb2.ModelSpec) -> None:
    into.name = spec.name
    into.version.value = servable.version
    into.signature_name = spec.signature_name or SIGNATURE_NAME


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict, Classify, Regress and GetModelMetadata; MultiInference answers UNIMPLEMENTED."""

    def __init__(self, repository: Repository, runner: Runner, limits: Limits) -> None:
        self.repository = repository
        self.runner = runner
        self.limits = limits

    @maps_errors
    async def Predict(
        self, request: predict_pb2.PredictRequest, context
    ) -> predict_pb2.PredictResponse:
        found = servable(self.repository, _request(request.model_spec))
        check_signature_name(request.model_spec.signature_name)
        self.runner.refuse_if_full(found, api=PREDICT, entrypoint=GRPC)
        inputs = {
            name: to_ndarray(name, proto, self.limits) for name, proto in request.inputs.items()
        }
        outputs = await self.runner.run(
            found, inputs, request.output_filter, api=PREDICT, entrypoint=GRPC
        )
        response = predict_pb2.PredictResponse()
        _answer_spec(request.model_spec, found, response.model_spec)
        for name, value in outputs.items():
            as_proto_field(value, response.outputs[name])
        return response

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
        check_signature_name(request.model_spec.signature_name)
        self.runner.refuse_if_full(found, api=api, entrypoint=GRPC)
        result = await method(self.runner, found, request.input, GRPC)
        _answer_spec(request.model_spec, found, response.model_spec)
        response.result.CopyFrom(result)
        return response

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
        response.metadata[SIGNATURE_DEF].Pack(signature_def_map(found.signature))
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
