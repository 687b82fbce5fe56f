"""The SavedModel, laid out as TF Serving loads it: `saved_model.pb` and `variables/` in the version dir.

Keras's ExportArchive writes the serving function as the `serving_default` signature, which TensorFlow
marks with the predict method (`tensorflow/serving/predict`) that TF Serving's REST and gRPC expect;
an image model's `serving_image` (encoded images in, the same answers out) beside it.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from zoo.export.contract import IMAGE_SIGNATURE, SAVED_MODEL, SAVED_MODEL_LABELS, SIGNATURE_NAME
from zoo.export.errors import ConversionError
from zoo.export.serving import ServingFunction


def write_savedmodel(
    model: keras.Model,
    serve: ServingFunction,
    folder: Path,
    serve_image: ServingFunction | None = None,
) -> Path:
    """Write `model` with `serve` as its default signature (and `serve_image`, where given, as
    `serving_image`) into the version folder."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(SIGNATURE_NAME, serve)
    if serve_image is not None:
        archive.add_endpoint(IMAGE_SIGNATURE, serve_image)
    try:
        archive.write_out(str(folder), verbose=False)
    except (ValueError, TypeError, tf.errors.OpError) as exc:
        raise ConversionError(f"could not write the SavedModel: {exc}") from exc
    return folder / SAVED_MODEL


def write_labels(labels: tuple[str, ...], folder: Path) -> Path:
    """The class labels beside the SavedModel, one per line, line i naming class i."""
    path = folder / SAVED_MODEL_LABELS
    path.parent.mkdir(exist_ok=True)
    path.write_text("".join(f"{label}\n" for label in labels))
    return path


def run_savedmodel(folder: Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Load the version folder's SavedModel back as a server would and run its serving signature."""
    serve = tf.saved_model.load(str(folder)).signatures[SIGNATURE_NAME]
    outputs = serve(**{k: tf.constant(v) for k, v in inputs.items()})
    return {k: v.numpy() for k, v in outputs.items()}
