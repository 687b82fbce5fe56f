"""TF Serving's `--model_config_file`: a ModelServerConfig in protobuf's text format.

    model_config_list {
      config {
        name: "cnn-mnist"
        base_path: "/models/cnn-mnist"
        model_platform: "tensorflow"
        model_version_policy { specific { versions: 1 versions: 2 } }
        version_labels { key: "stable" value: 1 }
      }
    }

It is parsed with TF Serving's own message (serving/protos, compiled from the official descriptor),
so a file TF Serving reads is read the same, and a misspelt field is refused as TF Serving refuses
it, in its words ("Error parsing text-format tensorflow.serving.ModelServerConfig: LINE:COLUMN",
which its own integration test looks for). Every error names the file and the field. A relative `base_path` (which TF Serving refuses) is
taken relative to the file's folder; a missing policy is TF Serving's default, the latest version.
"""

from __future__ import annotations

from pathlib import Path

from google.protobuf import text_format

from zoo.serving.core.errors import ServerError
from zoo.serving.core.model_sources import LATEST, ModelSource, VersionPolicy
from zoo.serving.protos.tensorflow_serving.config import model_server_config_pb2

OPTION = "--model_config_file"
# model_platform -> zoo serve's backend; "" is the server's --backend. TF Serving knows only
# "tensorflow"; ONNX's is Triton's name for its ONNX Runtime backend.
PLATFORMS = {"": "", "tensorflow": "tf", "onnxruntime_onnx": "onnx", "onnx": "onnx"}


def read(path: Path) -> dict[str, ModelSource]:
    """The models the file lists, by name; ServerError naming the field for anything wrong."""
    where = f"{OPTION} {path}"
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ServerError(f"{where}: cannot read it: {exc}") from None
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:  # worded as TF Serving's (protobuf's C++ parser) is
        raise ServerError(
            f"{where}: Error parsing text-format {config.DESCRIPTOR.full_name}: {exc}"
        ) from None
    if config.WhichOneof("config") != "model_config_list":
        raise ServerError(
            f"{where}: model_config_list is missing (custom_model_config is not read)"
        )
    models: dict[str, ModelSource] = {}
    for index, entry in enumerate(config.model_config_list.config):
        field = f"{where}: model_config_list.config[{index}]"
        if not entry.name:
            raise ServerError(f"{field}: name is empty")
        if entry.name in models:
            raise ServerError(f"{field}: name {entry.name!r} is listed twice")
        models[entry.name] = _model(entry, f"{field} ({entry.name})", path.parent)
    return models


def _model(entry, field: str, folder: Path) -> ModelSource:
    if not entry.base_path:
        raise ServerError(f"{field}: base_path is empty")
    if entry.model_platform not in PLATFORMS:
        raise ServerError(
            f"{field}: model_platform {entry.model_platform!r} is none of "
            f"{', '.join(repr(p) for p in PLATFORMS if p)}"
        )
    for label, version in entry.version_labels.items():
        if not label or label.isdigit() or version < 0:
            raise ServerError(
                f"{field}: version_labels {label!r}: {version} must be a name (not a number) "
                "and a version"
            )
    return ModelSource(
        entry.name,
        folder / entry.base_path,  # an absolute base_path stays as it is
        _policy(entry.model_version_policy, f"{field}: model_version_policy"),
        dict(entry.version_labels),
        PLATFORMS[entry.model_platform],
    )


def _policy(policy, field: str) -> VersionPolicy:
    """TF Serving's ServableVersionPolicy: latest (num_versions 0 or unset is 1), all, specific."""
    kind = policy.WhichOneof("policy_choice")
    if kind is None:
        return LATEST
    if kind == "latest":
        if policy.latest.num_versions < 0:
            raise ServerError(f"{field}.latest.num_versions must be positive")
        return VersionPolicy("latest", policy.latest.num_versions or 1)
    if kind == "specific":
        versions = frozenset(policy.specific.versions)
        if not versions or min(versions) < 0:
            raise ServerError(
                f"{field}.specific.versions: name at least one version, none negative"
            )
        return VersionPolicy("specific", versions=versions)
    return VersionPolicy("all")


class ConfigFile:
    """The models of a config file: read at start (a bad file is a start-up error) and again by
    `reload`; a file that has become bad while serving raises there, and the models it listed
    before stay as they were, as TF Serving keeps its last good config."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._models = read(path)
        for name, model in self._models.items():  # at start; while serving it may come later
            if not model.base_path.is_dir():
                raise ServerError(
                    f"{OPTION} {path}: {name}: base_path {model.base_path} is no folder"
                )

    def models(self) -> dict[str, ModelSource]:
        return self._models

    def reload(self) -> bool:
        models = read(self.path)
        changed, self._models = models != self._models, models
        return changed

    def describe(self) -> str:
        return f"the model config file {self.path}"
