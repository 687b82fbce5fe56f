"""How fast does `zoo` start? Seconds and peak resident memory of the commands a user waits on.

    python bench/startup.py [--repeat 3] [--zoo .venv/bin/zoo]

It trains `linear-regression` for one epoch and exports its ONNX model into a temporary folder (the
set-up, which needs TensorFlow and is not measured), then measures, each the median of --repeat runs:
`zoo --help`, `zoo list`, `zoo predict` over REST and gRPC against a running `zoo serve --backend onnx`, and
that server's time from start to its first 200 on /v1/models/MODEL with its resident memory (VmRSS,
summed over its processes) once ready. Peak RSS of a short command is its ru_maxrss from wait4.
The table is printed against the goals of docs/PERFORMANCE.md's "Start-up".
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

MODEL = "linear-regression"
GOALS = {"seconds": 1.5, "serve_seconds": 3.0, "serve_mb": 250.0}


def timed(command: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one run of `command`, which must succeed."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed: {process.stderr.read().decode()}")
    return seconds, usage.ru_maxrss / 1024


def median(command: list[str], repeat: int) -> tuple[float, float]:
    runs = [timed(command) for _ in range(repeat)]
    return statistics.median(s for s, _ in runs), max(m for _, m in runs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """VmRSS of `pid` and its children (a server with workers is several processes)."""
    total = 0.0
    pids = [pid, *children(pid)]
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    found = [int(c) for c in path.read_text().split()] if path.exists() else []
    return found + [g for c in found for g in children(c)]


def serve(zoo: str, model_dir: Path) -> tuple[subprocess.Popen, str, str, float, float]:
    """A running `zoo serve --backend onnx`: its REST URL, gRPC target, seconds to ready, RSS then."""
    port, grpc_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    start = time.perf_counter()
    process = subprocess.Popen(
        [
            *(zoo, "serve", "--model-dir", str(model_dir), "--backend", "onnx"),
            *("--rest-port", str(port), "--grpc-port", str(grpc_port), "--poll-seconds", "0.5"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while time.perf_counter() - start < 120:
        if process.poll() is not None:
            raise SystemExit("zoo serve exited")
        try:
            with urllib.request.urlopen(f"{url}/v1/models/{MODEL}", timeout=5) as answer:
                if answer.status == 200:
                    seconds = time.perf_counter() - start
                    return process, url, f"127.0.0.1:{grpc_port}", seconds, rss_mb(process.pid)
        except OSError:
            pass
        time.sleep(0.02)
    process.terminate()
    raise SystemExit("zoo serve was not ready in 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--zoo", default=str(Path(sys.executable).with_name("zoo")))
    args = parser.parse_args()
    zoo = args.zoo
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        runs, models = str(root / "runs"), str(root / "models")
        for setup in (
            [zoo, "train", MODEL, "--epochs", "1", "--runs-dir", runs],
            [zoo, "export", MODEL, "--format", "onnx", "--runs-dir", runs, "--model-dir", models],
        ):
            subprocess.run(setup, check=True, capture_output=True)
        for label, command in (("zoo --help", ["--help"]), ("zoo list", ["list"])):
            rows.append((label, *median([zoo, *command], args.repeat), GOALS["seconds"], None))
        ready = []
        for attempt in range(args.repeat):
            process, url, target, seconds, rss = serve(zoo, Path(models))
            ready.append((seconds, rss))
            if attempt == args.repeat - 1:
                for label, where in (("REST", ["--url", url]), ("gRPC", ["--grpc", target])):
                    predict = [zoo, "predict", MODEL, "4", *where]
                    rows.append(
                        (f"zoo predict ({label})", *median(predict, args.repeat), 1.5, None)
                    )
            process.terminate()
            process.wait()
        rows.append(
            (
                "zoo serve --backend onnx, to ready",
                statistics.median(s for s, _ in ready),
                max(r for _, r in ready),
                GOALS["serve_seconds"],
                GOALS["serve_mb"],
            )
        )
    print(f"{'command':<36} {'seconds':>8} {'RSS MB':>8}  goal")
    for label, seconds, mb, goal_s, goal_mb in rows:
        goal = f"<= {goal_s} s" + (f", <= {goal_mb:.0f} MB" if goal_mb else "")
        met = seconds <= goal_s and (goal_mb is None or mb <= goal_mb)
        print(f"{label:<36} {seconds:>8.2f} {mb:>8.0f}  {goal} {'ok' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
