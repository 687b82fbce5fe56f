"""The model repository that TF Serving and Triton both poll: versions, atomic publishing, config.pbtxt.

    models/<name>/
        config.pbtxt          Triton's model configuration
        labels.txt            class labels, referenced by config.pbtxt (classifiers)
        <version>/            an integer: TF Serving and Triton ignore anything else
            saved_model.pb, variables/, assets.extra/labels.txt   TF Serving's SavedModel
            assets.extra/tf_serving_warmup_requests   requests replayed before serving
            model.onnx        Triton's ONNX Runtime model
            zoo.json          what was exported from where, and its parity check

A version is written into `.tmp-<version>-<random>/` beside its target, which servers ignore for its
non-numeric name, and renamed into place in one step once it is complete and checked.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from google.protobuf import text_encoding

from zoo.export.contract import CONFIG, DATATYPES, LABELS, TensorSpec
from zoo.export.errors import ExportError, VersionExistsError
from zoo.runs import atomic_path, umask_mode

MAX_BATCH_SIZE = 256  # the largest batch Triton accepts or forms; the graph itself takes any
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class Stage:
    """A version being written: the temporary folder, and where it goes once it is complete."""

    path: Path
    target: Path

    @property
    def version(self) -> int:
        return int(self.target.name)

    @property
    def model_root(self) -> Path:
        return self.target.parent


def check_name(name: str) -> str:
    """A model name both servers accept in a URL and a folder name; anything else is a user error."""
    if not NAME.fullmatch(name):
        raise ExportError(
            f"invalid model name {name!r}: use letters, digits, '.', '_' and '-', "
            "starting with a letter or digit"
        )
    return name


MAX_VERSION = 2**63 - 1  # versions are int64s, in TF Serving's protos and in KServe v2's


def version_folders(model_root: Path) -> dict[int, str]:
    """The versions present and their folders' names, as TF Serving reads them: a folder whose
    name is an int64 in ASCII digits (`00000123` is version 123); a staging folder, or one that
    vanishes while it is read, is none. Of two names for one version, the first in order counts."""
    try:
        names = sorted(p.name for p in model_root.iterdir() if p.is_dir())
    except OSError:  # not a folder, or removed meanwhile
        return {}
    found: dict[int, str] = {}
    for name in names:
        if name.isascii() and name.isdigit() and int(name) <= MAX_VERSION:
            found.setdefault(int(name), name)
    return dict(sorted(found.items()))


def versions(model_root: Path) -> list[int]:
    """The versions present, ascending (`version_folders`)."""
    return list(version_folders(model_root))


def next_version(model_root: Path) -> int:
    """One more than the highest version present, 1 for a new model."""
    return max(versions(model_root), default=0) + 1


@contextlib.contextmanager
def stage_version(
    model_dir: str | os.PathLike[str], name: str, version: int | None, force: bool
) -> Iterator[Stage]:
    """A fresh temporary version folder; on any error it and every folder made for it are removed.

    The block ends with `publish`; an existing version without `force` fails before any work.
    """
    root = Path(model_dir) / check_name(name)
    target = root / str(version or next_version(root))
    if target.exists() and not force:
        raise VersionExistsError(
            f"{target} already exists: pass --force to replace it, or omit --version for the next one"
        )
    created = [p for p in (root, *root.parents) if not p.exists()]
    try:
        root.mkdir(parents=True, exist_ok=True)
        stage = Stage(Path(tempfile.mkdtemp(prefix=f".tmp-{target.name}-", dir=root)), target)
        # mkdtemp makes the folder private (0700); TF Serving or Triton may run as another user.
        stage.path.chmod(umask_mode(0o777))
    except OSError as exc:
        _remove_empty(created)
        raise ExportError(f"cannot write to the model directory {root}: {exc.strerror}") from None
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage.path, ignore_errors=True)
        _remove_empty(created)
        raise


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders an export created, deepest first, where nothing else was put in them."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


def publish(stage: Stage, config: str, labels: tuple[str, ...] | None, force: bool) -> None:
    """Rename the complete version into place, then write the model's config.pbtxt and labels.

    A replaced version (`force`) is moved aside first and deleted only once the new one is in place;
    if anything fails the old state is restored.
    """
    displaced = None
    if stage.target.exists():
        if not force:
            raise VersionExistsError(
                f"{stage.target} appeared while exporting; nothing was replaced"
            )
        displaced = stage.path.with_name(f".old-{stage.target.name}-{secrets.token_hex(4)}")
        os.rename(stage.target, displaced)
    try:
        os.rename(stage.path, stage.target)
        _write_text(stage.model_root / CONFIG, config)
        if labels:
            _write_text(stage.model_root / LABELS, "".join(f"{label}\n" for label in labels))
    except BaseException:
        if stage.target.exists() and not stage.path.exists():
            os.rename(stage.target, stage.path)
        if displaced:
            os.rename(displaced, stage.target)
        raise
    if displaced:
        shutil.rmtree(displaced)


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def triton_config(
    name: str,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    onnx: bool,
    labels: bool,
    parameters: Mapping[str, str] | None = None,
) -> str:
    """config.pbtxt for Triton, in its batching form: dims leave out the batch dimension (a model
    whose tensors do not all start with a dynamic one gets max_batch_size 0 and its full dims, as
    Triton auto-completes it).

    Triton serves the ONNX model when there is one (its ONNX Runtime backend), else the SavedModel.
    An output that is only the batch dimension (`classes`) is declared as [1] and reshaped to the
    model's [batch], as Triton's documentation prescribes. What a client needs beyond the tensors
    (`Exported.parameters`: labels, a table's column names, an image model's polarity) goes in the
    configuration's free-form `parameters` (Triton's backends ignore a key they do not know), the one
    place of Triton's API where a client reads what a model's input and output mean: GET .../config.
    `model_warmup` has Triton run the model once before it reports it ready.
    """
    platform = "onnxruntime_onnx" if onnx else "tensorflow_savedmodel"
    batched = all(t.shape and t.shape[0] == -1 for t in (*inputs, *outputs))
    largest = MAX_BATCH_SIZE if batched else 0
    lines = [f'name: "{name}"', f'platform: "{platform}"', f"max_batch_size: {largest}"]
    if not onnx:
        # Triton looks for <version>/model.savedmodel/ by default; TF Serving's layout puts the
        # SavedModel in the version folder itself.
        lines.append('default_model_filename: "."')
    lines.append(_tensors("input", inputs, None, batched))
    lines.append(_tensors("output", outputs, LABELS if labels else None, batched))
    for key, value in (parameters or {}).items():
        escaped = text_encoding.CEscape(value, as_utf8=True)
        lines.append(f'parameters: {{ key: "{key}" value: {{ string_value: "{escaped}" }} }}')
    warmup = _model_warmup(inputs, batched)
    if warmup:
        lines.append(warmup)
    return "\n".join(lines) + "\n"


def _model_warmup(inputs: Sequence[TensorSpec], batched: bool) -> str:
    """Triton's `model_warmup`: one request of zeros (batch size 1) before the model is ready.
    Triton needs each input's dims fixed: "" (no warmup) when one is not."""
    entries = []
    for tensor in inputs:
        dims = _dims(tensor, batched)
        if not dims or -1 in dims:
            return ""
        entries.append(
            f'    inputs {{ key: "{tensor.name}" value: {{ data_type: {_config_type(tensor.dtype)}'
            f" dims: [ {', '.join(map(str, dims))} ] zero_data: true }} }}\n"
        )
    return (
        'model_warmup [\n  {\n    name: "zero_data"\n    batch_size: 1\n'
        + "".join(entries)
        + "  }\n]"
    )


def _dims(tensor: TensorSpec, batched: bool) -> tuple[int, ...]:
    """A tensor's shape as config.pbtxt's dims give it: without the batch dimension when batched."""
    shape = (-1,) if tensor.shape is None else tensor.shape  # any rank: Triton's -1
    return tuple(shape[1:] if batched else shape)


def _config_type(dtype: np.dtype) -> str:
    """A dtype's name in config.pbtxt: TYPE_ and the datatype, but TYPE_STRING for BYTES."""
    datatype = DATATYPES[dtype.name]
    return "TYPE_STRING" if datatype == "BYTES" else f"TYPE_{datatype}"


def _tensors(kind: str, tensors: Sequence[TensorSpec], labels: str | None, batched: bool) -> str:
    entries = []
    for tensor in tensors:
        shape = _dims(tensor, batched)
        dims = shape or (1,)
        fields = [
            f'name: "{tensor.name}"',
            f"data_type: {_config_type(tensor.dtype)}",
            f"dims: [ {', '.join(str(d) for d in dims)} ]",
        ]
        if not shape:
            fields.append("reshape: { shape: [ ] }")
        if labels and tensor.name == "probabilities":
            fields.append(f'label_filename: "{labels}"')
        entries.append("  {\n" + "".join(f"    {f}\n" for f in fields) + "  }")
    return f"{kind} [\n" + ",\n".join(entries) + "\n]"
