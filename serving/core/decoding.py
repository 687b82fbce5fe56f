"""Large request bodies decoded in a process of their own, so that one client's body does not stall
every other client's requests.

The REST and gRPC front ends share one event loop, and the decoders of a JSON body (simdjson,
orjson, NumPy's conversion of lists, `bytes.translate`) hold the GIL for the whole call: a thread
would stall the loop just the same. Decoding a 60 MB body took the loop 0.3 s (simdjson's fast
path) to 4 s (orjson and NumPy), during which no other request was read or answered
(bench/big_bodies.py). A body of at least `large_body_bytes` is therefore decoded in a child
process, started on the first such body and kept; the loop only pickles the body to it and the
decoded arrays back. Small bodies, nearly every request, are decoded in place: for them a hop to
another process would cost more than the decoding.

A decoding function is a module-level function of the front end (picklable by name) that takes
the body and plain data (the servable's signatures, picklable) and returns arrays and names; its
refusals (ServingErrors) come back as they were raised.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")


class Decoder:
    """Decodes bodies of at least `large_bytes` bytes in one child process (0: every body here)."""

    def __init__(self, large_bytes: int) -> None:
        self.large_bytes = large_bytes
        self._pool: ProcessPoolExecutor | None = None

    async def decode(self, size: int, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)`, where `size` is the bytes it decodes: here, or in the child process."""
        if not self.large_bytes or size < self.large_bytes:
            return function(*args)
        if self._pool is None:
            # spawn, not fork: the server's threads (gRPC's, the batch threads) must not be forked
            self._pool = ProcessPoolExecutor(1, multiprocessing.get_context("spawn"))
        pool = self._pool
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, function, *args)
        except BrokenProcessPool:  # the child was killed (out of memory, say): the next starts anew
            if self._pool is pool:
                self._pool = None
            pool.shutdown(wait=False)
            raise RuntimeError("the process decoding large bodies stopped") from None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
