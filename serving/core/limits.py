"""What one request may take of the server: its size, and over REST its time.

A request above `max_request_bytes` is refused before it is parsed: REST answers 413 (a body whose
Content-Length says so is not even read; a compressed body counts as decompressed), gRPC
RESOURCE_EXHAUSTED (grpc's own receive limit), and a TensorProto whose few values would be padded
out to more than that is refused the same way, so a small message cannot make a large array.
`rest_timeout_seconds` is TF Serving's `--rest_api_timeout_in_ms`: a REST request still
unanswered then gets a 504, and its place in the batch queue is given up; one whose body has not
all arrived by then, a 408, and its connection is closed (a slow sender holds a socket, no more).
A body of `large_body_bytes` or more is decoded in another process, off the event loop. gRPC clients set their
own deadline; a call that passes it, or that its client cancels, gives up its place the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zoo.serving.core.errors import InvalidArgument, ResourceExhausted, ServerError

MiB = 2**20
MAX_DIMS = 64  # NumPy's most dimensions
_MAX_BYTES = np.iinfo(np.intp).max  # NumPy's largest array, in bytes


@dataclass(frozen=True)
class Limits:
    """The per-request limits of one server (0 seconds: no REST timeout)."""

    max_request_bytes: int = 64 * MiB
    rest_timeout_seconds: float = 30.0
    large_body_bytes: int = MiB  # decoded off the event loop (core/decoding.py); 0: none is

    def __post_init__(self) -> None:
        if self.max_request_bytes < 1:
            raise ServerError("the request size limit must be at least 1 byte")
        if self.rest_timeout_seconds < 0:
            raise ServerError("the REST timeout must not be negative")
        if self.large_body_bytes < 0:
            raise ServerError("the size of a large body must not be negative")

    def check_size(self, size: int, what: str) -> None:
        """Refuse `what` of `size` bytes when it is above the request size limit."""
        if size > self.max_request_bytes:
            raise ResourceExhausted(
                f"{what} is {size:,} bytes, above this server's limit of "
                f"{self.max_request_bytes:,} (zoo serve --max-request-bytes)"
            )

    def grpc_options(self) -> list[tuple[str, int]]:
        """grpc's channel options: receive up to the limit, send answers of any size."""
        return [
            ("grpc.max_receive_message_length", self.max_request_bytes),
            ("grpc.max_send_message_length", -1),
        ]


def check_shape(what: str, shape: Sequence[int], itemsize: int) -> None:
    """Refuse a (non-negative) shape that NumPy cannot make an array of, even an empty one: more
    than 64 dimensions, or non-zero dimensions whose product, in bytes, is past NumPy's largest
    array ([0, 2**62, 2**62] holds no values, yet NumPy refuses it). NumPy's ValueError would be
    a 500; its size limit is the request's to check."""
    if len(shape) > MAX_DIMS or math.prod(d for d in shape if d) * itemsize > _MAX_BYTES:
        raise InvalidArgument(f"{what}: shape {list(shape)} is larger than any array can be")
