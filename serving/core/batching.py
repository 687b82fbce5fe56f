"""Dynamic batching: the requests to one model version are merged into batches, as in TF Serving.

The parameters are TF Serving's, with its meanings:

- `max_batch_size`: the most examples one batch holds; a request with more is split into parts of
  at most this size, run as parts of several batches, and its answers put back together in order;
- `batch_timeout_micros`: how long the oldest request of a batch that is not full may wait for
  more while a batch thread is free. 0, the default, waits for nothing: a request that finds the
  queue empty and a thread free runs at once, so one client never waits;
- `max_enqueued_batches`: the queue's bound, in batches; a request that finds it full is refused
  at once (UNAVAILABLE, REST 503) rather than left to pile up;
- `num_batch_threads`: how many batches run at a time, each in a thread of its own. zoo serve also
  takes 0: batches run on the event loop itself, one at a time. That is the default on one core,
  where a thread could only take turns with the loop and every hand-over costs two thread
  switches; with more cores the default is one batch thread per core beyond the loop's;
- `allowed_batch_sizes`: the sizes a batch is padded up to (the last must be `max_batch_size`),
  for runtimes that like a few fixed shapes.

Batches form on their own under load: while every batch thread is busy (or the loop is running one), the requests that arrive
wait in the queue and go out together when a thread frees up. Scheduling is deferred to the end of
the event loop's current turn, so the requests that arrived in one turn form one batch.

The file format is TF Serving's `--batching_parameters_file` text format, e.g.
`max_batch_size { value: 32 }` and `allowed_batch_sizes: 8`.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from zoo.serving.core.errors import InvalidArgument, ServerError, Unavailable
from zoo.serving.core.statistics import Timing

FILE_NAME = "batching_parameters.txt"  # a model's own parameters, in its folder of the repository
QUEUE_FULL = (
    "The batch scheduling queue to which this task was submitted is full"  # TF Serving's words
)


def available_cores() -> int:
    """The cores this process may run on (a `taskset` pin counts), not the machine's."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass(frozen=True)
class BatchingParameters:
    """TF Serving's BatchingParameters; `enabled=False` runs every request on its own."""

    max_batch_size: int = 64
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 100
    num_batch_threads: int = 0
    allowed_batch_sizes: tuple[int, ...] = ()
    enabled: bool = True

    def __post_init__(self) -> None:
        for name in ("max_batch_size", "max_enqueued_batches"):
            if getattr(self, name) < 1:
                raise ServerError(f"batching parameter {name} must be at least 1")
        for name in ("batch_timeout_micros", "num_batch_threads"):
            if getattr(self, name) < 0:
                raise ServerError(f"batching parameter {name} must not be negative")
        sizes = self.allowed_batch_sizes
        if sizes and (list(sizes) != sorted(set(sizes)) or sizes[0] < 1):
            raise ServerError("allowed_batch_sizes must be positive and strictly increasing")
        if sizes and sizes[-1] != self.max_batch_size:
            raise ServerError(
                f"the last of allowed_batch_sizes ({sizes[-1]}) must equal max_batch_size "
                f"({self.max_batch_size})"
            )

    @classmethod
    def default(cls) -> BatchingParameters:
        """zoo serve's defaults: the event loop keeps a core, each other core a batch thread."""
        return cls(num_batch_threads=available_cores() - 1)

    def updated(self, text: str, source: str) -> BatchingParameters:
        """These parameters with the fields that `text` (TF Serving's text format) sets."""
        return replace(self, **parse_text(text, source))

    def padded_size(self, size: int) -> int:
        """The allowed batch size a batch of `size` examples is padded up to."""
        return next((s for s in self.allowed_batch_sizes if s >= size), size)


_WRAPPED = {f.name for f in fields(BatchingParameters)} - {"allowed_batch_sizes", "enabled"}
_IGNORED = {"thread_pool_name", "pad_variable_length_inputs"}  # no meaning for zoo serve
_FIELD = re.compile(
    r"\s*(?P<name>\w+)\s*(?:\{\s*value\s*:\s*(?P<wrapped>[^\s}]+)\s*\}"
    r"|:\s*(?P<plain>\[[^\]]*\]|[^\s{}\[\]]+))\s*"
)


def parse_text(text: str, source: str) -> dict[str, object]:
    """The fields of a BatchingParameters message in protobuf's text format, checked."""
    text = re.sub(r"#[^\n]*", "", text)
    found: dict[str, object] = {}
    sizes: list[int] = []
    position = 0
    while position < len(text.rstrip()):
        match = _FIELD.match(text, position)
        if match is None:
            line = text.count("\n", 0, position) + 1
            raise ServerError(f"{source}, line {line}: not TF Serving's batching parameters format")
        position = match.end()
        name, wrapped, plain = match["name"], match["wrapped"], match["plain"]
        if name in _IGNORED:
            continue
        if name == "allowed_batch_sizes" and plain is not None:
            sizes += [_integer(v, name, source) for v in plain.strip("[]").split(",") if v.strip()]
        elif name in _WRAPPED and wrapped is not None:
            found[name] = _integer(wrapped, name, source)
        else:
            raise ServerError(f"{source}: unknown batching parameter {name!r}")
    if sizes:
        found["allowed_batch_sizes"] = tuple(sizes)
    return found


def _integer(text: str, name: str, source: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ServerError(f"{source}: {name} must be an integer, got {text.strip()!r}") from None


def read_file(path: Path, base: BatchingParameters) -> BatchingParameters:
    """`base` updated by the file at `path`; a missing or bad file is one start-up error line."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ServerError(f"cannot read {path}: {exc.strerror}") from None
    return base.updated(text, str(path))


def describe(parameters: BatchingParameters) -> str:
    """One line for the server's log: the parameters in force, or that batching is off."""
    threads = parameters.num_batch_threads
    where = f"{threads} batch thread{'s' * (threads > 1)}" if threads else "on the event loop"
    if not parameters.enabled:
        return f"off (each request runs alone, {where})"
    sizes = ", ".join(map(str, parameters.allowed_batch_sizes)) or "any"
    return (
        f"max_batch_size {parameters.max_batch_size}, batch_timeout_micros "
        f"{parameters.batch_timeout_micros}, max_enqueued_batches {parameters.max_enqueued_batches}, "
        f"num_batch_threads {threads} ({where}), allowed_batch_sizes {sizes}"
    )


Inputs = Mapping[str, np.ndarray]
Outputs = dict[str, np.ndarray]
RunBatch = Callable[[Inputs], Outputs]


class _Part(NamedTuple):
    """A request, or a part of a request split into batches, with the future of its answer."""

    inputs: Inputs
    size: int
    future: asyncio.Future
    timing: Timing  # the whole request's


class _Batch:
    """Requests (or parts of requests) to run together."""

    __slots__ = ("key", "parts", "size", "started")

    def __init__(self, key: tuple, started: float) -> None:
        self.key = key
        self.parts: list[_Part] = []
        self.size = 0
        self.started = started


def batch_size(inputs: Inputs, merged: bool = True) -> int:
    """The examples a request holds: the first dimension, which every input must share when the
    request may be `merged` with others (unbatched, a request is one whole call: 1 if not)."""
    sizes = {len(value) if value.ndim else 1 for value in inputs.values()}
    if len(sizes) != 1 and not merged:
        return 1
    if len(sizes) != 1:
        raise InvalidArgument(
            f"the inputs' first dimensions differ ({sorted(sizes)}): it is the batch of examples"
        )
    return sizes.pop()


class Batcher:
    """The queue and batch scheduler of one model version, on the event loop `loop`.

    `run_batch` computes every output for checked inputs; it is called in `executor`, at most
    `num_batch_threads` batches at a time, or on the loop when `executor` is None. `observe` is
    given the size of each batch it runs, `queued` the queue's length when it changes, and
    `executed` the size and phases (statistics.PHASES, in seconds) of each batch that ran and was
    answered (the metrics). All methods are called on the loop.
    """

    def __init__(
        self,
        run_batch: RunBatch,
        parameters: BatchingParameters,
        loop: asyncio.AbstractEventLoop,
        executor: Executor | None,
        observe: Callable[[int], None] = lambda size: None,
        queued: Callable[[int], None] = lambda length: None,
        executed: Callable[[int, tuple[float, float, float]], None] = lambda size, phases: None,
    ) -> None:
        self._run_batch = run_batch
        self._loop = loop
        self.parameters = parameters
        self._executor = executor
        self._observe = observe
        self._queued = queued
        self._executed = executed
        self._queue: deque[_Batch] = deque()
        self._idle = parameters.num_batch_threads if executor else 1
        self._pending: asyncio.Handle | None = None  # a scheduling call already on its way
        self._timer: asyncio.TimerHandle | None = None  # a batch timeout being waited for

    async def run(self, inputs: Inputs, timing: Timing | None = None) -> Outputs:
        """Every output for `inputs`, computed in whichever batches they join; `timing` is given
        the request's examples, its wait in the queue and its batches' phases."""
        timing = timing or Timing()
        timing.examples = batch_size(inputs, merged=self.parameters.enabled)
        parts = self._split(inputs, timing.examples)
        futures = [self._loop.create_future() for _ in parts]
        self._enqueue(parts, futures, timing)
        self._schedule_soon()
        if len(futures) == 1:
            return await futures[0]
        return _joined(await asyncio.gather(*futures))

    def full(self) -> bool:
        """Whether a request of any size would be refused now: `max_enqueued_batches` wait and
        the last of them can take no more. The front ends ask before they parse a request, so
        that under overload the refusals cost no parsing."""
        parameters = self.parameters
        if len(self._queue) < parameters.max_enqueued_batches:
            return False
        self._drop_given_up()
        return len(self._queue) >= parameters.max_enqueued_batches and (
            not parameters.enabled or self._queue[-1].size >= parameters.max_batch_size
        )

    def _split(self, inputs: Inputs, size: int) -> list[tuple[Inputs, int]]:
        limit = self.parameters.max_batch_size
        if not self.parameters.enabled or size <= limit:
            return [(inputs, size)]
        return [
            (
                {name: value[start : start + limit] for name, value in inputs.items()},
                min(limit, size - start),
            )
            for start in range(0, size, limit)
        ]

    def _enqueue(
        self, parts: list[tuple[Inputs, int]], futures: list[asyncio.Future], timing: Timing
    ) -> None:
        """Queue a request's parts with the futures that get their answers, or refuse it whole
        when the queue is full.

        A request is refused when it needs a new batch and `max_enqueued_batches` are already
        waiting. One that is admitted is queued whole, even if its parts take the queue past the
        bound: a request larger than the bound is not refused forever, and its parts hold no memory
        that the parsed request does not already hold.
        """
        parameters = self.parameters
        if len(self._queue) >= parameters.max_enqueued_batches:
            self._drop_given_up()
        last = self._queue[-1] if self._queue else None
        (first, size), *rest = parts
        joins = (
            parameters.enabled
            and not rest
            and last is not None
            and last.key == _key(first)
            and last.size + size <= parameters.max_batch_size
        )
        if not joins and len(self._queue) >= parameters.max_enqueued_batches:
            raise Unavailable(QUEUE_FULL)
        now = time.monotonic()
        timing.enqueued()
        for (inputs, size), future in zip(parts, futures, strict=True):
            if not joins:
                last = _Batch(_key(inputs), now)
                self._queue.append(last)
            last.parts.append(_Part(inputs, size, future, timing))
            last.size += size
        self._queued(len(self._queue))

    def _drop_given_up(self) -> None:
        """Free the places of the requests given up while they waited (a gRPC deadline passed or
        its client cancelled, a REST timeout): their futures are cancelled, so they are done."""
        self._queue = deque(batch for batch in self._queue if _keep_waiting(batch))
        self._queued(len(self._queue))

    def _schedule_soon(self) -> None:
        """Schedule at the end of this turn of the loop, unless that is already on its way.

        A batch-timeout timer is cut short once the batch it waits for is full or closed.
        """
        if self._timer is not None:
            if len(self._queue) == 1 and self._queue[0].size < self.parameters.max_batch_size:
                return
            self._timer.cancel()
            self._timer = None
        if self._pending is None:
            self._pending = self._loop.call_soon(self._schedule)

    def _schedule(self) -> None:
        """Hand the queue's batches to free batch threads, oldest first.

        On the loop itself, one batch runs per turn of the loop, so the requests that arrive
        meanwhile are read (and join the next batch) before it runs.
        """
        self._pending = self._timer = None
        timeout = self.parameters.batch_timeout_micros / 1e6
        while self._idle and self._queue:
            batch = self._queue[0]
            if len(self._queue) == 1 and batch.size < self.parameters.max_batch_size and timeout:
                wait = batch.started + timeout - time.monotonic()
                if wait > 0:  # still open and may grow: look again when its time is up
                    self._timer = self._loop.call_later(wait, self._schedule)
                    return
            self._queue.popleft()
            self._queued(len(self._queue))
            if not _keep_waiting(batch):
                continue  # every request in it was given up: nothing to run
            self._idle -= 1
            started = time.perf_counter()
            for part in batch.parts:
                part.timing.started(started)
            try:
                inputs = self._merged(batch)
                merging = time.perf_counter() - started
                self._observe(batch.size)
                if self._executor is None:
                    answers, running = _timed(self._run_batch, inputs)
                    self._finish(batch, None, answers, (merging, running))
                    self._schedule_soon()
                    return
                done = self._loop.run_in_executor(self._executor, _timed, self._run_batch, inputs)
            except Exception as exc:  # the model failed, or out of memory: its requests fail
                self._finish(batch, exc, {})
                continue
            done.add_done_callback(
                lambda finished, batch=batch, merging=merging: self._finished(
                    batch, finished, merging
                )
            )

    def _merged(self, batch: _Batch) -> Inputs:
        """One input array per name: the parts in order, padded to an allowed batch size."""
        if not self.parameters.enabled:
            return batch.parts[0].inputs
        padding = self.parameters.padded_size(batch.size) - batch.size
        if len(batch.parts) == 1 and not padding:
            return batch.parts[0].inputs
        merged = {}
        for name in batch.parts[0].inputs:
            arrays = [part.inputs[name] for part in batch.parts]
            if padding:  # copies of the last example; their answers are dropped
                arrays.append(np.repeat(arrays[-1][-1:], padding, axis=0))
            merged[name] = np.concatenate(arrays)
        return merged

    def _finished(self, batch: _Batch, finished: asyncio.Future, merging: float) -> None:
        """A batch thread is done: answer its requests and give it the next batch."""
        error = finished.exception()
        if error is not None:
            self._finish(batch, error, {})
        else:
            answers, running = finished.result()
            self._finish(batch, None, answers, (merging, running))
        self._schedule()

    def _finish(
        self,
        batch: _Batch,
        error: BaseException | None,
        answers: Outputs,
        took: tuple[float, float] = (0.0, 0.0),
    ) -> None:
        """Give each part its rows of the answers (or the error), and free its thread; a batch
        answered is reported with the time it `took` to merge and run, and then to split."""
        self._idle += 1
        splitting = time.perf_counter()
        start = 0
        for _, size, future, _ in batch.parts:
            if future.done():  # its request was given up while the batch ran
                pass
            elif error is not None:
                future.set_exception(error)
            elif not self.parameters.enabled:
                future.set_result(answers)
            else:
                try:
                    future.set_result({k: v[start : start + size] for k, v in answers.items()})
                except IndexError:  # an answer without the batch dimension: never a hung request
                    future.set_exception(RuntimeError(_UNBATCHED_ANSWER))  # INTERNAL
            start += size
        if error is None:
            phases = (*took, time.perf_counter() - splitting)
            for part in batch.parts:
                part.timing.ran(phases)
            self._executed(batch.size, phases)


_UNBATCHED_ANSWER = "the model answered without the batch dimension its signature declares"


def _keep_waiting(batch: _Batch) -> bool:
    """Drop the parts of `batch` whose requests were given up; whether any part is left."""
    if any(part.future.done() for part in batch.parts):
        batch.parts = [part for part in batch.parts if not part.future.done()]
        batch.size = sum(part.size for part in batch.parts)
    return bool(batch.parts)


def _timed(run_batch: RunBatch, inputs: Inputs) -> tuple[Outputs, float]:
    """The batch's answers and the seconds the runtime took to give them."""
    started = time.perf_counter()
    return run_batch(inputs), time.perf_counter() - started


def _joined(answers: list[Outputs]) -> Outputs:
    """The answers to a split request's parts, put back together in order."""
    return {name: np.concatenate([a[name] for a in answers]) for name in answers[0]}


def _key(inputs: Inputs) -> tuple:
    """What requests must share to be merged: each input's name, dtype and example shape."""
    return tuple((name, value.dtype, value.shape[1:]) for name, value in inputs.items())
