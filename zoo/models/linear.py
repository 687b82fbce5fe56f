"""Linear regression: the first two rungs of the course, H(x) = Wx + b.

The Keras slide fits y = x on three points with a one-unit Dense layer; the TensorFlow slide writes
H(X) = XW + b by hand on two features. Both should predict the slide's next point.
"""

import keras

from zoo.registry import Example, InputSpec, Recipe, register

# Tiny tables: one full batch, repeated so that one epoch is many optimizer steps.
_TABLE = {"validation_split": 0.0, "batch_size": 3, "steps_per_epoch": 100}


@register(
    "linear-regression",
    task="regression",
    dataset="linear",
    input=InputSpec("features", (1,)),
    recipe=Recipe(optimizer="adam", learning_rate=0.1, loss="mse", epochs=10, **_TABLE),
    description="Dense(1) on one feature: y = x",
    example=Example(inputs=((4.0,),), expected=(4.0,)),
    source="Keras lab: linear regression",
)
def linear_regression() -> keras.Model:
    return keras.Sequential([keras.layers.Dense(1, name="linear")], name="linear_regression")


@keras.saving.register_keras_serializable(package="zoo")
class LinearRegression2D(keras.Model):
    """H(X) = XW + b with W and b as explicit weights, as the TensorFlow slide writes it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.w = self.add_weight(shape=(2, 1), initializer="random_normal", name="W")
        self.b = self.add_weight(shape=(1,), initializer="zeros", name="b")

    def call(self, x):
        return keras.ops.matmul(x, self.w) + self.b


@register(
    "linear-regression-2d",
    task="regression",
    dataset="linear-2d",
    input=InputSpec("features", (2,)),
    recipe=Recipe(optimizer="sgd", learning_rate=0.01, loss="mse", epochs=20, **_TABLE),
    description="H(X) = XW + b on two features (subclassed)",
    example=Example(inputs=((4.0, 4.0),), expected=(40.0,)),
    source="TF lab: multi-variable linear regression",
)
def linear_regression_2d() -> keras.Model:
    return LinearRegression2D(name="linear_regression_2d")
