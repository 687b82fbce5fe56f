"""Train and publish pretrained weights into weights/ (zoo/publish.py), then print the manifest
as a table.

    ZOO_DATA_DIR=../shared/data python bench/weights.py linear-regression xor-mlp ...   # train each
    ZOO_DATA_DIR=../shared/data python bench/weights.py --run bench-runs/cnn-mnist/RUN  # a measured run

Each model is trained with its full default recipe (every training example, the recipe's epochs
and seed 0); its weights are stored (float16 from 100k parameters on) and measured on the test
split as stored, and replace the model's earlier entry. Publish again only when a recipe changes:
the weights are committed. `--again MODEL` stores published weights anew (after a change in how
they are stored, or in the yardstick that measures the GANs), keeping the run they came from.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import results_file

from zoo import publish, weights
from zoo.train import train

ROOT = Path(__file__).resolve().parents[1]


def table(manifest: dict) -> str:
    rows = []
    for name, published in manifest.items():
        test = published["test"]
        keys = ("accuracy", "mae", "frechet_distance", "loss")
        figure = next((f"{k} {test[k]:.4f}" for k in keys if k in test), "")
        run = published["run"]
        size = (weights.weights_dir() / published["file"]).stat().st_size
        rows.append(
            [
                name,
                figure,
                str(run["epochs"]),
                f"{run['train_seconds']:.1f}",
                published["dtype"],
                f"{size / 1024:.1f}",
            ]
        )
    head = ["model", "test", "epochs", "train s", "stored", "KiB"]
    return results_file.markdown_table(head, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="models to train with their recipes")
    parser.add_argument("--run", action="append", default=[], help="a finished run to publish")
    parser.add_argument("--again", action="append", default=[], help="a published model")
    parser.add_argument("--runs-dir", type=Path, default=ROOT / "bench-runs" / "weights")
    args = parser.parse_args()
    for name in args.models:
        result = train(name, runs_dir=args.runs_dir, verbose=0)
        args.run.append(result.run_dir)
    # Stored again first: a new mlp-mnist is the yardstick the GANs given with --run are measured by.
    again = [publish.pretrained_run(name, args.runs_dir) for name in args.again]
    for run in [*again, *args.run]:
        published = publish.publish(run, runs_dir=args.runs_dir)
        print(f"published {published['file']} from {run}", flush=True)
    print(table(weights.manifest()))


if __name__ == "__main__":
    main()
