"""The signature_defs TF Serving reports for a version, built as the real proto for both front ends.

gRPC packs it into GetModelMetadata's Any; REST prints the same message as JSON with TF Serving's
field names and defaults, so the two can never disagree.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from zoo.export.contract import TensorSpec
from zoo.serving.core.servables import Backend
from zoo.serving.core.signature import ModelSignature
from zoo.serving.protos.tensorflow.core.protobuf import meta_graph_pb2
from zoo.serving.protos.tensorflow_serving.apis import get_model_metadata_pb2
from zoo.serving.tfserving.tensor_proto import datatype


def signature_def_map(servable: Backend) -> get_model_metadata_pb2.SignatureDefMap:
    """Every signature of the version: a SavedModel's SignatureDefs as it holds them, as TF Serving
    reports them; an ONNX model's one signature built from its graph's tensors."""
    result = get_model_metadata_pb2.SignatureDefMap()
    if servable.signature_defs:
        for name, definition in servable.signature_defs.items():
            result.signature_def[name].CopyFrom(definition)
    else:
        for name, signature in servable.signatures.items():
            result.signature_def[name].CopyFrom(signature_def(signature))
    return result


def signature_def(signature: ModelSignature) -> meta_graph_pb2.SignatureDef:
    """A signature as a SignatureDef: a SavedModel's own, or one built from its tensors."""
    if signature.definition is not None:
        return signature.definition
    definition = meta_graph_pb2.SignatureDef(method_name=signature.method_name)
    for specs, into in (
        (signature.inputs, definition.inputs),
        (signature.outputs, definition.outputs),
    ):
        for spec in specs:
            into[spec.name].CopyFrom(_tensor_info(spec))
    return definition


def _tensor_info(spec: TensorSpec) -> meta_graph_pb2.TensorInfo:
    info = meta_graph_pb2.TensorInfo(name=f"{spec.name}:0")
    info.dtype = datatype(spec.dtype)
    if spec.shape is None:
        info.tensor_shape.unknown_rank = True
    for size in spec.shape or ():
        info.tensor_shape.dim.add(size=size)
    return info


def to_json(message: Any) -> dict[str, Any]:
    """A proto as TF Serving's REST API prints it: proto field names, default values included."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
