"""`zoo serve --access-log PATH|-`: one JSON line per request, on every front end.

    {"time": "2026-12-07T08:51:58.123456Z", "request_id": "3f2a9c1e-17", "protocol": "rest",
     "api": "tfserving.predict", "model": "cnn-mnist", "version": 1, "status": 200,
     "latency_us": 1234, "batch_size": 8, "bytes_in": 25123, "bytes_out": 412}

The REST front ends are wrapped as a whole (`AccessLogApp`, an ASGI wrapper around the HTTP shell)
and the gRPC services by a server interceptor (`AccessLogInterceptor`); neither is installed
without an access log, so a server without one does exactly what it did. What only the core
learns (model, version, batch size, KServe's request `id`) it writes into the request's `Record`
(core/request_record.py). The line is formatted on the event loop (a few µs) and written on
the log's own thread.

- `protocol`: "rest" or "grpc". `status`: the HTTP status (499 when the client left before the
  answer), or the gRPC status code's name ("OK", "NOT_FOUND", ...).
- `api`: what was asked, the same word on REST and gRPC: `tfserving.` + predict, classify,
  regress, multi_inference, metadata, status or reload_config; `kserve.` + infer, metadata,
  ready, config, health, server (server metadata) or repository (and a KServe or Triton RPC
  this list lacks, in snake case); `metrics`; `other` (the playground, an unknown path).
- `request_id`: the client's `x-request-id` header (REST) or metadata (gRPC), else KServe's
  request `id`, else one made here (this process's random prefix and a count).
- `model`, `version`, `batch_size` (the first input's first dimension): null where a request has
  none (health, an unknown model's version). `bytes_in`, `bytes_out`: the REST body as sent
  (compressed if it was), the gRPC message serialized.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import select
import stat
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timezone

import grpc
import orjson

from zoo.serving.core.request_record import CURRENT, Record
from zoo.serving.log_files import BackgroundWriter, append_only, write_all

STDOUT = "-"
CAPACITY = 16 * 2**20  # bytes of lines waiting for the writer; beyond, a line is dropped
REQUEST_ID = "x-request-id"
CLIENT_GONE = 499  # nginx's "client closed request": the REST client left before its answer
_TF_SERVING = re.compile(
    r"/v1/models/[^/:]+(?:/versions/\d+|/labels/[^/:]+)?(?:/(metadata)|:(predict|classify|regress))?"
)
_KSERVE_MODEL = re.compile(r"/v2/models/[^/]+(?:/versions/[^/]+)?(?:/(\w+))?")
_GRPC_APIS = {  # the RPCs whose word is not their name in snake case
    "GetModelMetadata": "metadata",
    "GetModelStatus": "status",
    "HandleReloadConfigRequest": "reload_config",
    "ModelInfer": "infer",
    "ModelMetadata": "metadata",
    "ModelReady": "ready",
    "ModelConfig": "config",
    "ServerLive": "health",
    "ServerReady": "health",
    "ServerMetadata": "server",
}
_SERVICES = {"tensorflow.serving": "tfserving", "inference": "kserve"}


def rest_api(path: str, metrics_paths: Sequence[str]) -> str:
    """The `api` of a REST request, from its path."""
    if path.startswith("/v1/"):
        found = _TF_SERVING.fullmatch(path)
        if found:
            return f"tfserving.{found[1] or found[2] or 'status'}"
    elif path.startswith("/v2/models/"):
        found = _KSERVE_MODEL.fullmatch(path)
        if found:
            return f"kserve.{found[1] or 'metadata'}"
    elif path.startswith("/v2/health/"):
        return "kserve.health"
    elif path.startswith("/v2/repository"):
        return "kserve.repository"
    elif path in ("/v2", "/v2/"):
        return "kserve.server"
    elif path in metrics_paths:
        return "metrics"
    return "other"


def grpc_api(method: str) -> str:
    """The `api` of a gRPC method, "/package.Service/Method"."""
    service, _, name = method.lstrip("/").rpartition("/")
    prefix = _SERVICES.get(service.rpartition(".")[0], "other")
    if name.startswith("Repository"):
        return f"{prefix}.repository"
    word = _GRPC_APIS.get(name) or re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
    return f"{prefix}.{word}"


class AccessLog:
    """The lines of one process, appended to `target` (a path, or "-": standard output) by a
    thread of their own, in writes of whole lines: so the workers of `--workers N` can share the
    file. To a pipe (standard output, often) no write is longer than PIPE_BUF, the most that
    the kernel keeps whole among several writers."""

    def __init__(self, target: str, on_drop: Callable[[], None] = lambda: None) -> None:
        self._fd = os.dup(1) if target == STDOUT else append_only(target)
        self._regular = stat.S_ISREG(os.fstat(self._fd).st_mode)
        self._ids = itertools.count(1)
        self._prefix = uuid.uuid4().hex[:8]  # this process's: ids stay unique across workers
        self._second, self._prefix_time = -1, ""
        self._writer = BackgroundWriter("access-log", self._write, CAPACITY, on_drop)

    @property
    def dropped(self) -> int:
        return self._writer.dropped

    def write(self, record: Record) -> None:
        """Log a request that has been answered (or refused), timing it now."""
        latency = time.perf_counter() - record.started
        self._writer.offer(
            orjson.dumps(self._line(record, latency), option=orjson.OPT_APPEND_NEWLINE)
        )

    def _write(self, lines: list[bytes]) -> None:
        if self._regular:  # the kernel appends a write to a file whole, however long
            write_all(self._fd, b"".join(lines))
            return
        chunk: list[bytes] = []
        size = 0
        for line in lines:
            if chunk and size + len(line) > select.PIPE_BUF:
                write_all(self._fd, b"".join(chunk))
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        if chunk:
            write_all(self._fd, b"".join(chunk))

    def _line(self, record: Record, latency: float) -> dict[str, object]:
        return {
            "time": self._time(record.time),
            "request_id": record.client_id or f"{self._prefix}-{next(self._ids)}",
            "protocol": record.protocol,
            "api": record.api,
            "model": record.model,
            "version": record.version,
            "status": record.status,
            "latency_us": round(latency * 1e6),
            "batch_size": record.batch_size,
            "bytes_in": record.bytes_in,
            "bytes_out": record.bytes_out,
        }

    def _time(self, when: float) -> str:
        """RFC 3339 in UTC with microseconds; the part up to the second is made once a second."""
        second = int(when)
        if second != self._second:
            moment = datetime.fromtimestamp(second, timezone.utc)
            self._second, self._prefix_time = second, moment.strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._prefix_time}.{int((when - second) * 1e6):06d}Z"

    def close(self) -> None:
        self._writer.close()
        os.close(self._fd)


class AccessLogApp:
    """The HTTP shell (an ASGI app) with each request logged: its status and the bytes of its
    body and answer are read off the messages it receives and sends."""

    def __init__(self, app, log: AccessLog, metrics_paths: Sequence[str]) -> None:
        self.app, self.log, self.metrics_paths = app, log, tuple(metrics_paths)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client_id = next(
            (v.decode(errors="replace") for k, v in scope["headers"] if k == b"x-request-id"), None
        )
        record = Record("rest", rest_api(scope["path"], self.metrics_paths), client_id)

        async def counted_receive():
            message = await receive()
            record.bytes_in += len(message.get("body", b""))
            return message

        async def counted_send(message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
            else:
                record.bytes_out += len(message.get("body", b""))
            await send(message)

        token = CURRENT.set(record)
        try:
            await self.app(scope, counted_receive, counted_send)
        finally:
            CURRENT.reset(token)
            if record.status is None:
                record.status = CLIENT_GONE
            self.log.write(record)


class AccessLogInterceptor(grpc.aio.ServerInterceptor):
    """Every unary RPC logged, with the status it ended with. Each method's handler is wrapped
    once and kept."""

    def __init__(self, log: AccessLog) -> None:
        self.log = log
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        wrapped = self._handlers.get(method)
        if wrapped is not None:
            return wrapped
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:  # unknown, or streaming: as it is
            return handler
        wrapped = self._handlers[method] = grpc.unary_unary_rpc_method_handler(
            self._logged(handler.unary_unary, grpc_api(method)),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        return wrapped

    def _logged(self, answer, api: str):
        log = self.log

        async def logged(request, context: grpc.aio.ServicerContext):
            metadata = context.invocation_metadata() or ()
            client_id = next((v for k, v in metadata if k == REQUEST_ID), None)
            record = Record("grpc", api, client_id or getattr(request, "id", None) or None)
            record.bytes_in = request.ByteSize()
            token, failed = CURRENT.set(record), None
            try:
                response = await answer(request, context)
                record.bytes_out = response.ByteSize()
                return response
            except asyncio.CancelledError:
                failed = grpc.StatusCode.CANCELLED
                raise
            except Exception:
                failed = grpc.StatusCode.UNKNOWN
                raise
            finally:
                CURRENT.reset(token)
                record.status = _code_name(context.code() or failed or grpc.StatusCode.OK)
                log.write(record)

        return logged


def _code_name(code: grpc.StatusCode | int) -> str:
    """A status code's name; grpc.aio's context gives the code an abort set as its number."""
    if isinstance(code, grpc.StatusCode):
        return code.name
    return next(c.name for c in grpc.StatusCode if c.value[0] == code)
