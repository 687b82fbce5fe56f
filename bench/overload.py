"""What does `zoo serve` do past its saturation? An open-loop load test at 1x, 2x and 4x the rate
one core can serve: are the requests past the queue bound refused at once, does the latency of the
accepted ones stay bounded, and how soon is p99 back to normal when the load drops?

    python bench/overload.py [--model cnn-bn-cifar10] [--seconds 5] [--recovery-seconds 3]
                             [--max-enqueued-batches 4] [--connections 1024 64]

Everything runs on this machine over loopback and stops by itself.

- The server is `zoo serve` (one worker, TF Serving's REST API) pinned to core 1, serving the
  model exported from its published weights (`zoo export --pretrained`, ONNX), one CIFAR-10 test
  image per request. cnn-bn-cifar10 (the heaviest CIFAR-10 model with published weights)
  saturates one core near 2,000 req/s; a closing generator check offers 4x that to a model the
  server does not have (404 before the body is parsed), to show the generator can.
- Its queue is bounded by a batching parameters file: max_batch_size 32, batch_timeout_micros 0,
  max_enqueued_batches 4 (`--max-enqueued-batches`): 128 waiting requests, about four batch run
  times. That keeps a full batch waiting whenever one finishes (the core never idles under load)
  while an accepted request waits at most a few batches; a request that needs a fifth batch is
  refused with 503.
- Saturation S is the rate of OK answers of a closed loop of 64 connections (two full batches in
  flight, never past the bound) over `--seconds`.
- The load is open-loop, so overload is real: requests fall due at fixed intervals (1/rate) and are
  sent on schedule, whatever the answers, on a free keep-alive HTTP/1.1 connection of a pool
  opened up front and used oldest first; when every one is busy a new connection is opened (up to
  `--max-connections`), as more clients would. One run per pool size of `--connections`: 1024
  (the pool rarely runs out, so the server's batch queue is what is measured) and 64 (new
  connections under load, so its accept path is measured too). Latency runs from when a request
  fell due, so a late send counts against the figures; `send lag p99` says how late the generator
  itself was, `new conns` how many requests went out on a connection opened for them. A request
  unanswered after `--timeout` seconds, one that finds `--max-connections` busy, a connection
  error, and any answer other than 200 or 503 are failed (counted by kind under each run). The
  generator is Python asyncio on uvloop, pinned to core 0.
- Phases: 0.5x, 1x, 2x and 4x S for `--seconds` each, with a second of rest between them so each
  starts from an empty queue; then, right after 4x, 0.5x again for `--recovery-seconds`. A phase's
  latencies are those of the requests that fell due in it, its OK req/s the OK answers that came
  within it. The recovery is also reported in 250 ms windows (by when requests fell due): it is
  over at the start of the first window from which on every window's p99 is within 2x the 1x
  phase's p99 (and, second figure, 2x the first 0.5x phase's: the same load before the overload),
  with nothing refused or failed.
- The server's own count of answers by status over each open-loop run is shown beside the
  client's.

The tables are printed and written to bench/results/overload.md (`--out`) with the machine and
versions. `tests/test_bench_overload.py` runs a short profile of it in the suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import results_file
import serve

from zoo import runs

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "overload.md"
MAX_BATCH_SIZE = 32
REST_SECONDS = 1.0
WINDOW_SECONDS = 0.25
CLOSED_CONNECTIONS = 64
OK, REFUSED = 200, 503
TIMEOUT, CONNECTION_ERROR, NO_CONNECTION = -1, -2, -3  # failures without an HTTP status


@dataclass(frozen=True)
class Phase:
    """`multiple` x the saturation rate for `seconds`, then `rest` seconds without requests."""

    name: str
    multiple: float
    seconds: float
    rest: float = 0.0


def phases(seconds: float, recovery_seconds: float) -> list[Phase]:
    loads = [Phase(f"{m:g}x", m, seconds, REST_SECONDS) for m in (0.5, 1, 2, 4)]
    overload = Phase(loads[-1].name, 4, seconds)  # no rest: the load drops straight to 0.5x
    return [*loads[:-1], overload, Phase("0.5x after 4x", 0.5, recovery_seconds)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cnn-bn-cifar10")
    parser.add_argument("--seconds", type=float, default=5.0, help="the saturation run, each phase")
    parser.add_argument("--recovery-seconds", type=float, default=3.0)
    parser.add_argument("--max-enqueued-batches", type=int, default=4, help="the queue bound")
    parser.add_argument(
        "--num-batch-threads",
        type=int,
        help="batch threads (default: the server's, 0 on one core: batches run on the event loop)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        nargs="+",
        default=[1024, 64],
        help="keep-alive connections opened up front, one open-loop run each",
    )
    parser.add_argument("--max-connections", type=int, default=4096, help="including new ones")
    parser.add_argument("--timeout", type=float, default=5.0, help="a request unanswered is failed")
    parser.add_argument("--work", type=Path, default=ROOT / "bench-runs" / "overload")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the tables are written")
    parser.add_argument("--generate", metavar="JSON", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate(json.loads(args.generate))
        return

    args.work.mkdir(parents=True, exist_ok=True)
    others_before = other_pytest_processes()
    model_dir = prepare(args.work, args.model)
    body = serve.bodies(args.model, serve.example(args.model), args.work)["tfs-rest"].path
    batching = args.work / "batching_parameters.txt"
    batching.write_text(
        f"max_batch_size {{ value: {MAX_BATCH_SIZE} }}\nbatch_timeout_micros {{ value: 0 }}\n"
        f"max_enqueued_batches {{ value: {args.max_enqueued_batches} }}\n"
        + threads_line(args.num_batch_threads)
    )
    rest_port = serve.free_port()
    rest = f"http://127.0.0.1:{rest_port}"
    command = [
        *(str(Path(sys.executable).parent / "zoo"), "serve", "--model-dir", str(model_dir)),
        *("--rest-port", str(rest_port), "--grpc-port", str(serve.free_port())),
        *("--models", args.model, "--batching-parameters-file", str(batching)),
    ]
    load = {
        "port": rest_port,
        "path": f"/v1/models/{args.model}:predict",
        "body": str(body),
        "timeout": args.timeout,
        "max_connections": args.max_connections,
    }
    schedule = phases(args.seconds, args.recovery_seconds)
    with serve.pinned_server(command, f"{rest}/v1/models/{args.model}", args.work / "serve.log"):
        run_generator({**load, "closed": 8, "seconds": 1.0}, args.work)  # warm up
        closed = {**load, "closed": CLOSED_CONNECTIONS, "seconds": args.seconds}
        saturation = int((run_generator(closed, args.work)["status"] == OK).sum() / args.seconds)
        bound = args.max_enqueued_batches * MAX_BATCH_SIZE
        text = (
            f"Saturation S: {saturation:,} req/s of {args.model} (OK answers of a closed loop of "
            f"{CLOSED_CONNECTIONS} connections). Queue bound: max_enqueued_batches "
            f"{args.max_enqueued_batches} x max_batch_size {MAX_BATCH_SIZE} = {bound} requests."
        )
        print(text, flush=True)
        for connections in args.connections:
            before, overflows = serve.metrics(rest), listen_overflows()
            segments = [
                segment
                for phase in schedule
                for segment in ((phase.multiple * saturation, phase.seconds), (0.0, phase.rest))
            ]
            spec = {**load, "segments": segments, "connections": connections}
            records = run_generator(spec, args.work)
            counted = server_answers(before, serve.metrics(rest), args.model)
            overflows = listen_overflows() - overflows
            section = report(records, schedule, connections, counted, overflows)
            print(section, flush=True)
            text += "\n\n" + section
        check = generator_check(
            load, 4 * saturation, args.seconds, max(args.connections), args.work
        )
        print(check, flush=True)
        text += "\n\n" + check
    quiet = f"other pytest processes at start and end: {others_before}, {other_pytest_processes()}"
    write_results(args.out, header(args, quiet) + text)


def generator_check(load: dict, rate: float, seconds: float, connections: int, work: Path) -> str:
    """Can the generator offer `rate` at all? The same requests to a model the server does not
    have, which it answers 404 before parsing the body: what is late or slow then is the
    generator's (or the server's HTTP layer's), not the model's or the queue's."""
    spec = {**load, "path": "/v1/models/no-such-model:predict", "connections": connections}
    records = run_generator({**spec, "segments": [(rate, seconds)]}, work)
    status, latency = records["status"], records["latency"] * 1e3
    return (
        f"Generator check: {rate:,.0f} req/s (4x S) for {seconds:g} s to a model the server does "
        f"not have: {int((status == 404).sum())} answered 404 (p99 "
        f"{cell(percentile(latency, 99))} ms), {int((status != 404).sum())} otherwise; send lag "
        f"p99 {cell(percentile(records['lag'] * 1e3, 99))} ms."
    )


def prepare(work: Path, name: str) -> Path:
    """Export the model from its published weights, unless an export is already there."""
    model_dir = work / "models"
    if not (model_dir / name / "1").is_dir():
        serve.zoo(
            *("export", "--pretrained", name, "--format", "onnx"),
            *("--model-dir", str(model_dir), "--runs-dir", str(work / "runs")),  # not the clone's
        )
    return model_dir


def run_generator(spec: dict, work: Path) -> dict[str, np.ndarray]:
    """Run the load generator pinned to core 0 and read back one record per request."""
    out = work / "records.npz"
    command = ["taskset", "-c", serve.CLIENT_CORE, sys.executable, __file__]
    duration = spec.get("seconds", 0) + sum(s for _, s in spec.get("segments", []))
    subprocess.run(
        [*command, "--generate", json.dumps({**spec, "out": str(out)})],
        check=True,
        timeout=duration + spec["timeout"] + 120,
    )
    with np.load(out) as records:
        return dict(records)


def other_pytest_processes() -> int:
    found = subprocess.run(["pgrep", "-f", "pytest"], capture_output=True, text=True).stdout
    return len([pid for pid in found.split() if int(pid) != os.getpid()])


def listen_overflows() -> int:
    """The kernel's count of connections dropped on a full accept queue, this network namespace."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    names, values = (line.split() for line in lines if line.startswith("TcpExt:"))
    return int(values[names.index("ListenOverflows")])


def server_answers(before: dict, after: dict, model: str) -> dict[str, int]:
    """The server's answers to `model` by status between two metric readings."""
    counts: dict[str, int] = {}
    for key, value in after.items():
        name, labels = key[0], dict(key[1])
        if name == ":tensorflow:serving:request_count_total" and labels["model_name"] == model:
            status = labels["status"]
            counts[status] = counts.get(status, 0) + int(value - before.get(key, 0.0))
    return counts


# The load generator: its own process, pinned to the client core.


def generate(spec: dict) -> None:
    """Offer the load `spec` describes and save one record per request: when it fell due (s from
    the start), its phase's segment, HTTP status (or a failure code), latency and send lag (s)."""
    import uvloop

    records = uvloop.run(offer(spec))
    np.savez(spec["out"], **{k: np.asarray(v) for k, v in records.items()})


async def offer(spec: dict) -> dict[str, list]:
    body = Path(spec["body"]).read_bytes()
    payload = (
        f"POST {spec['path']} HTTP/1.1\r\nHost: 127.0.0.1:{spec['port']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    pool = Pool(spec["port"], spec["max_connections"])
    if "closed" in spec:
        return await closed_loop(pool, payload, spec["closed"], spec["seconds"], spec["timeout"])
    segments, timeout = spec["segments"], spec["timeout"]
    return await OpenLoop(pool, payload, segments, timeout, spec["connections"]).run()


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one request at a time: `send` it the request
    and the function to call with the answer's status (CONNECTION_ERROR if it is lost first)."""

    def __init__(self, lost: Callable[[Connection], None]) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.answered: Callable[[int], None] | None = None
        self.lost = lost

    def connection_made(self, transport) -> None:
        self.transport = transport

    def send(self, payload: bytes, answered: Callable[[int], None]) -> None:
        self.answered = answered
        self.transport.write(payload)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        length = int(re.search(rb"\r\ncontent-length: *(\d+)", head)[1])
        if len(self.buffer) < end + 4 + length:
            return
        del self.buffer[: end + 4 + length]
        answered, self.answered = self.answered, None
        answered(int(head[9:12]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost(self)
        if self.answered is not None:
            answered, self.answered = self.answered, None
            answered(CONNECTION_ERROR)


class Pool:
    """Keep-alive connections to the server: the idle ones, and how many are open."""

    def __init__(self, port: int, limit: int) -> None:
        self.port, self.limit = port, limit
        self.idle: deque[Connection] = deque()  # oldest first: each is used before it idles out
        self.open = 0

    async def connect(self) -> Connection:
        self.open += 1
        try:
            loop = asyncio.get_running_loop()
            _, connection = await loop.create_connection(
                lambda: Connection(self._lost), "127.0.0.1", self.port
            )
        except OSError:
            self.open -= 1
            raise
        return connection

    def _lost(self, connection: Connection) -> None:
        self.open -= 1
        with contextlib.suppress(ValueError):
            self.idle.remove(connection)


async def closed_loop(
    pool: Pool, payload: bytes, connections: int, seconds: float, timeout: float
) -> dict[str, list]:
    """Each connection sends its next request when the last is answered, for `seconds`."""
    loop = asyncio.get_running_loop()
    records: dict[str, list] = {"due": [], "status": [], "latency": []}
    end = time.perf_counter() + seconds

    async def user() -> None:
        connection = await pool.connect()
        while (start := time.perf_counter()) < end:
            answer = loop.create_future()
            connection.send(payload, answer.set_result)
            try:
                status = await asyncio.wait_for(answer, timeout)
            except TimeoutError:
                status = TIMEOUT
            records["due"].append(start)
            records["status"].append(status)
            records["latency"].append(time.perf_counter() - start)
            if status < 0:
                connection.answered = None
                connection.transport.abort()
                connection = await pool.connect()
        connection.transport.close()

    await asyncio.gather(*(user() for _ in range(connections)))
    return records


class OpenLoop:
    """Requests at fixed intervals, each sent when it falls due on a free connection, whatever
    the answers; one that is not answered within `timeout` is failed and its connection closed."""

    def __init__(
        self,
        pool: Pool,
        payload: bytes,
        segments: list[tuple[float, float]],
        timeout: float,
        connections: int,
    ) -> None:
        self.pool, self.payload, self.timeout = pool, payload, timeout
        self.connections = connections
        self.due, self.segment = [], []
        start = 0.0
        for index, (rate, seconds) in enumerate(segments):
            count = round(rate * seconds)
            self.due += [start + k / rate for k in range(count)]
            self.segment += [index] * count
            start += seconds
        self.status = [0] * len(self.due)
        self.latency = [float("nan")] * len(self.due)
        self.lag = [float("nan")] * len(self.due)
        self.fresh = [False] * len(self.due)  # sent on a connection opened for it
        self.unfinished = len(self.due)
        self.finished = asyncio.Event()

    async def run(self) -> dict[str, list]:
        for _ in range(self.connections):  # opened up front: no burst of connects mid-phase
            self.pool.idle.append(await self.pool.connect())
        self.start = time.perf_counter() + 0.05
        for index, due in enumerate(self.due):
            wait = self.start + due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            if self.pool.idle:
                self.send(index, self.pool.idle.popleft())
            elif self.pool.open < self.pool.limit:
                asyncio.get_running_loop().create_task(self.send_on_new(index))
            else:
                self.done(index, NO_CONNECTION)
        if self.unfinished:
            await self.finished.wait()
        keys = ("due", "segment", "status", "latency", "lag", "fresh")
        return {key: getattr(self, key) for key in keys}

    async def send_on_new(self, index: int) -> None:
        self.fresh[index] = True
        try:
            connection = await self.pool.connect()
        except OSError:
            self.done(index, CONNECTION_ERROR)
        else:
            self.send(index, connection)

    def send(self, index: int, connection: Connection) -> None:
        self.lag[index] = time.perf_counter() - self.start - self.due[index]

        def answered(status: int) -> None:
            timer.cancel()
            if status > 0:
                self.pool.idle.append(connection)
            self.done(index, status)

        def expired() -> None:
            connection.answered = None  # the answer, if it comes, is no one's
            connection.transport.abort()
            self.done(index, TIMEOUT)

        remaining = self.start + self.due[index] + self.timeout - time.perf_counter()
        timer = asyncio.get_running_loop().call_later(remaining, expired)
        connection.send(self.payload, answered)

    def done(self, index: int, status: int) -> None:
        self.status[index] = status
        self.latency[index] = time.perf_counter() - self.start - self.due[index]
        self.unfinished -= 1
        if not self.unfinished:
            self.finished.set()


# The report.


def report(
    records: dict[str, np.ndarray],
    schedule: list[Phase],
    connections: int,
    counted: dict[str, int],
    overflows: int,
) -> str:
    """One open-loop run: a row per phase, the recovery's windows, and whether p99 came back."""
    starts = np.cumsum([0.0] + [phase.seconds + phase.rest for phase in schedule])
    rows = [summary(records, 2 * i, phase, starts[i]) for i, phase in enumerate(schedule)]
    windows = recovery_windows(records, 2 * (len(schedule) - 1), schedule[-1].seconds)
    p99 = {row[0]: float(row[4].replace(",", "")) for row in rows if row[4] != "-"}
    verdicts = []
    for name in ("1x", "0.5x"):
        limit = 2 * p99.get(name, float("nan"))
        after = recovered_after(windows, limit)
        when = f"after {after:.0f} ms" if after is not None else "not by the end of the phase"
        verdicts.append(f"within 2x the {name} phase's p99 ({limit:.1f} ms) {when}")
    status = records["status"]
    client = {"OK": int((status == OK).sum()), "UNAVAILABLE": int((status == REFUSED).sum())}
    return "\n".join(
        [
            f"## {connections} connections opened up front (more opened when all are busy)",
            "",
            results_file.markdown_table(PHASE_HEAD, rows),
            "",
            "Recovery: 0.5x S right after the 4x phase, in windows of 250 ms by when requests "
            "fell due.",
            "",
            results_file.markdown_table(WINDOW_HEAD, windows),
            "",
            f"- p99 back {verdicts[0]}; {verdicts[1]}.",
            f"- Failed: {failures(status)}.",
            f"- Answers counted by the server over the run: {counted}; by the client: {client} "
            "(the server also counts the answers that came after the client gave up).",
            f"- Connections the kernel dropped on the server's full accept queue (TcpExt "
            f"ListenOverflows; each costs its client a SYN retransmit, 1 s then 3 s): {overflows}.",
        ]
    )


def failures(status: np.ndarray) -> str:
    """The failed requests of a run by kind."""
    kinds = {
        "timeouts": status == TIMEOUT,
        "found all --max-connections busy": status == NO_CONNECTION,
        "connection errors": status == CONNECTION_ERROR,
        "other statuses": (status > 0) & (status != OK) & (status != REFUSED),
    }
    return ", ".join(f"{int(chosen.sum())} {kind}" for kind, chosen in kinds.items())


PHASE_HEAD = [
    "phase",
    "offered req/s",
    "OK req/s",
    "p50 ms",
    "p99 ms",
    "refused (503)",
    "refused p99 ms",
    "failed",
    "new conns",
    "send lag p99 ms",
]
WINDOW_HEAD = ["ms after the drop", "sent", "OK", "refused", "failed", "p50 ms", "p99 ms"]


def summary(records: dict[str, np.ndarray], segment: int, phase: Phase, start: float) -> list[str]:
    """One phase's row: latencies of the requests that fell due in it, OK req/s of the answers
    that came within it."""
    mine = records["segment"] == segment
    status, latency = records["status"][mine], records["latency"][mine] * 1e3
    ok, refused = latency[status == OK], latency[status == REFUSED]
    answered = records["due"] + records["latency"]
    within = (answered >= start) & (answered < start + phase.seconds) & (records["status"] == OK)
    return [
        phase.name,
        f"{len(status) / phase.seconds:,.0f}",
        f"{within.sum() / phase.seconds:,.0f}",
        cell(percentile(ok, 50)),
        cell(percentile(ok, 99)),
        str(len(refused)),
        cell(percentile(refused, 99)),
        str(int((status != OK).sum()) - len(refused)),
        str(int(records["fresh"][mine].sum())),
        cell(percentile(records["lag"][mine] * 1e3, 99)),
    ]


def percentile(values: np.ndarray, q: float) -> float:
    values = values[~np.isnan(values)]
    return float(np.percentile(values, q)) if len(values) else float("nan")


def cell(value: float) -> str:
    return "-" if value != value else f"{value:,.1f}"


def recovery_windows(
    records: dict[str, np.ndarray], segment: int, seconds: float
) -> list[list[str]]:
    """The recovery phase in windows of 250 ms, by when each request fell due."""
    mine = records["segment"] == segment
    due = records["due"][mine] - records["due"][mine].min()
    status, latency = records["status"][mine], records["latency"][mine] * 1e3
    windows = []
    for start in np.arange(0, seconds - 1e-9, WINDOW_SECONDS):
        inside = (due >= start) & (due < start + WINDOW_SECONDS)
        ok = latency[inside & (status == OK)]
        refused = int((inside & (status == REFUSED)).sum())
        failed = int(inside.sum()) - len(ok) - refused
        counts = [int(inside.sum()), len(ok), refused, failed]
        windows.append([f"{start * 1e3:.0f}", *map(str, counts), cell(percentile(ok, 50))])
        windows[-1].append(cell(percentile(ok, 99)))
    return windows


def recovered_after(windows: list[list[str]], limit_ms: float) -> float | None:
    """When the first window starts from which on every one is normal: p99 within `limit_ms`,
    nothing refused or failed; None if the last window is not."""
    normal = [
        w[6] != "-" and float(w[6].replace(",", "")) <= limit_ms and w[3] == w[4] == "0"
        for w in windows
    ]
    first = len(normal)
    while first and normal[first - 1]:
        first -= 1
    return float(windows[first][0]) if first < len(normal) else None


def header(args: argparse.Namespace, quiet: str) -> str:
    """The lines above the tables: how to measure them again, when, where and with what."""
    provenance = results_file.provenance()
    command = (
        f"--model {args.model} --seconds {args.seconds:g} --recovery-seconds "
        f"{args.recovery_seconds:g} --max-enqueued-batches {args.max_enqueued_batches} "
        f"--connections {' '.join(map(str, args.connections))}"
        + (
            ""
            if args.num_batch_threads is None
            else f" --num-batch-threads {args.num_batch_threads}"
        )
    )
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return (
        f"# python bench/overload.py {command}   ({when}, {provenance['machine']}; "
        f"server on core {serve.SERVER_CORE}, load generator on core "
        f"{serve.CLIENT_CORE}; {quiet})\n"
        f"# {', '.join(f'{k} {v}' for k, v in provenance['versions'].items())}\n\n"
    )


def threads_line(threads: int | None) -> str:
    return "" if threads is None else f"num_batch_threads {{ value: {threads} }}\n"


def write_results(path: Path, text: str) -> None:
    with runs.atomic_path(path) as tmp:
        tmp.write_text(text.strip() + "\n")


if __name__ == "__main__":
    main()
