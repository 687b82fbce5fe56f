"""A short profile of bench/serve.py, so the serving benchmark keeps working: one model, one
concurrency, one short run of each server and protocol, with the load generators it uses, and
`zoo serve --workers 2` on both cores (its comparison with one worker left to the real run). The
SavedModel served by TensorFlow (`--no-tf` here) is left to the real run too."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "serve.py"
PATHS = ("FastAPI + ORT", "zoo tfs-rest", "zoo v2-rest", "zoo v2-binary", "zoo tfs-grpc")


def assert_measured_without_errors(rows: list[list[str]]) -> None:
    for row in rows:
        requests_per_second, errors = float(row[4].replace(",", "")), int(row[7])
        assert requests_per_second > 0 and errors == 0, row


@pytest.mark.skipif(
    not (shutil.which("wrk") and shutil.which("h2load") and shutil.which("taskset")),
    reason="needs Debian's wrk and nghttp2-client (.ci/run installs them)",
)
def test_the_serving_benchmark_measures_every_path_without_errors(tmp_path):
    out = tmp_path / "serve.md"
    command = [
        *(sys.executable, str(BENCH), "--models", "cnn-mnist", "--concurrency", "4"),
        *("--seconds", "1", "--repeat", "1", "--work", str(tmp_path), "--out", str(out)),
        *("--workers", "2", "--workers-concurrency", "4", "--no-tf"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    first, workers = out.read_text().split("## Several workers")
    rows = [line.split(" | ") for line in first.splitlines() if line.startswith("| cnn")]
    seen = {(row[1], row[2]) for row in rows}
    expected = {("FastAPI + ORT", "off")} | {
        (path, batching) for path in PATHS[1:] for batching in ("on", "off")
    }
    assert seen == expected
    assert_measured_without_errors(rows)
    assert "in-process ONNX Runtime" in first

    rows = [line.split(" | ") for line in workers.splitlines() if line.startswith("| cnn")]
    assert {(row[1], row[2]) for row in rows} == {("zoo tfs-rest", "2"), ("zoo tfs-grpc", "2")}
    assert_measured_without_errors(rows)
