"""Logistic regression: one sigmoid unit, from the 6-point table to the diabetes CSV.

The perceptron gates of the course overview are the same network on the AND / OR truth tables:
linearly separable, so one unit solves them (XOR is not; see xor.py).
"""

import keras

from zoo.registry import Example, InputSpec, Recipe, register

_BINARY = ("0", "1")


def _sigmoid_unit(name: str) -> keras.Model:
    return keras.Sequential([keras.layers.Dense(1, activation="sigmoid", name="logit")], name=name)


@register(
    "logistic-regression",
    task="binary",
    dataset="logistic-table",
    input=InputSpec("features", (2,)),
    labels=_BINARY,
    recipe=Recipe(
        loss="binary_crossentropy",
        learning_rate=0.1,
        epochs=20,
        batch_size=6,
        validation_split=0.0,
        steps_per_epoch=100,
    ),
    description="Dense(1, sigmoid) on the 6-point table",
    example=Example(
        inputs=((1, 2), (2, 3), (3, 1), (4, 3), (5, 3), (6, 2)), expected=(0, 0, 0, 1, 1, 1)
    ),
    source="Keras lab: logistic classification",
)
def logistic_regression() -> keras.Model:
    return _sigmoid_unit("logistic_regression")


@register(
    "diabetes",
    task="binary",
    dataset="diabetes",
    input=InputSpec("features", (8,)),
    labels=_BINARY,
    recipe=Recipe(
        loss="binary_crossentropy",
        learning_rate=0.1,
        epochs=100,
        batch_size=32,
        validation_split=0.1,
    ),
    description="Dense(1, sigmoid) on the Pima diabetes CSV (8 features)",
    slide_metric="accuracy",
    slide_value=0.7708,
    source="Keras lab: classifying diabetes",
)
def diabetes() -> keras.Model:
    return _sigmoid_unit("diabetes")


def _gate(name: str, expected: tuple[int, ...]) -> None:
    @register(
        name,
        task="binary",
        dataset=name.removeprefix("perceptron-"),
        input=InputSpec("features", (2,)),
        labels=_BINARY,
        recipe=Recipe(
            loss="binary_crossentropy",
            learning_rate=1.0,
            epochs=10,
            batch_size=4,
            validation_split=0.0,
            steps_per_epoch=100,
        ),
        description=f"single-layer perceptron: the {name.removeprefix('perceptron-').upper()} gate",
        example=Example(inputs=((0, 0), (0, 1), (1, 0), (1, 1)), expected=expected),
        source="course overview: perceptrons",
    )
    def perceptron() -> keras.Model:
        return _sigmoid_unit(name.replace("-", "_"))


_gate("perceptron-and", (0, 0, 0, 1))
_gate("perceptron-or", (0, 1, 1, 1))
