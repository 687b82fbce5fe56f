"""The XOR MLP: the problem one perceptron cannot solve and one hidden layer can.

The TF slide's network is 2-3-1 with sigmoids trained by SGD at 0.1; the wide (2-10-1) and deep
(2-10-5-8-1) variants are the slide's "wide and deep" follow-ups.
"""

import keras

from zoo.registry import Example, InputSpec, Recipe, register


@keras.saving.register_keras_serializable(package="zoo")
class XorMLP(keras.Model):
    """Fully connected sigmoid layers of the given widths, ending in one sigmoid unit."""

    def __init__(self, hidden: tuple[int, ...], **kwargs):
        super().__init__(**kwargs)
        self.widths = tuple(hidden)
        self.hidden = [
            keras.layers.Dense(units, activation="sigmoid", name=f"hidden_{i}")
            for i, units in enumerate(hidden, start=1)
        ]
        self.out = keras.layers.Dense(1, activation="sigmoid", name="output")

    def call(self, x):
        for layer in self.hidden:
            x = layer(x)
        return self.out(x)

    def get_config(self):
        return {**super().get_config(), "hidden": self.widths}


def _xor(name: str, hidden: tuple[int, ...], description: str, learning_rate: float = 0.1) -> None:
    @register(
        name,
        task="binary",
        dataset="xor",
        input=InputSpec("features", (2,)),
        labels=("0", "1"),
        recipe=Recipe(
            loss="binary_crossentropy",
            learning_rate=learning_rate,
            epochs=20,
            batch_size=4,
            validation_split=0.0,
            steps_per_epoch=500,
        ),
        description=description,
        slide_metric="accuracy",
        slide_value=1.0,
        example=Example(inputs=((0, 0), (0, 1), (1, 0), (1, 1)), expected=(0, 1, 1, 0)),
        source="TF lab: XOR with neural nets",
    )
    def build() -> keras.Model:
        return XorMLP(hidden, name=name.replace("-", "_"))


_xor("xor-mlp", (3,), "2-3-1 sigmoid MLP on XOR (subclassed)")
_xor("xor-mlp-wide", (10,), "2-10-1 sigmoid MLP on XOR (subclassed)")
# Sigmoid gradients shrink through four layers: at the slide's 0.1 the deep variant stalls at 50%
# within 10,000 steps, so its recipe takes 1.0.
_xor("xor-mlp-deep", (10, 5, 8), "2-10-5-8-1 sigmoid MLP on XOR (subclassed)", learning_rate=1.0)
