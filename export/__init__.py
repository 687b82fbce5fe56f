"""Export: a finished run as a SavedModel and an ONNX model that TF Serving and Triton load as they are.

Two entry points, `export_run` for the zoo's runs and `export_keras` for a Keras model trained
anywhere (`keras_file` reads what such a model is); the modules each do one job: `contract` names what a version holds
for the server (files, signature, tensors, zoo.json), `serving` derives the serving function from
the ModelSpec, `savedmodel` and `onnx` write and reload the formats, `parity` proves they match
Keras, `quantize` adds an int8 ONNX model, and `repository` lays out, versions and atomically publishes `models/<name>/<version>/`.
Data flows zoo -> export -> serving: nothing in `zoo` imports this package, nor this one serving.

The names that need TensorFlow load on first use (PEP 562), so `from export import FORMATS` is cheap.
"""

import importlib
from typing import Any

from zoo.export.defaults import DEFAULT_OPSET, DEFAULT_SAMPLES, FORMATS, QUANTIZE_MODES
from zoo.export.errors import ConversionError, ExportError, ParityError, VersionExistsError

_LAZY = {
    "ExportResult": "zoo.export.api",
    "export_keras": "zoo.export.api",
    "export_run": "zoo.export.api",
    "newest_finished_run": "zoo.export.api",
    "TOLERANCE": "zoo.export.parity",
    "Parity": "zoo.export.parity",
    "format_table": "zoo.export.parity",
    "Quantized": "zoo.export.quantize",
    "format_quantized": "zoo.export.quantize",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'export' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)


__all__ = [
    "DEFAULT_OPSET",
    "DEFAULT_SAMPLES",
    "FORMATS",
    "QUANTIZE_MODES",
    "TOLERANCE",
    "ConversionError",
    "ExportError",
    "ExportResult",
    "Parity",
    "ParityError",
    "Quantized",
    "VersionExistsError",
    "export_keras",
    "export_run",
    "format_quantized",
    "format_table",
    "newest_finished_run",
]
