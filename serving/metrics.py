"""What the server counts, in Prometheus' text format at TF Serving's `/monitoring/prometheus/metrics`.

Names follow TF Serving's (its `/tensorflow/serving/batching/processed_batch_size` is Prometheus'
`:tensorflow:serving:batching:processed_batch_size`). Each server has its own registry, so servers
started in one process (tests) never share counts.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

PATH = "/monitoring/prometheus/metrics"
CONTENT_TYPE = CONTENT_TYPE_LATEST
BATCH_SIZES = tuple(2**i for i in range(11))  # 1 ... 1024 examples


class Metrics:
    """The server's Prometheus registry and its instruments."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._batch_size = Histogram(
            ":tensorflow:serving:batching:processed_batch_size",
            "Examples in each batch a model version ran (before padding)",
            ["model_name", "version"],
            buckets=BATCH_SIZES,
            registry=self.registry,
        )

        self._requests = Counter(
            ":tensorflow:serving:request_count",
            "Requests that reached a model version, by how they ended (OK or the error code)",
            ["model_name", "version", "status"],
            registry=self.registry,
        )

    def request_counter(self, model: str, version: int) -> Callable[[str], None]:
        """The function that counts one request to a version, by the status it ended with."""
        counters: dict[str, Callable[[], None]] = {}

        def count(status: str) -> None:
            if status not in counters:
                counters[status] = self._requests.labels(model, str(version), status).inc
            counters[status]()

        return count

    def batch_size_observer(self, model: str, version: int) -> Callable[[int], None]:
        """The function a version's batcher calls with the size of each batch it runs."""
        return self._batch_size.labels(model, str(version)).observe

    def text(self) -> bytes:
        return generate_latest(self.registry)
