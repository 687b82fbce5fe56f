"""What the server counts, in Prometheus' text format at TF Serving's `/monitoring/prometheus/metrics`
and at `/metrics`, where Prometheus looks by default.

Names follow TF Serving's where it has the metric (its `/tensorflow/serving/request_count` is
Prometheus' `:tensorflow:serving:request_count`), with zoo's labels added: the version, and for
requests the API and the entry point, as TF Serving's request_latency has them. Latencies are in
microseconds, TF Serving's unit. Zoo's own are named in the same style: the batch queue's
length, the versions loaded, and the warmup requests a version replays before it is served, which
are counted apart (`Warmups`) so that the request and batching metrics describe clients alone.
The figures of Triton's statistics extension are counted here too (statistics.py reads them back):
the examples answered and the time requests spent queued and in each phase of their batches, under
Triton's metric names (`nv_inference_count`, `nv_inference_queue_duration_us`, ...), the batches run
by size and phase, and the time of the last request.

Each server has its own registry, so servers started in one process (tests) never share counts.
Under `zoo serve --workers N` every worker counts into prometheus_client's multiprocess files
(`PROMETHEUS_MULTIPROC_DIR`, set by the supervisor before the workers start), and whichever
worker answers a scrape reports the sum over all of them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Metric,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from zoo.serving.core import statistics
from zoo.serving.core.statistics import OK, PHASES, Timing

PATHS = ("/monitoring/prometheus/metrics", "/metrics")
CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
RETIRED_KEPT = 8  # removed versions whose series wait for a scrape, when none comes
BATCH_SIZES = tuple(2**i for i in range(11))  # 1 ... 1024 examples
LATENCIES = tuple(100 * 2**i for i in range(19))  # 100 µs ... 26 s, in microseconds
# The `API` label: TF Serving's method names, and Triton's for KServe v2's inference.
PREDICT, CLASSIFY, REGRESS, MODEL_INFER = "Predict", "Classify", "Regress", "ModelInfer"
REST, GRPC = "REST", "GRPC"  # the `entrypoint` label, as TF Serving spells it
WARMUP = "warmup"  # the `entrypoint` of the warmup requests, in their own metrics


class Requests:
    """What one API, through one entry point, does to one version: counts by status, latency, and
    for the answered requests the statistics' figures (`answered`: none for warmup requests)."""

    __slots__ = ("_answered", "_counter", "_counts", "_labels", "_observe")

    def __init__(
        self,
        counter: Counter,
        latency: Histogram,
        labels: Sequence[str],
        answered: _Answered | None = None,
    ) -> None:
        self._counter = counter
        self._labels = labels
        self._counts: dict[str, Callable[[], None]] = {}
        self._observe = latency.labels(*labels).observe
        self._answered = answered

    def done(self, status: str, started: float, timing: Timing | None = None) -> None:
        """Count a request that ended with `status` (OK or an error code), begun at `started`
        (time.perf_counter), its time in the batcher in `timing` when it got that far."""
        micros = (time.perf_counter() - started) * 1e6
        self._observe(micros)
        count = self._counts.get(status)
        if count is None:
            count = self._counts[status] = self._counter.labels(*self._labels, status).inc
        count()
        if self._answered is not None:
            self._answered(micros, timing if status == OK else None)


class _Answered:
    """The statistics' counters of one version, bound to its labels once."""

    __slots__ = ("_durations", "_examples", "_last")

    def __init__(self, metrics: Metrics, labels: Sequence[str]) -> None:
        self._examples = metrics.inferences.labels(*labels).inc
        self._durations = [c.labels(*labels).inc for c in metrics.durations]
        self._last = metrics.last_inference.labels(*labels).set

    def __call__(self, micros: float, timing: Timing | None) -> None:
        """A request ended after `micros`; answered, with its `timing`, or not (None)."""
        self._last(time.time())
        if timing is None:
            return
        success, queue, *compute = self._durations
        self._examples(timing.examples)
        success(micros)
        queue(timing.queue * 1e6)
        for inc, seconds in zip(compute, timing.compute, strict=True):
            inc(seconds * 1e6)


class Metrics:
    """The server's Prometheus registry and its instruments."""

    def __init__(self) -> None:
        # TF Serving reports no `_created` timestamps; without them a scrape is half as long.
        disable_created_metrics()
        self.registry = CollectorRegistry()
        requests = ["model_name", "version", "API", "entrypoint"]
        self._requests = Counter(
            ":tensorflow:serving:request_count",
            "Requests that reached a model version, by how they ended (OK or the error code)",
            [*requests, "status"],
            registry=self.registry,
        )
        self._latency = Histogram(
            ":tensorflow:serving:request_latency",
            "Time from a request reaching its model version to its answer (microseconds): "
            "checks, batch queue and inference",
            requests,
            buckets=LATENCIES,
            registry=self.registry,
        )
        self._batch_size = Histogram(
            ":tensorflow:serving:batching:processed_batch_size",
            "Examples in each batch a model version ran (before padding)",
            ["model_name", "version"],
            buckets=BATCH_SIZES,
            registry=self.registry,
        )
        self._queue = Gauge(
            ":tensorflow:serving:batching:queue_size",
            "Batches waiting to run (max_enqueued_batches bounds it), summed over workers",
            ["model_name", "version"],
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self._loaded = Gauge(
            ":tensorflow:serving:model_versions_loaded",
            "Versions of each model being served",
            ["model_name"],
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self._models: set[str] = set()  # every model ever loaded: a removed one is set to 0
        self.warmup_requests = Counter(
            ":tensorflow:serving:warmup_request_count",
            "Warmup requests a version replayed before it was served, by how they ended",
            [*requests, "status"],
            registry=self.registry,
        )
        self.warmup_latency = Histogram(
            ":tensorflow:serving:warmup_request_latency",
            "Time each warmup request took (microseconds): the first pays the runtime's first run",
            requests,
            buckets=LATENCIES,
            registry=self.registry,
        )
        version = ["model_name", "version"]
        self.inferences = Counter(
            "nv_inference_count",
            "Examples answered (Triton's inference_count)",
            version,
            registry=self.registry,
        )
        self.durations = [
            Counter(
                name.removesuffix("_total"),
                f"{what} (microseconds; Triton's statistics)",
                version,
                registry=self.registry,
            )
            for name, what in zip(
                statistics.DURATIONS.values(),
                (
                    "Time the answered requests took",
                    "Time they waited in the batch queue",
                    "Time their batches took to merge the inputs",
                    "Time their batches took in the runtime's call",
                    "Time their batches took to split the answers",
                ),
                strict=True,
            )
        ]
        self.last_inference = Gauge(
            statistics.LAST_INFERENCE,
            "When the version was last asked (seconds since the epoch)",
            version,
            registry=self.registry,
            multiprocess_mode="max",
        )
        self._executions = Counter(
            statistics.BATCHES.removesuffix("_total"),
            "Batches a version ran and answered, by size",
            [*version, "batch_size"],
            registry=self.registry,
        )
        self._phases = Counter(
            statistics.BATCH_DURATION.removesuffix("_total"),
            "Time the batches of each size took (microseconds), by phase: input (merging the "
            "requests), infer (the runtime's call), output (splitting the answers)",
            [*version, "batch_size", "phase"],
            registry=self.registry,
        )
        self._versioned = [  # every metric but _loaded, whose series are per model
            self._requests,
            self._latency,
            self._batch_size,
            self._queue,
            self.warmup_requests,
            self.warmup_latency,
            self.inferences,
            *self.durations,
            self.last_inference,
            self._executions,
            self._phases,
        ]
        self._served: set[tuple[str, str]] = set()  # (model, version) of the versions served
        self._retired: list[tuple[str, str]] = []  # gone since, oldest first

    def requests(self, model: str, version: int, api: str, entrypoint: str) -> Requests:
        answered = _Answered(self, (model, str(version)))
        labels = (model, str(version), api, entrypoint)
        return Requests(self._requests, self._latency, labels, answered)

    def batch_recorder(self, model: str, version: int) -> Callable[[int, Sequence[float]], None]:
        """The function a version's batcher calls with the size and phases (seconds: input,
        infer, output) of each batch it ran and answered."""
        bound: dict[int, tuple[Callable[[], None], list[Callable[[float], None]]]] = {}

        def record(size: int, phases: Sequence[float]) -> None:
            found = bound.get(size)
            if found is None:
                labels = (model, str(version), str(size))
                found = bound[size] = (
                    self._executions.labels(*labels).inc,
                    [self._phases.labels(*labels, phase).inc for phase in PHASES],
                )
            executed, durations = found
            executed()
            for inc, seconds in zip(durations, phases, strict=True):
                inc(seconds * 1e6)

        return record

    def batch_size_observer(self, model: str, version: int) -> Callable[[int], None]:
        """The function a version's batcher calls with the size of each batch it runs."""
        return self._batch_size.labels(model, str(version)).observe

    def queue_size_setter(self, model: str, version: int) -> Callable[[int], None]:
        """The function a version's batcher calls with its queue's length when it changes."""
        return self._queue.labels(model, str(version)).set

    def versions_loaded(self, models: Mapping[str, Sequence[int]]) -> None:
        """Record the repository's models after a poll; a model that is gone reads 0, and the
        series of a version that is gone are retired (`_forget_retired`)."""
        for name in self._models - set(models):
            self._loaded.labels(name).set(0)
        for name, versions in models.items():
            self._loaded.labels(name).set(len(versions))
        self._models |= set(models)
        served = {(name, str(v)) for name, versions in models.items() for v in versions}
        retired = [v for v in self._retired if v not in served]  # a version back is served
        self._retired = retired + sorted(self._served - served - set(retired))
        self._served = served
        self._forget_retired(keep=RETIRED_KEPT)

    def _forget_retired(self, keep: int = 0) -> None:
        """Remove the series of the retired versions but the last `keep`: each version's label
        sets (about 30 KB of them) would otherwise stay for as long as the server, one more set
        with every hot reload. A retired version's series are still in the first scrape after it
        went, with its last counts, then leave it (prometheus-client's `remove`, the way series of
        anything that is gone leave a scrape). TF Serving's own metrics have no version label:
        its counts per model never leave; zoo's `model_versions_loaded` per model does not."""
        if os.environ.get(MULTIPROCESS_DIR) is not None:  # the counts live in the workers' files
            return
        forget, self._retired = self._retired[: len(self._retired) - keep], self._retired[-keep:]
        for model, version in forget:
            for metric in self._versioned:
                for values in _label_sets(metric, model, version):
                    metric.remove(*values)

    def warmups(self) -> Warmups:
        """The instruments a version's warmup replay counts into."""
        return Warmups(self)

    def text(self) -> bytes:
        """A scrape; the retired versions' series are in it for the last time."""
        scraped = generate_latest(self._scraped())
        self._forget_retired()
        return scraped

    def families(self) -> Iterable[Metric]:
        """Every metric with its samples, as a scrape reports them (summed over the workers)."""
        return self._scraped().collect()

    def _scraped(self) -> CollectorRegistry:
        directory = os.environ.get(MULTIPROCESS_DIR)
        if directory is None:
            return self.registry
        registry = CollectorRegistry()
        MultiProcessCollector(registry, directory)
        return registry


def _label_sets(
    metric: Counter | Gauge | Histogram, model: str, version: str
) -> set[tuple[str, ...]]:
    """The label values of `metric`'s series of one version (a histogram's buckets less `le`)."""
    return {
        tuple(sample.labels.values())
        for family in metric.collect()
        for sample in family.samples
        if "le" not in sample.labels
        and sample.labels.get("model_name") == model
        and sample.labels.get("version") == version
    }


class Warmups:
    """What a warmup replay's Runner counts: its requests in the warmup metrics, and nothing in
    the batching ones, which describe the load clients put on a version."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def requests(self, model: str, version: int, api: str, entrypoint: str) -> Requests:
        labels = (model, str(version), api, entrypoint)
        return Requests(self._metrics.warmup_requests, self._metrics.warmup_latency, labels)

    def batch_size_observer(self, model: str, version: int) -> Callable[[int], None]:
        return _ignore

    def queue_size_setter(self, model: str, version: int) -> Callable[[int], None]:
        return _ignore

    def batch_recorder(self, model: str, version: int) -> Callable[[int, Sequence[float]], None]:
        return _ignore


def _ignore(*values: object) -> None:
    """What a warmup's batcher reports its batch sizes, queue length and batches to."""
