"""Benchmark: int8 ONNX against float ONNX for the trained benchmark runs — size, test accuracy, speed.

Exports the newest finished run of each model under --runs-dir (those `bench/train.py` trained) with
`--quantize int8` into a scratch repository and prints one row per model: both models measured on the
whole test split in the same process, in batches of 256, with ONNX Runtime on the CPU.

    ZOO_DATA_DIR=../shared/data python bench/quantize.py                  # every benchmarked model
    ZOO_DATA_DIR=../shared/data python bench/quantize.py cnn-mnist mlp-mnist
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from zoo import runs
from zoo.export import export_run

DEFAULT_MODELS = ("mlp-mnist", "cnn-mnist", "cnn-mnist-dropout", "cnn-cifar10", "cnn-bn-cifar10")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=DEFAULT_MODELS)
    parser.add_argument("--runs-dir", type=Path, default=Path("bench-runs"))
    args = parser.parse_args()

    print(
        "| model | quantization | float32 size | int8 size | float32 accuracy | int8 accuracy "
        "| float32 images/s | int8 images/s | int8 / float32 speed |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.models:
            finished = [
                r for r in runs.list_runs(args.runs_dir, name) if (r / runs.MODEL).is_file()
            ]
            if not finished:
                print(f"| {name} | no finished run under {args.runs_dir} |")
                continue
            q = export_run(
                finished[-1],
                formats=("onnx",),
                model_dir=scratch,
                runs_dir=args.runs_dir,
                quantize="int8",
            ).quantized
            print(
                f"| {name} | {q.method} | {q.float_bytes / 1024:,.0f} KiB | {q.int8_bytes / 1024:,.0f} KiB "
                f"| {q.float_value:.2%} | {q.int8_value:.2%} | {q.float_examples_per_second:,.0f} "
                f"| {q.int8_examples_per_second:,.0f} "
                f"| {q.int8_examples_per_second / q.float_examples_per_second:.2f}x |",
                flush=True,
            )


if __name__ == "__main__":
    main()
