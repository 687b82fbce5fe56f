"""`zoo serve` started as tensorflow_model_server is: its flags, its model config file, its image.

The models are ONNX graphs written with onnx.helper, `Y = k * X` with k the version, in folders
of numbered versions, so every answer says which version gave it. Each server is a real `zoo
serve` process, asked with TF Serving's official stubs (tensorflow_serving.apis) and over REST.
"""

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from conftest import run_zoo
from helpers import (
    Server,
    assert_one_line_error,
    entrypoint_script,
    free_port,
    grpc_request,
    http,
    image_env,
    running,
)
from tensorflow_serving.apis import get_model_status_pb2

from zoo.cli.main import cli

X = np.array([[1.0, 2.0]], np.float32)


def write_scale(base: Path, versions: tuple[int, ...], times: int = 1) -> Path:
    """A model folder whose version v holds the ONNX graph Y = k * X, k = v * times (X: float
    [batch, 2])."""
    import onnx
    from onnx import TensorProto, helper

    for version in versions:
        graph = helper.make_graph(
            [helper.make_node("Mul", ["X", "k"], ["Y"])],
            "scale",
            [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["batch", 2])],
            [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["batch", 2])],
            [helper.make_tensor("k", TensorProto.FLOAT, [], [float(version * times)])],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        (base / str(version)).mkdir(parents=True)
        onnx.save(model, base / str(version) / "model.onnx")
    return base


def served(server: Server, name: str) -> dict[int, str]:
    """Version -> state of `name`, over gRPC's ModelService.GetModelStatus."""
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    answer = server.models.GetModelStatus(request, timeout=10)
    return {
        s.version: get_model_status_pb2.ModelVersionStatus.State.Name(s.state)
        for s in answer.model_version_status
    }


def predict_rest(server: Server, path: str) -> tuple[int, dict]:
    return server.rest(f"/v1/models/{path}:predict", f'{{"instances": {X.tolist()}}}')


def factor(server: Server, path: str) -> float:
    """The k of the version that answers `path` (a model, /versions/N or /labels/L) over REST."""
    status, answer = predict_rest(server, path)
    assert status == 200, answer
    return float(np.asarray(answer["predictions"])[0, 0] / X[0, 0])


@pytest.fixture(scope="module")
def scale(tmp_path_factory) -> Path:
    """A model folder with versions 1, 2 and 3, outside any --model-dir."""
    return write_scale(tmp_path_factory.mktemp("anywhere") / "scale", (1, 2, 3))


def test_model_flags_serve_the_latest_version_over_grpc_and_rest(scale, tmp_path):
    options = ("--model_name", "scale", f"--model_base_path={scale}", "--enable_batching=false")
    with running(Server(tmp_path, *options, "--no-ui", tf_serving=True), "scale") as server:
        answer = server.predictions.Predict(
            grpc_request("scale", tf.make_tensor_proto(X), input_name="X"), timeout=10
        )
        np.testing.assert_array_equal(tf.make_ndarray(answer.outputs["Y"]), 3 * X)
        assert answer.model_spec.version.value == 3
        assert served(server, "scale") == {3: "AVAILABLE"}
        assert [
            s["version"] for s in server.rest("/v1/models/scale")[1]["model_version_status"]
        ] == ["3"]
        assert factor(server, "scale") == 3.0
        assert predict_rest(server, "scale/versions/2")[0] == 404
        assert "batching: off" in server.log.read_text()


@pytest.mark.parametrize(
    ("args", "enabled"),
    [
        ([], True),
        (["--enable_batching"], True),
        (["--enable_batching=true"], True),
        (["--enable_batching=false"], False),
        (["--enable-batching", "false", "--port=9000"], False),
    ],
)
def test_enable_batching_takes_tf_servings_booleans(args, enabled):
    assert cli.commands["serve"].make_context("serve", args).params["enable_batching"] is enabled


def test_the_images_entrypoint_serves_model_base_path_slash_model_name(scale, tmp_path):
    """The Dockerfile's ENTRYPOINT run by sh, as Docker runs it, with the variables a user sets
    (`docker run -e MODEL_NAME=...`) and this test's own address and ports as arguments."""
    assert (image_env()["MODEL_NAME"], image_env()["MODEL_BASE_PATH"]) == ("model", "/models")
    grpc_port, rest_port = free_port(), free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MODEL_NAME": scale.name,
        "MODEL_BASE_PATH": str(scale.parent),
    }
    command = ["sh", "-c", entrypoint_script(), "zoo-serve", "--host", "127.0.0.1", "--no-ui"]
    command += [f"--port={grpc_port}", f"--rest_api_port={rest_port}"]
    log = tmp_path / "entrypoint.log"
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{rest_port}/v1/models/scale"
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            try:
                status, answer = http(url)
                break
            except OSError:
                time.sleep(0.3)
        assert status == 200, answer
        assert [s["version"] for s in answer["model_version_status"]] == ["3"]
    finally:
        process.terminate()
        process.wait(timeout=30)


def config(*models: str) -> str:
    return "model_config_list {\n" + "".join(f"  config {{ {m} }}\n" for m in models) + "}\n"


def write_atomically(path: Path, text: str) -> None:
    staged = path.with_name(f".{path.name}.tmp")
    staged.write_text(text)
    staged.replace(path)


def wait_until(check, server: Server, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline and server.process.poll() is None, server.log.read_text()
        time.sleep(0.2)


def test_a_model_config_file_changed_while_serving_is_applied(scale, tmp_path):
    write_scale(tmp_path / "elsewhere" / "other", (5, 6))
    write_scale(tmp_path / "moved" / "other", (6,), times=10)  # the same version, k = 60
    file = tmp_path / "models.config"
    write_atomically(
        file,
        config(
            f'name: "scale" base_path: "{scale}" model_platform: "onnxruntime_onnx" '
            "model_version_policy { specific { versions: 1 versions: 2 } } "
            'version_labels { key: "stable" value: 1 }',
            # relative to the file's folder, and TF Serving's default policy: the latest
            'name: "other" base_path: "elsewhere/other"',
            'name: "gone" base_path: "elsewhere/other"',
        ),
    )
    options = ("--model_config_file", str(file), "--model_config_file_poll_wait_seconds=0.5")
    with running(Server(tmp_path, *options, "--no-ui", tf_serving=True), "scale") as server:
        assert served(server, "scale") == {1: "AVAILABLE", 2: "AVAILABLE"}
        assert served(server, "other") == {6: "AVAILABLE"}
        assert (factor(server, "scale"), factor(server, "scale/labels/stable")) == (2.0, 1.0)
        assert factor(server, "other") == 6.0

        write_atomically(
            file,
            config(
                f'name: "scale" base_path: "{scale}" '
                "model_version_policy { latest { num_versions: 2 } } "
                'version_labels { key: "stable" value: 2 } version_labels { key: "canary" value: 3 }',
                f'name: "again" base_path: "{scale}" model_version_policy {{ all {{}} }}',
                'name: "other" base_path: "moved/other"',
            ),
        )
        wait_until(lambda: server.rest("/v1/models/again")[0] == 200, server)
        wait_until(lambda: server.rest("/v1/models/gone")[0] == 404, server)
        assert served(server, "other") == {6: "AVAILABLE"}
        assert factor(server, "other") == 60.0  # version 6 again, from its new base path
        assert served(server, "scale") == {2: "AVAILABLE", 3: "AVAILABLE"}
        assert served(server, "again") == {1: "AVAILABLE", 2: "AVAILABLE", 3: "AVAILABLE"}
        assert [factor(server, f"scale/labels/{label}") for label in ("stable", "canary")] == [
            2.0,
            3.0,
        ]
        assert predict_rest(server, "gone")[0] == 404

        file.write_text("model_config_list { config { nme: 'typo' } }")  # made bad: kept as was
        wait_until(lambda: "no field named" in server.log.read_text(), server)
        assert served(server, "scale") == {2: "AVAILABLE", 3: "AVAILABLE"}
        assert factor(server, "again/versions/1") == 1.0


def test_grpc_channel_arguments_and_the_monitoring_config_are_applied(scale, tmp_path):
    monitoring = tmp_path / "monitoring.config"
    monitoring.write_text('prometheus_config { enable: true, path: "/my/metrics" }')
    options = (
        f"--model_base_path={scale}",  # no --model_name: TF Serving's "default"
        f"--monitoring_config_file={monitoring}",
        "--grpc_channel_arguments=grpc.max_receive_message_length=100",
    )
    with running(Server(tmp_path, *options, tf_serving=True), "default") as server:
        with urllib.request.urlopen(server.url + "/my/metrics", timeout=10) as answer:
            assert b"# TYPE" in answer.read()
        assert server.rest("/metrics")[0] == 404
        big = grpc_request(
            "default", tf.make_tensor_proto(np.zeros((64, 2), np.float32)), None, "X"
        )
        with pytest.raises(grpc.RpcError) as refused:
            server.predictions.Predict(big, timeout=10)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


BAD_CONFIGS = {
    "misspelt": (  # worded as TF Serving words it
        "model_config_list { config { nme: 'x' } }",
        "Error parsing text-format tensorflow.serving.ModelServerConfig: 1:30 : "
        'Message type "tensorflow.serving.ModelConfig" has no field named "nme"',
    ),
    "twice": (config('name: "s" base_path: "s"', 'name: "s" base_path: "s"'), "listed twice"),
    "no base path": (config('name: "s"'), "config[0] (s): base_path is empty"),
    "platform": (config('name: "s" base_path: "s" model_platform: "pytorch"'), "model_platform"),
    "policy": (
        config('name: "s" base_path: "s" model_version_policy { specific { } }'),
        "model_version_policy.specific.versions",
    ),
    "label": (
        config('name: "s" base_path: "s" version_labels { key: "7" value: 1 }'),
        "version_labels",
    ),
    "missing folder": (config('name: "s" base_path: "nowhere"'), "s: base_path"),
    "no list": ("", "model_config_list is missing"),
}


@pytest.mark.parametrize(("text", "fragment"), BAD_CONFIGS.values(), ids=BAD_CONFIGS)
def test_a_bad_model_config_file_is_one_error_line(text, fragment, scale, tmp_path):
    (tmp_path / "s").symlink_to(scale)
    file = tmp_path / "models.config"
    file.write_text(text)
    assert_one_line_error(run_zoo("serve", f"--model_config_file={file}"), fragment)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--enable_batching=maybe"], "--enable_batching"),
        (["--port=grpc"], "--port"),
        (["--rest_api_port", "70000"], "--rest_api_port"),
        (["--file_system_poll_wait_seconds=-1"], "--file_system_poll_wait_seconds"),
        (["--model_config_file_poll_wait_seconds=-1"], "--model_config_file_poll_wait_seconds"),
        (["--model_name", "m"], "--model_base_path"),
        (["--model_base_path=/no/such/folder"], "--model_base_path"),
        (["--model_config_file=/no/such.config"], "--model_config_file"),
        (["--model_config_file=/no/such.config", "--model-dir", "SCALE"], "--model-dir"),
        (["--model_base_path=SCALE", "--grpc_channel_arguments=grpc.x"], "grpc_channel_arguments"),
        (["--model_base_path=SCALE", "--monitoring_config_file=SCALE"], "monitoring_config_file"),
    ],
)
def test_bad_tf_serving_flags_are_one_error_line(args, fragment, scale):
    args = [arg.replace("SCALE", str(scale)) for arg in args]
    assert_one_line_error(run_zoo("serve", *args), fragment)
