"""`zoo serve`: REST (uvicorn) and gRPC (grpc.aio) on one uvloop event loop, sharing one repository.

Both ports are claimed before any model loads (serving/ports.py), so a port in use is a one-line
error rather than a half-started server. With `workers` > 1 the parent claims them and spawns that
many processes (serving/workers.py), each serving exactly as the single process does, on the same
ports. SIGINT and SIGTERM stop the front ends, letting requests in flight finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import gc
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import grpc
import uvicorn
import uvloop

from zoo.serving import cors, ports
from zoo.serving.core.batching import BatchingParameters, describe
from zoo.serving.core.errors import ServerError
from zoo.serving.core.execution import Execution
from zoo.serving.core.limits import Limits
from zoo.serving.core.metrics import PATHS, Metrics
from zoo.serving.core.model_control import EXPLICIT, ModelControl
from zoo.serving.core.model_sources import ModelSources
from zoo.serving.core.repository import Repository
from zoo.serving.core.runner import Runner
from zoo.serving.http import HttpApp
from zoo.serving.kserve import grpc_api as kserve_grpc
from zoo.serving.playground import Playground
from zoo.serving.request_logs import RequestLogs
from zoo.serving.tfserving import grpc_api as tfserving_grpc
from zoo.serving.tls import Tls, add_grpc_port, rest_scheme, uvicorn_options
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

    sources: ModelSources
    host: str
    backend: str
    poll_seconds: float
    config_poll_seconds: float
    batching_parameters: BatchingParameters
    limits: Limits
    ui: bool
    grpc_arguments: Sequence[tuple[str, int | str]]
    metrics_paths: Sequence[str]
    control: ModelControl
    execution: Execution
    request_logs: RequestLogs
    tls: Tls | None = None
    cors_origins: Sequence[str] = ()


def serve(
    sources: ModelSources,
    host: str = "127.0.0.1",
    rest_port: int = 8501,
    grpc_port: int = 8500,
    backend: str = "onnx",
    poll_seconds: float = 2.0,
    log: Callable[[str], None] = print,
    batching_parameters: BatchingParameters | None = None,
    workers: int = 1,
    limits: Limits | None = None,
    ui: bool = True,
    config_poll_seconds: float = 0.0,
    grpc_arguments: Sequence[tuple[str, int | str]] = (),
    metrics_paths: Sequence[str] = PATHS,
    tls: Tls | None = None,
    cors_origins: Sequence[str] = (),
    model_control: ModelControl | None = None,
    execution: Execution | None = None,
    request_logs: RequestLogs | None = None,
) -> None:
    """Serve every model `sources` names until SIGINT or SIGTERM.

    The file system is polled for new and removed versions every `poll_seconds` (0: only at
    start) and the sources read again every `config_poll_seconds` (0: never), as TF Serving's
    --file_system_poll_wait_seconds and --model_config_file_poll_wait_seconds. Every version is
    batched with `batching_parameters` (the defaults of `BatchingParameters` when None), or with
    its model folder's own file. `workers` processes share the ports; one (the default) serves in
    this process. `ui` serves the playground page at / on the REST port; `grpc_arguments` are
    gRPC server options set after zoo's own; the metrics are served at `metrics_paths`. `tls`
    (serving/tls.py) puts gRPC, and REST where it says, behind TLS; `cors_origins`
    (serving/cors.py) are the web pages' origins allowed to call REST.
    `model_control` is Triton's --model-control-mode (poll, the default, polls as above; none and
    explicit never poll); explicit needs one worker, since a load asked of one worker would not
    reach the others.
    Each version runs with `execution`'s threads and device (execution.py: by default the cores
    shared among the workers).
    `request_logs` says which request logs to write (none by default).
    """
    control = model_control or ModelControl()
    if control.mode == EXPLICIT and workers > 1:
        raise ServerError(
            "--model-control-mode explicit serves with one worker (--workers 1): a load or "
            "unload asked of one worker would not reach the others"
        )
    settings = _Settings(
        sources,
        host,
        backend,
        poll_seconds,
        config_poll_seconds,
        batching_parameters or BatchingParameters.default(),
        limits or Limits(),
        ui,
        tuple(grpc_arguments),
        tuple(metrics_paths),
        control,
        replace(execution or Execution(), workers=workers),
        request_logs or RequestLogs(),
        tls,
        tuple(cors_origins),
    )
    settings.request_logs.check()
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
        settings.sources,
        settings.backend,
        log,
        settings.batching_parameters,
        warm=Warmup(metrics, settings.limits),
        control=settings.control,
        execution=settings.execution,
    )
    # Until the serving loop owns SIGTERM, it stops the loading at once, as a clean exit.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        repository.start()
        if not repository.models and settings.control.mode != EXPLICIT:
            raise ServerError(
                f"no models to serve in {settings.sources.describe()}: export one with `zoo export`"
            )
    except BaseException:
        # On its way out: a SIGTERM now (a supervisor stopping every worker) must not raise
        # again inside the exit's own clean-up, which prints a traceback after the one line.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise
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
    settings = dataclasses.replace(settings, request_logs=settings.request_logs.for_worker(index))
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
    logs = settings.request_logs.start(metrics)
    runner = Runner(loop, repository.batching.num_batch_threads, metrics, logs.payload)
    options = dict(settings.limits.grpc_options())
    options.update(settings.grpc_arguments)  # --grpc_channel_arguments: the user's word is last
    grpc_server = grpc.aio.server(options=list(options.items()), interceptors=logs.interceptors())
    # TF Serving's PredictionService and ModelService and KServe v2's GRPCInferenceService, one port.
    tfserving_grpc.add_services(grpc_server, repository, runner, settings.limits)
    kserve_grpc.add_services(grpc_server, repository, runner)
    host, grpc_port = settings.host, claimed.grpc_port
    try:
        add_grpc_port(grpc_server, f"{host}:{grpc_port}", settings.tls)
    except RuntimeError:
        raise ServerError(f"cannot listen on {host}:{grpc_port} (gRPC)") from None
    await grpc_server.start()
    app = HttpApp(
        repository,
        runner,
        settings.limits,
        Playground() if settings.ui else None,
        settings.metrics_paths,
    )
    config = uvicorn.Config(
        cors.wrap(logs.http(app, settings.metrics_paths), settings.cors_origins),
        http="httptools",
        lifespan="off",
        log_level="warning",
        access_log=False,
        proxy_headers=False,  # no proxy in front by default: its middleware costs every request
        server_header=False,
        timeout_graceful_shutdown=GRACE_SECONDS,
        **uvicorn_options(settings.tls),
    )
    rest = _Uvicorn(config)
    rest_task = asyncio.create_task(rest.serve(sockets=[claimed.rest]))
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    rest_host, rest_port = claimed.rest.getsockname()[:2]
    url = f"{rest_scheme(settings.tls)}://{rest_host}:{rest_port}"
    log(f"REST on {url}/v1/models/ and /v2/, gRPC on {host}:{grpc_port}")
    if settings.ui:
        log(f"  playground: {url}/ (--no-ui turns it off)")
    if settings.tls:
        log(f"  {settings.tls.describe()}")
    if settings.cors_origins:
        log(f"  CORS: {cors.describe(settings.cors_origins)}")
    log(f"  batching: {describe(repository.batching)}")
    if not settings.control.polls:
        log(f"  model control: {settings.control.describe()}")
    for line in settings.request_logs.describe():
        log(f"  {line}")
    for name, versions in repository.models.items():
        labels = "".join(f", {k}={v}" for k, v in repository.version_labels.get(name, {}).items())
        log(f"  {name}: versions {', '.join(map(str, versions))} (default {versions[-1]}{labels})")
    # Everything loaded so far (TensorFlow's modules, the models) lives as long as the server: keep
    # the cyclic garbage collector from walking it again, which paused requests for ~0.2 s.
    gc.freeze()
    ready()

    runner.metrics.versions_loaded(repository.models)
    pollers = [
        asyncio.create_task(_every(seconds, poll, repository, runner.metrics, log))
        for seconds, poll in (
            (settings.poll_seconds, repository.poll),
            (settings.config_poll_seconds, repository.reload),
        )
        if seconds > 0 and settings.control.polls
    ]
    await stop.wait()
    log("shutting down")
    for poller in pollers:
        poller.cancel()
    rest.should_exit = True
    await asyncio.gather(rest_task, grpc_server.stop(GRACE_SECONDS))
    app.close()
    runner.close()
    logs.close(log)


async def _every(
    seconds: float,
    poll: Callable[[], None],
    repository: Repository,
    metrics: Metrics,
    log: Callable[[str], None],
) -> None:
    """Run `poll` (a re-scan or a re-read of the sources) every `seconds`, off the loop: loading a
    model must not stall requests. A poll that fails (a config file made bad) is logged and the
    next one tried: the versions being served stay served."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await asyncio.to_thread(poll)  # the repository polls one at a time
        except Exception as exc:
            log(
                f"poll of {repository.sources.describe()} failed, serving on: "
                f"{type(exc).__name__}: {exc}"
            )
        metrics.versions_loaded(repository.models)
