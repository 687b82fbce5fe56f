"""Benchmark: train the MNIST and CIFAR-10 models with their default recipes and measure them.

For each model it prints test accuracy, epochs, wall time and training images/s, and compares the
tf.data pipeline with feeding NumPy arrays to `fit` as the slides do (same model, same recipe, same
examples, measured in the same run: the ratio is the pipeline's speed-up).

    ZOO_DATA_DIR=../shared/data python bench/train.py                 # every image model
    ZOO_DATA_DIR=../shared/data python bench/train.py cnn-mnist --feed-examples 5000
    ZOO_DATA_DIR=../shared/data python bench/train.py cnn-bn-cifar10 --resume bench-runs/cnn-bn-cifar10/RUN

Results are appended to bench/results/train.json as each model finishes, so a long run that is
stopped keeps what it measured; the table is printed from that file at the end.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import keras
import numpy as np
import results_file

from zoo import data
from zoo.data.pipeline import make_pipeline
from zoo.evaluate import evaluate
from zoo.registry import create_model, get_spec, list_models
from zoo.train import compile_model, train

RESULTS = Path(__file__).parent / "results" / "train.json"
IMAGE_DATASETS = ("mnist", "fashion-mnist", "cifar10")


def feed_throughput(name: str, examples: int, seed: int = 0) -> tuple[float, float]:
    """Images/s of one epoch over `examples` training images: tf.data pipeline vs NumPy arrays."""
    spec = get_spec(name)
    recipe = spec.recipe
    x, y = data.load(spec.dataset, "train")
    x, y = x[:examples], y[:examples]
    steps = math.ceil(len(x) / recipe.batch_size)
    rates = []
    for feed in ("tf.data", "numpy"):
        keras.utils.set_random_seed(seed)
        model = create_model(name)
        compile_model(model, spec, recipe, steps)
        if feed == "tf.data":
            ds = make_pipeline(x, y, spec, recipe.batch_size, training=True, seed=seed)
            model.fit(ds.take(2), epochs=1, shuffle=False, verbose=0)  # warm-up: trace the step
            start = time.perf_counter()
            model.fit(ds, epochs=1, shuffle=False, verbose=0)
        else:
            # The slides' way: normalise the whole array up front, let fit slice and shuffle it.
            xs = x.astype(np.float32) * spec.pixel_scale
            ys = keras.utils.to_categorical(y, spec.num_outputs) if recipe.one_hot_labels else y
            model.fit(xs[: 2 * recipe.batch_size], ys[: 2 * recipe.batch_size], verbose=0)
            start = time.perf_counter()
            model.fit(xs, ys, batch_size=recipe.batch_size, epochs=1, shuffle=True, verbose=0)
        rates.append(len(x) / (time.perf_counter() - start))
    return rates[0], rates[1]


def bench_model(name: str, runs_dir: Path, feed_examples: int, resume: Path | None = None) -> dict:
    started = time.perf_counter()
    result = train(None if resume else name, runs_dir=runs_dir, verbose=2, resume=resume)
    # A resumed run's wall time is its recorded training time plus this session's evaluation.
    wall = time.perf_counter() - started if resume is None else result.metrics["train_seconds"]
    test = evaluate(result.run_dir, runs_dir=runs_dir).metrics
    pipeline_rate, numpy_rate = feed_throughput(name, feed_examples)
    spec = get_spec(name)
    return {
        "model": name,
        "run": str(result.run_dir),
        "test_accuracy": test["accuracy"],
        "slide_accuracy": spec.slide_value if spec.slide_metric == "accuracy" else None,
        "epochs": result.metrics["epochs"],
        "wall_seconds": round(wall, 1),
        "train_images_per_second": result.metrics["examples_per_second"],
        "feed_tfdata_images_per_second": round(pipeline_rate, 1),
        "feed_numpy_images_per_second": round(numpy_rate, 1),
        **results_file.provenance(),
    }


def table(results: list[dict]) -> str:
    head = ["model", "test accuracy", "slide", "epochs", "wall time", "train images/s"]
    head += ["tf.data images/s", "NumPy images/s", "tf.data / NumPy"]
    rows = []
    for r in results:
        tfdata, numpy = r["feed_tfdata_images_per_second"], r["feed_numpy_images_per_second"]
        rows.append(
            [
                r["model"],
                f"{r['test_accuracy']:.2%}",
                f"{r['slide_accuracy']:.2%}" if r["slide_accuracy"] else "-",
                str(r["epochs"]),
                f"{r['wall_seconds'] / 60:.1f} min",
                f"{r['train_images_per_second']:,.0f}",
                f"{tfdata:,.0f}",
                f"{numpy:,.0f}",
                f"{tfdata / numpy:.2f}x",
            ]
        )
    return results_file.markdown_table(head, rows)


def main() -> None:
    image_models = [
        n
        for n in list_models()
        if get_spec(n).dataset in IMAGE_DATASETS and get_spec(n).task != "generative"
    ]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "models", nargs="*", default=image_models, help="default: every image model"
    )
    parser.add_argument("--runs-dir", type=Path, default=Path("bench-runs"))
    parser.add_argument("--feed-examples", type=int, default=10_000)
    parser.add_argument(
        "--resume", type=Path, help="finish this interrupted benchmark run of the one model named"
    )
    parser.add_argument(
        "--table-only", action="store_true", help="print the table of saved results"
    )
    parser.add_argument(
        "--feed-only",
        action="store_true",
        help="re-measure only the tf.data vs NumPy feeding of saved results (on a quiet machine)",
    )
    args = parser.parse_args()

    if args.feed_only:
        for name in [n for n in args.models if n in results_file.load(RESULTS)]:
            pipeline_rate, numpy_rate = feed_throughput(name, args.feed_examples)
            result = {
                **results_file.load(RESULTS)[name],
                "feed_tfdata_images_per_second": round(pipeline_rate, 1),
                "feed_numpy_images_per_second": round(numpy_rate, 1),
            }
            results_file.save(RESULTS, name, result)
    elif not args.table_only:
        for name in args.models:
            result = bench_model(name, args.runs_dir, args.feed_examples, args.resume)
            results_file.save(RESULTS, name, result)
            print(table([result]), flush=True)
    saved = results_file.load(RESULTS)
    print(table([saved[n] for n in image_models if n in saved]))


if __name__ == "__main__":
    main()
