"""Large and slow request bodies: one client's must not hold the others.

A body of --large-body-bytes or more is decoded in a process of its own (serving/core/decoding.py):
its answers and refusals must be the very ones of a body decoded on the event loop. A body that
does not arrive within the REST timeout gets a 408 and its connection is closed, while the other
clients are answered. The figures (small requests' latency while 60 MB bodies arrive, resident size
across reloads) are bench/big_bodies.py's and bench/reloads.py's; their short profiles run here.
"""

import contextlib
import gzip
import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from helpers import Server, examples, running, v2_input

from zoo.serving.core.decoding import SHARED_MEMORY

BENCH = Path(__file__).resolve().parents[1] / "bench"
IMAGES = 40  # a body of about 100 KB: "large" for a server told 1,000 bytes is


def test_large_bodies_decoded_elsewhere_answer_as_on_the_loop(cnn_mnist_root):
    images = examples("cnn-mnist", IMAGES)
    bodies = {
        "/v1/models/cnn-mnist:predict": [
            {"instances": images.tolist()},  # the fast path
            {"inputs": {"images": images.tolist()}, "signature_name": "serving_default"},
            {"instances": [{"images": image} for image in images.tolist()]},  # orjson's
            {"instances": images.tolist(), "signature_name": "nope"},  # refused
            {"instances": images[:, :20].tolist()},  # the wrong shape: refused
        ],
        "/v2/models/cnn-mnist/infer": [
            {"inputs": [v2_input(images)]},
            {"inputs": [{**v2_input(images), "shape": [IMAGES, 28, 28]}]},  # refused
        ],
    }
    answers = {}
    for large in ("0", "1000"):
        options = ("--large-body-bytes", large)
        with running(Server(cnn_mnist_root, *options, log=f"large-{large}.log")) as server:
            answers[large] = [
                server.rest(path, json.dumps(body))
                for path, lots in bodies.items()
                for body in lots
            ]
            many = np.concatenate([images] * 15)  # 1.5 MB of JSON: inflated a slice at a time
            gzipped = gzip.compress(json.dumps({"inputs": [v2_input(many)]}).encode())
            answers[large].append(gzip_post(server, "/v2/models/cnn-mnist/infer", gzipped))
    assert answers["1000"] == answers["0"]
    assert [status for status, _ in answers["0"]] == [200, 200, 200, 400, 400, 200, 400, 200]


def gzip_post(server: Server, path: str, body: bytes) -> tuple[int, dict]:
    """(status, answer) of a POST of a gzip body."""
    request = urllib.request.Request(
        server.url + path, data=body, headers={"Content-Encoding": "gzip"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_large_bodies_leave_nothing_in_shared_memory(cnn_mnist_root):
    """A large body is received into a file in shared memory, and its arrays come back in
    another: none is left after requests answered, refused, or given up by their client before
    its body had all arrived or while it was decoded."""
    images = examples("cnn-mnist", IMAGES)
    good = json.dumps({"instances": images.tolist()}).encode()
    bad = json.dumps({"instances": images[:, :20].tolist()}).encode()
    path = "/v1/models/cnn-mnist:predict"
    with running(Server(cnn_mnist_root, "--large-body-bytes", "1000", log="shm.log")) as server:

        def left(kind: str = "") -> list[Path]:
            return sorted(SHARED_MEMORY.glob(f"zoo-{server.process.pid}-{kind}*"))

        assert server.rest(path, good)[0] == 200
        assert server.rest(path, bad)[0] == 400
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(good)}\r\n\r\n"
        with socket.create_connection(("127.0.0.1", server.rest_port)) as going:
            going.sendall(head.encode() + good[: len(good) // 2])  # half the body, then gone
            assert until(lambda: left("body-")), "the body was not received into shared memory"
        many = json.dumps({"instances": np.concatenate([images] * 50).tolist()}).encode()
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(many)}\r\n\r\n"
        for _ in range(3):  # the whole body, and gone while it is decoded
            with socket.create_connection(("127.0.0.1", server.rest_port)) as going:
                going.sendall(head.encode() + many)
                time.sleep(0.1)
        assert server.rest(path, good)[0] == 200
        assert until(lambda: not left()), left()


def until(condition, seconds: float = 20.0) -> bool:
    """Whether `condition()` came true within `seconds` (polled)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_slow_body_gets_408_while_other_clients_are_answered(cnn_mnist_root):
    options = ("--rest-api-timeout-in-ms", "1500")
    with running(Server(cnn_mnist_root, *options, log="slow-body.log")) as server:
        body = json.dumps({"instances": examples("cnn-mnist", 1).tolist()}).encode()
        slow = socket.create_connection(("127.0.0.1", server.rest_port))
        slow.sendall(
            b"POST /v1/models/cnn-mnist:predict HTTP/1.1\r\nHost: x\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        started, answered, sent = time.monotonic(), [], 0
        slow.setblocking(False)
        answer = b""
        while not answer and time.monotonic() - started < 10:
            if sent < len(body):  # a few bytes now and then: never the whole body in time
                slow.send(body[sent : sent + 4])
                sent += 4
            answered.append(server.rest("/v1/models/cnn-mnist:predict", body)[0])
            time.sleep(0.1)
            with contextlib.suppress(BlockingIOError):
                answer = slow.recv(65536)
        waited = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b"did not arrive within 1.5 s" in answer
        assert waited >= 1.5
        assert answered and set(answered) == {200}, answered  # others answered meanwhile
        slow.setblocking(True)
        slow.settimeout(5)
        assert slow.recv(65536) == b""  # the server closed the slow connection


@pytest.mark.skipif(not shutil.which("taskset"), reason="pins the server and the load to cores")
def test_the_large_body_benchmark_runs_and_fails_no_small_request(tmp_path):
    out = tmp_path / "big_bodies.md"
    command = [
        *(sys.executable, str(BENCH / "big_bodies.py"), "--seconds", "1", "--rate", "50"),
        *("--big-mb", "4", "--every", "0.5", "--work", str(tmp_path), "--out", str(out)),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = [line.strip("| ").split(" | ") for line in out.read_text().splitlines()]
    rows = [cells for cells in rows if cells[0].startswith(("on the loop", "off the loop"))]
    assert len(rows) == 8
    for cells in rows:
        assert cells[6] == "0", cells  # no small request failed
        answered = "2 (200)" if "valid" in cells[1] else "2 (400)"  # refused once decoded
        assert cells[7] == ("-" if "alone" in cells[1] else answered), cells


@pytest.mark.skipif(not shutil.which("taskset"), reason="pins the server to a core")
def test_the_reload_benchmark_runs_and_fails_no_request(tmp_path):
    out = tmp_path / "reloads.md"
    command = [
        *(sys.executable, str(BENCH / "reloads.py"), "--reloads", "12", "--poll-seconds", "0.1"),
        *("--work", str(tmp_path), "--out", str(out)),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = out.read_text()
    assert "After 10 reloads:" in text and "after 12:" in text
    answered = re.search(r"([\d,]+) answered 200, 0 otherwise\.", text)
    assert answered and int(answered[1].replace(",", "")) > 0, text
