"""Does `zoo serve` keep memory across hot reloads? Its resident size after each of many reloads
of a model's version, under light load.

    python bench/reloads.py [--reloads 200] [--backend onnx|tf] [--poll-seconds 0.2]

Everything runs on this machine and stops by itself. The server is `zoo serve` (one worker,
pinned to core 1) serving cnn-mnist exported from its published weights (`zoo export
--pretrained`). A reload publishes the next version (a copy of version 1 renamed into place as
version N+1) and removes version N, as a deployment does: the repository poll loads the new
version, serves it, and drops the old one. The next reload waits until the server reports the new
version AVAILABLE and the old one gone. Meanwhile a client on core 0 sends one predict request
(one MNIST test image, TF Serving REST) every 20 ms; every one must be answered 200. The server's
resident size (VmRSS of /proc/PID/status) is read after the warm-up requests and after each
reload; the table shows it at a few reload counts and the growth between the 10th and the last.

The table is printed and written to bench/results/reloads.md (reloads-tf.md for `--backend tf`;
`--out`). `tests/test_large_bodies.py` runs a short profile of it in the suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
import urllib.request
from pathlib import Path

import overload
import results_file
import serve

ROOT = Path(__file__).resolve().parents[1]
RESULTS = {  # by backend
    "onnx": ROOT / "bench" / "results" / "reloads.md",
    "tf": ROOT / "bench" / "results" / "reloads-tf.md",
}
MODEL = "cnn-mnist"
LOAD_EVERY = 0.02
MiB = 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reloads", type=int, default=200)
    parser.add_argument("--backend", choices=["onnx", "tf"], default="onnx")
    parser.add_argument("--poll-seconds", type=float, default=0.2)
    parser.add_argument("--work", type=Path, default=ROOT / "bench-runs" / "reloads")
    parser.add_argument("--out", type=Path, help="where the table is written (default: by backend)")
    args = parser.parse_args()

    os.sched_setaffinity(0, {int(serve.CLIENT_CORE)})  # the load's client; the server on its own
    args.work.mkdir(parents=True, exist_ok=True)
    exported = prepare(args.work, args.backend)
    base = args.work / "served" / MODEL
    shutil.rmtree(base.parent, ignore_errors=True)
    shutil.copytree(exported, base / "1")
    body = serve.bodies(MODEL, serve.example(MODEL), args.work)["tfs-rest"].path.read_bytes()
    rest_port = serve.free_port()
    command = [
        *(str(Path(sys.executable).parent / "zoo"), "serve", "--model-dir", str(base.parent)),
        *("--rest-port", str(rest_port), "--grpc-port", str(serve.free_port())),
        *("--backend", args.backend, "--poll-seconds", str(args.poll_seconds), "--no-ui"),
    ]
    url = f"http://127.0.0.1:{rest_port}/v1/models/{MODEL}"
    sizes: dict[int, float] = {}
    with serve.pinned_server(command, url, args.work / "serve.log") as server:
        load = Load(f"{url}:predict", body)
        load.start()
        try:
            time.sleep(1.0)
            sizes[0] = resident_mib(server.pid)
            for version in range(2, args.reloads + 2):
                publish(base, exported, version)
                wait_served(url, version)
                sizes[version - 1] = resident_mib(server.pid)
        finally:
            load.stop()
    counts = sorted({0, 1, 10, 50, 100, args.reloads} & set(sizes))
    rows = [[f"{n}", f"{sizes[n]:,.1f}"] for n in counts]
    table = results_file.markdown_table(["reloads", "resident MiB"], rows)
    first = min(10, args.reloads)
    growth = sizes[args.reloads] - sizes[first]
    text = (
        f"{table}\n\nAfter {first} reloads: {sizes[first]:,.1f} MiB; after {args.reloads}: "
        f"{sizes[args.reloads]:,.1f} MiB ({growth:+,.1f} MiB). Requests during the reloads: "
        f"{load.answered:,} answered 200, {load.failed} otherwise."
    )
    print(text)
    overload.write_results(args.out or RESULTS[args.backend], header(args) + text)


def prepare(work: Path, backend: str) -> Path:
    """The version folder exported from the published weights (with a SavedModel for tf)."""
    model_dir = work / "models"
    version = model_dir / MODEL / "1"
    if not version.is_dir():
        formats = ["--format", "onnx"] if backend == "onnx" else []
        serve.zoo(
            *("export", "--pretrained", MODEL, *formats),
            *("--model-dir", str(model_dir), "--runs-dir", str(work / "runs")),
        )
    return version


def publish(base: Path, exported: Path, version: int) -> None:
    """Version `version` in place (copied aside, then renamed in whole), the one before it gone."""
    aside = base / f".{version}"
    shutil.copytree(exported, aside)
    aside.rename(base / str(version))
    shutil.rmtree(base / str(version - 1))


def wait_served(url: str, version: int, seconds: float = 120.0) -> None:
    """Until `version` is the only version the server reports, AVAILABLE."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url, timeout=10) as answer:
            states = json.loads(answer.read())["model_version_status"]
        if [(s["version"], s["state"]) for s in states] == [(str(version), "AVAILABLE")]:
            return
        time.sleep(0.02)
    raise RuntimeError(f"version {version} was not served within {seconds:g} s")


def resident_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class Load(threading.Thread):
    """One predict request every LOAD_EVERY seconds until stopped, counting the answers."""

    def __init__(self, url: str, body: bytes) -> None:
        super().__init__(daemon=True)
        self.url, self.body = url, body
        self.answered = self.failed = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(LOAD_EVERY):
            request = urllib.request.Request(self.url, data=self.body)
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    ok = answer.status == 200
            except OSError:
                ok = False
            self.answered += ok
            self.failed += not ok

    def stop(self) -> None:
        self.stopping.set()
        self.join()


def header(args: argparse.Namespace) -> str:
    provenance = results_file.provenance()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return (
        f"# python bench/reloads.py --reloads {args.reloads} --backend {args.backend} "
        f"--poll-seconds {args.poll_seconds:g}   ({when}, {provenance['machine']}; server on "
        f"core {serve.SERVER_CORE})\n"
        f"# {', '.join(f'{k} {v}' for k, v in provenance['versions'].items())}\n\n"
    )


if __name__ == "__main__":
    main()
