"""Check the GPU path of `zoo serve` where a GPU is lent: CUDA for ONNX Runtime (onnxruntime-gpu),
and `--backend tf --workers 2` sharing one GPU (each worker's memory grows as it needs).

    python bench/gpu_check.py [--work DIR]

It builds bench/serve.py's ResNet (random weights), exports it, and prints one line per check:
what each backend says it runs on, a prediction from each, and the GPU memory each worker holds
(nvidia-smi). It exits 1 where a GPU is present and usable by a runtime that does not use it. On a
machine without a GPU every check says CPU, which is the fallback tests/test_execution.py checks.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import serve as serve_bench

from zoo.serving.core.execution import Execution
from zoo.serving.core.servables import CUDA, load


def gpu_memory() -> str:
    """nvidia-smi's memory in use per process, or why there is none to ask."""
    if not shutil.which("nvidia-smi"):
        return "no nvidia-smi"
    query = ["--query-compute-apps=pid,used_memory", "--format=csv,noheader"]
    return subprocess.run(["nvidia-smi", *query], capture_output=True, text=True).stdout.strip()


def check_in_process(version: Path) -> bool:
    import onnxruntime
    import tensorflow as tf

    image = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
    onnx = load(version, "onnx", Execution(device="cuda"))
    tf_backend = load(version, "tf", Execution(device="auto"))
    for servable in (onnx, tf_backend):
        shape = servable.run_batch({"images": image})["probabilities"].shape
        print(f"in-process: {servable.describe()}; answered {shape}")
    cuda_usable = CUDA in onnxruntime.get_available_providers() and bool(
        tf.config.list_physical_devices("GPU")
    )
    return not cuda_usable or (onnx.device.startswith(CUDA) and tf_backend.device == "GPU")


def check_workers_share_a_gpu(model_dir: Path, work: Path) -> bool:
    rest = serve_bench.free_port()
    command = [str(Path(sys.executable).parent / "zoo"), "serve", "--model-dir", str(model_dir)]
    command += ["--backend", "tf", "--workers", "2", "--rest-port", str(rest)]
    command += ["--grpc-port", str(serve_bench.free_port()), "--no-ui"]
    log = work / "serve-tf-gpu.log"
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while "2 workers serving" not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                print(log.read_text())
                return False
            time.sleep(0.5)
        body = json.dumps({"instances": np.zeros((1, 32, 32, 3)).tolist()}).encode()
        url = f"http://127.0.0.1:{rest}/v1/models/{serve_bench.RESNET}:predict"
        for _ in range(4):  # both workers, most likely
            with urllib.request.urlopen(urllib.request.Request(url, body), timeout=60) as answer:
                assert answer.status == 200
        print(
            "tf --workers 2:", [line for line in log.read_text().splitlines() if "loaded" in line]
        )
        print("GPU memory per process (pid, used):", gpu_memory() or "none")
        return True
    finally:
        process.terminate()
        process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.mkdtemp(prefix="gpu-check-")))
    args = parser.parse_args()
    model_dir = serve_bench.prepare(args.work, [serve_bench.RESNET])
    version = model_dir / serve_bench.RESNET / "1"
    ok = check_in_process(version) and check_workers_share_a_gpu(model_dir, args.work)
    print("GPU check:", "passed" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
