"""The one way every front end reaches a model: check the request, count it, batch it.

The REST, gRPC and KServe v2 front ends all call `Runner.run`, so they share each version's batcher
and its queue bound; none of them calls a backend directly. Batches run on the event loop itself
(the default on one core) or in a pool of `num_batch_threads` threads, where ONNX Runtime and
TensorFlow release the GIL while they compute and the loop keeps parsing and answering requests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from zoo.serving.core.batching import QUEUE_FULL, Batcher
from zoo.serving.core.errors import (
    UNAVAILABLE,
    ServingError,
    Unavailable,
    runtime_input_error,
)
from zoo.serving.core.metrics import Metrics, Requests, Warmups
from zoo.serving.core.request_record import note_batch
from zoo.serving.core.servables import Backend
from zoo.serving.core.signature import ModelSignature
from zoo.serving.core.statistics import OK, Timing

INTERNAL = "INTERNAL"
# A request answered, as the payload log takes it: (model, version, signature, api, inputs, the
# outputs named by the request (empty: all), the answer).
PayloadLog = Callable[
    [str, int, ModelSignature, str, Mapping[str, np.ndarray], Sequence[str], dict[str, np.ndarray]],
    None,
]


class _Served:
    """What `Runner.run` needs of a version on every request, looked up once: a batcher for each
    of its signatures (requests to different signatures never share a batch), made on first use."""

    __slots__ = ("_metrics", "_new_batcher", "_requests", "batchers", "model", "version")

    def __init__(
        self,
        new_batcher: Callable[[str], Batcher],
        metrics: Metrics | Warmups,
        model: str,
        version: int,
    ) -> None:
        self._new_batcher = new_batcher
        self.batchers: dict[str, Batcher] = {}
        self._metrics = metrics
        self.model, self.version = model, version
        self._requests: dict[tuple[str, str], Requests] = {}

    def batcher(self, signature: str) -> Batcher:
        found = self.batchers.get(signature)
        if found is None:
            found = self.batchers[signature] = self._new_batcher(signature)
        return found

    def requests(self, api: str, entrypoint: str) -> Requests:
        """The counters of this version's `api` requests through `entrypoint`."""
        key = (api, entrypoint)
        found = self._requests.get(key)
        if found is None:
            found = self._requests[key] = self._metrics.requests(
                self.model, self.version, api, entrypoint
            )
        return found


class Runner:
    """The batchers of the loaded versions on the serving `loop`, over one shared pool of batch
    threads.

    The pool has the server's `threads` (or more, if the first model to want threads asks for
    more); a version whose `num_batch_threads` is 0 runs its batches on the event loop. Each
    request answered is handed to `payload_log` when there is one (`zoo serve --log-requests`).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        threads: int,
        metrics: Metrics | Warmups | None = None,
        payload_log: PayloadLog | None = None,
    ) -> None:
        self._loop = loop
        self._payload_log = payload_log
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self.metrics = metrics or Metrics()
        # A version's batcher lives as long as the version: an unloaded one goes with its servable.
        self._served: weakref.WeakKeyDictionary[Backend, _Served] = weakref.WeakKeyDictionary()

    async def run(
        self,
        servable: Backend,
        inputs: Mapping[str, np.ndarray],
        outputs: Iterable[str] = (),
        *,
        api: str,
        entrypoint: str,
        signature: ModelSignature | None = None,
    ) -> dict[str, np.ndarray]:
        """The named outputs (all when `outputs` is empty) of `servable`'s `signature` (its
        default one when None) for `inputs`.

        The request is counted, with its latency, by `api` (metrics.PREDICT, ...), `entrypoint`
        (metrics.REST or GRPC) and how it ended: OK, the code of the ServingError it raised, or
        INTERNAL when the model failed.
        """
        started = time.perf_counter()
        served = self._served_for(servable)
        requests = served.requests(api, entrypoint)
        signature = signature or servable.signature
        timing = Timing()
        note_batch(inputs)
        try:
            signature.check_inputs(inputs)
            names = signature.check_outputs(outputs)
            answers = await served.batcher(signature.name).run(inputs, timing)
        except ServingError as exc:
            requests.done(exc.code, started)
            raise
        except Exception as exc:  # the runtime refused the input, or the model failed (INTERNAL)
            refused = runtime_input_error(exc)
            requests.done(INTERNAL if refused is None else refused.code, started)
            if refused is None:
                raise
            raise refused from exc
        requests.done(OK, started, timing)
        answer = {name: answers[name] for name in names}
        if self._payload_log is not None:
            requested = names if outputs else ()
            self._payload_log(
                served.model, servable.version, signature, api, inputs, requested, answer
            )
        return answer

    def refuse_if_full(
        self,
        servable: Backend,
        *,
        api: str,
        entrypoint: str,
        signature: ModelSignature | None = None,
    ) -> None:
        """Refuse a request to `servable` (UNAVAILABLE, counted as `run` counts it) when its queue
        could take nothing, before the front end spends time parsing it: past saturation, parsing
        requests only to refuse them would take the core from the batches being run."""
        served = self._served_for(servable)
        if served.batcher((signature or servable.signature).name).full():
            served.requests(api, entrypoint).done(UNAVAILABLE, time.perf_counter())
            raise Unavailable(QUEUE_FULL)

    def _served_for(self, servable: Backend) -> _Served:
        """The batcher and counters of `servable`, made on its first request."""
        return self._served.get(servable) or self._serve(servable)

    def _serve(self, servable: Backend) -> _Served:
        model = servable.path.parent.name  # its name in the repository
        observe = self.metrics.batch_size_observer(model, servable.version)
        queued = self.metrics.queue_size_setter(model, servable.version)
        executed = self.metrics.batch_recorder(model, servable.version)
        wanted = servable.batching.num_batch_threads
        if wanted and self._pool is None:
            self._pool = ThreadPoolExecutor(max(wanted, self._threads), "batch")
        pool = self._pool if wanted else None

        # Nothing kept here may hold the servable: as a value of the WeakKeyDictionary it would
        # keep its own key, and every version ever served (its session too) alive after a reload.
        run, signatures, batching = (
            weakref.WeakMethod(servable.run_batch),
            servable.signatures,
            servable.batching,
        )

        def new_batcher(signature: str) -> Batcher:
            run_batch = functools.partial(_run_batch, run, signature=signature)
            parameters = batching
            if not signatures[signature].batchable:  # each request runs alone
                parameters = dataclasses.replace(parameters, enabled=False)
            return Batcher(run_batch, parameters, self._loop, pool, observe, queued, executed)

        served = _Served(new_batcher, self.metrics, model, servable.version)
        self._served[servable] = served
        return served

    def close(self) -> None:
        if self._pool:
            self._pool.shutdown(wait=True)


def _run_batch(run: weakref.WeakMethod, inputs: Mapping[str, np.ndarray], signature: str):
    """The servable's run_batch, through a weak reference (a request in flight holds it)."""
    return run()(inputs, signature=signature)
