"""Errors of an export, all ZooErrors: the CLI prints each as one line and exits with code 2."""

from zoo.errors import ZooError


class ExportError(ZooError):
    """An export could not be written; nothing of it was left in the model repository."""


class VersionExistsError(ExportError):
    """The version directory is already there and --force was not given."""


class ConversionError(ExportError):
    """TensorFlow or tf2onnx could not turn the model into a servable artefact."""


class ParityError(ExportError):
    """An exported artefact does not compute what the Keras model computes."""
