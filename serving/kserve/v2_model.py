"""KServe v2's view of the repository, for both of its front ends (REST `rest_api`, gRPC `grpc_api`).

The datatype names, the server and model metadata, the readiness rule and Triton's model
configuration are answered here once, as plain data that each front end writes in its own encoding,
so REST and gRPC cannot drift apart.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

import numpy as np
from google.protobuf import json_format, text_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from tritonclient.grpc import model_config_pb2

from zoo.export.contract import CONFIG, LABELS, TensorSpec
from zoo.export.contract import DATATYPES as DATATYPE_NAMES
from zoo.export.repository import triton_config
from zoo.serving.core import model_files
from zoo.serving.core.errors import InvalidArgument, ServingError
from zoo.serving.core.model_control import EXPLICIT
from zoo.serving.core.repository import AVAILABLE, Repository
from zoo.serving.core.servables import Backend
from zoo.serving.core.signature import ModelSignature

DATATYPES = {np.dtype(name): datatype for name, datatype in DATATYPE_NAMES.items()}  # FP32, ...
# Triton's names: binary tensors (REST; gRPC's raw contents are its counterpart), GET .../config
# and gRPC ModelConfig, the statistics (kserve/statistics.py) and the model repository's index,
# load and unload. Triton lists the same extensions on both protocols, and so does zoo.
EXTENSIONS = ("binary_tensor_data", "model_configuration", "statistics", "model_repository")
READY, UNAVAILABLE = "READY", "UNAVAILABLE"  # Triton's states in the repository index
_INT64 = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED64,
}


def server_metadata() -> dict[str, Any]:
    return {"name": "zoo", "version": metadata.version("keras-zoo"), "extensions": list(EXTENSIONS)}


def server_ready(repository: Repository) -> bool:
    """Ready while at least one model is being served, or always with --model-control-mode
    explicit, where a server with none loaded is ready to be asked (live is simply the process
    answering)."""
    return bool(repository.models) or repository.control.mode == EXPLICIT


def repository_index(repository: Repository, ready: bool = False) -> list[dict[str, str]]:
    """Triton's repository index: every version of every model, READY or UNAVAILABLE with the
    reason it failed to load, by model name and newest version first, and each model of the
    repository that is not loaded (UNAVAILABLE, "unloaded"); only the READY versions when `ready`."""
    index = []
    loaded = repository.names()
    for name in sorted({*loaded, *repository.available()}):
        if name not in loaded:
            index.append({"name": name, "state": UNAVAILABLE, "reason": "unloaded"})
            continue
        for s in repository.status(name):
            entry = {"name": name, "version": str(s.version)}
            entry["state"] = READY if s.state == AVAILABLE else UNAVAILABLE
            index.append(entry | ({"reason": s.error} if s.error else {}))
    return [entry for entry in index if entry["state"] == READY or not ready]


def model_metadata(repository: Repository, name: str, servable: Backend) -> dict[str, Any]:
    """The model metadata of the protocol; shapes keep -1 for the dynamic batch dimension."""
    signature = servable.signature
    return {
        "name": name,
        "versions": [str(v) for v in repository.models.get(name, [])],
        "platform": servable.platform,
        "inputs": [_tensor_metadata(t) for t in signature.inputs],
        "outputs": [_tensor_metadata(t) for t in signature.outputs],
    }


def _tensor_metadata(tensor: TensorSpec) -> dict[str, Any]:
    shape = [-1] if tensor.shape is None else list(tensor.shape)  # any rank: Triton's [-1]
    return {"name": tensor.name, "datatype": DATATYPES[tensor.dtype], "shape": shape}


def input_dtype(name: str, datatype: str, signature: ModelSignature) -> np.dtype:
    """The dtype of the model's input `name`, once the request's `datatype` is known to be its."""
    dtype = signature.input(name).dtype
    if datatype != DATATYPES[dtype]:
        raise InvalidArgument(
            f"input {name}: datatype {datatype}, the model expects {DATATYPES[dtype]}"
        )
    return dtype


def model_config(name: str, servable: Backend) -> model_config_pb2.ModelConfig:
    """Triton's model configuration: what the model folder's config.pbtxt says.

    A model without one (a version folder copied in by hand) gets the config.pbtxt that `zoo export`
    would have written for it, derived from the version's signature, as Triton itself auto-completes
    a missing configuration from an ONNX or SavedModel model, and from its zoo.json the parameters
    export writes for clients (labels, polarity): a client asking how to batch, feed and read the
    model gets a true answer rather than a 404. Triton also fills in defaults of its own
    (instance groups, the backend); this answers only what the file says.
    """
    try:
        config = model_files.triton_config(servable.path.parent)  # the core's one reader
        if config is None:
            config = text_format.Parse(_derived(name, servable), model_config_pb2.ModelConfig())
    except text_format.ParseError as exc:
        raise ServingError(f"{name}: {CONFIG} is not a Triton model configuration: {exc}") from None
    config.name = config.name or name
    return config


def _derived(name: str, servable: Backend) -> str:
    signature = servable.signature
    labels = (servable.path.parent / LABELS).is_file()  # label_filename must name a file there
    onnx = servable.platform == "onnxruntime_onnx"
    exported = servable.exported
    parameters = exported.parameters() if exported else None
    return triton_config(name, signature.inputs, signature.outputs, onnx, labels, parameters)


def config_json(config: model_config_pb2.ModelConfig) -> dict[str, Any]:
    """The configuration as Triton's REST API prints it: protobuf's JSON with the field names of the
    proto and every scalar field, but 64-bit integers (dims, shapes) as numbers, not strings."""
    printed = json_format.MessageToDict(
        config, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return _numbers(config.DESCRIPTOR, printed)


def _numbers(descriptor: Descriptor, printed: dict[str, Any]) -> dict[str, Any]:
    for key, value in printed.items():
        field = descriptor.fields_by_name[key]
        if field.type in _INT64:
            printed[key] = [int(v) for v in value] if isinstance(value, list) else int(value)
        elif field.message_type is not None and field.message_type.GetOptions().map_entry:
            entry = field.message_type.fields_by_name["value"]
            if entry.message_type is not None:
                printed[key] = {k: _numbers(entry.message_type, v) for k, v in value.items()}
            elif entry.type in _INT64:
                printed[key] = {k: int(v) for k, v in value.items()}
        elif field.message_type is not None and field.message_type.file.package == "inference":
            items = value if isinstance(value, list) else [value]
            for item in items:
                _numbers(field.message_type, item)
    return printed
