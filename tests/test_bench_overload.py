"""A short profile of bench/overload.py, so the overload benchmark keeps working: one pool size and
a second per phase; at 4x its saturation the server must refuse some requests (503) and fail none.
No figure is checked: they belong to the benchmark's run, on a quiet machine."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "overload.py"
PHASES = ["0.5x", "1x", "2x", "4x", "0.5x after 4x"]


@pytest.mark.skipif(not shutil.which("taskset"), reason="pins the server and the load to cores")
def test_the_overload_benchmark_refuses_past_the_queue_bound_and_fails_nothing(tmp_path):
    out = tmp_path / "overload.md"
    command = [
        *(sys.executable, str(BENCH), "--seconds", "1", "--recovery-seconds", "1"),
        *("--connections", "1024", "--work", str(tmp_path), "--out", str(out)),
        *("--max-connections", "8192"),  # a second of 4x S cannot find them all busy
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = out.read_text()
    assert "Saturation S:" in text and "## 1024 connections" in text
    rows = {
        cells[0]: cells
        for line in text.splitlines()
        if (cells := line.strip("| ").split(" | "))[0] in PHASES
    }
    assert list(rows) == PHASES
    for phase in ("0.5x", "1x", "0.5x after 4x"):  # at 2x and 4x goodput may drop to nothing
        assert float(rows[phase][2].replace(",", "")) > 0, rows[phase]  # OK answers
    refused, failed = int(rows["4x"][5]), int(rows["4x"][7])
    assert refused > 0 and failed == 0, rows["4x"]
    assert "ms after the drop" in text  # the recovery's windows
