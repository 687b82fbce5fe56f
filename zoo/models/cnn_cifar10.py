"""Convolutional networks on CIFAR-10: the Keras slide's CNN and a CONV-BN-ReLU network.

`cnn-bn-cifar10` is the "CONV-BN-ReLU x n -> FC -> SoftMax" of the classification slides, sized for a
CPU: three stages of two 3x3 convolutions (32, 64, 128 filters), batch norm before each ReLU, global
average pooling, then the FC softmax. Flip and pad-and-crop augmentation run in the tf.data pipeline.
"""

import keras

from zoo.models.cnn_mnist import conv_pool_classifier
from zoo.registry import InputSpec, Recipe, register

CIFAR10_INPUT = InputSpec("images", (32, 32, 3), scale=1 / 255)
CIFAR10_LABELS = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


@register(
    "cnn-cifar10",
    task="multiclass",
    dataset="cifar10",
    input=CIFAR10_INPUT,
    labels=CIFAR10_LABELS,
    recipe=Recipe(optimizer="adam", learning_rate=1e-3, epochs=10, batch_size=64),
    description="Conv32-pool-Conv64-pool-Dense10, as cnn-mnist on 32x32x3",
    source="Keras lab: CIFAR-10 CNN",
)
def cnn_cifar10(num_classes: int = 10) -> keras.Model:
    return conv_pool_classifier("cnn_cifar10", num_classes)


def conv_bn_relu(filters: int, name: str) -> list[keras.layers.Layer]:
    """One CONV-BN-ReLU unit; the convolution has no bias because batch norm's beta replaces it."""
    return [
        keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv"),
        keras.layers.BatchNormalization(name=f"{name}_bn"),
        keras.layers.ReLU(name=f"{name}_relu"),
    ]


@register(
    "cnn-bn-cifar10",
    task="multiclass",
    dataset="cifar10",
    input=CIFAR10_INPUT,
    labels=CIFAR10_LABELS,
    recipe=Recipe(
        optimizer="adam",
        learning_rate=2e-3,
        epochs=15,
        batch_size=128,
        augment=True,
        lr_schedule="cosine",
    ),
    description="(CONV-BN-ReLU x2, pool) x3 at 32-64-128 filters, GAP, FC softmax",
    slide_metric="accuracy",
    slide_value=0.85,
    source="classification slides: CONV-BN-ReLU x n -> FC -> SoftMax (target 85%)",
)
def cnn_bn_cifar10(num_classes: int = 10) -> keras.Model:
    layers = []
    for stage, filters in enumerate((32, 64, 128), start=1):
        layers += conv_bn_relu(filters, f"stage{stage}_a")
        layers += conv_bn_relu(filters, f"stage{stage}_b")
        if stage < 3:
            layers.append(keras.layers.MaxPooling2D(2, name=f"stage{stage}_pool"))
    layers += [
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(num_classes, activation="softmax", name="softmax"),
    ]
    return keras.Sequential(layers, name="cnn_bn_cifar10")
