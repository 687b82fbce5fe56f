"""`zoo serve`: REST (uvicorn) and gRPC (grpc.aio) on one uvloop event loop, sharing one repository.

Both ports are claimed before any model loads (serving/ports.py), so a port in use is a one-line
error rather than a half-started server. With `workers` > 1 the parent claims them and spawns that
many processes (serving/workers.py), each serving exactly as the single process does, on the same
ports. SIGINT and SIGTERM stop the front ends, letting requests in flight finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import uvicorn
import uvloop

from zoo.serving import ports
from zoo.serving.core.batching import BatchingParameters, describe
from zoo.serving.core.errors import ServerError
from zoo.serving.core.limits import Limits
from zoo.serving.core.metrics import Metrics
from zoo.serving.core.repository import Repository
from zoo.serving.core.runner import Runner
from zoo.serving.core.version_labels import VersionLabels
from zoo.serving.http import HttpApp
from zoo.serving.kserve import grpc_api as kserve_grpc
from zoo.serving.playground import Playground
from zoo.serving.tfserving import grpc_api as tfserving_grpc
from zoo.serving.warmup import Warmup
from zoo.serving.workers import supervise

GRACE_SECONDS = 5.0
# TF Serving lifts gRPC's 4 MB default on what it receives and sends: a batch of images is bigger.


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handlers: the serving loop owns SIGINT and SIGTERM."""

    def capture_signals(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


@dataclass(frozen=True)
class _Settings:
    """What a serving process needs to build its own repository and front ends (it is pickled
    to each spawned worker, with the claimed ports)."""

    model_dir: Path
    host: str
    backend: str
    models: Sequence[str] | None
    poll_seconds: float
    version_labels: VersionLabels | None
    batching_parameters: BatchingParameters
    limits: Limits
    ui: bool


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
    workers: int = 1,
    limits: Limits | None = None,
    ui: bool = True,
) -> None:
    """Serve every model and version in `model_dir` until SIGINT or SIGTERM.

    Every version is batched with `batching_parameters` (the defaults of `BatchingParameters`
    when None), or with its model folder's own file. `workers` processes share the ports; one
    (the default) serves in this process. `ui` serves the playground page at / on the REST port.
    """
    settings = _Settings(
        model_dir,
        host,
        backend,
        models,
        poll_seconds,
        version_labels,
        batching_parameters or BatchingParameters.default(),
        limits or Limits(),
        ui,
    )
    with ports.claim(host, rest_port, grpc_port) as claimed:
        if workers == 1:
            _serve_here(settings, claimed, log)
        else:
            supervise(workers, functools.partial(_worker, settings, claimed, log), log)


def _serve_here(
    settings: _Settings,
    claimed: ports.Ports,
    log: Callable[[str], None],
    ready: Callable[[], None] = lambda: None,
) -> None:
    """Load the repository and serve it in this process, calling `ready` once requests are answered."""
    metrics = Metrics()
    repository = Repository(
        settings.model_dir,
        settings.backend,
        settings.models,
        log,
        settings.version_labels,
        settings.batching_parameters,
        warm=Warmup(metrics, settings.limits),
    )
    # Until the serving loop owns SIGTERM, it stops the loading at once, as a clean exit.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    repository.poll()
    if not repository.models:
        wanted = f" among {', '.join(settings.models)}" if settings.models else ""
        raise ServerError(
            f"no models to serve in {settings.model_dir}{wanted}: export one with `zoo export`"
        )
    uvloop.run(_serve(repository, metrics, claimed, settings, log, ready))


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _worker(
    settings: _Settings,
    claimed: ports.Ports,
    log: Callable[[str], None],
    index: int,
    ready: Callable[[], None],
) -> None:
    """Worker `index` of several. Worker 0 logs as a lone server does; the others load the same
    files, so repeating its loads and banner would only bury the lines that differ: their failures."""
    _serve_here(settings, claimed, log if index == 0 else _FailuresOnly(index, log), ready)


@dataclass(frozen=True)
class _FailuresOnly:
    """The log of a worker after the first: only the versions it failed to load, marked as its own."""

    index: int
    log: Callable[[str], None]

    def __call__(self, line: str) -> None:
        if " failed to load: " in line:  # the repository's wording of a failed load
            self.log(f"worker {self.index}: {line}")


async def _serve(
    repository: Repository,
    metrics: Metrics,
    claimed: ports.Ports,
    settings: _Settings,
    log: Callable[[str], None],
    ready: Callable[[], None],
) -> None:
    loop = asyncio.get_running_loop()
    runner = Runner(loop, repository.batching.num_batch_threads, metrics)
    grpc_server = grpc.aio.server(options=settings.limits.grpc_options())
    # TF Serving's PredictionService and ModelService and KServe v2's GRPCInferenceService, one port.
    tfserving_grpc.add_services(grpc_server, repository, runner, settings.limits)
    kserve_grpc.add_services(grpc_server, repository, runner)
    host, grpc_port = settings.host, claimed.grpc_port
    try:
        grpc_server.add_insecure_port(f"{host}:{grpc_port}")
    except RuntimeError:
        raise ServerError(f"cannot listen on {host}:{grpc_port} (gRPC)") from None
    await grpc_server.start()
    config = uvicorn.Config(
        HttpApp(repository, runner, settings.limits, Playground() if settings.ui else None),
        http="httptools",
        lifespan="off",
        log_level="warning",
        access_log=False,
        proxy_headers=False,  # no proxy in front by default: its middleware costs every request
        server_header=False,
        timeout_graceful_shutdown=GRACE_SECONDS,
    )
    rest = _Uvicorn(config)
    rest_task = asyncio.create_task(rest.serve(sockets=[claimed.rest]))
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    rest_host, rest_port = claimed.rest.getsockname()[:2]
    log(f"REST on http://{rest_host}:{rest_port}/v1/models/ and /v2/, gRPC on {host}:{grpc_port}")
    if settings.ui:
        log(f"  playground: http://{rest_host}:{rest_port}/ (--no-ui turns it off)")
    log(f"  batching: {describe(repository.batching)}")
    for name, versions in repository.models.items():
        labels = "".join(f", {k}={v}" for k, v in repository.version_labels.get(name, {}).items())
        log(f"  {name}: versions {', '.join(map(str, versions))} (default {versions[-1]}{labels})")
    # Everything loaded so far (TensorFlow's modules, the models) lives as long as the server: keep
    # the cyclic garbage collector from walking it again, which paused requests for ~0.2 s.
    gc.freeze()
    ready()

    poller = asyncio.create_task(_poll(repository, runner.metrics, settings.poll_seconds, log))
    await stop.wait()
    log("shutting down")
    poller.cancel()
    rest.should_exit = True
    await asyncio.gather(rest_task, grpc_server.stop(GRACE_SECONDS))
    runner.close()


async def _poll(
    repository: Repository, metrics: Metrics, seconds: float, log: Callable[[str], None]
) -> None:
    """Re-scan the repository off the loop: loading a model must not stall requests. A poll that
    fails is logged and the next one tried: the versions being served stay served."""
    while True:
        metrics.versions_loaded(repository.models)
        await asyncio.sleep(seconds)
        try:
            await asyncio.to_thread(repository.poll)
        except Exception as exc:
            log(f"poll of {repository.model_dir} failed, serving on: {type(exc).__name__}: {exc}")
