"""Inference off the event loop: a small thread pool, so one long batch never stalls other requests.

ONNX Runtime and TensorFlow release the GIL while they compute, so the pool's threads really run in
parallel with the loop that parses and answers requests.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from serving.backends import Backend


class Runner:
    """Runs `servable.run` in a pool of one thread per core."""

    def __init__(self, threads: int | None = None) -> None:
        self._pool = ThreadPoolExecutor(threads or os.cpu_count() or 1, "inference")

    async def run(
        self, servable: Backend, inputs: Mapping[str, np.ndarray], outputs: Iterable[str] = ()
    ) -> dict[str, np.ndarray]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, servable.run, inputs, tuple(outputs))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
