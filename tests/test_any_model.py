"""Models no one here exported, served as TF Serving and Triton serve them: a real `zoo serve` on a
repository of foreign_models (no zoo.json, zero-padded version folders), called with real clients
over TF Serving REST and gRPC and KServe v2 REST and gRPC, against the models run in-process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import grpc
import numpy as np
import pytest
import tensorflow as tf
import tritonclient.grpc as triton
from foreign_models import BUILDERS, TRITON_CONFIG, VERSION, VERSION_FOLDER
from helpers import Server, running
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    predict_pb2,
    regression_pb2,
)

from zoo.serving.protos.tensorflow.core.protobuf import saved_model_pb2

RNG = np.random.default_rng(0)
INPUTS = {
    "half_plus_two": {"x": np.array([[1.0], [2.0], [5.0]], np.float32)},
    "keras_two_inputs": {
        "left": RNG.random((2, 3), np.float32),
        "right": RNG.random((2, 2), np.float32),
    },
    "module_two_signatures": {"values": RNG.random((2, 2), np.float32)},
    "onnx_affine": {"X": RNG.random((2, 3), np.float32)},
    "onnx_symbolic_pairs": {
        "A": RNG.random((2, 5), np.float32),
        "B": RNG.random((2, 5), np.float32),
    },
    "triton_add_sub": {
        "INPUT0": RNG.random((2, 4), np.float32),
        "INPUT1": RNG.random((2, 4), np.float32),
    },
}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(server, {name: Foreign}) with every foreign model and one folder that cannot load."""
    root = tmp_path_factory.mktemp("foreign")
    models = root / "models"
    models.mkdir()
    built = {foreign.name: foreign for foreign in (build(models) for build in BUILDERS)}
    (models / "broken" / "7").mkdir(parents=True)
    (models / "broken" / "7" / "notes.txt").write_text("no model here")
    wrong = models / "triton_wrong_config"
    shutil.copytree(models / "triton_add_sub", wrong)
    (wrong / "config.pbtxt").write_text(TRITON_CONFIG.replace('"INPUT1"', '"INPUT9"'))
    with running(Server(root), model="half_plus_two") as server:
        for name in built:
            server.wait_ready(name)
        yield server, built


def _example(x: float):
    example = tf.train.Example()
    example.features.feature["x"].float_list.value.append(x)
    return example


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_each_model_answers_every_protocol_as_run_in_process(served, name):
    server, built = served
    inputs = INPUTS[name]
    expected = built[name].run(inputs)

    body = json.dumps({"inputs": {k: v.tolist() for k, v in inputs.items()}})
    status, answer = server.rest(f"/v1/models/{name}/versions/{VERSION}:predict", body)
    assert status == 200, answer
    outputs = answer["outputs"]
    outputs = outputs if isinstance(outputs, dict) else {next(iter(expected)): outputs}
    for output, value in expected.items():
        np.testing.assert_allclose(outputs[output], value, rtol=1e-5)

    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    response = server.predictions.Predict(request, timeout=30)
    assert response.model_spec.version.value == VERSION
    for output, value in expected.items():
        np.testing.assert_allclose(tf.make_ndarray(response.outputs[output]), value, rtol=1e-5)

    v2 = {
        "inputs": [
            {"name": k, "shape": list(v.shape), "datatype": "FP32", "data": v.ravel().tolist()}
            for k, v in inputs.items()
        ]
    }
    status, answer = server.rest(f"/v2/models/{name}/infer", json.dumps(v2))
    assert status == 200, answer
    got = {o["name"]: np.reshape(o["data"], o["shape"]) for o in answer["outputs"]}
    for output, value in expected.items():
        np.testing.assert_allclose(got[output], value, rtol=1e-5)

    client = triton.InferenceServerClient(server.grpc_target)
    sent = []
    for key, value in inputs.items():
        sent.append(triton.InferInput(key, list(value.shape), "FP32"))
        sent[-1].set_data_from_numpy(value)
    result = client.infer(name, sent)
    for output, value in expected.items():
        np.testing.assert_allclose(result.as_numpy(output), value, rtol=1e-5)


def test_metadata_lists_every_signature_as_the_saved_model_holds_it(served, tmp_path):
    server, _ = served
    folder = server.model_dir / "half_plus_two" / "00000123"
    saved = saved_model_pb2.SavedModel.FromString((folder / "saved_model.pb").read_bytes())
    held = saved.meta_graphs[0].signature_def
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "half_plus_two"
    response = server.predictions.GetModelMetadata(request, timeout=30)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    assert set(signatures.signature_def) == {"serving_default", "classify_x_to_y", "regress_x_to_y"}
    for name, definition in held.items():
        assert signatures.signature_def[name].SerializeToString(
            deterministic=True
        ) == definition.SerializeToString(deterministic=True)
    status, answer = server.rest("/v1/models/keras_two_inputs/metadata")
    assert status == 200, answer
    listed = answer["metadata"]["signature_def"]["signature_def"]
    assert {"serve", "serving_default", "__saved_model_init_op"} <= set(listed)
    assert listed["serving_default"]["inputs"]["left"]["dtype"] == "DT_FLOAT"


def test_predict_reaches_every_signature_by_name(served):
    server, _ = served
    a, b = np.array([1, 2, 3], np.int64), np.array([10, 20, 30], np.int64)
    body = json.dumps({"signature_name": "add", "inputs": {"a": a.tolist(), "b": b.tolist()}})
    status, answer = server.rest("/v1/models/module_two_signatures:predict", body)
    assert (status, answer) == (200, {"outputs": (a + b).tolist()})
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "module_two_signatures"
    request.model_spec.signature_name = "add"
    request.inputs["a"].CopyFrom(tf.make_tensor_proto(a))
    request.inputs["b"].CopyFrom(tf.make_tensor_proto(b))
    response = server.predictions.Predict(request, timeout=30)
    assert response.model_spec.signature_name == "add"
    assert tf.make_ndarray(response.outputs["total"]).tolist() == (a + b).tolist()
    status, answer = server.rest(
        "/v1/models/module_two_signatures:predict",
        json.dumps({"signature_name": "nope", "inputs": {"a": [1]}}),
    )
    assert status == 400 and '"nope" not found' in answer["error"]


def test_classify_regress_and_multi_inference_run_the_models_own_signatures(served):
    server, _ = served
    body = json.dumps({"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}, {"x": 4.0}]})
    status, answer = server.rest("/v1/models/half_plus_two:classify", body)
    assert (status, answer) == (200, {"results": [[["", 3.0]], [["", 4.0]]]})
    body = json.dumps({"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}]})
    assert server.rest("/v1/models/half_plus_two:regress", body) == (200, {"results": [3.0]})

    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "half_plus_two"
    request.model_spec.signature_name = "regress_x_to_y"
    request.input.example_list.examples.extend([_example(6.0)])
    response = server.predictions.Regress(request, timeout=30)
    assert [r.value for r in response.result.regressions] == [5.0]
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "half_plus_two"
    request.model_spec.signature_name = "classify_x_to_y"
    request.input.example_list.examples.extend([_example(8.0)])
    response = server.predictions.Classify(request, timeout=30)
    assert response.result.classifications[0].classes[0].score == 6.0

    request = inference_pb2.MultiInferenceRequest()
    for signature, method in (
        ("classify_x_to_y", "tensorflow/serving/classify"),
        ("regress_x_to_y", "tensorflow/serving/regress"),
    ):
        task = request.tasks.add(method_name=method)
        task.model_spec.name = "half_plus_two"
        task.model_spec.signature_name = signature
    request.input.example_list.examples.extend([_example(10.0)])
    response = server.predictions.MultiInference(request, timeout=30)
    first, second = response.results
    assert first.classification_result.classifications[0].classes[0].score == 7.0
    assert second.regression_result.regressions[0].value == 7.0
    assert second.model_spec.version.value == VERSION
    request.tasks[1].model_spec.signature_name = "classify_x_to_y"
    with pytest.raises(grpc.RpcError) as refused:
        server.predictions.MultiInference(request, timeout=30)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Duplicate evaluation of signature: classify_x_to_y" in refused.value.details()

    # A predict signature over `x` is not a classifier: TF Serving's refusal; and the runtime's own
    # words (an Example without the feature the graph parses) are a 400, not a 500.
    status, answer = server.rest(
        "/v1/models/half_plus_two:classify", json.dumps({"examples": [{"x": 1.0}]})
    )
    assert status == 400 and "No classification inputs found" in answer["error"]
    body = json.dumps({"signature_name": "regress_x_to_y", "examples": [{"y": 1.0}]})
    status, answer = server.rest("/v1/models/half_plus_two:regress", body)
    assert status == 400 and "x" in answer["error"], answer
    with pytest.raises(grpc.RpcError) as refused:
        request = regression_pb2.RegressionRequest()
        request.model_spec.name = "half_plus_two"
        request.model_spec.signature_name = "regress_x_to_y"
        request.input.example_list.examples.add().features.feature["y"].float_list.value.append(1)
        server.predictions.Regress(request, timeout=30)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_tf2_multi_inference_feeds_each_signature_its_own_placeholder(served):
    """TF2 SavedModels give each signature its own input tensor; TF Serving feeds every one of
    them the request's Examples (multi_inference.cc), and so does zoo serve."""
    server, _ = served
    request = inference_pb2.MultiInferenceRequest()
    for signature, method in (("classify_x", "classify"), ("regress_x", "regress")):
        task = request.tasks.add(method_name=f"tensorflow/serving/{method}")
        task.model_spec.name = "module_tf2_examples"
        task.model_spec.signature_name = signature
    request.input.example_list.examples.extend([_example(2.0), _example(6.0)])
    first, second = server.predictions.MultiInference(request, timeout=30).results
    assert [c.classes[0].score for c in first.classification_result.classifications] == [3, 5]
    assert [r.value for r in second.regression_result.regressions] == [3.0, 5.0]


def test_a_signature_without_a_batch_dimension_is_answered_unbatched(served):
    """Any rank in, a scalar out: with batching on (the default), each request runs alone
    instead of being merged and split along a dimension the answer does not have."""
    server, built = served
    for x in (np.float32(4.0), np.arange(6, dtype=np.float32).reshape(2, 3)):
        expected = built["module_tf2_examples"].run({"x": x})["total"]
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "module_tf2_examples"
        request.inputs["x"].CopyFrom(tf.make_tensor_proto(x))
        answer = server.predictions.Predict(request, timeout=30).outputs["total"]
        assert tf.make_ndarray(answer) == pytest.approx(expected)
        body = json.dumps({"inputs": {"x": x.tolist()}})
        status, answer = server.rest("/v1/models/module_tf2_examples:predict", body)
        assert (status, answer) == (200, {"outputs": pytest.approx(float(expected))})


@pytest.mark.parametrize(
    ("name", "version", "reason"),
    [
        ("broken", 7, "holds no model"),
        ("triton_wrong_config", VERSION, "unexpected input 'INPUT9', allowed inputs are: INPUT0"),
    ],
)
def test_a_folder_that_cannot_load_ends_with_the_reason_while_others_serve(
    served, name, version, reason
):
    server, _ = served
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    (status,) = server.models.GetModelStatus(request, timeout=30).model_version_status
    assert status.version == version
    assert status.state == get_model_status_pb2.ModelVersionStatus.END
    assert reason in status.status.error_message
    status, answer = server.rest(f"/v1/models/onnx_affine/versions/{VERSION}")
    assert status == 200 and answer["model_version_status"][0]["state"] == "AVAILABLE"


def test_the_runtime_refusing_an_input_is_a_400_with_its_words(served):
    server, _ = served
    body = {
        "inputs": [
            {"name": "A", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]},
            {"name": "B", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]},
        ]
    }
    status, answer = server.rest("/v2/models/onnx_symbolic_pairs/infer", json.dumps(body))
    assert status == 400 and "Add" in answer["error"], answer
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "onnx_symbolic_pairs"
    request.inputs["A"].CopyFrom(tf.make_tensor_proto(np.ones((1, 3), np.float32)))
    request.inputs["B"].CopyFrom(tf.make_tensor_proto(np.ones((1, 2), np.float32)))
    with pytest.raises(grpc.RpcError) as refused:
        server.predictions.Predict(request, timeout=30)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_config_pbtxt_bounds_the_batch_as_triton_does(served):
    server, _ = served
    nine = np.ones((9, 4), np.float32).ravel().tolist()
    body = {
        "inputs": [
            {"name": name, "shape": [9, 4], "datatype": "FP32", "data": nine}
            for name in ("INPUT0", "INPUT1")
        ]
    }
    status, answer = server.rest("/v2/models/triton_add_sub/infer", json.dumps(body))
    assert status == 400 and "batch-size must be <= 8" in answer["error"], answer


def test_an_onnx_only_folder_runs_on_onnx_runtime_without_tensorflow(served):
    """--backend tf is a preference: a folder holding only an ONNX model is ONNX Runtime's, and
    that path never imports TensorFlow."""
    folder = served[0].model_dir / "onnx_affine" / VERSION_FOLDER
    script = (
        "import sys; from zoo.serving.core.servables import load; "
        f"servable = load(__import__('pathlib').Path({str(folder)!r}), 'tf'); "
        "print(servable.kind, servable.version, 'tensorflow' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.split() == ["onnx", str(VERSION), "False"], done.stderr


def test_a_model_without_config_pbtxt_gets_the_configuration_triton_completes(served):
    server, _ = served
    status, config = server.rest("/v2/models/onnx_affine/config")
    assert status == 200, config
    assert (config["platform"], config["max_batch_size"]) == ("onnxruntime_onnx", 256)
    assert [(t["name"], t["data_type"], t["dims"]) for t in config["input"]] == [
        ("X", "TYPE_FP32", [3])
    ]
    status, config = server.rest("/v2/models/triton_add_sub/config")
    assert (status, config["max_batch_size"], config["default_model_filename"]) == (
        200,
        8,
        "add_sub.onnx",
    )
