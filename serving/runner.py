"""The one way every front end reaches a model: check the request, batch it, run it off the loop.

The REST, gRPC and KServe v2 front ends all call `Runner.run`, so they share each version's batcher
and its queue bound; none of them calls a backend directly. Batches run in a pool of
`num_batch_threads` threads; ONNX Runtime and TensorFlow release the GIL while they compute, so the
event loop keeps parsing and answering requests meanwhile.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from serving.backends import Backend
from serving.batching import Batcher
from serving.errors import ServingError
from serving.metrics import Metrics

OK = "OK"


class Runner:
    """The batchers of the loaded versions, over one pool of `threads` batch threads."""

    def __init__(self, threads: int, metrics: Metrics | None = None) -> None:
        self._pool = ThreadPoolExecutor(threads, "batch")
        self.metrics = metrics or Metrics()
        # A version's batcher lives as long as the version: an unloaded one goes with its servable.
        self._batchers: weakref.WeakKeyDictionary[Backend, Batcher] = weakref.WeakKeyDictionary()

    async def run(
        self, servable: Backend, inputs: Mapping[str, np.ndarray], outputs: Iterable[str] = ()
    ) -> dict[str, np.ndarray]:
        """The named outputs (all when `outputs` is empty) of `servable` for `inputs`."""
        model = servable.path.parent.name  # its name in the repository
        try:
            servable.signature.check_inputs(inputs)
            names = servable.signature.check_outputs(outputs)
            answers = await self.batcher(servable).run(inputs)
        except ServingError as exc:
            self.metrics.count_request(model, servable.version, exc.code)
            raise
        self.metrics.count_request(model, servable.version, OK)
        return {name: answers[name] for name in names}

    def batcher(self, servable: Backend) -> Batcher:
        batcher = self._batchers.get(servable)
        if batcher is None:
            model = servable.path.parent.name  # its name in the repository
            observe = self.metrics.batch_size_observer(model, servable.version)
            batcher = Batcher(servable.run_batch, servable.batching, self._pool, observe)
            self._batchers[servable] = batcher
        return batcher

    def close(self) -> None:
        self._pool.shutdown(wait=True)
