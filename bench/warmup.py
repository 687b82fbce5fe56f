"""What warmup buys: the latency of the first request to a freshly started `zoo serve`, with and
without the warmup the export writes, beside the second request's.

    python bench/warmup.py [--model cnn-mnist] [--repeat 5] [--zoo .venv/bin/zoo]

Set-up (not measured): the model, freshly built (untrained: its weights do not change its first run),
is saved as a run and exported in both formats by `zoo export`, and a copy of that version is made
without its warmup (no `assets.extra/tf_serving_warmup_requests`, no `model_warmup` in config.pbtxt).
Then, for each backend and each copy, --repeat times: start `zoo serve`, wait until the model is
AVAILABLE, and time a first and a second REST predict of one real test image (client wall time on
127.0.0.1). The table gives the median and the range over the repeats, and the time to ready.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import serve  # bench/serve.py: its free_port


def prepare(model: str, root: Path, zoo: str) -> tuple[Path, Path, bytes]:
    """(model dir with warmup, model dir without, a REST predict body of one real example)."""
    import keras

    import zoo as zoo_package
    from zoo import runs
    from zoo.export.parity import parity_inputs

    run = root / "runs" / model / "20250101-000000"
    run.mkdir(parents=True)
    spec = zoo_package.get_spec(model)
    runs.write_json(run / runs.CONFIG, {"model": model, "spec": spec.to_json()})
    runs.write_json(run / runs.METRICS, {})
    keras.utils.set_random_seed(0)
    zoo_package.create_model(model).save(run / runs.MODEL)
    warm = root / "warm"
    export = [zoo, "export", str(run), "--model-dir", str(warm), "--samples", "8"]
    subprocess.run(export, check=True, capture_output=True)
    cold = root / "cold"
    shutil.copytree(warm, cold)
    (cold / model / "1" / "assets.extra" / "tf_serving_warmup_requests").unlink()
    config = cold / model / "config.pbtxt"
    config.write_text(re.sub(r"model_warmup \[.*\]\n", "", config.read_text(), flags=re.S))
    body = json.dumps({"instances": parity_inputs(spec, 1).tolist()}).encode()
    return warm, cold, body


def first_requests(
    zoo: str, model_dir: Path, model: str, backend: str, body: bytes
) -> tuple[float, float, float]:
    """(seconds to ready, first request's ms, second request's ms) of one fresh server."""
    port = serve.free_port()
    url = f"http://127.0.0.1:{port}/v1/models/{model}"
    start = time.perf_counter()
    process = subprocess.Popen(
        [
            *(zoo, "serve", "--model-dir", str(model_dir), "--backend", backend, "--no-ui"),
            *("--rest-port", str(port), "--grpc-port", str(serve.free_port())),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            if process.poll() is not None or time.perf_counter() - start > 120:
                raise SystemExit(f"zoo serve --backend {backend} did not become ready")
            try:
                with urllib.request.urlopen(url, timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.02)
        ready = time.perf_counter() - start
        took = []
        for _ in range(2):
            began = time.perf_counter()
            with urllib.request.urlopen(urllib.request.Request(f"{url}:predict", body)) as answer:
                answer.read()
            took.append((time.perf_counter() - began) * 1e3)
        return ready, took[0], took[1]
    finally:
        process.terminate()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="cnn-mnist")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--zoo", default=str(Path(sys.executable).with_name("zoo")))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        warm, cold, body = prepare(args.model, Path(tmp), args.zoo)
        print("| backend | warmup | first request | second request | to ready |")
        print("|---|---|---:|---:|---:|")
        for backend in ("onnx", "tf"):
            for label, model_dir in (("none", cold), ("the export's", warm)):
                runs = [
                    first_requests(args.zoo, model_dir, args.model, backend, body)
                    for _ in range(args.repeat)
                ]
                cells = []
                for column in zip(*runs, strict=True):
                    low, high = min(column), max(column)
                    cells.append((statistics.median(column), low, high))
                (ready, *_), first, second = cells
                print(
                    f"| {backend} | {label} | {first[0]:.1f} ms ({first[1]:.1f}-{first[2]:.1f}) "
                    f"| {second[0]:.1f} ms ({second[1]:.1f}-{second[2]:.1f}) | {ready:.2f} s |"
                )


if __name__ == "__main__":
    main()
