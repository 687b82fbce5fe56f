"""KServe's Open Inference Protocol (v2) over gRPC: `inference.GRPCInferenceService`, from the stubs
that tritonclient ships generated from the official proto, on the same port as TF Serving's services.

ServerLive, ServerReady, ModelReady, ServerMetadata, ModelMetadata, ModelConfig (Triton's model
configuration extension), ModelStatistics (its statistics extension), RepositoryIndex,
RepositoryModelLoad and RepositoryModelUnload (its model repository extension) and ModelInfer are
answered, from the same modules as the REST front end answers them; the other RPCs (shared memory,
tracing, streaming) keep the stub's UNIMPLEMENTED. `model_version` is a string, "" for the default version.

An input comes either in `raw_input_contents` (its little-endian bytes, row-major, one entry per
input, in the order of `inputs`; BYTES as length-prefixed elements: what tritonclient sends) or in
the typed field of `contents` for its datatype (`fp32_contents`, `bytes_contents`, ...). Outputs
are always answered in `raw_output_contents`, whichever way the inputs came, as Triton does:
tritonclient's `as_numpy` reads numbers only from there, and so do Triton's own examples. Refusals
are NOT_FOUND for an unknown model or version, UNAVAILABLE for a full batch queue and
INVALID_ARGUMENT for anything else, with the REST front end's messages.
"""

from __future__ import annotations

import math

import grpc
import numpy as np
from google.protobuf import json_format
from tritonclient.grpc import service_pb2, service_pb2_grpc

from zoo.export.contract import STRING
from zoo.serving.core import model_control, strings
from zoo.serving.core.errors import InvalidArgument, NotFound
from zoo.serving.core.limits import check_shape
from zoo.serving.core.metrics import GRPC, MODEL_INFER
from zoo.serving.core.repository import Repository
from zoo.serving.core.resolve import ServableRequest, servable
from zoo.serving.core.runner import Runner
from zoo.serving.core.servables import Backend
from zoo.serving.core.signature import ModelSignature, signature_taking
from zoo.serving.grpc_status import maps_errors
from zoo.serving.kserve import binary_tensors, statistics, v2_model
from zoo.serving.kserve.v2_model import DATATYPES

# The typed field of InferTensorContents for each datatype; FP16 and BF16 travel only raw.
CONTENTS = {
    "BYTES": "bytes_contents",
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
}
InferRequest = service_pb2.ModelInferRequest


class KServeService(service_pb2_grpc.GRPCInferenceServiceServicer):
    """The v2 RPCs over the repository and the runner, as `rest_api` has them over REST."""

    def __init__(self, repository: Repository, runner: Runner) -> None:
        self.repository = repository
        self.runner = runner

    def _servable(self, name: str, version: str) -> Backend:
        """The servable `model_version` names ("" for the default version)."""
        return servable(self.repository, ServableRequest.parse(name, version))

    async def ServerLive(self, request, context) -> service_pb2.ServerLiveResponse:
        return service_pb2.ServerLiveResponse(live=True)

    async def ServerReady(self, request, context) -> service_pb2.ServerReadyResponse:
        return service_pb2.ServerReadyResponse(ready=v2_model.server_ready(self.repository))

    @maps_errors
    async def ModelReady(
        self, request: service_pb2.ModelReadyRequest, context
    ) -> service_pb2.ModelReadyResponse:
        """Not ready (rather than an error) for a model or version that is not served, as Triton."""
        try:
            self._servable(request.name, request.version)
        except NotFound:
            return service_pb2.ModelReadyResponse(ready=False)
        return service_pb2.ModelReadyResponse(ready=True)

    async def ServerMetadata(self, request, context) -> service_pb2.ServerMetadataResponse:
        return service_pb2.ServerMetadataResponse(**v2_model.server_metadata())

    @maps_errors
    async def ModelMetadata(
        self, request: service_pb2.ModelMetadataRequest, context
    ) -> service_pb2.ModelMetadataResponse:
        found = self._servable(request.name, request.version)
        described = v2_model.model_metadata(self.repository, request.name, found)
        return json_format.ParseDict(described, service_pb2.ModelMetadataResponse())

    @maps_errors
    async def ModelConfig(
        self, request: service_pb2.ModelConfigRequest, context
    ) -> service_pb2.ModelConfigResponse:
        config = v2_model.model_config(request.name, self._servable(request.name, request.version))
        return service_pb2.ModelConfigResponse(config=config)

    @maps_errors
    async def ModelStatistics(
        self, request: service_pb2.ModelStatisticsRequest, context
    ) -> service_pb2.ModelStatisticsResponse:
        answer = statistics.model_statistics(
            self.repository, self.runner.metrics, request.name, request.version
        )
        return json_format.ParseDict(answer, service_pb2.ModelStatisticsResponse())

    @maps_errors
    async def RepositoryIndex(
        self, request: service_pb2.RepositoryIndexRequest, context
    ) -> service_pb2.RepositoryIndexResponse:
        index = v2_model.repository_index(self.repository, request.ready)
        return service_pb2.RepositoryIndexResponse(
            models=[service_pb2.RepositoryIndexResponse.ModelIndex(**entry) for entry in index]
        )

    @maps_errors
    async def RepositoryModelLoad(
        self, request: service_pb2.RepositoryModelLoadRequest, context
    ) -> service_pb2.RepositoryModelLoadResponse:
        model_control.check_parameters("load", request.parameters)
        await model_control.load(self.repository, self.runner.metrics, request.model_name)
        return service_pb2.RepositoryModelLoadResponse()

    @maps_errors
    async def RepositoryModelUnload(
        self, request: service_pb2.RepositoryModelUnloadRequest, context
    ) -> service_pb2.RepositoryModelUnloadResponse:
        model_control.check_parameters("unload", request.parameters)
        await model_control.unload(self.repository, self.runner.metrics, request.model_name)
        return service_pb2.RepositoryModelUnloadResponse()

    @maps_errors
    async def ModelInfer(self, request: InferRequest, context) -> service_pb2.ModelInferResponse:
        found = self._servable(request.model_name, request.model_version)
        self.runner.refuse_if_full(found, api=MODEL_INFER, entrypoint=GRPC)
        names = (tensor.name for tensor in request.inputs)
        signature = signature_taking(found.signatures, found.signature, names)
        inputs = _inputs(request, signature)
        wanted = [output.name for output in request.outputs]
        outputs = await self.runner.run(
            found, inputs, wanted, api=MODEL_INFER, entrypoint=GRPC, signature=signature
        )
        response = service_pb2.ModelInferResponse(
            model_name=request.model_name, model_version=str(found.version), id=request.id
        )
        for name, value in outputs.items():
            response.outputs.add(name=name, datatype=DATATYPES[value.dtype], shape=value.shape)
            response.raw_output_contents.append(binary_tensors.to_bytes(value))
        return response


def add_services(server: grpc.aio.Server, repository: Repository, runner: Runner) -> None:
    """Register KServe v2's GRPCInferenceService on a grpc.aio server."""
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
        KServeService(repository, runner), server
    )


def _inputs(request: InferRequest, signature: ModelSignature) -> dict[str, np.ndarray]:
    """The request's inputs as arrays of their shapes, checked against the model's inputs."""
    raw = request.raw_input_contents
    if not request.inputs:
        raise InvalidArgument("'inputs' must hold at least one input tensor")
    if raw and len(raw) != len(request.inputs):
        raise InvalidArgument(
            f"{len(raw)} raw_input_contents for {len(request.inputs)} inputs: "
            "give one per input, in the order of 'inputs'"
        )
    inputs = {}
    for index, tensor in enumerate(request.inputs):
        name, shape = tensor.name, tuple(tensor.shape)
        dtype = v2_model.input_dtype(name, tensor.datatype, signature)
        if any(size < 0 for size in shape):
            raise InvalidArgument(f"input {name}: shape must be a list of sizes, got {list(shape)}")
        check_shape(f"input {name}", shape, dtype.itemsize)
        if raw:
            if tensor.HasField("contents"):
                raise InvalidArgument(
                    f"input {name}: contents and raw_input_contents are both given; use one"
                )
            values = _from_raw(name, tensor.datatype, raw[index], dtype, shape)
        else:
            values = _from_contents(tensor, dtype)
        if values.size != math.prod(shape):
            raise InvalidArgument(
                f"input {name}: {values.size} values do not fill the shape {list(shape)}"
            )
        if name in inputs:
            raise InvalidArgument("an input is given more than once")
        inputs[name] = values.reshape(shape)
    return inputs


def _from_raw(name: str, datatype: str, data: bytes, dtype: np.dtype, shape) -> np.ndarray:
    needed = math.prod(shape) * dtype.itemsize
    if dtype != STRING and len(data) != needed:
        raise InvalidArgument(
            f"input {name}: {len(data)} bytes of raw_input_contents, "
            f"the shape {list(shape)} of {datatype} needs {needed}"
        )
    return binary_tensors.from_bytes(name, data, dtype, shape).ravel()


def _from_contents(tensor: InferRequest.InferInputTensor, dtype: np.dtype) -> np.ndarray:
    field = CONTENTS.get(tensor.datatype)
    if field is None:
        raise InvalidArgument(
            f"input {tensor.name}: {tensor.datatype} has no typed contents; "
            "send it in raw_input_contents"
        )
    values = getattr(tensor.contents, field)
    if dtype == STRING:
        return strings.array(values, (len(values),))
    return np.fromiter(values, dtype, len(values))
