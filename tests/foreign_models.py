"""The kinds of models others bring to a model server, made here with their own tools: no zoo.json,
version folders named as TF Serving's test data names them (zero-padded int64s).

Each builder writes one model folder under `models` and returns what the tests need to call it:
its version, and a function that runs it in-process (the reference the server's answers must equal).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

VERSION_FOLDER = "00000123"  # TF Serving's own test models are in folders like this
VERSION = 123


@dataclass(frozen=True)
class Foreign:
    """A model folder: its name and what running it in-process gives for named inputs."""

    name: str
    run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def half_plus_two(models: Path) -> Foreign:
    """A TF1 SavedModel as TF Serving's saved_model_half_plus_two.py writes one: y = a*x + b from
    a graph of variables, a predict signature on `x`, and classify and regress signatures that
    parse serialized tf.Examples with a float feature `x`."""
    import tensorflow as tf

    v1 = tf.compat.v1
    folder = models / "half_plus_two" / VERSION_FOLDER
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as session:
        a = v1.Variable(0.5, name="a")
        b = v1.Variable(2.0, name="b")
        serialized = v1.placeholder(tf.string, [None], name="tf_example")
        parsed = v1.parse_example(serialized, {"x": v1.FixedLenFeature([1], tf.float32)})
        x_from_examples = tf.identity(parsed["x"], name="x_from_examples")
        y_from_examples = tf.add(tf.multiply(a, x_from_examples), b, name="y_from_examples")
        x = v1.placeholder(tf.float32, [None, 1], name="x")
        y = tf.add(tf.multiply(a, x), b, name="y")
        session.run(v1.global_variables_initializer())
        build = v1.saved_model.signature_def_utils
        info = v1.saved_model.utils.build_tensor_info
        predict = build.build_signature_def(
            {"x": info(x)}, {"y": info(y)}, v1.saved_model.signature_constants.PREDICT_METHOD_NAME
        )
        builder = v1.saved_model.Builder(str(folder))
        builder.add_meta_graph_and_variables(
            session,
            [v1.saved_model.tag_constants.SERVING],
            signature_def_map={
                "serving_default": predict,
                "classify_x_to_y": build.classification_signature_def(
                    serialized, None, y_from_examples
                ),
                "regress_x_to_y": build.regression_signature_def(serialized, y_from_examples),
            },
        )
        builder.save()
    return Foreign("half_plus_two", lambda inputs: {"y": 0.5 * inputs["x"] + 2.0})


def keras_two_inputs(models: Path) -> Foreign:
    """A Keras 3 model with two named inputs, written by `model.export()`."""
    import keras

    keras.utils.set_random_seed(0)
    left = keras.Input((3,), name="left")
    right = keras.Input((2,), name="right")
    joined = keras.layers.Concatenate()([left, right])
    model = keras.Model([left, right], keras.layers.Dense(4, name="scores")(joined))
    model.export(str(models / "keras_two_inputs" / VERSION_FOLDER), verbose=False)

    def run(inputs):
        return {"output_0": np.asarray(model([inputs["left"], inputs["right"]]))}

    return Foreign("keras_two_inputs", run)


def module_two_signatures(models: Path) -> Foreign:
    """A tf.Module saved with two signatures: `serving_default` scales floats, `add` sums two
    int64 tensors."""
    import tensorflow as tf

    class Scaler(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.factor = tf.Variable(3.0)

        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="values")])
        def scale(self, values):
            return {"scaled": values * self.factor}

        @tf.function(
            input_signature=[
                tf.TensorSpec([None], tf.int64, name="a"),
                tf.TensorSpec([None], tf.int64, name="b"),
            ]
        )
        def add(self, a, b):
            return {"total": a + b}

    module = Scaler()
    folder = models / "module_two_signatures" / VERSION_FOLDER
    tf.saved_model.save(
        module, str(folder), signatures={"serving_default": module.scale, "add": module.add}
    )
    return Foreign(
        "module_two_signatures",
        lambda inputs: {"scaled": module.scale(tf.constant(inputs["values"]))["scaled"].numpy()},
    )


def module_tf2_examples(models: Path) -> Foreign:
    """A TF2 tf.Module as TF Serving's half_plus_two_tf2 has them: classify and regress
    signatures over serialized tf.Examples, each with a placeholder of its own, and a signature
    without a batch dimension (any rank in, a scalar out), which requests must reach unbatched."""
    import tensorflow as tf

    examples = tf.TensorSpec([None], tf.string, name="inputs")

    class Examples(tf.Module):
        def _x(self, serialized):
            parsed = tf.io.parse_example(serialized, {"x": tf.io.FixedLenFeature([1], tf.float32)})
            return parsed["x"] * 0.5 + 2.0

        @tf.function(input_signature=[examples])
        def classify(self, inputs):
            return {"scores": self._x(inputs)}

        @tf.function(input_signature=[examples])
        def regress(self, inputs):
            return {"outputs": self._x(inputs)}

        @tf.function(input_signature=[tf.TensorSpec(None, tf.float32)])
        def total(self, x):
            return {"total": tf.reduce_sum(x)}

    module = Examples()
    folder = models / "module_tf2_examples" / VERSION_FOLDER
    signatures = {"classify_x": module.classify, "regress_x": module.regress}
    signatures |= {"serving_default": module.total}
    tf.saved_model.save(module, str(folder), signatures=signatures)
    return Foreign(
        "module_tf2_examples",
        lambda inputs: {"total": module.total(tf.constant(inputs["x"]))["total"].numpy()},
    )


def onnx_affine(models: Path) -> Foreign:
    """An ONNX graph written with onnx.helper, Y = 2X + 1, in a bare version folder."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["X", "two"], ["doubled"]),
            helper.make_node("Add", ["doubled", "one"], ["Y"]),
        ],
        "affine",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["batch", 3])],
        [
            helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]),
            helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
        ],
    )
    path = _write_onnx(graph, models / "onnx_affine" / VERSION_FOLDER / "model.onnx")
    return Foreign("onnx_affine", _in_process(path))


def onnx_symbolic_pairs(models: Path) -> Foreign:
    """An ONNX graph whose two inputs share symbolic dimensions (A + B, both [batch, n]): only
    ONNX Runtime knows that their n must agree."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Add", ["A", "B"], ["SUM"])],
        "pairs",
        [
            helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", "n"])
            for name in ("A", "B")
        ],
        [helper.make_tensor_value_info("SUM", TensorProto.FLOAT, ["batch", "n"])],
    )
    path = _write_onnx(graph, models / "onnx_symbolic_pairs" / VERSION_FOLDER / "model.onnx")
    return Foreign("onnx_symbolic_pairs", _in_process(path))


TRITON_CONFIG = """name: "triton_add_sub"
platform: "onnxruntime_onnx"
max_batch_size: 8
default_model_filename: "add_sub.onnx"
input [
  { name: "INPUT0" data_type: TYPE_FP32 dims: [ 4 ] },
  { name: "INPUT1" data_type: TYPE_FP32 dims: [ 4 ] }
]
output [
  { name: "OUTPUT0" data_type: TYPE_FP32 dims: [ 4 ] },
  { name: "OUTPUT1" data_type: TYPE_FP32 dims: [ 4 ] }
]
"""


def triton_add_sub(models: Path) -> Foreign:
    """Triton's add_sub example in Triton's layout: config.pbtxt naming its ONNX file."""
    from onnx import TensorProto, helper

    tensors = [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, [-1, 4])
        for name in ("INPUT0", "INPUT1", "OUTPUT0", "OUTPUT1")
    ]
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["INPUT0", "INPUT1"], ["OUTPUT0"]),
            helper.make_node("Sub", ["INPUT0", "INPUT1"], ["OUTPUT1"]),
        ],
        "add_sub",
        tensors[:2],
        tensors[2:],
    )
    root = models / "triton_add_sub"
    path = _write_onnx(graph, root / VERSION_FOLDER / "add_sub.onnx")
    (root / "config.pbtxt").write_text(TRITON_CONFIG)
    return Foreign("triton_add_sub", _in_process(path))


def _in_process(path: Path) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """The ONNX model run by ONNX Runtime in this process."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return lambda inputs: dict(zip(names, session.run(names, inputs), strict=True))


def _write_onnx(graph, path: Path) -> Path:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True)
    onnx.save(model, str(path))
    return path


BUILDERS = (
    half_plus_two,
    keras_two_inputs,
    module_two_signatures,
    module_tf2_examples,
    onnx_affine,
    onnx_symbolic_pairs,
    triton_add_sub,
)
