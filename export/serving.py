"""The serving function: one tf.function, derived from the ModelSpec, that both formats export.

Clients send what they have (raw 0-255 pixels, features, latent noise) under the spec's input name and
get named answers back, so the preprocessing (`spec.input.scale`) and the meaning of the last layer
(logits or probabilities, one sigmoid unit or a softmax) live in the graph, not in every client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.export.contract import OUTPUTS, Signature, TensorSpec, output_names
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
