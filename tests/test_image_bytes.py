"""Images as bytes: the pretrained cnn-mnist's `serving_image` signature takes encoded PNG and JPEG
files, through curl, gRPC, KServe v2 and `zoo predict`, against a real `zoo serve` of each backend:
the SavedModel's graph decodes them with TensorFlow, the ONNX servable with Pillow."""

import base64
import io
import json
import subprocess

import grpc
import numpy as np
import pytest
import tritonclient.grpc
import tritonclient.http
import tritonclient.utils
from conftest import run_zoo
from helpers import Server, assert_one_line_error, running
from PIL import Image
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2

from zoo import data, publish
from zoo.export import export_run

DIGITS = 8
BACKENDS = ("onnx", "tf")
DAMAGED = b"\x89PNG\r\n\x1a\n" + b"this is no image at all"


@pytest.fixture(scope="module")
def digits():
    """The first MNIST test digits, each as PNG and as JPEG bytes, and their true labels."""
    x, y = data.load("mnist", "test")

    def encoded(pixels: np.ndarray, fmt: str) -> bytes:
        out = io.BytesIO()
        Image.fromarray(pixels).save(out, fmt)
        return out.getvalue()

    pngs = [encoded(x[i, ..., 0], "PNG") for i in range(DIGITS)]
    jpegs = [encoded(x[i, ..., 0], "JPEG") for i in range(DIGITS)]
    return pngs, jpegs, y[:DIGITS].tolist()


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """A `zoo serve` of each backend on one export of the pretrained cnn-mnist, by backend."""
    root = tmp_path_factory.mktemp("image-bytes")
    run = publish.pretrained_run("cnn-mnist", root / "runs")
    export_run(run, model_dir=root / "models", samples=4)
    onnx = Server(root, "--backend", "onnx", log="onnx.log")
    tf = Server(root, "--backend", "tf", log="tf.log")
    with running(onnx), running(tf):
        yield {"onnx": onnx, "tf": tf}


def curl(url: str, body: dict) -> tuple[int, dict]:
    """POST `body` with curl, as the README does: (HTTP status, JSON answer)."""
    answer = subprocess.run(
        ["curl", "-s", "-w", "\n%{http_code}", "-d", json.dumps(body), url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    text, status = answer.stdout.rsplit("\n", 1)
    return int(status), json.loads(text)


def image_request(*images: bytes) -> dict:
    instances = [{"b64": base64.b64encode(image).decode()} for image in images]
    return {"signature_name": "serving_image", "instances": instances}


@pytest.mark.parametrize("backend", BACKENDS)
def test_curl_b64_png_and_jpeg_digits_get_their_true_labels(servers, digits, backend):
    pngs, jpegs, labels = digits
    url = f"{servers[backend].url}/v1/models/cnn-mnist:predict"
    for images in (pngs, jpegs):
        status, answer = curl(url, image_request(*images))
        assert status == 200, answer
        assert [p["classes"] for p in answer["predictions"]] == labels


def test_both_backends_give_the_same_answers_to_the_same_files(servers, digits):
    pngs, jpegs, _ = digits
    answers = {
        backend: curl(f"{s.url}/v1/models/cnn-mnist:predict", image_request(*pngs, *jpegs))[1]
        for backend, s in servers.items()
    }
    onnx, tf = (np.array([p["probabilities"] for p in answers[b]["predictions"]]) for b in BACKENDS)
    np.testing.assert_allclose(onnx, tf, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_damaged_image_is_refused_naming_why(servers, digits, backend):
    server = servers[backend]
    status, answer = curl(
        f"{server.url}/v1/models/cnn-mnist:predict", image_request(digits[0][0], DAMAGED)
    )
    assert status == 400
    assert "image" in answer["error"].lower(), answer

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "cnn-mnist"
    request.model_spec.signature_name = "serving_image"
    request.inputs["image_bytes"].CopyFrom(
        tensor_pb2.TensorProto(
            dtype=types_pb2.DT_STRING,
            tensor_shape=tensor_shape_pb2.TensorShapeProto(
                dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=1)]
            ),
            string_val=[DAMAGED[:20]],
        )
    )
    with pytest.raises(grpc.RpcError) as refused:
        server.predictions.Predict(request, timeout=30)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "image" in refused.value.details().lower()


@pytest.mark.parametrize("backend", BACKENDS)
def test_kserve_v2_bytes_input_image_bytes_reaches_serving_image(servers, digits, backend):
    pngs, _, labels = digits
    server = servers[backend]
    sent = np.array(pngs, dtype=object)

    rest = tritonclient.http.InferenceServerClient(server.url.removeprefix("http://"))
    image_bytes = tritonclient.http.InferInput("image_bytes", [len(pngs)], "BYTES")
    image_bytes.set_data_from_numpy(sent, binary_data=True)
    answer = rest.infer("cnn-mnist", [image_bytes])
    assert answer.as_numpy("classes").tolist() == labels

    over_grpc = tritonclient.grpc.InferenceServerClient(server.grpc_target)
    image_bytes = tritonclient.grpc.InferInput("image_bytes", [len(pngs)], "BYTES")
    image_bytes.set_data_from_numpy(sent)
    answer = over_grpc.infer("cnn-mnist", [image_bytes])
    assert answer.as_numpy("classes").tolist() == labels

    damaged = tritonclient.http.InferInput("image_bytes", [1], "BYTES")
    damaged.set_data_from_numpy(np.array([DAMAGED], dtype=object), binary_data=True)
    with pytest.raises(tritonclient.utils.InferenceServerException) as refused:
        rest.infer("cnn-mnist", [damaged])
    assert refused.value.status() == "400"


def test_zoo_predict_as_bytes_sends_the_files_to_serving_image(servers, digits, tmp_path):
    pngs, jpegs, labels = digits
    files = []
    for i, image in enumerate([*pngs[:3], jpegs[3]]):
        files.append(tmp_path / f"digit-{i}.{'png' if i < 3 else 'jpg'}")
        files[-1].write_bytes(image)
    for server in servers.values():
        for via in (("--url", server.url), ("--grpc", server.grpc_target)):
            answer = run_zoo("predict", "cnn-mnist", *map(str, files), "--as-bytes", *via)
            assert answer.returncode == 0, answer.stderr
            got = [line for line in answer.stdout.splitlines() if not line.startswith(" ")]
            assert got == [str(label) for label in labels[:4]]
    damaged = tmp_path / "damaged.png"
    damaged.write_bytes(DAMAGED)
    url = ("--url", servers["onnx"].url)
    refused = run_zoo("predict", "cnn-mnist", str(damaged), "--as-bytes", *url)
    assert_one_line_error(refused, "answered 400", "image_bytes[0] is no image")
    numbers = run_zoo("predict", "cnn-mnist", "1", "2", "--as-bytes", *url)
    assert_one_line_error(numbers, "--as-bytes sends image files")
