"""What do the request logs cost? `zoo serve` without them, with `--access-log` and with both
`--access-log` and `--log-requests` (every request kept: `--log-sample-rate 1`), under the same
load, TF Serving's REST :predict and gRPC Predict, one MNIST image per request.

    python bench/request_logs.py [--seconds 4] [--repeat 3] [--concurrency 1 16]

The server is pinned to core 1 and the load generators (wrk, h2load; as in bench/serve.py, whose
helpers this uses) to core 0. The settings are measured in turn, `--repeat` rounds of all of them,
each round starting its servers afresh, and the median req/s (with its run's latencies) is kept, so
a drift of the machine over the run falls on every setting alike.

Under load from other processes req/s wanders by tens of percent from one run to the next, more
than the logs cost; so a second table measures that cost in this process, as CPU time per
request (the best of `--repeat` timings of 2,000 requests, which other processes can only
lengthen): the HTTP shell's access-log wrapper with its line formatted and queued, around an ASGI
app that answers at once, beside that app alone; the payload log's sampling, PredictionLog and
framing for one MNIST image and its answer; and, logs off, the look-ups the core makes.

The tables are printed and written to bench/results/request_logs.md (`--out`), with the lines and
records the logs held at the end of each round.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import results_file
import serve as bench
from serve import CLIENT_CORE, GRPC_PATH, ROOT, SERVER_CORE

RESULTS = ROOT / "bench" / "results" / "request_logs.md"
MODEL = "cnn-mnist"
PROTOCOLS = ("tfs-rest", "tfs-grpc")
SETTINGS = ("off", "--access-log", "--access-log --log-requests")
HEAD = ["protocol", "c", "logs", "req/s", "p50 ms", "p99 ms", "errors", "vs off"]


def options(setting: str, logs: Path) -> list[str]:
    """The `zoo serve` options of a setting, its logs written under `logs`."""
    found = []
    if "--access-log" in setting:
        found += ["--access-log", str(logs / "access.jsonl")]
    if "--log-requests" in setting:
        found += ["--log-requests", str(logs / "requests.tfrecord"), "--log-sample-rate", "1"]
    return found


def measure(setting: str, model_dir: Path, files, args, work: Path, script: Path) -> dict:
    """One round of a setting: each protocol at each concurrency, on a fresh server."""
    from zoo.serving.core.tfrecord import read_records

    rest_port, grpc_port = bench.free_port(), bench.free_port()
    logs = Path(tempfile.mkdtemp(dir=work))
    command = [
        *(str(Path(sys.executable).parent / "zoo"), "serve", "--model-dir", str(model_dir)),
        *("--rest-port", str(rest_port), "--grpc-port", str(grpc_port), "--models", MODEL),
        *options(setting, logs),
    ]
    urls = {
        "tfs-rest": f"http://127.0.0.1:{rest_port}/v1/models/{MODEL}:predict",
        "tfs-grpc": f"http://127.0.0.1:{grpc_port}{GRPC_PATH}",
    }
    results = {}
    ready = f"http://127.0.0.1:{rest_port}/v1/models/{MODEL}"
    with bench.pinned_server(command, ready, work / "serve.log", SERVER_CORE):
        for protocol in PROTOCOLS:
            bench.load(protocol, urls, files[protocol], 4, 1, work, script)  # warm up
            for c in args.concurrency:
                run = bench.load(protocol, urls, files[protocol], c, args.seconds, work, script)
                results[protocol, c] = run
    # Stopped: the logs are flushed. What they hold, to check they kept up.
    access, payload = logs / "access.jsonl", logs / "requests.tfrecord"
    results["lines"] = len(access.read_bytes().splitlines()) if access.exists() else 0
    rotated = logs.glob(f"{payload.name}*")  # PATH and the files rotated from it
    results["records"] = sum(len(list(read_records(path))) for path in rotated)
    return results


def per_request_us(run, repeat: int, count: int = 2000) -> float:
    """The best of `repeat` timings of `run(count)`, in µs per request."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run(count)
        best = min(best, time.perf_counter() - started)
    return best / count * 1e6


def micro(repeat: int, work: Path) -> list[list[str]]:
    """CPU µs per request of each log's work on the event loop, measured in this process."""
    import numpy as np

    from zoo.serving.access_log import AccessLog, AccessLogApp
    from zoo.serving.core.request_record import note_batch, note_model
    from zoo.serving.core.signature import ModelSignature
    from zoo.serving.payload_log import PayloadLog

    logs = Path(tempfile.mkdtemp(dir=work))
    body = b'{"instances": [[0.5]]}'
    scope = {"type": "http", "method": "POST", "path": f"/v1/models/{MODEL}:predict"}
    scope["headers"] = [(b"content-type", b"application/json")]

    async def answer(scope, receive, send) -> None:  # the cheapest app: read, note, answer
        await receive()
        note_model(MODEL, 1)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive():
        return {"type": "http.request", "body": body}

    async def send(message) -> None:
        pass

    def requests(app):
        async def run(count: int) -> None:
            for _ in range(count):
                await app(scope, receive, send)

        return lambda count: asyncio.run(run(count))

    access = AccessLog(str(logs / "access.jsonl"))
    bare = per_request_us(requests(answer), repeat)
    logged = per_request_us(requests(AccessLogApp(answer, access, ())), repeat)
    access.close()

    image = bench.example(MODEL)
    inputs, scores = {"images": image}, {"probabilities": np.full((1, 10), 0.1, np.float32)}
    signature = ModelSignature("serving_default", "tensorflow/serving/predict", (), ())
    payload = PayloadLog(logs / "requests.tfrecord", 1.0, 2**30)

    def sampled(count: int) -> None:
        for _ in range(count):
            payload(MODEL, 1, signature, "Predict", inputs, (), scores)

    kept = per_request_us(sampled, repeat)
    payload.close()

    def off(count: int) -> None:
        for _ in range(count):
            note_model(MODEL, 1)
            note_batch(inputs)

    looked_up = per_request_us(off, repeat)
    return [
        ["off: the core's look-ups (model, batch size)", f"{looked_up:.2f}"],
        ["HTTP shell stand-in, no log", f"{bare:.2f}"],
        ["the same with --access-log", f"{logged:.2f}"],
        ["--access-log's cost (the difference)", f"{logged - bare:.2f}"],
        ["--log-requests, one MNIST image kept", f"{kept:.2f}"],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="each load run")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median is kept")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--work", type=Path, default=ROOT / "bench-runs" / "serve")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the table is written")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    model_dir = bench.prepare(args.work, [MODEL])
    costs = micro(args.repeat, args.work)
    print(costs, flush=True)
    files = bench.bodies(MODEL, bench.example(MODEL), args.work)
    script = args.work / "post.lua"
    script.write_text(bench.WRK_SCRIPT)
    rounds: dict[str, list[dict]] = {setting: [] for setting in SETTINGS}
    for _ in range(args.repeat):
        for setting in SETTINGS:
            rounds[setting].append(measure(setting, model_dir, files, args, args.work, script))
            print(setting, rounds[setting][-1], flush=True)
    rows = []
    for protocol in PROTOCOLS:
        for c in args.concurrency:
            off = None
            for setting in SETTINGS:
                runs = sorted((r[protocol, c] for r in rounds[setting]), key=lambda r: r["rps"])
                median = runs[len(runs) // 2]
                off = off or median["rps"]
                errors = sum(r["errors"] for r in runs)
                rows.append(
                    [
                        protocol,
                        str(c),
                        setting,
                        f"{median['rps']:,.0f}",
                        f"{median['p50_ms']:.2f}",
                        f"{median['p99_ms']:.2f}",
                        str(errors),
                        f"{median['rps'] / off:.3f}",
                    ]
                )
    kept = [
        f"- {setting}: {statistics.median(r['lines'] for r in rounds[setting]):,.0f} access lines, "
        f"{statistics.median(r['records'] for r in rounds[setting]):,.0f} payload records per "
        "round (median)"
        for setting in SETTINGS[1:]
    ]
    provenance = results_file.provenance()
    text = "\n".join(
        [
            f"# python bench/request_logs.py --seconds {args.seconds:g} --repeat {args.repeat} "
            f"--concurrency {' '.join(map(str, args.concurrency))}   "
            f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {provenance['machine']}; "
            f"server on core {SERVER_CORE}, load generator on core {CLIENT_CORE})",
            f"# {', '.join(f'{k} {v}' for k, v in provenance['versions'].items())}",
            "",
            results_file.markdown_table(HEAD, rows),
            "",
            *kept,
            "",
            "'vs off': req/s over the same protocol and concurrency without logs, same run.",
            "",
            "## CPU per request on the event loop, in this process",
            "",
            results_file.markdown_table(["what", "µs per request"], costs),
        ]
    )
    print(text)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
