"""The serving function: one tf.function, derived from the ModelSpec, that both formats export.

Clients send what they have (raw 0-255 pixels, features, latent noise) under the spec's input name and
get named answers back, so the preprocessing (`spec.input.scale`) and the meaning of the last layer
(logits or probabilities, one sigmoid unit or a softmax) live in the graph, not in every client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.export.contract import (
    IMAGE_INPUT,
    OUTPUTS,
    ImageInput,
    Signature,
    TensorSpec,
    output_names,
)
from zoo.registry import ModelSpec

if TYPE_CHECKING:  # the server and the client use the names below without loading TensorFlow
    import keras
    import tensorflow as tf

ServingFunction = Any  # a tf.function with one input_signature (TensorFlow exports no public type)


def serving_function(spec: ModelSpec, model: keras.Model) -> ServingFunction:
    """A tf.function from the client's input (any batch size) to a dict of named outputs."""
    import tensorflow as tf

    input_spec = tf.TensorSpec([None, *spec.input.shape], spec.input.dtype, name=spec.input.name)

    @tf.function(input_signature=[input_spec])
    def serve(inputs):
        return _answers(spec, model(inputs * spec.input.scale, training=False))

    return serve


def image_input(spec: ModelSpec) -> ImageInput | None:
    """What `image_function` decodes an image to, for a model whose input is a picture of a
    known size (a model trained elsewhere may leave its height and width open)."""
    if not spec.input.is_image or None in spec.input.shape:
        return None
    height, width, channels = spec.input.shape
    return ImageInput(height, width, channels)


def image_function(image: ImageInput, serve: ServingFunction) -> ServingFunction:
    """`serve` behind a decoder: a batch of encoded PNG or JPEG images in, the same answers out.

    Each image is decoded as RGB (a JPEG with libjpeg's accurate integer DCT, as Pillow decodes
    it, not TensorFlow's default fast one), made grayscale where the model wants one channel
    (rgb_to_grayscale's ITU-R 601 weights), and resized to the model's height and width with the
    triangle filter (bilinear, antialiased when shrinking: Pillow's BILINEAR, so the ONNX servable
    can do exactly this in Python); pixels stay floats in their raw 0-255 range, which `serve`
    scales as it scales any client's. A file that is no image fails with TensorFlow's
    InvalidArgumentError, which the server answers as INVALID_ARGUMENT.
    """
    import tensorflow as tf

    def decode(encoded: tf.Tensor) -> tf.Tensor:
        pixels = tf.cond(  # a JPEG with libjpeg's accurate DCT, as Pillow decodes one
            tf.io.is_jpeg(encoded),
            lambda: tf.io.decode_jpeg(encoded, channels=3, dct_method="INTEGER_ACCURATE"),
            lambda: tf.io.decode_image(encoded, channels=3, expand_animations=False),
        )
        pixels = tf.cast(pixels, tf.float32)
        if image.channels == 1:
            pixels = tf.image.rgb_to_grayscale(pixels)
        resized = tf.image.resize(
            pixels, (image.height, image.width), method="bilinear", antialias=True
        )
        return tf.ensure_shape(resized, (image.height, image.width, image.channels))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=IMAGE_INPUT)])
    def serve_image(image_bytes):
        pixels = tf.map_fn(
            decode,
            image_bytes,
            fn_output_signature=tf.TensorSpec((image.height, image.width, image.channels)),
        )
        return serve(pixels)

    return serve_image


def signature(spec: ModelSpec, serve: ServingFunction) -> Signature:
    """Names, dtypes and shapes of `serve`, read from its trace, as clients and config.pbtxt see them."""
    traced = serve.get_concrete_function().structured_outputs
    (input_spec,) = serve.input_signature
    return Signature(
        _tensor(spec.input.name, input_spec),
        tuple(_tensor(name, traced[name]) for name in output_names(spec.task)),
    )


def _tensor(name: str, tensor: tf.Tensor | tf.TensorSpec) -> TensorSpec:
    dims = tuple(-1 if d is None else int(d) for d in tensor.shape)
    return TensorSpec(name, np.dtype(tensor.dtype.name), dims)


def _answers(spec: ModelSpec, outputs: tf.Tensor) -> dict[str, tf.Tensor]:
    """Turn the last layer into the task's named answers: the graph twin of zoo.inference."""
    import tensorflow as tf

    if spec.task in OUTPUTS:
        (name,) = OUTPUTS[spec.task]
        return {name: outputs}
    if spec.task == "binary":
        p = tf.sigmoid(outputs) if spec.recipe.from_logits else outputs
        # Two columns that line up with the labels ("0", "1"). Their argmax is exactly p > 0.5:
        # 1 - p is exact in float32 for p in [0.5, 1], and a tie goes to class 0.
        probabilities = tf.concat([1 - p, p], axis=-1)
    else:
        probabilities = tf.nn.softmax(outputs) if spec.recipe.from_logits else outputs
    return {
        "probabilities": probabilities,
        "classes": tf.argmax(probabilities, axis=-1, output_type=tf.int64),
    }
