"""The ONNX model, where Triton's ONNX Runtime backend looks for it: `model.onnx` in the version dir.

tf2onnx converts the same serving function the SavedModel exports (its `from_keras` does not work with
Keras 3), so both formats share names: the spec's input name in, the task's named answers out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import tf2onnx

from zoo.export.contract import ONNX_MODEL, Signature
from zoo.export.errors import ConversionError
from zoo.export.serving import ServingFunction

# The newest opset tf2onnx 1.17 converts to (its OPSET_TO_IR_VERSION ends at 18); ONNX Runtime runs it.
BATCH = "batch"  # the symbolic name of the dynamic first dimension, instead of tf2onnx's unk__N


def write_onnx(serve: ServingFunction, signature: Signature, folder: Path, opset: int) -> Path:
    """Convert `serve` to ONNX at `opset`, check its names, and write it into the version folder."""
    try:
        proto, _ = tf2onnx.convert.from_function(
            serve, input_signature=serve.input_signature, opset=opset
        )
    except Exception as exc:  # tf2onnx raises anything from ValueError to its own errors
        raise ConversionError(
            f"tf2onnx could not convert the model at opset {opset}: {exc}"
        ) from exc
    graph_tensors = [*proto.graph.input, *proto.graph.output]
    found = sorted(t.name for t in graph_tensors)
    expected = sorted(t.name for t in (signature.input, *signature.outputs))
    if found != expected:
        raise ConversionError(f"tf2onnx named the tensors {found}, expected {expected}")
    for tensor in graph_tensors:
        tensor.type.tensor_type.shape.dim[0].dim_param = BATCH
    path = folder / ONNX_MODEL
    onnx.save(proto, str(path))
    return path


def session(path: Path) -> onnxruntime.InferenceSession:
    """An ONNX Runtime session on the CPU, as Triton's ONNX Runtime backend would open the file."""
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run_onnx(folder: Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Load the version folder's ONNX model back and run it on `inputs` (a dict by input name)."""
    runner = session(folder / ONNX_MODEL)
    names = [o.name for o in runner.get_outputs()]
    return dict(zip(names, runner.run(names, inputs), strict=True))
