"""Does one client's large body stall every other client? Small requests' latency while another
client posts bodies near the size limit, with the bodies decoded on the event loop (before) and off
it (after), in one run.

    python bench/big_bodies.py [--seconds 6] [--rate 100] [--big-mb 60] [--every 1]
                               [--kinds fast general valid]

Everything runs on this machine over loopback and stops by itself.

- The server is `zoo serve` (one worker) pinned to core 1, serving cnn-mnist exported from its
  published weights (`zoo export --pretrained`, ONNX), started twice: with `--large-body-bytes 0`
  (every body decoded on the event loop, as before the change) and with the default (a body of
  1 MiB or more is received into shared memory and decoded in a separate process).
- Small requests: one MNIST test image to TF Serving's REST :predict, at `--rate` per second on
  schedule, whatever the answers (bench/overload.py's open-loop generator, pinned to core 0;
  latency counts from when a request fell due, so a stalled loop counts against every request
  that fell due during the stall).
- Large bodies: another client on core 0 posts one body of `--big-mb` MB (under the 64 MiB limit)
  every `--every` seconds, each on a new connection, to the same model. `fast` is a rectangular
  JSON array of numbers, `{"instances": [[...]]}` (the simdjson fast path); `general` the same
  numbers as named instances, `{"instances": [{"images": [...]}]}` (orjson and NumPy). Their
  shape is not the model's, so each is decoded in full and then refused (400): what is measured
  is the decoding, not the model. `valid` is a batch of images in the model's shape, decoded,
  run (in batches of max_batch_size, queued before the small requests that arrive after it, as
  in TF Serving) and answered: all of a valid large request's costs, the model's included.
- Phases of `--seconds` each: small requests alone, then with each kind of large body. A small
  request unanswered after `--timeout` seconds, a connection error and any status other than 200
  are failed.

The table is printed and written to bench/results/big_bodies.md (`--out`) with the machine and
versions. `tests/test_large_bodies.py` runs a short profile of it in the suite.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import overload
import results_file
import serve

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "big_bodies.md"
MODEL = "cnn-mnist"
SETTINGS = {"on the loop (before)": ["--large-body-bytes", "0"], "off the loop (after)": []}
KINDS = ("fast", "general", "valid")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="each phase")
    parser.add_argument("--rate", type=float, default=100.0, help="small requests per second")
    parser.add_argument("--big-mb", type=float, default=60.0, help="each large body, in MB")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between large bodies")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--timeout", type=float, default=10.0, help="a small request is failed")
    parser.add_argument("--work", type=Path, default=ROOT / "bench-runs" / "big_bodies")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the table is written")
    parser.add_argument("--send", metavar="JSON", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.send:
        send_large_bodies(json.loads(args.send))
        return

    args.work.mkdir(parents=True, exist_ok=True)
    model_dir = overload.prepare(args.work, MODEL)
    small = serve.bodies(MODEL, serve.example(MODEL), args.work)["tfs-rest"].path
    large = {kind: write_large_body(kind, args.big_mb, args.work) for kind in args.kinds}
    rows = []
    for setting, options in SETTINGS.items():
        rest_port = serve.free_port()
        command = [
            *(str(Path(sys.executable).parent / "zoo"), "serve", "--model-dir", str(model_dir)),
            *("--rest-port", str(rest_port), "--grpc-port", str(serve.free_port())),
            *("--models", MODEL, "--no-ui", *options),
        ]
        url = f"http://127.0.0.1:{rest_port}/v1/models/{MODEL}"
        with serve.pinned_server(command, url, args.work / "serve.log"):
            load = {
                "port": rest_port,
                "path": f"/v1/models/{MODEL}:predict",
                "body": str(small),
                "timeout": args.timeout,
                "max_connections": 1024,
                "connections": 16,
            }
            overload.run_generator({**load, "closed": 1, "seconds": 1.0}, args.work)  # warm up
            phases = {"small requests alone": None, **{f"with {k} bodies": k for k in large}}
            for phase, kind in phases.items():
                spec = {**load, "segments": [(args.rate, args.seconds)]}
                if kind is None:
                    records, answers = overload.run_generator(spec, args.work), []
                else:
                    sender = {"port": rest_port, "path": load["path"], "body": str(large[kind])}
                    sender |= {"every": args.every, "seconds": args.seconds}
                    records, answers = alongside(spec, sender, args.work)
                rows.append(row(setting, phase, records, answers))
                print(results_file.markdown_table(HEAD, rows[-1:]).splitlines()[-1], flush=True)
    table = results_file.markdown_table(HEAD, rows)
    print("\n" + table)
    overload.write_results(args.out, header(args) + table)


HEAD = [
    "decoding",
    "phase",
    "small requests",
    "p50 ms",
    "p99 ms",
    "max ms",
    "failed",
    "large bodies answered",
    "large body p50 s",
]


def write_large_body(kind: str, megabytes: float, work: Path) -> Path:
    """A body of about `megabytes` MB of pixel values 0-255: in the model's shape for `valid`,
    rows of 784 numbers (not the model's shape) for the others."""
    values = np.random.default_rng(0).integers(0, 256, int(megabytes * 1e6 / 4), np.int32)
    if kind == "valid":
        images = values[: len(values) // 784 * 784].reshape(-1, 28, 28, 1)
        per_image = len(json.dumps(images[0].tolist(), separators=(",", ":"))) + 1
        images = images[: int(megabytes * 1e6 / per_image)]
        text = json.dumps({"instances": images.tolist()}, separators=(",", ":"))
    else:
        rows = values[: len(values) // 784 * 784].reshape(-1, 784)  # 784 numbers a row, flat
        instances = rows.tolist() if kind == "fast" else [{"images": r} for r in rows.tolist()]
        text = json.dumps({"instances": instances}, separators=(",", ":"))
    path = work / f"large-{kind}.json"
    path.write_text(text)
    return path


def alongside(spec: dict, sender: dict, work: Path) -> tuple[dict[str, np.ndarray], list]:
    """The small requests' records, with the large-body client sending beside them."""
    out = work / "large-answers.json"
    command = ["taskset", "-c", serve.CLIENT_CORE, sys.executable, __file__]
    process = subprocess.Popen([*command, "--send", json.dumps({**sender, "out": str(out)})])
    try:
        records = overload.run_generator(spec, work)
    finally:
        process.wait(timeout=sender["seconds"] + 600)
    return records, json.loads(out.read_text())


def send_large_bodies(spec: dict) -> None:
    """Post the large body every `every` seconds for `seconds`, each on a new connection in a thread
    of its own (one still being answered does not delay the next); save (status, seconds) of each."""
    body = Path(spec["body"]).read_bytes()
    head = (
        f"POST {spec['path']} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    answers: list[tuple[int, float]] = []

    def post() -> None:
        start = time.perf_counter()
        with socket.create_connection(("127.0.0.1", spec["port"])) as connection:
            connection.sendall(head + body)
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
        answers.append((int(answer[9:12] or 0), time.perf_counter() - start))

    threads = []
    start = time.perf_counter()
    for k in range(max(1, int(spec["seconds"] / spec["every"]))):
        time.sleep(max(0.0, start + k * spec["every"] - time.perf_counter()))
        threads.append(threading.Thread(target=post))
        threads[-1].start()
    for thread in threads:
        thread.join()
    Path(spec["out"]).write_text(json.dumps(answers))


def row(setting: str, phase: str, records: dict[str, np.ndarray], answers: list) -> list[str]:
    status, latency = records["status"], records["latency"] * 1e3
    ok = latency[status == overload.OK]
    large = [seconds for code, seconds in answers]
    codes = sorted({code for code, _ in answers})
    return [
        setting,
        phase,
        f"{len(status):,}",
        *(overload.cell(overload.percentile(ok, q)) for q in (50, 99, 100)),
        str(int((status != overload.OK).sum())),
        f"{len(answers)} ({', '.join(map(str, codes))})" if answers else "-",
        f"{np.median(large):.2f}" if large else "-",
    ]


def header(args: argparse.Namespace) -> str:
    provenance = results_file.provenance()
    command = (
        f"--seconds {args.seconds:g} --rate {args.rate:g} --big-mb {args.big_mb:g} "
        f"--every {args.every:g} --kinds {' '.join(args.kinds)}"
    )
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return (
        f"# python bench/big_bodies.py {command}   ({when}, {provenance['machine']}; server on "
        f"core {serve.SERVER_CORE}, clients on core {serve.CLIENT_CORE})\n"
        f"# {', '.join(f'{k} {v}' for k, v in provenance['versions'].items())}\n\n"
    )


if __name__ == "__main__":
    main()
