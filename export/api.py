"""`export_run`: a finished run in, a checked version of a servable model repository out;
`export_keras` the same for a Keras model trained anywhere, saved as a .keras file."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tf2onnx

from zoo import data, images, runs, versions, weights
from zoo.data.own import run_spec
from zoo.errors import RunError
from zoo.export import keras_file, parity, repository
from zoo.export.contract import (
    CONFIG,
    METADATA,
    SAVED_MODEL_LABELS,
    Exported,
    ImageInput,
    Signature,
)
from zoo.export.defaults import DEFAULT_OPSET, DEFAULT_SAMPLES, FORMATS
from zoo.export.errors import ExportError
from zoo.export.onnx import run_onnx, write_onnx
from zoo.export.quantize import MODES, Quantized, check_quantizable, quantize_int8
from zoo.export.savedmodel import run_savedmodel, write_labels, write_savedmodel
from zoo.export.serving import image_function, image_input, serving_function, signature
from zoo.export.warmup import write_warmup_requests
from zoo.registry import ModelSpec

RUNNERS: dict[str, Callable[[Path, dict[str, np.ndarray]], dict[str, np.ndarray]]] = {
    "savedmodel": run_savedmodel,
    "onnx": run_onnx,
}
EXPORT_PACKAGES = ("tf2onnx", "onnx", "onnxruntime")
MAX_OPSET = max(tf2onnx.constants.OPSET_TO_IR_VERSION)


@dataclass
class ExportResult:
    """What an export wrote and measured, for the CLI to print and for tests to check."""

    run_dir: Path | None  # the run exported; None for a .keras file
    model: str
    version_dir: Path
    files: dict[str, Path]  # format -> the file its server loads
    signature: Signature
    parity: list[parity.Parity]
    config: Path
    quantized: Quantized | None = None
    image: ImageInput | None = None  # what serving_image decodes to, for an image model
    keras_file: Path | None = None  # the .keras file exported, for a model trained elsewhere
    description: str = ""  # how the outputs were read, for a .keras file's model

    @property
    def name(self) -> str:
        return self.version_dir.parent.name

    @property
    def version(self) -> int:
        return int(self.version_dir.name)


def export_run(
    run: str | os.PathLike[str] | None = None,
    *,
    formats: Sequence[str] = FORMATS,
    model_dir: str | os.PathLike[str] = "models",
    name: str | None = None,
    version: int | None = None,
    force: bool = False,
    runs_dir: str | os.PathLike[str] = "runs",
    samples: int = DEFAULT_SAMPLES,
    opset: int = DEFAULT_OPSET,
    data_dir: str | os.PathLike[str] | None = None,
    tolerance: float = parity.TOLERANCE,
    quantize: str | None = None,
) -> ExportResult:
    """Export run `run` (the newest finished run trained here when None) as `<model_dir>/<name>/<version>/`.

    The artefacts are written to a temporary folder, loaded back and checked against the Keras
    model on `samples` real test examples; only if every format matches within `tolerance` is the
    folder renamed into place. Any failure leaves the model directory as it was. `quantize="int8"`
    also writes `model.int8.onnx` and measures it beside the float model on the test split.
    """
    checked = _check_options(formats, version, samples, opset, tolerance, quantize, force)
    run_dir = newest_finished_run(runs_dir) if run is None else runs.resolve_run(run, runs_dir)
    model_path = runs.require_model(run_dir)
    spec = run_spec(runs.read_json(run_dir / runs.CONFIG))  # on its own data, if it had some
    if quantize:
        check_quantizable(spec)
    raw = parity.parity_inputs(spec, samples, data_dir)
    with repository.stage_version(model_dir, name or spec.name, version, force) as stage:
        model = keras.saving.load_model(model_path)
        return _export(stage, spec, model, raw, checked, run_dir=run_dir, data_dir=data_dir)


def export_keras(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    labels: str | os.PathLike[str] | None = None,
    formats: Sequence[str] = FORMATS,
    model_dir: str | os.PathLike[str] = "models",
    version: int | None = None,
    force: bool = False,
    samples: int = DEFAULT_SAMPLES,
    opset: int = DEFAULT_OPSET,
    tolerance: float = parity.TOLERANCE,
) -> ExportResult:
    """Export the Keras model saved at `path` (a .keras file, from any Keras code) as
    `<model_dir>/<name>/<version>/` (name: the file's stem when None), which `zoo serve` serves
    as it serves the zoo's own models.

    `labels` is a file of one label per line, for a classifier. What the model is (its input, and
    how its outputs are read) comes from the model itself: export/keras_file.py. The parity check
    runs seeded random inputs, the model having no test split here; as for a run, nothing is
    left in the repository unless every format matches Keras.
    """
    checked = _check_options(formats, version, samples, opset, tolerance, None, force)
    spec = keras_file.load(path, name, Path(labels) if labels is not None else None)
    raw = keras_file.parity_inputs(spec, samples)
    with repository.stage_version(model_dir, spec.name, version, force) as stage:
        return _export(stage, spec, spec.builder(), raw, checked, keras_path=Path(path))


@dataclass(frozen=True)
class _Options:
    """What an export was asked to write, checked (`_check_options`)."""

    formats: tuple[str, ...]
    opset: int
    tolerance: float
    quantize: str | None
    force: bool


def _export(
    stage: repository.Stage,
    spec: ModelSpec,
    model: keras.Model,
    raw: np.ndarray,
    options: _Options,
    *,
    run_dir: Path | None = None,
    keras_path: Path | None = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> ExportResult:
    """Write `model` (of run `run_dir`, or saved at `keras_path`) into the staged version, check
    every format against Keras on the `raw` inputs, and publish it."""
    inputs = {spec.input.name: raw}
    serve = serving_function(spec, model)
    contract = signature(spec, serve)
    image = image_input(spec)
    files = {}
    if "savedmodel" in options.formats:
        serve_image = image_function(image, serve) if image else None
        files["savedmodel"] = write_savedmodel(model, serve, stage.path, serve_image)
    if "onnx" in options.formats:
        files["onnx"] = write_onnx(serve, contract, stage.path, options.opset)
    if spec.labels:
        write_labels(spec.labels, stage.path)
    write_warmup_requests(stage.path, stage.target.parent.name, spec.input.name, raw)

    expected = parity.expected_outputs(spec, model, raw)
    results = [parity.measure(f, RUNNERS[f](stage.path, inputs), expected) for f in files]
    parity.require(results, options.tolerance)

    result = ExportResult(
        run_dir=run_dir,
        model=spec.name,
        version_dir=stage.target,
        files={fmt: stage.target / path.name for fmt, path in files.items()},
        signature=contract,
        parity=results,
        config=stage.model_root / CONFIG,
        quantized=quantize_int8(spec, stage.path, data_dir) if options.quantize else None,
        image=image,
        keras_file=keras_path,
        description=spec.description if keras_path else "",
    )
    exported = _contract(spec, result)
    runs.write_json(stage.path / METADATA, _describe(exported, result, options, spec.input.scale))
    config = repository.triton_config(
        result.name,
        (contract.input,),
        contract.outputs,
        onnx="onnx" in options.formats,
        labels=bool(spec.labels),
        parameters=exported.parameters(),
    )
    repository.publish(stage, config, spec.labels, options.force)
    return result


def newest_finished_run(runs_dir: str | os.PathLike[str]) -> Path:
    """The most recently made run trained here that has a model.keras, of any model (never the
    pretrained weights' runs: those are exported only when asked for, by model)."""
    finished = [run for run in runs.list_runs(runs_dir) if (run / runs.MODEL).is_file()]
    if not finished:
        raise RunError(
            f"no finished run under {runs_dir}: train one with `zoo train MODEL`, or export "
            "pretrained weights with `zoo export --pretrained MODEL`"
        )
    return finished[-1]


def _check_options(
    formats: Sequence[str],
    version: int | None,
    samples: int,
    opset: int,
    tolerance: float,
    quantize: str | None,
    force: bool,
) -> _Options:
    """The options, the formats in a fixed order; values no export can use are user errors."""
    unknown = set(formats) - set(FORMATS)
    if unknown or not formats:
        raise ExportError(f"formats must be among {', '.join(FORMATS)}, got {list(formats)}")
    if version is not None and version < 1:
        raise ExportError(f"version must be a positive integer, got {version}")
    if samples < 1:
        raise ExportError(f"samples must be at least 1, got {samples}")
    if not 1 <= opset <= MAX_OPSET:
        raise ExportError(
            f"opset must be between 1 and {MAX_OPSET} (tf2onnx's newest), got {opset}"
        )
    if not tolerance >= 0:
        raise ExportError(f"tolerance must be a non-negative number, got {tolerance}")
    if quantize is not None and quantize not in MODES:
        raise ExportError(f"quantize must be one of {', '.join(MODES)}, got {quantize!r}")
    if quantize and "onnx" not in formats:
        raise ExportError("--quantize makes an int8 ONNX model: export the onnx format too")
    return _Options(tuple(f for f in FORMATS if f in formats), opset, tolerance, quantize, force)


def _contract(spec: ModelSpec, result: ExportResult) -> Exported:
    """The version's contract (export/contract.py): what the server reads, and tells clients."""
    return Exported(
        model=spec.name,
        task=spec.task,
        inputs=(result.signature.input,),
        outputs=result.signature.outputs,
        labels=spec.labels,
        files={fmt: path.name for fmt, path in result.files.items()},
        image=result.image,
        features=data.feature_names(spec.dataset) or None,  # a table's column names
        polarity=images.polarity_of(spec.dataset) if spec.input.is_image else None,
    )


def _describe(
    contract: Exported, result: ExportResult, options: _Options, input_scale: float
) -> dict[str, Any]:
    """zoo.json: what a client or an operator needs to know about this version, and its proof."""
    run, keras_path = result.run_dir, result.keras_file
    return {
        **contract.to_json(),  # what the server reads (export/contract.py)
        "name": result.name,
        "version": result.version,
        "input_scale": input_scale,  # applied inside the graph: clients send raw values
        "labels_file": str(SAVED_MODEL_LABELS) if contract.labels else None,
        "source_run": run and {"id": f"{run.parent.name}/{run.name}", "path": str(run.resolve())},
        "source_file": keras_path
        and {
            "path": str(keras_path.resolve()),
            "sha256": weights.sha256(keras_path),
            "outputs_read_as": result.description,
        },
        "exported_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "onnx_opset": options.opset if "onnx" in result.files else None,
        "parity": {
            "samples": result.parity[0].samples,
            "inputs": "seeded random" if keras_path else "test split",
            "tolerance": options.tolerance,
            "results": [check.to_json() for check in result.parity],
        },
        "quantized": result.quantized.to_json() if result.quantized else None,
        "versions": {
            **versions.package_versions(),
            **{name: metadata.version(name) for name in EXPORT_PACKAGES},
        },
    }
