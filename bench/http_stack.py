"""Which HTTP stack should `zoo serve` stand on? Requests/s of a predict-shaped JSON endpoint per stack.

Each candidate serves `POST /v1/models/m:predict`: it parses a single-MNIST-image TF Serving body
(`{"instances": [[784 pixels]]}`, about 3 KB) with orjson and answers ten probabilities, so the
numbers measure the stack (HTTP parsing, routing, the event loop), not a model. The server is pinned
to CPU 0 and a keep-alive asyncio client (uvloop, raw sockets) to CPU 1, so "one core" means one core.

    python bench/http_stack.py [--seconds 3] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time

import orjson

STACKS = ("uvicorn-asgi", "starlette", "aiohttp")
PATH = "/v1/models/m:predict"
ANSWER = orjson.dumps({"predictions": [[0.1] * 10]})
BODY = orjson.dumps({"instances": [[float(i % 256) for i in range(784)]]})


def predict(body: bytes) -> bytes:
    """The endpoint's work: parse the body as the real server would, answer a fixed prediction."""
    if "instances" not in orjson.loads(body):
        raise ValueError("no instances")
    return ANSWER


def serve_uvicorn_asgi(port: int) -> None:
    """uvicorn with httptools and uvloop, and a bare ASGI callable: the leanest ASGI stack."""
    import uvicorn

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        answer = predict(body)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(answer)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    uvicorn.run(
        app, port=port, loop="uvloop", http="httptools", log_level="error", access_log=False
    )


def serve_starlette(port: int) -> None:
    """uvicorn (httptools, uvloop) with starlette's router and Request/Response objects."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def endpoint(request):
        return Response(predict(await request.body()), media_type="application/json")

    app = Starlette(routes=[Route(PATH, endpoint, methods=["POST"])])
    uvicorn.run(
        app, port=port, loop="uvloop", http="httptools", log_level="error", access_log=False
    )


def serve_aiohttp(port: int) -> None:
    """aiohttp's own server and router on uvloop."""
    import uvloop
    from aiohttp import web

    async def endpoint(request):
        return web.Response(body=predict(await request.read()), content_type="application/json")

    app = web.Application()
    app.router.add_post(PATH, endpoint)
    uvloop.install()
    web.run_app(app, port=port, access_log=None, print=None)


async def client(port: int, seconds: float, connections: int) -> float:
    """Keep-alive connections sending one request at a time each; returns requests/s."""
    request = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY
    done = 0
    deadline = time.perf_counter() + seconds

    async def connection():
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            done += 1
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    return done / (time.perf_counter() - start)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start")


def measure(stack: str, seconds: float, connections: int) -> float:
    port = free_port()
    server = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, __file__, "--serve", stack, "--port", str(port)]
    )
    try:
        wait_ready(port)
        import uvloop

        uvloop.run(client(port, 0.5, connections))  # warm up
        return uvloop.run(client(port, seconds, connections))
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--serve", choices=STACKS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        globals()[f"serve_{args.serve.replace('-', '_')}"](args.port)
        return
    os.sched_setaffinity(0, {1})
    rates = {stack: measure(stack, args.seconds, args.connections) for stack in STACKS}
    slowest = min(rates.values())
    print(f"{'stack':<14} {'req/s':>8} {'vs slowest':>11}")
    for stack, rate in sorted(rates.items(), key=lambda kv: -kv[1]):
        print(f"{stack:<14} {rate:>8,.0f} {rate / slowest:>10.2f}x")


if __name__ == "__main__":
    main()
