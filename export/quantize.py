"""int8 ONNX: a smaller CPU model, with its test metric measured beside the float model's.

Models with convolutions are quantized statically, their activation ranges calibrated on real
training examples: dynamic quantization turns Conv into ConvInteger, which ONNX Runtime runs several
times slower than float. Dense-only models quantize dynamically, which needs no calibration.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, quantize_dynamic, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from zoo import data, text
from zoo.export.contract import ONNX_MODEL
from zoo.export.defaults import QUANTIZE_MODES
from zoo.export.errors import ConversionError, ExportError
from zoo.export.onnx import session
from zoo.registry import ModelSpec

MODES = QUANTIZE_MODES
QUANTIZED = "model.int8.onnx"
CALIBRATION_EXAMPLES = 256
BATCH = 256
METRICS = {"binary": "accuracy", "multiclass": "accuracy", "regression": "mae"}


@dataclass(frozen=True)
class Quantized:
    """The int8 model beside the float one: how it was made, its size, its test metric, its speed."""

    file: str
    method: str  # "static" (calibrated) or "dynamic"
    metric: str
    test_examples: int
    float_value: float
    int8_value: float
    float_bytes: int
    int8_bytes: int
    float_examples_per_second: float
    int8_examples_per_second: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def check_quantizable(spec: ModelSpec) -> None:
    """Only tasks with a test metric can show what int8 costs; fail before any work otherwise."""
    if spec.task not in METRICS:
        raise ExportError(f"--quantize reports a test metric, and a {spec.task} model has none")


def quantize_int8(
    spec: ModelSpec, folder: Path, data_dir: str | os.PathLike[str] | None = None
) -> Quantized:
    """Write `model.int8.onnx` beside the version's `model.onnx` and measure both on the test split."""
    source, target = folder / ONNX_MODEL, folder / QUANTIZED
    static = any(node.op_type == "Conv" for node in onnx.load(str(source)).graph.node)
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        prepared = Path(scratch) / ONNX_MODEL
        try:
            # Shape inference and constant folding first, as ONNX Runtime recommends.
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
            if static:
                train_x, _ = data.load(spec.dataset, "train", data_dir)
                reader = _Calibration(spec.input.name, train_x[:CALIBRATION_EXAMPLES])
                quantize_static(str(prepared), str(target), reader)
            else:
                quantize_dynamic(str(prepared), str(target))
        except Exception as exc:  # ONNX Runtime's quantizer raises anything from KeyError up
            raise ConversionError(f"int8 quantization failed: {exc}") from exc

    x, y = data.load(spec.dataset, "test", data_dir)
    float_value, float_speed = _measure(spec, source, x, y)
    int8_value, int8_speed = _measure(spec, target, x, y)
    return Quantized(
        file=QUANTIZED,
        method="static" if static else "dynamic",
        metric=METRICS[spec.task],
        test_examples=len(x),
        float_value=float_value,
        int8_value=int8_value,
        float_bytes=source.stat().st_size,
        int8_bytes=target.stat().st_size,
        float_examples_per_second=float_speed,
        int8_examples_per_second=int8_speed,
    )


class _Calibration(CalibrationDataReader):
    """Raw training examples in batches, as clients send them, for the activation ranges."""

    def __init__(self, input_name: str, x: np.ndarray):
        self.batches: Iterator[dict[str, np.ndarray]] = (
            {input_name: np.asarray(x[i : i + BATCH], dtype=np.float32)}
            for i in range(0, len(x), BATCH)
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.batches, None)


def _measure(spec: ModelSpec, path: Path, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The test metric of one ONNX file on (x, y), and how many examples per second it ran."""
    runner = session(path)
    output = "predictions" if spec.task == "regression" else "classes"
    started = time.perf_counter()
    predicted = np.concatenate(
        [
            runner.run([output], {spec.input.name: np.asarray(x[i : i + BATCH], np.float32)})[0]
            for i in range(0, len(x), BATCH)
        ]
    )
    speed = len(x) / max(time.perf_counter() - started, 1e-9)
    if spec.task == "regression":
        value = float(np.mean(np.abs(predicted.reshape(len(y), -1) - y.reshape(len(y), -1))))
    else:
        value = float(np.mean(predicted == y.reshape(-1)))
    return value, round(speed, 1)


def format_quantized(result: Quantized) -> str:
    """The float and int8 models side by side: size, test metric, speed."""
    rows = [
        ("model", "bytes", result.metric, "examples/s"),
        (
            "float32",
            f"{result.float_bytes:,}",
            f"{result.float_value:.4f}",
            f"{result.float_examples_per_second:,.0f}",
        ),
        (
            "int8",
            f"{result.int8_bytes:,}",
            f"{result.int8_value:.4f}",
            f"{result.int8_examples_per_second:,.0f}",
        ),
    ]
    return (
        text.table(rows)
        + f"\n({result.method} quantization, {result.test_examples:,} test examples)"
    )
