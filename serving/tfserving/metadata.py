"""The signature_def TF Serving reports for a version, built once as the real proto for both front ends.

gRPC packs it into GetModelMetadata's Any; REST prints the same message as JSON with TF Serving's
field names and defaults, so the two can never disagree.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from zoo.export.contract import PREDICT_METHOD, SIGNATURE_NAME, TensorSpec
from zoo.serving.core.signature import ModelSignature
from zoo.serving.protos.tensorflow.core.protobuf import meta_graph_pb2
from zoo.serving.protos.tensorflow_serving.apis import get_model_metadata_pb2
from zoo.serving.tfserving.tensor_proto import datatype


def signature_def_map(signature: ModelSignature) -> get_model_metadata_pb2.SignatureDefMap:
    """The version's one predict signature, `serving_default`, as a SignatureDefMap."""
    definition = meta_graph_pb2.SignatureDef(method_name=PREDICT_METHOD)
    for specs, into in (
        (signature.inputs, definition.inputs),
        (signature.outputs, definition.outputs),
    ):
        for spec in specs:
            into[spec.name].CopyFrom(_tensor_info(spec))
    result = get_model_metadata_pb2.SignatureDefMap()
    result.signature_def[SIGNATURE_NAME].CopyFrom(definition)
    return result


def _tensor_info(spec: TensorSpec) -> meta_graph_pb2.TensorInfo:
    info = meta_graph_pb2.TensorInfo(name=f"{spec.name}:0")
    info.dtype = datatype(spec.dtype)
    for size in spec.shape:
        info.tensor_shape.dim.add(size=size)
    return info


def to_json(message: Any) -> dict[str, Any]:
    """A proto as TF Serving's REST API prints it: proto field names, default values included."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
