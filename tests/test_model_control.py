"""Triton's model repository extension and `zoo serve --model-control-mode`, on a real server through
tritonclient over HTTP and gRPC: in explicit mode nothing loads until asked; a load that fails
leaves the serving version serving and answers why; an unloaded model's requests are refused."""

import contextlib
import shutil
import time

import pytest
import tritonclient.grpc
import tritonclient.http
from helpers import READY_SECONDS, Server, assert_one_line_error, examples, free_port, running
from tritonclient.utils import InferenceServerException

MODEL = "cnn-mnist"


@contextlib.contextmanager
def explicit(root, *options: str):
    """A server in explicit mode, once it answers (it may serve no model: none is waited for)."""
    server = Server(root, "--model-control-mode", "explicit", *options)
    client = tritonclient.http.InferenceServerClient(server.url.removeprefix("http://"))
    try:
        deadline = time.monotonic() + READY_SECONDS
        while True:
            assert server.process.poll() is None and time.monotonic() < deadline, server.log
            with contextlib.suppress(Exception):
                if client.is_server_ready():
                    break
            time.sleep(0.3)
        yield server
    finally:
        server.process.terminate()
        server.process.wait(timeout=30)


@pytest.fixture
def root(cnn_mnist_root, tmp_path):
    """A copy of the exported cnn-mnist that a test may break."""
    shutil.copytree(cnn_mnist_root / "models", tmp_path / "models")
    return tmp_path


def break_version_2(root) -> None:
    """Version 2: a copy of version 1 whose model file is not a model."""
    models = root / "models" / MODEL
    shutil.copytree(models / "1", models / "2")
    (models / "2" / "model.onnx").write_bytes(b"not an ONNX model")  # served with ONNX Runtime


def infer(client, module):
    raw = examples(MODEL, 1)
    images = module.InferInput("images", list(raw.shape), "FP32")
    images.set_data_from_numpy(raw)
    return client.infer(MODEL, [images]).get_response()


def refused(call, *args) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as caught:
        call(*args)
    return caught.value


def index(client) -> list[tuple]:
    entries = client.get_model_repository_index()
    entries = entries if isinstance(entries, list) else entries["models"]  # HTTP | gRPC's JSON
    return [(e["name"], e.get("version", ""), e["state"], e.get("reason", "")) for e in entries]


def test_explicit_mode_over_http(root):
    with explicit(root) as server:
        client = tritonclient.http.InferenceServerClient(server.url.removeprefix("http://"))
        assert index(client) == [(MODEL, "", "UNAVAILABLE", "unloaded")]
        assert refused(infer, client, tritonclient.http).status() == "404"
        assert not client.is_model_ready(MODEL)

        client.load_model(MODEL)
        assert client.is_model_ready(MODEL) and infer(client, tritonclient.http)["outputs"]
        assert index(client) == [(MODEL, "1", "READY", "")]

        break_version_2(root)
        failed = refused(client.load_model, MODEL)
        assert failed.status() == "400", failed
        assert "version 2" in failed.message() and "serving on versions 1" in failed.message()
        assert infer(client, tritonclient.http)["model_version"] == "1"  # still served
        assert index(client)[0][:3] == (MODEL, "2", "UNAVAILABLE")
        assert index(client)[0][3] and index(client)[0][3] in failed.message()  # the reason
        status, ready = server.rest("/v2/repository/index", '{"ready": true}')
        assert (status, ready) == (200, [{"name": MODEL, "version": "1", "state": "READY"}])

        client.unload_model(MODEL)
        assert refused(infer, client, tritonclient.http).status() == "404"
        assert index(client) == [(MODEL, "", "UNAVAILABLE", "unloaded")]
        assert refused(client.load_model, "no-such-model").status() == "404"


def test_explicit_mode_over_grpc_with_a_model_loaded_at_start(root):
    with explicit(root, "--load-model", MODEL) as server:
        client = tritonclient.grpc.InferenceServerClient(server.grpc_target)
        assert infer(client, tritonclient.grpc).model_version == "1"  # loaded at start

        client.unload_model(MODEL)
        assert refused(infer, client, tritonclient.grpc).status() == "StatusCode.NOT_FOUND"
        assert not client.is_model_ready(MODEL)

        break_version_2(root)
        failed = refused(client.load_model, MODEL)
        assert failed.status() == "StatusCode.INVALID_ARGUMENT" and "version 2" in failed.message()
        assert not client.is_model_ready(MODEL)  # all or nothing: version 1 alone is not loaded

        shutil.rmtree(root / "models" / MODEL / "2")  # mended: the next load serves version 1
        client.load_model(MODEL)
        assert infer(client, tritonclient.grpc).model_version == "1"
        ready = client.get_model_repository_index(as_json=True)["models"]
        assert [(m["name"], m["version"], m["state"]) for m in ready] == [(MODEL, "1", "READY")]


def test_poll_and_none_modes_refuse_loads(cnn_mnist_root):
    for mode in ("poll", "none"):
        with running(Server(cnn_mnist_root, "--model-control-mode", mode)) as server:
            rest = tritonclient.http.InferenceServerClient(server.url.removeprefix("http://"))
            grpc = tritonclient.grpc.InferenceServerClient(server.grpc_target)
            for call in (rest.load_model, rest.unload_model, grpc.load_model, grpc.unload_model):
                assert f"--model-control-mode {mode}" in refused(call, MODEL).message()
            assert rest.is_model_ready(MODEL)


def test_model_control_options_are_checked(zoo_cli, cnn_mnist_root):
    models = str(cnn_mnist_root / "models")
    result = zoo_cli("serve", "--model-dir", models, "--load-model", MODEL)
    assert_one_line_error(result, "--load-model", "explicit")
    result = zoo_cli(
        "serve", "--model-dir", models, "--model-control-mode", "explicit", "--workers", "2"
    )
    assert_one_line_error(result, "one worker")
    ports = ["--rest-port", str(free_port()), "--grpc-port", str(free_port())]
    explicit_mode = ["--model-control-mode", "explicit"]
    result = zoo_cli("serve", "--model-dir", models, *explicit_mode, "--load-model", "nope", *ports)
    assert_one_line_error(result, "--load-model", "nope")
