"""Export: a finished run as a SavedModel and an ONNX model that TF Serving and Triton load as they are.

One entry point, `export_run`; the modules each do one job: `serving` derives the serving function
from the ModelSpec, `savedmodel` and `onnx` write and reload the formats, `parity` proves they match
Keras, `quantize` adds an int8 ONNX model, and `repository` lays out, versions and atomically publishes `models/<name>/<version>/`.
Data flows zoo -> export: nothing in `zoo` imports this package.
"""

from export.api import FORMATS, ExportResult, export_run, newest_finished_run
from export.errors import ConversionError, ExportError, ParityError, VersionExistsError
from export.onnx import DEFAULT_OPSET
from export.parity import DEFAULT_SAMPLES, TOLERANCE, Parity, format_table
from export.quantize import MODES as QUANTIZE_MODES
from export.quantize import Quantized, format_quantized

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
    "export_run",
    "format_quantized",
    "format_table",
    "newest_finished_run",
]
