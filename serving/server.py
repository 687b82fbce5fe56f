"""`zoo serve`: REST (uvicorn) and gRPC (grpc.aio) on one uvloop event loop, sharing one repository.

The REST socket is bound before anything starts, so a port in use is a one-line error rather than a
half-started server; SIGINT and SIGTERM stop both front ends, letting requests in flight finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import socket
from collections.abc import Callable, Sequence
from pathlib import Path

import grpc
import uvicorn
import uvloop

from serving.batching import BatchingParameters, describe
from serving.errors import ServerError
from serving.grpc_service import add_services
from serving.metrics import Metrics
from serving.repository import Repository
from serving.rest import RestApp
from serving.runner import Runner
from serving.version_labels import VersionLabels

GRACE_SECONDS = 5.0
# TF Serving lifts gRPC's 4 MB default on what it receives and sends: a batch of images is bigger.
GRPC_OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handlers: the serving loop owns SIGINT and SIGTERM."""

    def capture_signals(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


def serve(
    model_dir: Path,
    host: str = "127.0.0.1",
    rest_port: int = 8501,
    grpc_port: int = 8500,
    backend: str = "onnx",
    models: Sequence[str] | None = None,
    poll_seconds: float = 2.0,
    log: Callable[[str], None] = print,
    version_labels: VersionLabels | None = None,
    batching_parameters: BatchingParameters | None = None,
) -> None:
    """Serve every model and version in `model_dir` until SIGINT or SIGTERM.

    Every version is batched with `batching_parameters` (the defaults of `BatchingParameters`
    when None), or with its model folder's own file.
    """
    batching_parameters = batching_parameters or BatchingParameters.default()
    repository = Repository(model_dir, backend, models, log, version_labels, batching_parameters)
    repository.poll()
    if not repository.models:
        wanted = f" among {', '.join(models)}" if models else ""
        raise ServerError(
            f"no models to serve in {model_dir}{wanted}: export one with `zoo export`"
        )
    rest_socket = _bind(host, rest_port)
    try:
        uvloop.run(_serve(repository, rest_socket, host, grpc_port, poll_seconds, log))
    finally:
        rest_socket.close()


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServerError(f"cannot listen on {host}:{port} (REST): {exc.strerror}") from None
    sock.listen(1024)
    return sock


async def _serve(
    repository: Repository,
    rest_socket: socket.socket,
    host: str,
    grpc_port: int,
    poll_seconds: float,
    log: Callable[[str], None],
) -> None:
    loop = asyncio.get_running_loop()
    runner = Runner(loop, repository.batching.num_batch_threads)
    grpc_server = grpc.aio.server(options=GRPC_OPTIONS)
    add_services(grpc_server, repository, runner)
    try:
        grpc_server.add_insecure_port(f"{host}:{grpc_port}")
    except RuntimeError:
        raise ServerError(f"cannot listen on {host}:{grpc_port} (gRPC): port in use?") from None
    await grpc_server.start()
    config = uvicorn.Config(
        RestApp(repository, runner),
        http="httptools",
        lifespan="off",
        log_level="warning",
        access_log=False,
        proxy_headers=False,  # no proxy in front by default: its middleware costs every request
        server_header=False,
        timeout_graceful_shutdown=GRACE_SECONDS,
    )
    rest = _Uvicorn(config)
    rest_task = asyncio.create_task(rest.serve(sockets=[rest_socket]))
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    rest_host, rest_port = rest_socket.getsockname()[:2]
    log(f"REST on http://{rest_host}:{rest_port}/v1/models/ and /v2/, gRPC on {host}:{grpc_port}")
    log(f"  batching: {describe(repository.batching)}")
    for name, versions in repository.models.items():
        labels = "".join(f", {k}={v}" for k, v in repository.version_labels.get(name, {}).items())
        log(f"  {name}: versions {', '.join(map(str, versions))} (default {versions[-1]}{labels})")
    # Everything loaded so far (TensorFlow's modules, the models) lives as long as the server: keep
    # the cyclic garbage collector from walking it again, which paused requests for ~0.2 s.
    gc.freeze()

    poller = asyncio.create_task(_poll(repository, runner.metrics, poll_seconds))
    await stop.wait()
    log("shutting down")
    poller.cancel()
    rest.should_exit = True
    await asyncio.gather(rest_task, grpc_server.stop(GRACE_SECONDS))
    runner.close()


async def _poll(repository: Repository, metrics: Metrics, seconds: float) -> None:
    """Re-scan the repository off the loop: loading a model must not stall requests."""
    while True:
        metrics.versions_loaded(repository.models)
        await asyncio.sleep(seconds)
        await asyncio.to_thread(repository.poll)
