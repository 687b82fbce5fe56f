"""Large request bodies decoded in a process of their own, so that one client's body does not stall
every other client's requests.

The REST and gRPC front ends share one event loop, and the decoders of a JSON body (simdjson,
orjson, NumPy's conversion of lists, `bytes.translate`) hold the GIL for the whole call: a thread
would stall the loop just the same. Decoding a 60 MB body took the loop 0.3 s (simdjson's fast
path) to 4 s (orjson and NumPy), during which no other request was read or answered
(bench/big_bodies.py). A body of at least `large_bytes` is therefore decoded in a child process,
started on the first such body and kept. Small bodies, nearly every request, are decoded in place:
for them a hop to another process would cost more than the decoding.

Nothing of a large body's size is copied on the loop in one go. The HTTP shell writes each piece
as it arrives (uvicorn hands over 64 KiB or so at a time) into a file in shared memory (`Spool`),
the child reads the file, and writes the arrays it decoded into another such file, which the loop
maps and wraps without copying (`_Shipment`). Pickling the body to the child and the arrays back,
as a ProcessPoolExecutor does, held the loop 62-134 ms a 60 MB body. The body's file is unlinked
once it is answered, the arrays' once the last of them is gone, each in a thread (`unlink_soon`);
a decoding given up (its client gone) has its arrays' file unlinked when the child's answer comes.

A decoding function is a module-level function of the front end (picklable by name) that takes
the body and plain data (the servable's signatures, picklable) and returns arrays and names; its
refusals (ServingErrors) come back as they were raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import mmap
import multiprocessing
import os
import tempfile
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")
SHARED_MEMORY = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
ALIGN = 64  # each array's offset in the shared file, as NumPy aligns its own
SHIP_BYTES = 1 << 16  # arrays smaller than this in all go back pickled


class LargeBody:
    """A request body in a file in shared memory, written chunk by chunk as it arrives."""

    def __init__(self, prefix: str) -> None:
        fd, name = tempfile.mkstemp(prefix=f"{prefix}body-", dir=SHARED_MEMORY)
        self.path, self.size, self._file = Path(name), 0, os.fdopen(fd, "wb", buffering=0)

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)  # unbuffered: one write(2) a chunk, the GIL released
        self.size += len(chunk)

    def read(self) -> bytes:
        """The whole body, for the rare request that is not decoded elsewhere (a large body to a
        route that takes no tensors)."""
        return self.path.read_bytes()

    def close(self) -> None:
        self._file.close()
        unlink_soon(self.path)


class Spool:
    """Where a body's chunks go as they arrive: a list while the body is small, a LargeBody from
    the chunk that takes it to `large_bytes` on (the chunks before it are written there first)."""

    def __init__(self, large_bytes: int, prefix: str) -> None:
        self._large_bytes, self._prefix = large_bytes, prefix
        self._chunks: list[bytes] = []
        self._file: LargeBody | None = None
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self._file is None and self._large_bytes and self.size >= self._large_bytes:
            self._file = LargeBody(self._prefix)
            for earlier in self._chunks:
                self._file.write(earlier)
            self._chunks = []
        if self._file is None:
            self._chunks.append(chunk)
        else:
            self._file.write(chunk)

    def body(self) -> bytes | LargeBody:
        """The body received: bytes when small; a LargeBody, which its taker must close."""
        return self._file or b"".join(self._chunks)

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()


def in_memory(body: bytes | LargeBody) -> bytes:
    return body.read() if isinstance(body, LargeBody) else body


class Decoder:
    """Decodes LargeBodies in one child process, and bytes in place."""

    def __init__(self, large_bytes: int) -> None:
        self.large_bytes = large_bytes
        self.prefix = f"zoo-{os.getpid()}-"  # the files in shared memory are this server's
        self._pool: ProcessPoolExecutor | None = None

    def spool(self) -> Spool:
        return Spool(self.large_bytes, self.prefix)

    async def decode(self, body: bytes | LargeBody, function: Callable[..., T], *args: Any) -> T:
        """`function(body, *args)`: here for bytes, in the child process for a LargeBody."""
        if not isinstance(body, LargeBody):
            return function(body, *args)
        if self._pool is None:
            # spawn, not fork: the server's threads (gRPC's, the batch threads) must not be forked
            self._pool = ProcessPoolExecutor(1, multiprocessing.get_context("spawn"))
        pool = self._pool
        try:
            decoding = pool.submit(_decode, body.path, self.prefix, function, *args)
            try:
                shipped = await asyncio.wrap_future(decoding)
            except asyncio.CancelledError:  # its client has gone: unlink what the child sends
                decoding.add_done_callback(_discard)
                raise
        except BrokenProcessPool:  # the child was killed (out of memory, say): the next starts anew
            if self._pool is pool:
                self._pool = None
            pool.shutdown(wait=False)
            raise RuntimeError("the process decoding large bodies stopped") from None
        return shipped.received() if isinstance(shipped, _Shipment) else shipped

    def close(self) -> None:
        """Stop the child, and unlink any file of this server's left in shared memory (a child
        killed while it wrote its arrays)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        for left in SHARED_MEMORY.glob(f"{self.prefix}*"):
            left.unlink(missing_ok=True)


@dataclass(frozen=True)
class _Shared:
    """An array left in the shipment's file: where, and what."""

    offset: int
    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class _Shipment:
    """A decoding's result whose arrays (`_Shared` in `result`) are in the file at `path`."""

    path: Path
    size: int
    result: Any

    def received(self) -> Any:
        """The result with its arrays mapped from the file (copy-on-write, so that they are
        writable), which is unlinked once the last of them is gone."""
        with open(self.path, "rb") as file:
            mapped = mmap.mmap(file.fileno(), self.size, access=mmap.ACCESS_COPY)
        weakref.finalize(mapped, unlink_soon, self.path)
        return _replaced(
            self.result,
            lambda a: np.ndarray(a.shape, np.dtype(a.dtype), buffer=mapped, offset=a.offset),
            _Shared,
        )


def _discard(decoding: Future) -> None:
    if not decoding.cancelled() and decoding.exception() is None:
        shipped = decoding.result()
        if isinstance(shipped, _Shipment):
            unlink_soon(shipped.path)


def unlink_soon(path: Path) -> None:
    """Unlink `path` in a thread of its own: the unlink that frees a 60 MB file of shared memory
    held its caller 25-30 ms (the GIL is released meanwhile), and the caller is the event loop."""
    _unlinker().submit(path.unlink, missing_ok=True)


@functools.cache
def _unlinker() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(1, "unlink")


def _decode(path: Path, prefix: str, function: Callable[..., Any], *args: Any) -> Any:
    """In the child: `function` of the body in the file at `path`, its arrays shipped back in a
    file of their own when they are worth it."""
    result = function(path.read_bytes(), *args)
    arrays: list[np.ndarray] = []
    _replaced(result, arrays.append, np.ndarray)
    arrays = [a for a in arrays if a.dtype.kind in "biufc"]  # strings and objects are pickled
    if sum(a.nbytes for a in arrays) < SHIP_BYTES:
        return result
    offsets, size = {}, 0
    for array in arrays:
        offsets[id(array)] = size
        size += -(-array.nbytes // ALIGN) * ALIGN
    fd, name = tempfile.mkstemp(prefix=f"{prefix}arrays-", dir=SHARED_MEMORY)
    try:
        os.ftruncate(fd, size)
        with mmap.mmap(fd, size) as mapped:
            for array in arrays:
                start = offsets[id(array)]
                np.ndarray(array.shape, array.dtype, mapped, start)[...] = array
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    finally:
        os.close(fd)

    def shared(array: np.ndarray) -> Any:
        if id(array) not in offsets:
            return array
        return _Shared(offsets[id(array)], array.dtype.str, array.shape)

    return _Shipment(Path(name), size, _replaced(result, shared, np.ndarray))


def _replaced(value: Any, replace: Callable[[Any], Any], kind: type) -> Any:
    """`value` with each `kind` in its tuples, lists and dicts replaced by `replace` of it."""
    if isinstance(value, kind):
        return replace(value)
    if isinstance(value, tuple | list):
        return type(value)(_replaced(v, replace, kind) for v in value)
    if isinstance(value, dict):
        return {k: _replaced(v, replace, kind) for k, v in value.items()}
    return value
