"""Triton's per-version statistics, read from the server's Prometheus metrics.

The runner and the batcher time each request once (`Timing`: its wait in the batch queue and its
batch's three phases) and the metrics (metrics.py) count it; the statistics extension's answer is
then read back from those same counters here. So the statistics and the metrics agree by
construction, warmup requests are left out of both (they count into metrics of their own), and
under `zoo serve --workers N` the statistics are the sum over the workers, as the metrics are.

What each figure is, in Triton's terms (docs/serving.md has the table): `success` and `fail` are
the requests that reached a version and how they ended (`request_count` by status, and their
latency); `queue`, `compute_input`, `compute_infer` and `compute_output` are counted once per
successful request, each request taking the whole time of the batch it ran in; the batch phases
are merging the requests' inputs into one batch (concatenation, padding), the runtime's call, and
cutting the batch's answers into each request's; `inference_count` counts examples, and
`execution_count` and `batch_stats` the batches that ran.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client import Metric

# The metrics this module reads, as prometheus_client names their samples (counters get `_total`).
REQUESTS = ":tensorflow:serving:request_count_total"
LATENCY_SUM = ":tensorflow:serving:request_latency_sum"
INFERENCES = "nv_inference_count_total"
DURATIONS = {  # InferStatistics' field -> the counter of its microseconds
    "success": "nv_inference_request_duration_us_total",
    "queue": "nv_inference_queue_duration_us_total",
    "compute_input": "nv_inference_compute_input_duration_us_total",
    "compute_infer": "nv_inference_compute_infer_duration_us_total",
    "compute_output": "nv_inference_compute_output_duration_us_total",
}
BATCHES = ":tensorflow:serving:batching:executions_total"
BATCH_DURATION = ":tensorflow:serving:batching:compute_duration_us_total"
LAST_INFERENCE = ":tensorflow:serving:last_inference_timestamp_seconds"
PHASES = ("input", "infer", "output")  # the `phase` label of BATCH_DURATION
OK = "OK"  # the `status` of a request that was answered


class Timing:
    """One request's time in its version's batcher, in seconds: filled by the batcher as its
    parts wait and run, read by the metrics once the request is answered. A request split into
    several batches waits once (its first part's wait) and computes for all of them."""

    __slots__ = ("compute", "examples", "queue", "queued_at")

    def __init__(self) -> None:
        self.examples = 0
        self.queue = 0.0
        self.queued_at: float | None = None  # time.perf_counter() when it entered the queue
        self.compute = [0.0, 0.0, 0.0]  # input, infer, output, as PHASES

    def enqueued(self) -> None:
        self.queued_at = time.perf_counter()

    def started(self, now: float) -> None:
        """One of its parts' batches starts at `now`: the first ends the request's wait."""
        if self.queued_at is not None:
            self.queue += now - self.queued_at
            self.queued_at = None

    def ran(self, phases: tuple[float, float, float]) -> None:
        for index, seconds in enumerate(phases):
            self.compute[index] += seconds


@dataclass
class Duration:
    """Triton's StatisticDuration: how many times, and their total nanoseconds."""

    count: int = 0
    ns: int = 0


@dataclass
class BatchStatistics:
    """Triton's InferBatchStatistics: the batches of one size that ran, by phase."""

    batch_size: int
    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)


@dataclass
class VersionStatistics:
    """Triton's ModelStatistics of one version, as plain data for the front ends to write."""

    name: str
    version: int
    last_inference: int = 0  # milliseconds since the epoch; 0: never asked
    inference_count: int = 0
    execution_count: int = 0
    success: Duration = field(default_factory=Duration)
    fail: Duration = field(default_factory=Duration)
    queue: Duration = field(default_factory=Duration)
    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)
    cache_hit: Duration = field(default_factory=Duration)  # zoo serve caches no answers
    cache_miss: Duration = field(default_factory=Duration)
    batch_stats: list[BatchStatistics] = field(default_factory=list)


def read(
    families: Iterable[Metric], versions: Iterable[tuple[str, int]]
) -> list[VersionStatistics]:
    """The statistics of `versions` ((model, version), in that order) from the metrics' samples."""
    found = {(name, str(version)): _Sums() for name, version in versions}
    for family in families:
        for sample in family.samples:
            sums = found.get((sample.labels.get("model_name"), sample.labels.get("version")))
            if sums is not None:
                sums.add(sample.name, sample.labels, sample.value)
    return [sums.statistics(name, int(version)) for (name, version), sums in found.items()]


class _Sums:
    """The samples of one version's metrics, summed over the labels the statistics drop."""

    def __init__(self) -> None:
        self.ok = self.failed = 0.0
        self.micros: dict[str, float] = dict.fromkeys((*DURATIONS, "all"), 0.0)
        self.inferences = self.last = 0.0
        self.batches: dict[int, list[float]] = {}  # size -> [count, input, infer, output µs]

    def add(self, name: str, labels: dict[str, str], value: float) -> None:
        if name == REQUESTS:
            if labels["status"] == OK:
                self.ok += value
            else:
                self.failed += value
        elif name == LATENCY_SUM:
            self.micros["all"] += value
        elif name == INFERENCES:
            self.inferences += value
        elif name == LAST_INFERENCE:
            self.last = max(self.last, value)
        elif name in (BATCHES, BATCH_DURATION):
            sums = self.batches.setdefault(int(labels["batch_size"]), [0.0] * 4)
            sums[0 if name == BATCHES else 1 + PHASES.index(labels["phase"])] += value
        else:
            for key, counter in DURATIONS.items():
                if name == counter:
                    self.micros[key] += value

    def statistics(self, name: str, version: int) -> VersionStatistics:
        ok = int(self.ok)
        success = _nanoseconds(self.micros["success"])
        found = VersionStatistics(
            name,
            version,
            last_inference=int(self.last * 1000),
            inference_count=int(self.inferences),
            execution_count=int(sum(sums[0] for sums in self.batches.values())),
            success=Duration(ok, success),
            # The latency of every request, less that of the answered ones.
            fail=Duration(int(self.failed), max(0, _nanoseconds(self.micros["all"]) - success)),
        )
        for key in ("queue", "compute_input", "compute_infer", "compute_output"):
            setattr(found, key, Duration(ok, _nanoseconds(self.micros[key])))
        for size, (count, *phases) in sorted(self.batches.items()):
            durations = [Duration(int(count), _nanoseconds(micros)) for micros in phases]
            found.batch_stats.append(BatchStatistics(size, *durations))
        return found


def _nanoseconds(micros: float) -> int:
    return round(micros * 1000)
