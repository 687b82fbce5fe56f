"""Multilayer perceptrons on MNIST: flattened 28x28 pixels in, ten digit classes out."""

import keras

from zoo.registry import InputSpec, Recipe, register

MNIST_INPUT = InputSpec("images", (28, 28, 1), scale=1 / 255)
DIGITS = tuple(str(d) for d in range(10))


@register(
    "mlp-mnist",
    task="multiclass",
    dataset="mnist",
    input=MNIST_INPUT,
    labels=DIGITS,
    # The slide's plain SGD, 5 epochs, batch 32. At Keras's default rate 0.01 it reached 95.90% here
    # (the slide trained on all 60,000 images; we hold 6,000 out for the curves), so the rate is 0.05.
    recipe=Recipe(optimizer="sgd", learning_rate=0.05, epochs=5, batch_size=32),
    description="784-256-256-256-10 ReLU MLP",
    slide_metric="accuracy",
    slide_value=0.9602,
    source="Keras lab: MNIST with a deep MLP",
)
def mlp_mnist(num_classes: int = 10) -> keras.Model:
    return keras.Sequential(
        [
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(256, activation="relu", name="dense_1"),
            keras.layers.Dense(256, activation="relu", name="dense_2"),
            keras.layers.Dense(256, activation="relu", name="dense_3"),
            keras.layers.Dense(num_classes, activation="softmax", name="softmax"),
        ],
        name="mlp_mnist",
    )


@keras.saving.register_keras_serializable(package="zoo")
class SmallMLP(keras.Model):
    """The bootcamp's MLP: widths halve layer by layer, 784-256-128-64-10."""

    def __init__(self, num_classes: int = 10, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.flatten = keras.layers.Flatten(name="flatten")
        self.fc1 = keras.layers.Dense(256, activation="relu", name="fc1")
        self.fc2 = keras.layers.Dense(128, activation="relu", name="fc2")
        self.fc3 = keras.layers.Dense(64, activation="relu", name="fc3")
        self.classifier = keras.layers.Dense(num_classes, activation="softmax", name="classifier")

    def call(self, x):
        return self.classifier(self.fc3(self.fc2(self.fc1(self.flatten(x)))))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


@register(
    "mlp-mnist-small",
    task="multiclass",
    dataset="mnist",
    input=MNIST_INPUT,
    labels=DIGITS,
    recipe=Recipe(optimizer="adam", learning_rate=1e-3, epochs=10, batch_size=100),
    description="784-256-128-64-10 ReLU MLP (subclassed)",
    source="bootcamp: MLP on MNIST",
)
def mlp_mnist_small(num_classes: int = 10) -> keras.Model:
    return SmallMLP(num_classes, name="mlp_mnist_small")


@register(
    "mlp-mnist-sigmoid",
    task="multiclass",
    dataset="mnist",
    input=MNIST_INPUT,
    labels=DIGITS,
    recipe=Recipe(optimizer="sgd", learning_rate=3.0, loss="mse", epochs=10, batch_size=10),
    description="784-15-10 sigmoid network with squared error",
    source="course overview: a network in NumPy",
)
def mlp_mnist_sigmoid(num_classes: int = 10) -> keras.Model:
    return keras.Sequential(
        [
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(15, activation="sigmoid", name="hidden"),
            keras.layers.Dense(num_classes, activation="sigmoid", name="output"),
        ],
        name="mlp_mnist_sigmoid",
    )
