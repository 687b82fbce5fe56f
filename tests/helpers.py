"""What several test files share, in one place: the CLI's error contract, a finished run to export,
and a real `zoo serve` process with the clients that call it (REST, gRPC, metrics).

Fixtures that several files use are in conftest.py; a test file's own helpers stay in it.
"""

import contextlib
import json
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import keras
import numpy as np
from prometheus_client.parser import text_string_to_metric_families
from tensorflow.core.framework import tensor_pb2
from tensorflow_serving.apis import model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc

import zoo
from zoo import runs
from zoo.export.parity import parity_inputs

ZOO = Path(sys.executable).parent / "zoo"
DOCKERFILE = Path(__file__).resolve().parents[1] / "deploy" / "Dockerfile"
READY_SECONDS = 90
FIRST_MODEL = "cnn-mnist"  # what a server is ready for, unless told another model


def assert_one_line_error(result, *fragments):
    """The CLI's contract for bad input: exit code 2, one `Error:` line, no traceback."""
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def fake_run(runs_dir: Path, name: str, run_id: str = "20250101-000000", seed: int = 0) -> Path:
    """A finished run of a freshly built (untrained, seeded) model, laid out as `zoo train` does."""
    run = runs_dir / name / run_id
    run.mkdir(parents=True)
    runs.write_json(run / runs.CONFIG, {"model": name, "spec": zoo.get_spec(name).to_json()})
    runs.write_json(run / runs.METRICS, {})
    keras.utils.set_random_seed(seed)
    zoo.create_model(name).save(run / runs.MODEL)
    return run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url: str, body: bytes | str | None = None) -> tuple[int, dict]:
    """(status, JSON answer) of a GET, or a POST when there is a body."""
    data = body.encode() if isinstance(body, str) else body
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class Server:
    """A `zoo serve` subprocess and the ways to call it: serving root/models (`--model-dir`), or
    with `tf_serving` started as tensorflow_model_server is (its port flags, its poll flag, the
    models named by TF Serving's flags in `options`)."""

    def __init__(
        self,
        root: Path,
        *options: str,
        log: str = "serve.log",
        ports: tuple[int, int] = (),
        tf_serving: bool = False,
        zoo: Path = ZOO,
    ) -> None:
        self.root = root
        self.model_dir = root / "models"
        self.rest_port, self.grpc_port = ports or (free_port(), free_port())
        self.url = f"http://127.0.0.1:{self.rest_port}"
        self.grpc_target = f"127.0.0.1:{self.grpc_port}"
        self.log = root / log
        if tf_serving:  # both of TF Serving's spellings: --flag=value and --flag value
            start = [f"--port={self.grpc_port}", "--rest_api_port", str(self.rest_port)]
            start += ["--file_system_poll_wait_seconds=0.5"]
        else:
            start = ["--model-dir", str(self.model_dir), "--poll-seconds", "0.5"]
            start += ["--rest-port", str(self.rest_port), "--grpc-port", str(self.grpc_port)]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [str(zoo), "serve", *start, *options], stdout=log, stderr=subprocess.STDOUT
            )
        channel = grpc.insecure_channel(self.grpc_target)
        self.predictions = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(channel)

    def wait_ready(self, model: str = FIRST_MODEL) -> None:
        """Until `model` is available, failing with the server's log if it exits or never is."""
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if http(f"{self.url}/v1/models/{model}")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"zoo serve did not start:\n{self.log.read_text()}")

    def rest(self, path: str, body=None) -> tuple[int, dict]:
        return http(self.url + path, body)


@contextlib.contextmanager
def running(server: Server, model: str = FIRST_MODEL) -> Iterator[Server]:
    """`server` once `model` is available; terminated (and waited for) on the way out."""
    try:
        server.wait_ready(model)
        yield server
    finally:
        server.process.terminate()
        server.process.wait(timeout=30)


def worker_pids(server: Server) -> list[int]:
    """The workers' pids, from the line the parent logs once every worker serves."""
    deadline = time.monotonic() + READY_SECONDS
    while not (
        found := re.search(
            r"^2 workers serving \(pids (\d+), (\d+)\)$", server.log.read_text(), re.M
        )
    ):
        assert time.monotonic() < deadline and server.process.poll() is None, server.log.read_text()
        time.sleep(0.2)
    return [int(pid) for pid in found.groups()]


def wait_for(server: Server, path: str, status: int) -> None:
    """Wait for the poll to take a version in or out: until GET `path` answers `status`."""
    deadline = time.monotonic() + 30
    while server.rest(path)[0] != status:
        assert time.monotonic() < deadline, server.log.read_text()
        time.sleep(0.1)


def examples(name: str, count: int) -> np.ndarray:
    return np.resize(
        parity_inputs(zoo.get_spec(name), count), (count, *zoo.get_spec(name).input.shape)
    )


def grpc_request(
    name: str, proto: tensor_pb2.TensorProto, version: int | None = None, input_name: str = ""
):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = "serving_default"
    if version is not None:
        request.model_spec.version.value = version
    request.inputs[input_name or zoo.get_spec(name).input.name].CopyFrom(proto)
    return request


def v2_input(raw: np.ndarray, name: str = "images", datatype: str = "FP32") -> dict:
    return {
        "name": name,
        "shape": list(raw.shape),
        "datatype": datatype,
        "data": raw.ravel().tolist(),
    }


def samples(server: Server, path: str) -> dict[tuple[str, frozenset], float]:
    """The server's metrics at `path`, parsed by prometheus_client: (name, labels) -> value."""
    with urllib.request.urlopen(server.url + path, timeout=30) as answer:
        text = answer.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def counted(before: dict, after: dict, name: str, **labels: str) -> float:
    """How much the samples called `name` with `labels` (among others) grew."""
    wanted = set(labels.items())
    return sum(v - before.get(k, 0.0) for k, v in after.items() if k[0] == name and wanted <= k[1])


TABLE = np.array([0.5, 1.5, 2.5], np.float32)  # what write_text_model's `picked` gathers from


def write_text_model(version_dir: Path) -> Path:
    """A version folder holding an ONNX model written with onnx.helper that takes strings and an
    index: `text` (strings, [-1]) -> `echo_bytes` (the same strings) and `shout` (each with "!"), and
    `index` (int64, [-1]) -> `picked` (TABLE[index]; an index out of range is ONNX Runtime's
    INVALID_ARGUMENT)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [
            helper.make_node("Identity", ["text"], ["echo_bytes"]),
            helper.make_node("StringConcat", ["text", "bang"], ["shout"]),
            helper.make_node("Gather", ["table", "index"], ["picked"]),
        ],
        "text",
        [
            helper.make_tensor_value_info("text", TensorProto.STRING, ["batch"]),
            helper.make_tensor_value_info("index", TensorProto.INT64, ["batch"]),
        ],
        [
            helper.make_tensor_value_info("echo_bytes", TensorProto.STRING, ["batch"]),
            helper.make_tensor_value_info("shout", TensorProto.STRING, ["batch"]),
            helper.make_tensor_value_info("picked", TensorProto.FLOAT, ["batch"]),
        ],
        initializer=[
            numpy_helper.from_array(TABLE, "table"),
            numpy_helper.from_array(np.array(["!"], object), "bang"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)], ir_version=9)
    version_dir.mkdir(parents=True)
    onnx.save(model, version_dir / "model.onnx")
    return version_dir


def dockerfile(text: str) -> dict[str, list[str]]:
    """Instruction -> its arguments, one entry per occurrence, continuation lines joined."""
    joined = re.sub(
        r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    )
    found: dict[str, list[str]] = {}
    for line in filter(str.strip, joined.splitlines()):
        instruction, _, rest = line.strip().partition(" ")
        found.setdefault(instruction.upper(), []).append(rest.strip())
    return found


DOCKER = dockerfile(DOCKERFILE.read_text())
PROGRAM = "zoo"  # the image's one program: `zoo serve` by its entrypoint, `zoo train` by command


def image_env() -> dict[str, str]:
    """The variables the image's ENV sets (`ENV A=1 B=2`, one or several per line)."""
    return dict(pair.split("=", 1) for line in DOCKER["ENV"] for pair in shlex.split(line))


def entrypoint_script() -> str:
    """The image's entrypoint, tensorflow/serving's: `sh -c SCRIPT NAME`, whose SCRIPT is
    `exec zoo serve ARGS "$@"`, so arguments after the image name are added to ARGS."""
    shell, flag, script, _ = json.loads(DOCKER["ENTRYPOINT"][-1])
    assert (shell, flag) == ("sh", "-c") and script.startswith(f"exec {PROGRAM} serve "), script
    return script
