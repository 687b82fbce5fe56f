"""How fast is `zoo serve`? Requests/s and latency per protocol, concurrency and batching, in one run
beside the in-process ONNX Runtime ceiling and a FastAPI + ONNX Runtime baseline.

    python bench/serve.py [--seconds 4] [--repeat 3] [--concurrency 1 16 64] [--models ...] [--no-tf]
    python bench/serve.py --workers-only [--workers 1 2] [--workers-concurrency 16 64]
    python bench/serve.py --threads-only [--threads-concurrency 1 16]

Everything runs on this machine over loopback and stops by itself. The models are trained for one
short epoch and exported with the zoo CLI (any weights serve at the same speed). Each server under
test is pinned to core 1 (`taskset -c 1`) and each load generator to core 0, so "one core" means one
core: wrk (Debian's package) for REST, h2load (Debian's nghttp2-client) for gRPC, POSTing a
length-prefixed PredictRequest with content-type application/grpc. One image per request; KServe
v2 both as JSON (`v2-rest`) and with the binary tensor extension (`v2-binary`: the image's raw
bytes after the JSON header, answers binary too, as tritonclient.http sends by default).
The same export's SavedModel served by TensorFlow (`zoo serve --backend tf`, batching on, TF
Serving's REST and gRPC: the rows marked "TensorFlow") shows what serving a SavedModel costs
beside ONNX Runtime; `--no-tf` leaves it out (the short profile in the suite does).

- Latency percentiles are the measured ones: wrk 4 reports the latency of each request it sent
  (it makes no coordinated-omission correction; that is wrk2), and h2load's per-request log is read
  for gRPC.
- Errors are wrk's socket errors, timeouts and non-2xx answers; for gRPC, h2load's failed requests
  plus the answers whose grpc-status was not OK, which h2load cannot see in the trailers: the
  server's own `:tensorflow:serving:request_count` by status, read before and after each run.
- The mean batch size is the server's `:tensorflow:serving:batching:processed_batch_size`
  histogram over the run (sum / count).
- The ceiling is ONNX Runtime in this process, pinned to core 1, with the server's session
  options, at batch 1 and 32; the baseline is FastAPI on uvicorn calling `session.run` once per
  request on the TF Serving REST body, measured with the same wrk command.

Several workers: a second table runs `zoo serve --workers N` for each N of `--workers` with the
server on both cores (`taskset -c 0,1`) and the same load generators, still pinned to core 0 (so
they share it with the server: the machine's two cores, all in use), TF Serving's REST and gRPC,
with each count's req/s over one worker's measured in the same run. `--workers-only` measures
just that table and keeps the first one in the results file.

Threads per model: `--threads-only` measures a third table, and keeps the other two: the default
intra-op threads (serving/core/execution.py), one (`--intra-op-threads 1`, the one setting before
there were others) and one per core, for cnn-bn-cifar10 and a bigger model built here
(`resnet-cifar`: a ResNet of 2.8M parameters for CIFAR-10's images, random weights), one worker
on both cores and the load generators on core 0, as the workers table runs, at a lone client and
under load.

The tables are printed and written to bench/results/serve.md (`--out`) with the machine and
versions. `tests/test_bench_serve.py` runs a short profile of it in the suite.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import results_file

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "serve.md"
SERVER_CORE, CLIENT_CORE, BOTH_CORES = "1", "0", "0,1"
PROTOCOLS = ("tfs-rest", "v2-rest", "v2-binary", "tfs-grpc")
WORKER_PROTOCOLS = ("tfs-rest", "tfs-grpc")
WORKERS_HEADING = "## Several workers"
THREADS_HEADING = "## Threads per model"
SECTIONS = (WORKERS_HEADING, THREADS_HEADING)  # after the first table, in this order
RESNET = "resnet-cifar"  # built by this benchmark; it answers CIFAR-10's images
GRPC_PATH = "/tensorflow.serving.PredictionService/Predict"
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local header_length = os.getenv("ZOO_HEADER_LENGTH")  -- KServe v2's binary tensor extension
if header_length then wrk.headers["Inference-Header-Content-Length"] = header_length end
local file = io.open(os.getenv("ZOO_BODY"), "rb")
wrk.body = file:read("*a")
file:close()
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("ZOO %d %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write, e.timeout, e.status, latency:percentile(50),
    latency:percentile(99), latency.max))
end
"""
READY_SECONDS = 120


def zoo(*args: str) -> None:
    subprocess.run([str(Path(sys.executable).parent / "zoo"), *args], check=True, cwd=ROOT)


def prepare(work: Path, models: list[str]) -> Path:
    """Train each model for one short epoch and export it, unless an export is already there."""
    model_dir = work / "models"
    for name in models:
        if name == RESNET and not (model_dir / name / "1").is_dir():
            zoo("export", str(resnet(work / f"{RESNET}.keras")), "--model-dir", str(model_dir))
        elif not (model_dir / name / "1").is_dir():
            runs = str(work / "runs")
            zoo("train", name, "--epochs", "1", "--limit", "512", "--runs-dir", runs)
            zoo("export", name, "--runs-dir", runs, "--model-dir", str(model_dir))
    return model_dir


def resnet(path: Path) -> Path:
    """A ResNet for 32x32 RGB images, saved to `path`: three stages of two residual blocks (64,
    128 and 256 filters), 2.8M parameters with random weights, which serve as fast as trained
    ones. A model a user might serve, several times the zoo's biggest."""
    import keras
    from keras import layers

    def block(x, filters: int, stride: int, name: str):
        shortcut = x
        if stride != 1 or x.shape[-1] != filters:
            shortcut = layers.Conv2D(filters, 1, stride, name=f"{name}_project")(x)
        x = layers.Conv2D(filters, 3, stride, padding="same", name=f"{name}_conv1")(x)
        x = layers.BatchNormalization(name=f"{name}_bn1")(x)
        x = layers.ReLU(name=f"{name}_relu1")(x)
        x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv2")(x)
        x = layers.BatchNormalization(name=f"{name}_bn2")(x)
        x = layers.Add(name=f"{name}_add")([shortcut, x])
        return layers.ReLU(name=f"{name}_out")(x)

    keras.utils.set_random_seed(0)
    images = keras.Input((32, 32, 3), name="images")
    x = layers.Rescaling(1 / 255, name="rescale")(images)
    x = layers.Conv2D(64, 3, padding="same", activation="relu", name="stem")(x)
    for stage, filters in enumerate((64, 128, 256)):
        x = block(x, filters, 1 if stage == 0 else 2, f"stage{stage}_block0")
        x = block(x, filters, 1, f"stage{stage}_block1")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(10, activation="softmax", name="probabilities")(x)
    keras.Model(images, outputs, name=RESNET).save(path)
    return path


def example(name: str) -> np.ndarray:
    """One real test image of the model's data set, as raw 0-255 pixels, batch of one
    (CIFAR-10's for the ResNet built here)."""
    import zoo as zoo_library
    from zoo import data

    name = "cnn-bn-cifar10" if name == RESNET else name
    spec = zoo_library.get_spec(name)
    images, _ = data.load(spec.dataset, "test")
    return np.asarray(images[:1], np.float32).reshape(1, *spec.input.shape)


@dataclass(frozen=True)
class Body:
    """A request body in a file the load generators read, and the length of its JSON header
    when binary tensors follow it (KServe v2's binary tensor extension)."""

    path: Path
    header_length: int | None = None


def bodies(name: str, image: np.ndarray, work: Path) -> dict[str, Body]:
    """The request body of each protocol, written once to a file."""
    from tensorflow_serving.apis import predict_pb2

    from zoo.serving.tfserving.tensor_proto import as_proto_content

    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    as_proto_content(image, request.inputs["images"])
    message = request.SerializeToString()
    v2_tensor = {"name": "images", "shape": list(image.shape), "datatype": "FP32"}
    binary_header = json.dumps(
        {
            "inputs": [{**v2_tensor, "parameters": {"binary_data_size": image.nbytes}}],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    contents = {
        "tfs-rest": json.dumps({"instances": image.tolist()}).encode(),
        "v2-rest": json.dumps({"inputs": [{**v2_tensor, "data": image.ravel().tolist()}]}).encode(),
        "v2-binary": binary_header + image.astype("<f4").tobytes(),
        "tfs-grpc": b"\0" + len(message).to_bytes(4, "big") + message,
    }
    files = {}
    for protocol, content in contents.items():
        path = work / f"{name}.{protocol}.body"
        path.write_bytes(content)
        files[protocol] = Body(path, len(binary_header) if protocol == "v2-binary" else None)
    return files


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, log: Path, logged: str | None) -> None:
    """Until `url` answers and, given `logged`, `log` has a line starting with it."""
    import urllib.request

    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2):
            lines = log.read_text().splitlines()
            if logged is None or any(line.startswith(logged) for line in lines):
                return
        time.sleep(0.2)
    raise RuntimeError(f"no answer from {url}")


@contextlib.contextmanager
def pinned_server(
    command: list[str],
    ready_url: str,
    log: Path,
    cores: str = SERVER_CORE,
    logged: str | None = None,
) -> Iterator[subprocess.Popen]:
    with log.open("w") as out:
        process = subprocess.Popen(
            ["taskset", "-c", cores, *command], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_ready(ready_url, process, log, logged)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def metrics(rest: str) -> dict[tuple[str, tuple], float]:
    """The server's Prometheus samples: (name, sorted labels) -> value."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{rest}/monitoring/prometheus/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def server_counts(before: dict, after: dict, model: str) -> tuple[float, float]:
    """(answers that were not OK, mean batch size) of `model` between two metric readings."""

    def delta(name: str, **labels: str) -> float:
        return sum(
            after[key] - before.get(key, 0.0)
            for key in after
            if key[0] == name and all((k, v) in key[1] for k, v in labels.items())
        )

    requests = ":tensorflow:serving:request_count_total"
    failed = delta(requests, model_name=model) - delta(requests, model_name=model, status="OK")
    batch = ":tensorflow:serving:batching:processed_batch_size"
    count = delta(f"{batch}_count", model_name=model)
    return failed, (delta(f"{batch}_sum", model_name=model) / count if count else float("nan"))


def wrk(url: str, body: Body, connections: int, seconds: float, script: Path) -> dict:
    command = [
        *("taskset", "-c", CLIENT_CORE, "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s"),
        *("--timeout", "5s", "-s", str(script), url),
    ]
    output = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, "ZOO_BODY": str(body.path), **_header_length(body)},
        check=True,
        timeout=seconds + 60,
    ).stdout
    requests, duration, socket_errors, timeouts, status, p50, p99, _ = map(
        int, re.search(r"^ZOO (.*)$", output, re.M)[1].split()
    )
    return {
        "rps": requests / (duration / 1e6),
        "p50_ms": p50 / 1e3,
        "p99_ms": p99 / 1e3,
        "errors": socket_errors + timeouts + status,
    }


def _header_length(body: Body) -> dict[str, str]:
    return {} if body.header_length is None else {"ZOO_HEADER_LENGTH": str(body.header_length)}


def h2load(url: str, body: Body, connections: int, seconds: float, work: Path) -> dict:
    log = work / "h2load.log"
    log.unlink(missing_ok=True)  # h2load appends to it
    command = [
        *("taskset", "-c", CLIENT_CORE, "h2load", "-t1", f"-c{connections}", "-m1"),
        *("-D", f"{seconds:g}", "-d", str(body.path), "--log-file", str(log)),
        *("-H", "content-type: application/grpc", "-H", "te: trailers", url),
    ]
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    rate = float(re.search(r"finished in [\d.]+s, ([\d.]+) req/s", output)[1])
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", output)
    entries = np.loadtxt(log, dtype=np.int64, ndmin=2)  # start (µs), HTTP status, elapsed (µs)
    latencies = entries[:, 2] / 1e3
    return {
        "rps": rate,
        "p50_ms": float(np.percentile(latencies, 50)),
        "p99_ms": float(np.percentile(latencies, 99)),
        "errors": int(done[1]) - int(done[2]) + int((entries[:, 1] != 200).sum()),
    }


def load(protocol, urls, body, connections, seconds, work, script) -> dict:
    if protocol == "tfs-grpc":
        return h2load(urls[protocol], body, connections, seconds, work)
    return wrk(urls[protocol], body, connections, seconds, script)


def median_run(measure, repeat: int) -> dict:
    """The run with the median req/s of `repeat` runs (its latencies), with every run's errors."""
    results = sorted((measure() for _ in range(repeat)), key=lambda r: r["rps"])
    return {**results[len(results) // 2], "errors": sum(r["errors"] for r in results)}


@dataclass(frozen=True)
class Setup:
    """How `zoo serve` runs under test: batching or not, its processes, the cores they may use."""

    batching: bool
    workers: int = 1
    cores: str = SERVER_CORE
    backend: str = "onnx"
    intra_op: int | None = None  # --intra-op-threads; None: the default

    def __str__(self) -> str:
        return (
            f"{self.backend}, batching {'on' if self.batching else 'off'}, "
            f"{self.workers} worker(s) on core(s) {self.cores}, {self.threads} intra-op threads"
        )

    @property
    def threads(self) -> str:
        return "default" if self.intra_op is None else str(self.intra_op)

    def path(self, protocol: str) -> str:
        """The table's "server, protocol" cell: the backend named when it is not ONNX Runtime."""
        return f"zoo {protocol}" + (" (TensorFlow)" if self.backend == "tf" else "")


def measure_zoo(
    model_dir,
    models,
    files,
    args,
    work,
    script,
    setup: Setup,
    protocols=PROTOCOLS,
    concurrency=None,
) -> list[dict]:
    rest_port, grpc_port = free_port(), free_port()
    rest = f"http://127.0.0.1:{rest_port}"
    command = [
        *(str(Path(sys.executable).parent / "zoo"), "serve", "--model-dir", str(model_dir)),
        *("--rest-port", str(rest_port), "--grpc-port", str(grpc_port)),
        "--enable-batching" if setup.batching else "--no-batching",
        *("--workers", str(setup.workers), "--backend", setup.backend),
        *(() if setup.intra_op is None else ("--intra-op-threads", str(setup.intra_op))),
    ]
    rows = []
    batching = "batching" if setup.batching else "no-batching"
    log = work / (
        f"serve-{setup.backend}-{batching}-{setup.workers}-on-{setup.cores}-{setup.threads}.log"
    )
    # The first worker to answer is not all of them: the parent logs when every one serves.
    logged = f"{setup.workers} workers serving" if setup.workers > 1 else None
    ready = f"{rest}/v1/models/{models[0]}"
    with pinned_server(command, ready, log, setup.cores, logged):
        for name in models:
            urls = {
                "tfs-rest": f"{rest}/v1/models/{name}:predict",
                "v2-rest": f"{rest}/v2/models/{name}/infer",
                "v2-binary": f"{rest}/v2/models/{name}/infer",
                "tfs-grpc": f"http://127.0.0.1:{grpc_port}{GRPC_PATH}",
            }
            for protocol in protocols:
                body = files[name][protocol]
                load(protocol, urls, body, 4, 1, work, script)  # warm up
                for connections in concurrency or args.concurrency:
                    before = metrics(rest)
                    run = partial(
                        load, protocol, urls, body, connections, args.seconds, work, script
                    )
                    result = median_run(run, args.repeat)
                    failed, mean_batch = server_counts(before, metrics(rest), name)
                    if protocol == "tfs-grpc":
                        result["errors"] += int(failed)
                    row = {"model": name, "path": setup.path(protocol), "batching": setup.batching}
                    row |= {"workers": setup.workers, "threads": loaded_threads(log, name)}
                    row |= {"default_threads": setup.intra_op is None}
                    row |= {"c": connections, **result}
                    rows.append({**row, "mean_batch": mean_batch})
                    print(format_row(rows[-1]), f"({setup})", flush=True)
    return rows


def loaded_threads(log: Path, name: str) -> int:
    """The intra-op threads the model runs with, as the server's load line says (0: not said)."""
    loaded = re.search(
        rf"{re.escape(name)}: version \d+ loaded \(.*?(\d+) intra-op", log.read_text()
    )
    return int(loaded[1]) if loaded else 0


def measure_baseline(model_dir, models, files, args, work, script) -> list[dict]:
    rows = []
    for name in models:
        port = free_port()
        url = f"http://127.0.0.1:{port}/v1/models/{name}:predict"
        baseline = Path(__file__).with_name("fastapi_baseline.py")
        command = [sys.executable, str(baseline), str(model_dir / name / "1"), str(port)]
        with pinned_server(command, f"http://127.0.0.1:{port}/health", work / "fastapi.log"):
            body = files[name]["tfs-rest"]
            wrk(url, body, 4, 1, script)
            for connections in args.concurrency:
                run = partial(wrk, url, body, connections, args.seconds, script)
                result = median_run(run, args.repeat)
                row = {"model": name, "path": "FastAPI + ORT", "batching": False}
                rows.append({**row, "c": connections, **result, "mean_batch": 1.0})
                print(format_row(rows[-1]), flush=True)
    return rows


def ceiling(version_dir: str) -> dict[str, float]:
    """Images/s of in-process ONNX Runtime with the server's options, batch 1 and batch 32."""
    from zoo.serving.core.servables import onnx_session

    session, _ = onnx_session(Path(version_dir) / "model.onnx")
    (given,) = session.get_inputs()
    example_shape = [int(d) for d in given.shape[1:]]
    rates = {}
    for batch in (1, 32):
        x = np.random.default_rng(0).uniform(0, 255, (batch, *example_shape)).astype(np.float32)
        for _ in range(20):
            session.run(None, {given.name: x})
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < 2.0:
            session.run(None, {given.name: x})
            runs += 1
        rates[f"batch {batch}"] = runs * batch / (time.perf_counter() - start)
    return rates


def measured_cells(row: dict) -> list[str]:
    """req/s, p50 and p99 ms, errors, mean batch: the cells every table has."""
    return [
        f"{row['rps']:,.0f}",
        f"{row['p50_ms']:.2f}",
        f"{row['p99_ms']:.2f}",
        str(row["errors"]),
        "-" if row["mean_batch"] != row["mean_batch"] else f"{row['mean_batch']:.1f}",
    ]


def format_row(row: dict, ceiling_rate: float | None = None, baseline: float | None = None) -> str:
    cells = [
        row["model"],
        row["path"],
        "on" if row["batching"] else "off",
        str(row["c"]),
        *measured_cells(row),
    ]
    if ceiling_rate:
        cells.append(f"{row['rps'] / ceiling_rate:.2f}")
    if baseline:
        cells.append(f"{row['rps'] / baseline:.2f}x")
    return " | ".join(cells)


HEAD = [
    "model",
    "server, protocol",
    "batching",
    "c",
    "req/s",
    "p50 ms",
    "p99 ms",
    "errors",
    "mean batch",
    "of ceiling",
    "vs FastAPI",
]


def table(rows: list[dict], ceilings: dict[str, dict[str, float]]) -> str:
    baseline = {(r["model"], r["c"]): r["rps"] for r in rows if r["path"] == "FastAPI + ORT"}
    lines = []
    for row in rows:
        cells = format_row(
            row, ceilings[row["model"]]["batch 32"], baseline[row["model"], row["c"]]
        )
        lines.append(cells.split(" | "))
    ceiling_lines = [
        f"- {name}: in-process ONNX Runtime, one core: "
        + ", ".join(f"{rate:,.0f} img/s at {batch}" for batch, rate in rates.items())
        for name, rates in ceilings.items()
    ]
    note = "'of ceiling': req/s over the in-process rate at batch 32 (one image per request)."
    return "\n".join([results_file.markdown_table(HEAD, lines), "", *ceiling_lines, "", note])


WORKERS_HEAD = [*HEAD[:2], "workers", *HEAD[3:9], "vs 1 worker"]  # workers for batching


def workers_table(rows: list[dict]) -> str:
    one = {(r["model"], r["path"], r["c"]): r["rps"] for r in rows if r["workers"] == 1}
    lines = []
    for row in rows:
        alone = one.get((row["model"], row["path"], row["c"]))
        cells = [row["model"], row["path"], str(row["workers"]), str(row["c"])]
        ratio = f"{row['rps'] / alone:.2f}x" if alone else "-"
        lines.append([*cells, *measured_cells(row), ratio])
    note = "'vs 1 worker': req/s over `--workers 1`'s at the same concurrency, in the same run."
    return "\n".join([results_file.markdown_table(WORKERS_HEAD, lines), "", note])


THREADS_HEAD = [*HEAD[:2], "intra-op threads", *HEAD[3:9], "vs 1 thread"]


def threads_table(rows: list[dict]) -> str:
    one = {(r["model"], r["path"], r["c"]): r["rps"] for r in rows if r["threads"] == 1}
    lines = []
    for row in rows:
        alone = one.get((row["model"], row["path"], row["c"]))
        ratio = f"{row['rps'] / alone:.2f}x" if alone else "-"
        threads = f"{row['threads']}{' (default)' if row['default_threads'] else ''}"
        cells = [row["model"], row["path"], threads, str(row["c"])]
        lines.append([*cells, *measured_cells(row), ratio])
    note = "'vs 1 thread': req/s over `--intra-op-threads 1`'s at the same concurrency, same run."
    return "\n".join([results_file.markdown_table(THREADS_HEAD, lines), "", note])


def header(command: str, cores: str) -> str:
    """The lines above a table: how to measure it again, when, where and with what."""
    provenance = results_file.provenance()
    return (
        f"# python bench/serve.py {command}   ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{provenance['machine']}; server on core{'s' if ',' in cores else ''} {cores}, "
        f"load generator on core {CLIENT_CORE})\n"
        f"# {', '.join(f'{k} {v}' for k, v in provenance['versions'].items())}\n\n"
    )


def write_results(path: Path, tables: dict[str, str | None]) -> None:
    """Write the tables (heading -> text; "" heads the first), atomically; one that is None is
    kept as the file has it."""
    kept = {"": ""}
    heading = ""
    for line in (path.read_text() if path.exists() else "").splitlines(keepends=True):
        if line.rstrip() in (WORKERS_HEADING, THREADS_HEADING):
            heading = line.rstrip()
            kept[heading] = ""
        else:
            kept[heading] += line
    texts = {h: (tables.get(h) or kept.get(h, "")).strip() for h in ("", *SECTIONS)}
    text = texts[""] + "".join(f"\n\n{h}\n\n{texts[h]}" for h in SECTIONS if texts[h])
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as out:
        out.write(text.strip() + "\n")
    os.replace(out.name, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="each load run")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the median is kept")
    parser.add_argument("--models", nargs="+", default=["cnn-mnist", "cnn-bn-cifar10"])
    parser.add_argument(
        "--workers",
        type=int,
        nargs="*",
        default=[1, 2],
        help="`zoo serve --workers` counts compared on both cores (none: no such table)",
    )
    parser.add_argument("--workers-concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument(
        "--workers-only", action="store_true", help="only the workers table; keep the other"
    )
    parser.add_argument(
        "--threads-only", action="store_true", help="only the threads table; keep the others"
    )
    parser.add_argument("--threads-concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--work", type=Path, default=ROOT / "bench-runs" / "serve")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the tables are written")
    parser.add_argument(
        "--no-tf", action="store_true", help="leave out the SavedModel served by TensorFlow"
    )
    parser.add_argument("--ceiling", metavar="VERSION_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ceiling:
        print(json.dumps(ceiling(args.ceiling)))
        return

    args.work.mkdir(parents=True, exist_ok=True)
    script = args.work / "post.lua"
    script.write_text(WRK_SCRIPT)
    if args.threads_only:
        write_results(args.out, {THREADS_HEADING: measure_threads(args, script)})
        return
    model_dir = prepare(args.work, args.models)
    files = {n: bodies(n, example(n), args.work) for n in args.models}
    measure = partial(measure_zoo, model_dir, args.models, files, args, args.work, script)
    first = None
    if not args.workers_only:
        text = measure_table(model_dir, files, args, script, measure)
        command = (
            f"--seconds {args.seconds:g} --repeat {args.repeat} "
            f"--concurrency {' '.join(map(str, args.concurrency))}"
            f"{' --no-tf' if args.no_tf else ''}"
        )
        first = header(command, SERVER_CORE) + text
    workers = None
    if args.workers:
        rows = []
        for count in args.workers:
            setup = Setup(batching=True, workers=count, cores=BOTH_CORES)
            rows += measure(setup, WORKER_PROTOCOLS, args.workers_concurrency)
        rows.sort(key=lambda r: (args.models.index(r["model"]), r["path"], r["c"], r["workers"]))
        text = workers_table(rows)
        print(text)
        command = (
            f"--workers-only --seconds {args.seconds:g} --repeat {args.repeat} "
            f"--workers {' '.join(map(str, args.workers))} "
            f"--workers-concurrency {' '.join(map(str, args.workers_concurrency))}"
        )
        workers = header(command, BOTH_CORES) + text
    write_results(args.out, {"": first, WORKERS_HEADING: workers})


def measure_threads(args, script: Path) -> str:
    """The threads table: the default intra-op threads, then one and one per core where the
    default (as the server's load line says it) is not that, one worker on both cores."""
    models = ["cnn-bn-cifar10", RESNET]
    model_dir = prepare(args.work, models)
    files = {n: bodies(n, example(n), args.work) for n in models}
    measure = partial(
        measure_zoo,
        model_dir,
        models,
        files,
        args,
        args.work,
        script,
        protocols=WORKER_PROTOCOLS,
        concurrency=args.threads_concurrency,
    )
    rows = measure(Setup(batching=True, cores=BOTH_CORES))
    for intra_op in sorted({1, len(BOTH_CORES.split(","))} - {rows[0]["threads"]}):
        rows += measure(Setup(batching=True, cores=BOTH_CORES, intra_op=intra_op))
    rows.sort(key=lambda r: (models.index(r["model"]), r["path"], r["c"], r["threads"]))
    text = threads_table(rows)
    print(text)
    command = (
        f"--threads-only --seconds {args.seconds:g} --repeat {args.repeat} "
        f"--threads-concurrency {' '.join(map(str, args.threads_concurrency))}"
    )
    return header(command, BOTH_CORES) + text


def measure_table(model_dir, files, args, script, measure) -> str:
    """The first table: each protocol on one core, batching on and off, beside the baseline."""
    ceilings = {}
    for name in args.models:
        command = ["taskset", "-c", SERVER_CORE, sys.executable, __file__]
        answer = subprocess.run(
            [*command, "--ceiling", str(model_dir / name / "1")],
            capture_output=True,
            text=True,
            check=True,
        )
        ceilings[name] = json.loads(answer.stdout.splitlines()[-1])
        print(name, "ceiling", ceilings[name], flush=True)
    rows = measure_baseline(model_dir, args.models, files, args, args.work, script)
    for batching in (True, False):
        rows += measure(Setup(batching))
    if not args.no_tf:
        rows += measure(Setup(batching=True, backend="tf"), WORKER_PROTOCOLS)
    rows.sort(key=lambda r: (args.models.index(r["model"]), r["path"], not r["batching"], r["c"]))
    text = table(rows, ceilings)
    print(text)
    return text


if __name__ == "__main__":
    main()
