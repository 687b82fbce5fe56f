"""The contract between export and serving: what a version folder holds and what its zoo.json says.

`zoo export` writes it and `zoo serve` reads it, so each name is defined here once: the files of a
version and of its model folder, the signature and method names TF Serving knows the graph by, the
named outputs of each task, the tensor spec and the part of zoo.json the server relies on. Data
flows zoo -> export -> serving: this module imports neither TensorFlow nor anything of serving, so
the server and `zoo predict` read it without loading TensorFlow.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ml_dtypes  # noqa: F401  (NumPy's name for bfloat16, which TensorSpec dtypes may be)
import numpy as np

METADATA = "zoo.json"  # in the version folder: what was exported from where, and its contract
SAVED_MODEL = "saved_model.pb"  # in the version folder, as TF Serving expects it
ONNX_MODEL = "model.onnx"  # in the version folder, as Triton's ONNX Runtime backend expects it
SAVED_MODEL_LABELS = (
    Path("assets.extra") / "labels.txt"
)  # TF Serving's place for files beside the graph
# In the version folder: PredictionLog records TF Serving (and `zoo serve`) replay before serving it.
WARMUP_REQUESTS = Path("assets.extra") / "tf_serving_warmup_requests"
CONFIG = "config.pbtxt"  # in the model folder: Triton's model configuration
LABELS = "labels.txt"  # in the model folder, referenced by config.pbtxt (classifiers)

SIGNATURE_NAME = "serving_default"  # the graph's main signature (TF Serving's default one)
# An image model's second signature: encoded PNG or JPEG bytes in, serving_default's answers out.
IMAGE_SIGNATURE = "serving_image"
IMAGE_INPUT = "image_bytes"  # its one input (DT_STRING, one encoded image per example)
PREDICT_METHOD = "tensorflow/serving/predict"  # its method name
CLASSIFY_METHOD = "tensorflow/serving/classify"  # TF Serving's other methods, in others' models
REGRESS_METHOD = "tensorflow/serving/regress"
SERVE_TAG = "serve"  # the MetaGraphDef TF Serving loads from a SavedModel

# What a client needs beyond the tensors, in config.pbtxt's free-form `parameters` (string values;
# Triton's backends ignore keys they do not know), which any client of Triton's API reads: REST
# GET /v2/models/NAME/config, gRPC ModelConfig. `zoo export` writes them; `zoo serve` derives them
# from zoo.json for a model folder without config.pbtxt (Exported.parameters, one definition).
FEATURE_NAMES = "feature_names"  # a table's column names, in input order: a JSON list
LABELS_PARAMETER = "labels"  # a classifier's labels in class-id order: a JSON list, or null (none)
POLARITY = "image_polarity"  # an image model's: how its training images were drawn (zoo/images.py)

CLASSIFIER_OUTPUTS = ("probabilities", "classes")  # every classifier's named answers
OUTPUTS = {"regression": ("predictions",), "generative": ("images",)}  # the other tasks'

STRING = np.dtype(object)  # a string tensor: an object array of bytes, as TensorFlow takes it
# NumPy dtype -> tensor datatype in Triton's and KServe v2's shared names (config.pbtxt adds TYPE_,
# and calls BYTES TYPE_STRING). bfloat16 is ml_dtypes' (NumPy has none), as TensorFlow's is.
DATATYPES = {
    "bool": "BOOL",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "float16": "FP16",
    "bfloat16": "BF16",
    "float32": "FP32",
    "float64": "FP64",
    STRING.name: "BYTES",
}


def output_names(task: str) -> tuple[str, ...]:
    """The named answers of a task: classifiers give probabilities and classes."""
    return OUTPUTS.get(task, CLASSIFIER_OUTPUTS)


@dataclass(frozen=True)
class TensorSpec:
    """One named input or output of the exported graph; -1 in `shape` is the dynamic batch dimension."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...] | None  # None: any rank (a SavedModel's tensor of unknown rank)

    def accepts(self, shape: tuple[int, ...]) -> bool:
        if self.shape is None:
            return True
        return len(shape) == len(self.shape) and all(
            want in (-1, got) for want, got in zip(self.shape, shape, strict=True)
        )

    def to_json(self) -> dict[str, Any]:
        shape = None if self.shape is None else list(self.shape)
        return {"name": self.name, "dtype": self.dtype.name, "shape": shape}

    @classmethod
    def from_json(cls, described: Mapping[str, Any]) -> TensorSpec:
        shape = described["shape"]
        return cls(
            described["name"], np.dtype(described["dtype"]), None if shape is None else tuple(shape)
        )


@dataclass(frozen=True)
class Signature:
    """The exported graph's contract: what a client sends (one input) and what it gets back."""

    input: TensorSpec
    outputs: tuple[TensorSpec, ...]


@dataclass(frozen=True)
class ImageInput:
    """What `serving_image` makes of an encoded image before serving_default sees it: decoded with
    `channels` (1: grayscale, 3: RGB), resized to `height` x `width`, as float pixels in their raw
    0-255 range. The SavedModel does this in its graph; the ONNX servable, whose opsets have no image
    decoder, does the same in Python from this description (serving/core/images.py)."""

    height: int
    width: int
    channels: int

    def to_json(self) -> dict[str, Any]:
        return {
            "signature": IMAGE_SIGNATURE,
            "input": IMAGE_INPUT,
            "height": self.height,
            "width": self.width,
            "channels": self.channels,
        }

    @classmethod
    def from_json(cls, described: Mapping[str, Any]) -> ImageInput:
        return cls(int(described["height"]), int(described["width"]), int(described["channels"]))


@dataclass(frozen=True)
class Exported:
    """The part of zoo.json that the server reads: the model id, its task, tensors, labels and the
    file of each format, and what its clients are told of it (`parameters`). `zoo export` writes
    more beside it (its source run, the parity check)."""

    model: str
    task: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    labels: tuple[str, ...] | None
    files: Mapping[str, str]  # format -> file name in the version folder
    image: ImageInput | None = None  # an image model's serving_image, None for other models
    features: tuple[str, ...] | None = None  # a table's column names
    polarity: str | None = None  # an image model's (zoo/images.py); None: not said (older exports)

    def parameters(self) -> dict[str, str]:
        """config.pbtxt's parameters for clients: the labels of every classifier (null: it has
        none, whatever the zoo's model of its name has), the polarity of an image model."""
        said = {}
        if self.features:
            said[FEATURE_NAMES] = json.dumps(list(self.features))
        if self.task not in OUTPUTS:
            said[LABELS_PARAMETER] = json.dumps(list(self.labels) if self.labels else None)
        if self.polarity:
            said[POLARITY] = self.polarity
        return said

    def to_json(self) -> dict[str, Any]:
        """zoo.json's contract keys, in the order zoo.json has them."""
        return {
            "model": self.model,
            "task": self.task,
            "files": dict(self.files),
            "signature": SIGNATURE_NAME,
            "inputs": [tensor.to_json() for tensor in self.inputs],
            "outputs": [tensor.to_json() for tensor in self.outputs],
            "labels": list(self.labels) if self.labels else None,
            "image": self.image.to_json() if self.image else None,
            FEATURE_NAMES: list(self.features) if self.features else None,
            POLARITY: self.polarity,
        }

    @classmethod
    def find(cls, version_dir: Path) -> Exported | None:
        """The contract of a version folder that `zoo export` wrote; None for any other model (its
        zoo.json is what adds labels, task and parity; the model files alone are enough to serve)."""
        return cls.read(version_dir) if (version_dir / METADATA).is_file() else None

    @classmethod
    def read(cls, version_dir: Path) -> Exported:
        """The contract of a version folder, from its zoo.json."""
        described = json.loads((version_dir / METADATA).read_text())
        return cls(
            model=described["model"],
            task=described["task"],
            inputs=tuple(TensorSpec.from_json(t) for t in described["inputs"]),
            outputs=tuple(TensorSpec.from_json(t) for t in described["outputs"]),
            labels=tuple(described["labels"]) if described.get("labels") else None,
            files=described["files"],
            image=ImageInput.from_json(described["image"]) if described.get("image") else None,
            features=tuple(described.get(FEATURE_NAMES) or ()) or None,
            polarity=described.get(POLARITY),
        )
