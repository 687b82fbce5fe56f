"""Softmax classification: three classes from four features, the slide's 8-row table."""

import keras

from zoo.registry import Example, InputSpec, Recipe, register


@register(
    "softmax-classification",
    task="multiclass",
    dataset="softmax-table",
    input=InputSpec("features", (4,)),
    labels=("A", "B", "C"),
    recipe=Recipe(
        loss="categorical_crossentropy",
        learning_rate=0.1,
        epochs=20,
        batch_size=8,
        validation_split=0.0,
        steps_per_epoch=100,
    ),
    description="Dense(3, softmax) on the 8 x 4 table",
    example=Example(inputs=((1, 11, 7, 9),), expected=("B",)),
    source="TF lab: softmax classification",
)
def softmax_classification(num_classes: int = 3) -> keras.Model:
    return keras.Sequential(
        [keras.layers.Dense(num_classes, activation="softmax", name="softmax")],
        name="softmax_classification",
    )
