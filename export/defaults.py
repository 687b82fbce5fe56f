"""The export's choices and defaults as plain data, so the CLI can offer them without loading TensorFlow."""

FORMATS: tuple[str, ...] = ("savedmodel", "onnx")
DEFAULT_OPSET = 18
DEFAULT_SAMPLES = 64  # test examples the parity check runs through Keras and each export
QUANTIZE_MODES: tuple[str, ...] = ("int8",)
