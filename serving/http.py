"""The HTTP shell, a bare ASGI app: the body (size limit, gzip and deflate), the REST timeout and the
client's going, routing, and the one mapping of a ServingError to an HTTP status.

It routes /v2/ to KServe v2's REST API (kserve/rest_api.py), /v1/models/ to TF Serving's
(tfserving/rest_api.py), the Prometheus metrics at /monitoring/prometheus/metrics and /metrics, and
the playground at /. An unknown path is a 404, a known one asked with the wrong method a 405 with an
Allow header, each with `{"error": ...}`.

A bare ASGI callable on uvicorn (httptools, uvloop) is the fastest of the stacks that
bench/http_stack.py compares (fastest in every quiet run, up to 1.65x; docs/serving.md); one
regular expression per protocol routes, because each API has one URL shape.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Sequence

from zoo.serving.core import json_io, metrics
from zoo.serving.core.decoding import Decoder, LargeBody, Spool
from zoo.serving.core.errors import (
    DEADLINE_EXCEEDED,
    NOT_FOUND,
    RESOURCE_EXHAUSTED,
    UNAVAILABLE,
    InvalidArgument,
    MethodNotAllowed,
    NotFound,
    ResourceExhausted,
    ServingError,
    check_method,
)
from zoo.serving.core.limits import Limits
from zoo.serving.core.repository import Repository
from zoo.serving.core.runner import Runner
from zoo.serving.kserve.rest_api import KServeApi
from zoo.serving.playground import Playground
from zoo.serving.tfserving.rest_api import TfServingApi

HTTP_STATUS = {  # every other refusal is a 400, as in TF Serving
    NOT_FOUND: 404,
    RESOURCE_EXHAUSTED: 413,
    UNAVAILABLE: 503,
    DEADLINE_EXCEEDED: 504,
}
log = logging.getLogger(__name__)
JSON = b"application/json"
WBITS = {b"gzip": 16 + zlib.MAX_WBITS, b"deflate": zlib.MAX_WBITS}  # zlib's names for the formats
METRICS = metrics.CONTENT_TYPE.encode()


class HttpApp:
    """The ASGI application; every refusal is `{"error": ...}`."""

    def __init__(
        self,
        repository: Repository,
        runner: Runner,
        limits: Limits | None = None,
        playground: Playground | None = None,
        metrics_paths: Sequence[str] = metrics.PATHS,
    ) -> None:
        self.repository = repository
        self.metrics_paths = tuple(metrics_paths)  # none: --monitoring_config_file turned them off
        self.runner = runner
        self.limits = limits or Limits()
        self.decoder = Decoder(self.limits.large_body_bytes)
        self.tfserving = TfServingApi(repository, runner, self.decoder)
        self.kserve = KServeApi(repository, runner, self.decoder)
        self.playground = playground

    def close(self) -> None:
        """Stop the process that decodes large bodies, if one was started."""
        self.decoder.close()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":  # lifespan is off; nothing else is spoken here
            return
        headers = [(b"content-type", JSON)]
        guard = _Guard(receive, self.limits.rest_timeout_seconds)
        try:
            status, (answer, headers) = 200, await self._answer(scope, receive, guard)
        except MethodNotAllowed as exc:
            status, answer = 405, json_io.error(str(exc))
            headers.append((b"allow", exc.allowed.encode()))
        except ServingError as exc:
            status, answer = HTTP_STATUS.get(exc.code, 400), json_io.error(str(exc))
        except _Gone:  # no one is left to answer
            return
        except asyncio.CancelledError:
            reason = guard.given_up()
            if reason is None:  # the server is stopping: not ours to answer
                raise
            if reason == _Guard.GONE:  # no one is left to answer
                return
            seconds = f"{self.limits.rest_timeout_seconds:g} s (zoo serve --rest-api-timeout-in-ms)"
            if scope["method"] == "POST" and not guard.body_read:  # a slow sender: let it go
                status = 408
                answer = json_io.error(f"the request body did not arrive within {seconds}")
                headers.append((b"connection", b"close"))
            else:
                status = 504
                answer = json_io.error(f"Deadline exceeded: no answer within {seconds}")
        except Exception as exc:  # a bug, not the client's fault: say so, log it, keep serving
            log.exception("%s %s failed", scope["method"], scope["path"])
            status, answer = 500, json_io.error(f"internal error: {type(exc).__name__}: {exc}")
        finally:
            guard.close()
        headers.append((b"content-length", str(len(answer)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    async def _answer(
        self, scope, receive, guard: _Guard
    ) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """The answer's body and headers."""
        method, path = scope["method"], scope["path"]
        if path in self.metrics_paths:
            check_method(method, path, "GET")
            return self.runner.metrics.text(), [(b"content-type", METRICS)]
        if self.playground is not None and self.playground.serves(path):
            check_method(method, path, "GET")
            return self.playground.file(path)
        headers = dict(scope["headers"])
        body = b""
        if method == "POST":
            body = await self._body(receive, headers)
            guard.listen_soon()
        try:
            if path.startswith(KServeApi.PREFIX):
                return await self.kserve.answer(method, path, body, headers)
            answer = await self.tfserving.answer(method, path, body)
        finally:
            if isinstance(body, LargeBody):
                body.close()
        if answer is None:
            page = ", the playground at /" if self.playground is not None else ""
            raise NotFound(
                f"Not found: {method} {path} (zoo serves /v1/models/..., /v2/..., "
                f"{' and '.join(self.metrics_paths) or 'no metrics'}{page})"
            )
        return answer, [(b"content-type", JSON)]

    async def _body(self, receive, headers: dict[bytes, bytes]) -> bytes | LargeBody:
        """The request's body, decompressed when it says it is gzip or deflate (as Triton's clients
        send it when asked to compress); refused once it is above the size limit, unread when its
        Content-Length says so, and decompressed no further than the limit.

        Each chunk goes to the decoder's spool as it arrives, so that a large body is never
        joined, copied or decompressed on the loop in one go: a compressed chunk is inflated
        INFLATE_SLICE bytes at a time, other clients served between slices."""
        check = self.limits.check_size
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit():
            check(int(declared), "the request body")
        encoding = headers.get(b"content-encoding", b"identity")
        if encoding != b"identity" and encoding not in WBITS:
            raise InvalidArgument(
                f"Content-Encoding {encoding.decode(errors='replace')} is not supported: use gzip or deflate"
            )
        inflate = zlib.decompressobj(WBITS[encoding]) if encoding in WBITS else None
        spool, received = self.decoder.spool(), 0
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _Gone
                chunk = message.get("body", b"")
                received += len(chunk)
                check(received, "the request body")
                if inflate is None:
                    spool.write(chunk)
                else:
                    await _inflate(inflate, chunk, spool, encoding, self.limits)
                if not message.get("more_body"):
                    break
            if inflate is not None:
                await _inflate(inflate, b"", spool, encoding, self.limits, last=True)
            return spool.body()
        except BaseException:
            spool.discard()
            raise


INFLATE_SLICE = 1 << 20  # a millisecond or two of zlib


async def _inflate(
    inflate: zlib._Decompress,
    chunk: bytes,
    spool: Spool,
    encoding: bytes,
    limits: Limits,
    last: bool = False,
) -> None:
    """`chunk` decompressed into `spool`, to at most one byte past the limit (a small bomb stays
    small), a slice at a time; the `last` call takes what zlib still holds and checks the end."""
    while chunk or last:
        room = limits.max_request_bytes + 1 - spool.size
        try:
            if last:  # at most zlib's window, which a slice could leave behind
                spool.write(inflate.flush())
            else:
                spool.write(inflate.decompress(chunk, min(INFLATE_SLICE, room)))
        except zlib.error as exc:
            raise InvalidArgument(f"the body is not valid {encoding.decode()}: {exc}") from None
        if spool.size > limits.max_request_bytes:
            raise ResourceExhausted(
                f"the {encoding.decode()} body decompresses to more than this server's limit of "
                f"{limits.max_request_bytes:,} bytes (zoo serve --max-request-bytes)"
            )
        if last and not inflate.eof:
            raise InvalidArgument(f"the body is not valid {encoding.decode()}: it ends too soon")
        chunk, last = inflate.unconsumed_tail, False
        if chunk:
            await asyncio.sleep(0)


class _Gone(Exception):
    """The client went before its body had all arrived."""


class _Guard:
    """Gives a REST request up when its time is up or its client has gone, so that it leaves the
    batch queue (cancelling its task cancels the future it waits on) instead of being computed
    for no one.

    The client is listened for only once the body is read (`receive` would take its chunks) and
    the request has waited LISTEN_AFTER seconds: a request answered sooner costs two timers and
    no task. After the body, uvicorn's `receive` returns only when the client disconnects.
    """

    TIMEOUT, GONE = "timeout", "gone"
    LISTEN_AFTER = 0.05

    __slots__ = ("_listener", "_listening", "_receive", "_task", "_timer", "body_read", "reason")

    def __init__(self, receive, seconds: float) -> None:
        self.reason: str | None = None
        self.body_read = False
        self._task = asyncio.current_task()
        self._receive = receive
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(seconds, self._give_up, self.TIMEOUT) if seconds else None
        self._listening: asyncio.TimerHandle | None = None
        self._listener: asyncio.Future | None = None

    def listen_soon(self) -> None:
        """The body is read: listen for the client's going if the answer takes a while."""
        self.body_read = True
        self._listening = asyncio.get_running_loop().call_later(self.LISTEN_AFTER, self._listen)

    def _listen(self) -> None:
        self._listener = asyncio.ensure_future(self._receive())
        self._listener.add_done_callback(self._heard)

    def _heard(self, listener: asyncio.Future) -> None:
        if listener.cancelled() or listener.exception() is not None:
            return
        if listener.result().get("type") == "http.disconnect":
            self._give_up(self.GONE)

    def _give_up(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            self._task.cancel()

    def given_up(self) -> str | None:
        """Why the cancellation being handled is this guard's (None: it is not); taken back."""
        if self.reason is not None and hasattr(self._task, "uncancel"):  # Python 3.11+ counts
            self._task.uncancel()
        return self.reason

    def close(self) -> None:
        for pending in (self._timer, self._listening, self._listener):
            if pending is not None:
                pending.cancel()
