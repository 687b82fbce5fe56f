"""The series of a version that is no longer served: in the first scrape after it went, with its
last counts, then gone, so that hot reloads do not grow the server's memory (bench/reloads.py) or
its scrapes; the model's own series stay. Fast tests of the registry the server uses."""

import re
import time

from zoo.serving.core.metrics import PREDICT, REST, RETIRED_KEPT, Metrics
from zoo.serving.core.statistics import OK, Timing

MODEL = "cnn-mnist"


def serve_one_request(metrics: Metrics, version: int) -> None:
    """What a version's warmup, one request and its batch leave in the metrics."""
    metrics.warmups().requests(MODEL, version, PREDICT, "warmup").done(OK, time.perf_counter())
    timing = Timing()
    timing.examples = 1
    metrics.requests(MODEL, version, PREDICT, REST).done(OK, time.perf_counter(), timing)
    metrics.batch_size_observer(MODEL, version)(1)
    metrics.queue_size_setter(MODEL, version)(0)
    metrics.batch_recorder(MODEL, version)(1, (0.001, 0.002, 0.001))


def versions_in(scrape: bytes) -> set[str]:
    return set(re.findall(rb'version="(\d+)"', scrape))


def test_a_removed_versions_series_are_in_one_more_scrape_then_gone():
    metrics = Metrics()
    for version in (1, 2):
        serve_one_request(metrics, version)
    metrics.versions_loaded({MODEL: [1, 2]})
    metrics.versions_loaded({MODEL: [2]})
    last, after = metrics.text(), metrics.text()
    assert versions_in(last) == {b"1", b"2"}
    assert (
        b'request_count_total{API="Predict",entrypoint="REST",model_name="cnn-mnist",status="OK",version="1"} 1.0'
        in last
    )
    assert versions_in(after) == {b"2"}
    series = [line for line in last.splitlines() if b'version="2"' in line]
    assert series == [line for line in after.splitlines() if b'version="2"' in line]
    assert f'model_versions_loaded{{model_name="{MODEL}"}} 1.0'.encode() in after


def test_a_version_served_again_keeps_its_series():
    metrics = Metrics()
    serve_one_request(metrics, 1)
    metrics.versions_loaded({MODEL: [1]})
    metrics.versions_loaded({})  # unloaded, then loaded again before any scrape
    metrics.versions_loaded({MODEL: [1]})
    metrics.text()
    assert versions_in(metrics.text()) == {b"1"}
    assert f'model_versions_loaded{{model_name="{MODEL}"}} 1.0'.encode() in metrics.text()


def test_with_no_scrape_only_the_last_removed_versions_are_kept():
    metrics = Metrics()
    for version in range(1, 31):  # 30 hot reloads, no one scraping
        serve_one_request(metrics, version)
        metrics.versions_loaded({MODEL: [version]})
    kept = {str(v).encode() for v in range(30 - RETIRED_KEPT, 31)}
    assert versions_in(metrics.text()) == kept
    assert versions_in(metrics.text()) == {b"30"}
