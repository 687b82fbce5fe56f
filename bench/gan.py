"""Benchmark: train the MNIST GANs with their default recipes and measure their digits.

For each GAN it prints the training time and the quality figures of `zoo evaluate` on 10,000
samples: the Fréchet distance in the published mlp-mnist's feature space, set between the floor (real
test digits, measured in the same run) and the ceiling (the untrained generator, same run), the
smallest class share and the mean classifier confidence.

    ZOO_DATA_DIR=../shared/data python bench/gan.py                    # both GANs, seed 0
    ZOO_DATA_DIR=../shared/data python bench/gan.py --seeds 0 1 2      # how much the seed moves them
    ZOO_DATA_DIR=../shared/data python bench/gan.py gan-mnist-simple --epochs 5
    ZOO_DATA_DIR=../shared/data python bench/gan.py --table-only

The feature classifier is mlp-mnist with its published weights (zoo/quality.py), named by hash in
each result. Results go to bench/results/gan.json as each run finishes, one entry per model and seed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import results_file

from zoo import runs
from zoo.evaluate import evaluate
from zoo.registry import get_spec, list_models
from zoo.train import train

RESULTS = Path(__file__).parent / "results" / "gan.json"


def bench_gan(name: str, seed: int, runs_dir: Path, epochs: int | None) -> dict:
    started = time.perf_counter()
    result = train(name, seed=seed, runs_dir=runs_dir, epochs=epochs, verbose=2)
    wall = time.perf_counter() - started
    test = runs.read_json(evaluate(result.run_dir, runs_dir=runs_dir).run_dir / runs.METRICS)[
        "test"
    ]
    return {
        "model": name,
        "seed": seed,
        "run": str(result.run_dir),
        "epochs": result.metrics["epochs"],
        "wall_seconds": round(wall, 1),
        **test,
        **results_file.provenance(),
    }


def table(results: list[dict]) -> str:
    head = ["model", "seed", "epochs", "wall time", "Fréchet distance", "floor (real)"]
    head += ["ceiling (untrained)", "distance / ceiling", "smallest class share", "mean confidence"]
    rows = [
        [
            r["model"],
            str(r["seed"]),
            str(r["epochs"]),
            f"{r['wall_seconds'] / 60:.1f} min",
            *(f"{r[k]:.2f}" for k in ("frechet_distance", "frechet_floor", "frechet_ceiling")),
            f"{r['frechet_distance'] / r['frechet_ceiling']:.3f}",
            f"{r['min_class_share']:.2%}",
            f"{r['mean_confidence']:.2%}",
        ]
        for r in results
    ]
    return results_file.markdown_table(head, rows)


def main() -> None:
    gans = [n for n in list_models() if get_spec(n).task == "generative"]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=gans, help="default: every GAN")
    parser.add_argument("--runs-dir", type=Path, default=Path("bench-runs"))
    parser.add_argument("--epochs", type=int, help="default: the recipe's")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="default: 0")
    parser.add_argument(
        "--table-only", action="store_true", help="print the table of saved results"
    )
    args = parser.parse_args()

    if not args.table_only:
        for name in args.models:
            for seed in args.seeds:
                result = bench_gan(name, seed, args.runs_dir, args.epochs)
                results_file.save(RESULTS, f"{name} seed {seed}", result)
                print(table([result]), flush=True)
    saved = results_file.load(RESULTS).values()
    print(table(sorted(saved, key=lambda r: (gans.index(r["model"]), r["seed"]))))


if __name__ == "__main__":
    main()
