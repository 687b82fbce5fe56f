"""The request logs of `zoo serve`, off unless asked for: the access log (access_log.py, one JSON
line per request) and the payload log (payload_log.py, sampled requests and answers as
PredictionLog records). `RequestLogs` is what the command line asks for, checked before any model
loads; `start` opens them in a serving process and says what to wrap with them.

Under `--workers N` every worker appends to the one access log, and worker I writes its own
payload log, PATH.workerI (two processes cannot rotate one file).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from prometheus_client import Counter

from zoo.serving.access_log import STDOUT, AccessLog, AccessLogApp, AccessLogInterceptor
from zoo.serving.core.errors import ServerError
from zoo.serving.core.metrics import Metrics
from zoo.serving.log_files import append_only
from zoo.serving.payload_log import PayloadLog

MAX_BYTES = 64 * 2**20  # a payload log file's size before it is rotated


@dataclass(frozen=True)
class RequestLogs:
    """Which logs to write: `access` a path or "-" (standard output), `payload` a path, each
    request kept with probability `sample_rate`, files rotated at `max_bytes`. None: no log."""

    access: str | None = None
    payload: Path | None = None
    sample_rate: float = 1.0
    max_bytes: int | None = None  # None: MAX_BYTES

    @property
    def rotated_at(self) -> int:
        return self.max_bytes or MAX_BYTES

    def check(self) -> None:
        """ServerError, before anything loads, if a log cannot be written where asked: the
        access log is opened (made if missing, as it will be), the payload log's folder checked
        (the workers' files are named after it)."""
        if self.access not in (None, STDOUT):
            try:
                os.close(append_only(self.access))
            except OSError as exc:
                raise ServerError(
                    f"cannot write the access log {self.access}: {exc.strerror}"
                ) from None
        if self.payload is not None:
            folder = self.payload.parent
            if self.payload.is_dir() or not folder.is_dir() or not os.access(folder, os.W_OK):
                raise ServerError(
                    f"cannot write the payload log {self.payload}: it must be a file in a "
                    "folder that exists and can be written"
                )

    def for_worker(self, index: int) -> RequestLogs:
        """The logs of worker `index`: its own payload log file."""
        if self.payload is None:
            return self
        return dataclasses.replace(self, payload=Path(f"{self.payload}.worker{index}"))

    def describe(self) -> list[str]:
        """A line for the server's banner per log written."""
        lines = []
        if self.access is not None:
            lines.append(f"access log: {'stdout' if self.access == STDOUT else self.access}")
        if self.payload is not None:
            lines.append(
                f"payload log: {self.payload} (sample rate {self.sample_rate:g}, rotated at "
                f"{self.rotated_at:,} bytes)"
            )
        return lines

    def start(self, metrics: Metrics) -> OpenLogs:
        dropped = Counter(
            ":tensorflow:serving:request_log_dropped",
            "Requests left out of a request log because its writer was behind (its queue full)",
            ["log"],
            registry=metrics.registry,
        )
        access = payload = None
        if self.access is not None:
            access = AccessLog(self.access, dropped.labels("access").inc)
        if self.payload is not None:
            count = dropped.labels("payload").inc
            payload = PayloadLog(self.payload, self.sample_rate, self.rotated_at, count)
        return OpenLogs(access, payload)


@dataclass(frozen=True)
class OpenLogs:
    """The logs a serving process writes, and where they hook in: the HTTP app, the gRPC server's
    interceptors, the Runner's `payload_log`."""

    access: AccessLog | None
    payload: PayloadLog | None

    def http(self, app, metrics_paths: Sequence[str]):
        return app if self.access is None else AccessLogApp(app, self.access, metrics_paths)

    def interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        return [] if self.access is None else [AccessLogInterceptor(self.access)]

    def close(self, log: Callable[[str], None]) -> None:
        """Write what is queued and close the files, saying how much was dropped."""
        for name, each in (("access", self.access), ("payload", self.payload)):
            if each is not None:
                each.close()
                if each.dropped:
                    log(f"{name} log: {each.dropped:,} requests dropped (its writer was behind)")
