"""Model families, one file each; importing this package registers every model."""

from zoo.models import cnn_cifar10, cnn_mnist, gan_mnist, linear, logistic, mlp_mnist, softmax, xor

__all__ = [
    "cnn_cifar10",
    "cnn_mnist",
    "gan_mnist",
    "linear",
    "logistic",
    "mlp_mnist",
    "softmax",
    "xor",
]
