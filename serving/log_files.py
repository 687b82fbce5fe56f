"""Where the request logs write: a thread of their own, fed through a bounded queue, so that a slow
disk (or a stdout nobody reads) never stalls the event loop. A full queue drops what it is offered,
and counts it, rather than making requests wait.

The access log's file is opened with O_APPEND and written whole lines at a time, so that the
workers of `zoo serve --workers N` can share one file: the kernel appends each write() whole. The
payload log's files (`RotatingFile`) are each written by one process and rotated by size.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

GATHER_SECONDS = 0.02  # the writer's pause after each batch, so that it wakes once per many items


class BackgroundWriter:
    """Data encoded on the event loop, handed to `write` in batches on a thread of their own.

    The thread only joins bytes and calls write(), which releases the GIL: a thread that held it
    to encode would make the event loop wait for it (up to the 5 ms switch interval) after each
    of its own system calls, which showed as a p99 of hundreds of ms. At most `capacity` bytes
    wait; data offered beyond that is dropped, counted in `dropped` and reported to `on_drop`.
    """

    def __init__(
        self,
        name: str,
        write: Callable[[list[bytes]], None],
        capacity: int,
        on_drop: Callable[[], None] = lambda: None,
    ) -> None:
        self._write, self._on_drop = write, on_drop
        self._capacity, self._waiting = capacity, 0
        self._items: list[bytes] = []
        self._ready = threading.Condition()
        self._closing = False
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def offer(self, data: bytes) -> None:
        """Queue `data`, or drop it if the queue is full; never waits for the writer."""
        with self._ready:
            full = self._waiting + len(data) > self._capacity
            if full:
                self.dropped += 1
            else:
                self._waiting += len(data)
                self._items.append(data)
                if len(self._items) == 1:  # the writer may be waiting for this one
                    self._ready.notify()
        if full:
            self._on_drop()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._items and not self._closing:
                    self._ready.wait()
                if not self._items:
                    return
                batch, self._items, self._waiting = self._items, [], 0
            self._write(batch)
            if not self._closing:
                time.sleep(GATHER_SECONDS)

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._thread.join()


def append_only(path: str | Path) -> int:
    """A file descriptor that appends to `path` (made if missing), for whole-line writes."""
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def write_all(fd: int, data: bytes) -> None:
    """Write every byte: one write() for a file, more only where a pipe takes less at once."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class RotatingFile:
    """A file written by one process, kept under `max_bytes`: before a write would take it past
    that, it is renamed PATH.N, N one more than the last one made (PATH.1 is the oldest), and a
    new PATH begun. A write larger than `max_bytes` gets a file of its own. Nothing is deleted."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path, self.max_bytes = path, max_bytes
        suffixes = (p.suffix[1:] for p in path.parent.glob(f"{path.name}.*"))
        self._next = max((int(s) for s in suffixes if s.isdigit()), default=0) + 1
        self._fd = append_only(path)
        self._size = os.fstat(self._fd).st_size

    def write(self, records: list[bytes]) -> None:
        """Append `records`, each whole in one file, in as few writes as rotation allows."""
        chunk: list[bytes] = []
        size = self._size  # what the file holds once `chunk` is written
        for record in records:
            if size and size + len(record) > self.max_bytes:
                self._append(chunk)
                self._rotate()
                chunk, size = [], 0
            chunk.append(record)
            size += len(record)
        self._append(chunk)

    def _append(self, chunk: list[bytes]) -> None:
        data = b"".join(chunk)
        write_all(self._fd, data)
        self._size += len(data)

    def _rotate(self) -> None:
        os.close(self._fd)
        os.rename(self.path, f"{self.path}.{self._next}")
        self._next += 1
        self._fd = append_only(self.path)
        self._size = 0

    def close(self) -> None:
        os.close(self._fd)
