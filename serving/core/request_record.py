"""What the access log knows of the request being answered, gathered where each fact is known.

The front end's access-log wrapper (serving/access_log.py, installed only with `zoo serve
--access-log`) puts a `Record` in `CURRENT` for the request's task; the core fills in what only it
learns: the model and version (`resolve`), the batch size (`Runner.run`), KServe's request `id`
(its front ends). With no access log `CURRENT` holds None, and each of those places pays one
ContextVar look-up.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextvars import ContextVar

import numpy as np


class Record:
    """One request's line in the access log, filled in while it is answered."""

    __slots__ = (
        "api",
        "batch_size",
        "bytes_in",
        "bytes_out",
        "client_id",
        "model",
        "protocol",
        "started",
        "status",
        "time",
        "version",
    )

    def __init__(self, protocol: str, api: str, client_id: str | None) -> None:
        self.time = time.time()
        self.started = time.perf_counter()
        self.protocol, self.api, self.client_id = protocol, api, client_id
        self.model: str | None = None
        self.version: int | None = None
        self.batch_size: int | None = None
        self.status: int | str | None = None
        self.bytes_in = self.bytes_out = 0


CURRENT: ContextVar[Record | None] = ContextVar("zoo_request_record", default=None)


def note_model(name: str, version: int | None = None) -> None:
    """The model (and the version) the request is answered by."""
    record = CURRENT.get()
    if record is not None:
        record.model = name
        if version is not None:
            record.version = version


def note_batch(inputs: Mapping[str, np.ndarray]) -> None:
    """The request's examples: the first dimension of its first input (1 for a scalar)."""
    record = CURRENT.get()
    if record is not None and inputs:
        shape = np.shape(next(iter(inputs.values())))
        record.batch_size = shape[0] if shape else 1


def note_id(request_id: object) -> None:
    """The id the request carries in its body (KServe v2's `id`), unless a header gave one."""
    record = CURRENT.get()
    if record is not None and record.client_id is None and request_id not in (None, ""):
        record.client_id = str(request_id)
