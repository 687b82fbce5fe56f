"""Benchmark: training images/s on one worker and on two (tf.distribute's MultiWorkerMirroredStrategy)
on this machine, with the recipe's global batch.

    ZOO_DATA_DIR=../shared/data python bench/distributed.py [--model cnn-mnist] [--limit 12000] [--epochs 2]

Three runs of `zoo train MODEL --limit N --epochs E`, each in its own processes:

- 1 worker on 1 core (`taskset -c 0`): the baseline;
- 1 worker on every core (TensorFlow's own threads use them);
- 2 workers on 127.0.0.1 (`--strategy multi-worker`), one pinned to each core: each computes half of
  every global batch and they all-reduce the gradients over gRPC on loopback.

The figure is the run's own: examples trained divided by training seconds (metrics.json, first epoch's
tracing included), so every row counts the same work. The table is printed and written to
bench/results/distributed.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import results_file
import serve

from zoo import runs

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "distributed.md"
ZOO = str(Path(sys.executable).parent / "zoo")


def run(workers: list[tuple[str, ...]], args: list[str], runs_dir: Path) -> dict:
    """Start each worker's command (a taskset prefix, then `zoo train ARGS`) at once; the chief's
    metrics.json once all have finished."""
    cluster = ",".join(f"127.0.0.1:{serve.free_port()}" for _ in workers)
    processes = []
    for index, pin in enumerate(workers):
        command = [*pin, ZOO, "train", *args, "--runs-dir", str(runs_dir)]
        if len(workers) > 1:
            command += ["--strategy", "multi-worker", "--workers", cluster]
            command += ["--worker-index", str(index)]
        processes.append(
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        )
    for process in processes:
        output = process.communicate()[0]
        if process.returncode:
            sys.exit(f"a worker failed:\n{output[-3000:]}")
    (metrics,) = runs_dir.glob(f"*/*/{runs.METRICS}")
    return json.loads(metrics.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cnn-mnist")
    parser.add_argument("--limit", type=int, default=12_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    train_args = [args.model, "--limit", str(args.limit), "--epochs", str(args.epochs)]
    cores = len(os.sched_getaffinity(0))
    setups = {
        "1 worker, 1 core": [("taskset", "-c", "0")],
        f"1 worker, {cores} cores": [()],
        "2 workers, 1 core each": [("taskset", "-c", "0"), ("taskset", "-c", str(1 % cores))],
    }
    rows, baseline = [], None
    with tempfile.TemporaryDirectory(prefix="zoo-bench-distributed-") as work:
        for number, (label, workers) in enumerate(setups.items()):
            started = time.perf_counter()
            metrics = run(workers, train_args, Path(work) / str(number))
            rate = metrics["examples_per_second"]
            baseline = baseline or rate
            rows.append(
                [
                    label,
                    f"{rate:,.0f}",
                    f"{rate / baseline:.2f}x",
                    f"{metrics['train']['accuracy']:.4f}",
                    f"{time.perf_counter() - started:.0f} s",
                ]
            )
            print(" | ".join(rows[-1]), flush=True)
    head = ["setup", "images/s", "vs 1 worker, 1 core", "train accuracy", "wall (with start-up)"]
    provenance = results_file.provenance()
    text = (
        f"# python bench/distributed.py --model {args.model} --limit {args.limit} "
        f"--epochs {args.epochs}   ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{provenance['machine']})\n"
        f"# {', '.join(f'{k} {v}' for k, v in provenance['versions'].items())}\n\n"
        + results_file.markdown_table(head, rows)
    )
    print("\n" + text)
    with runs.atomic_path(args.out) as tmp:
        tmp.write_text(text + "\n")


if __name__ == "__main__":
    main()
