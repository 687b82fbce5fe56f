"""What a version folder holds, read from its model files alone, as TF Serving and Triton read them.

A SavedModel's signatures are its `serve` MetaGraphDef's SignatureDefs, read from saved_model.pb
with protobuf (names, dtypes, shapes and method names), so neither this nor the ONNX path imports
TensorFlow. An ONNX model has one signature, `serving_default`, whose inputs and outputs are its
graph's. zoo.json is not needed for either: it only adds labels and a task to zoo's own exports.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from tritonclient.grpc import model_config_pb2

from zoo.export.contract import (
    CONFIG,
    DATATYPES,
    ONNX_MODEL,
    PREDICT_METHOD,
    SAVED_MODEL,
    SERVE_TAG,
    SIGNATURE_NAME,
    Exported,
    TensorSpec,
)
from zoo.serving.core.signature import ModelSignature
from zoo.serving.protos.tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

# TensorFlow's DataType enum (types.proto) -> NumPy; DT_STRING's values are bytes objects.
DTYPES = {
    1: np.dtype("float32"),
    2: np.dtype("float64"),
    3: np.dtype("int32"),
    4: np.dtype("uint8"),
    5: np.dtype("int16"),
    6: np.dtype("int8"),
    7: np.dtype(object),
    9: np.dtype("int64"),
    10: np.dtype("bool"),
    17: np.dtype("uint16"),
    19: np.dtype("float16"),
    22: np.dtype("uint32"),
    23: np.dtype("uint64"),
}
# ONNX Runtime's type strings -> NumPy.
ONNX_DTYPES = {
    "tensor(float)": np.dtype("float32"),
    "tensor(double)": np.dtype("float64"),
    "tensor(float16)": np.dtype("float16"),
    "tensor(int8)": np.dtype("int8"),
    "tensor(int16)": np.dtype("int16"),
    "tensor(int32)": np.dtype("int32"),
    "tensor(int64)": np.dtype("int64"),
    "tensor(uint8)": np.dtype("uint8"),
    "tensor(uint16)": np.dtype("uint16"),
    "tensor(uint32)": np.dtype("uint32"),
    "tensor(uint64)": np.dtype("uint64"),
    "tensor(bool)": np.dtype("bool"),
    "tensor(string)": np.dtype(object),
}


def formats(version_dir: Path, exported: Exported | None) -> dict[str, Path]:
    """The model files present, by backend ("tf": the SavedModel folder, "onnx": the ONNX file)."""
    found = {}
    if (version_dir / SAVED_MODEL).is_file():
        found["tf"] = version_dir
    onnx = version_dir / (
        exported.files.get("onnx", ONNX_MODEL) if exported else onnx_file_name(version_dir)
    )
    if onnx.is_file():
        found["onnx"] = onnx
    return found


def onnx_file_name(version_dir: Path) -> str:
    """The ONNX file's name: config.pbtxt's `default_model_filename` when it sets one (Triton's
    rule), else model.onnx."""
    config = triton_config(version_dir.parent)
    return (config.default_model_filename if config is not None else "") or ONNX_MODEL


def triton_config(model_root: Path):
    """The model folder's config.pbtxt as Triton's ModelConfig, or None where there is none."""
    path = model_root / CONFIG
    if not path.is_file():
        return None
    from google.protobuf import text_format

    config = model_config_pb2.ModelConfig()
    text_format.Parse(path.read_text(), config)
    return config


def with_triton_config(signature: ModelSignature, config) -> ModelSignature:
    """An ONNX model's signature as its config.pbtxt declares it, as Triton reads one: every tensor
    it lists must be the graph's, of the same data type; its dims (with the batch dimension before
    them when max_batch_size is set) are the tensor's shape, and max_batch_size bounds a request.
    A tensor the configuration leaves out keeps the graph's shape (Triton completes it)."""

    def declared(kind: str, graph: tuple[TensorSpec, ...], listed) -> tuple[TensorSpec, ...]:
        tensors = {t.name: t for t in graph}
        for entry in listed:
            if entry.name not in tensors:
                allowed = ", ".join(tensors)
                raise ValueError(
                    f"{CONFIG}: unexpected {kind} '{entry.name}', allowed {kind}s are: {allowed}"
                )
            tensor = tensors[entry.name]
            data_type = model_config_pb2.DataType.Name(entry.data_type).removeprefix("TYPE_")
            if data_type != DATATYPES.get(tensor.dtype.name):
                raise ValueError(
                    f"{CONFIG}: {kind} '{entry.name}' is {data_type} in the configuration, "
                    f"{tensor.dtype.name} in the model"
                )
            if not entry.HasField("reshape"):  # a reshaped tensor is served in the graph's shape
                batch = (-1,) if config.max_batch_size else ()
                shape = (*batch, *entry.dims)
                if not tensor.accepts(shape):
                    raise ValueError(
                        f"{CONFIG}: {kind} '{entry.name}' has shape {list(shape)} in the "
                        f"configuration (with the batch dimension), {list(tensor.shape)} in "
                        "the model"
                    )
                tensors[entry.name] = dataclasses.replace(tensor, shape=shape)
        return tuple(tensors.values())

    return dataclasses.replace(
        signature,
        inputs=declared("input", signature.inputs, config.input),
        outputs=declared("output", signature.outputs, config.output),
        max_batch_size=config.max_batch_size,
    )


def meta_graph(version_dir: Path) -> meta_graph_pb2.MetaGraphDef:
    """The SavedModel's MetaGraphDef tagged `serve`, the one TF Serving loads."""
    saved = saved_model_pb2.SavedModel.FromString((version_dir / SAVED_MODEL).read_bytes())
    for graph in saved.meta_graphs:
        if set(graph.meta_info_def.tags) == {SERVE_TAG}:
            return graph
    tags = [sorted(g.meta_info_def.tags) for g in saved.meta_graphs]
    raise ValueError(
        f"the SavedModel has no MetaGraphDef tagged {{{SERVE_TAG}}}: its tags are {tags}"
    )


def saved_model_signatures(
    graph: meta_graph_pb2.MetaGraphDef, check_shapes: bool
) -> dict[str, ModelSignature]:
    """Every SignatureDef of a MetaGraphDef that can be called, by name, tensors sorted by alias.

    TF2's `__saved_model_init_op` (an op, DT_INVALID, run when the model loads) is no signature a
    request can call: it is left out here, and reported in the metadata as TF Serving does."""
    return {
        name: ModelSignature(
            name,
            definition.method_name,
            tuple(_tensor(alias, definition.inputs[alias]) for alias in sorted(definition.inputs)),
            tuple(
                _tensor(alias, definition.outputs[alias]) for alias in sorted(definition.outputs)
            ),
            definition,
            check_shapes,
        )
        for name, definition in sorted(graph.signature_def.items())
        if all(t.dtype for t in (*definition.inputs.values(), *definition.outputs.values()))
    }


def _tensor(alias: str, info: meta_graph_pb2.TensorInfo) -> TensorSpec:
    if info.dtype not in DTYPES:
        raise ValueError(f"tensor {alias}: TensorFlow dtype {info.dtype} is not served")
    shape = info.tensor_shape
    known = info.HasField("tensor_shape") and not shape.unknown_rank
    dims = tuple(d.size for d in shape.dim) if known else None
    return TensorSpec(alias, DTYPES[info.dtype], dims)


def onnx_signature(session) -> ModelSignature:
    """An ONNX Runtime session's graph inputs and outputs as the `serving_default` signature; a
    dimension with a name or none is dynamic (-1)."""

    def tensors(nodes) -> tuple[TensorSpec, ...]:
        specs = []
        for node in nodes:
            if node.type not in ONNX_DTYPES:
                raise ValueError(f"tensor {node.name}: ONNX type {node.type} is not served")
            dims = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in node.shape)
            specs.append(TensorSpec(node.name, ONNX_DTYPES[node.type], dims))
        return tuple(specs)

    return ModelSignature(
        SIGNATURE_NAME,
        PREDICT_METHOD,
        tensors(session.get_inputs()),
        tensors(session.get_outputs()),
    )


def in_exported_order(
    signatures: dict[str, ModelSignature], exported: Exported | None
) -> dict[str, ModelSignature]:
    """The signatures, `serving_default`'s tensors in the order zoo.json lists them (the order
    zoo's exports answer in) where there is one; the graph's order elsewhere."""
    default = signatures.get(SIGNATURE_NAME)
    if exported is None or default is None:
        return signatures

    def order(tensors: tuple[TensorSpec, ...], listed: tuple[TensorSpec, ...]):
        rank = {spec.name: index for index, spec in enumerate(listed)}
        return tuple(sorted(tensors, key=lambda t: rank.get(t.name, len(rank))))

    ordered = dataclasses.replace(
        default,
        inputs=order(default.inputs, exported.inputs),
        outputs=order(default.outputs, exported.outputs),
    )
    return {**signatures, SIGNATURE_NAME: ordered}
