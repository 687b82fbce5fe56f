"""Train, evaluate and publish pretrained weights into weights/ (zoo/weights.py), then print the
manifest as a table.

    ZOO_DATA_DIR=../shared/data python bench/weights.py linear-regression xor-mlp ...   # train each
    ZOO_DATA_DIR=../shared/data python bench/weights.py --run bench-runs/cnn-mnist/RUN  # a measured run

Each model is trained with its full default recipe (every training example, the recipe's epochs
and seed 0), evaluated on its test split, and its weights and figures replace the model's earlier
entry. Publish again only when a recipe changes: the weights are committed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import results_file

from zoo import weights
from zoo.evaluate import evaluate
from zoo.train import train

ROOT = Path(__file__).resolve().parents[1]


def table(manifest: dict) -> str:
    rows = []
    for name, published in manifest.items():
        test = published["test"]
        figure = next((f"{k} {test[k]:.4f}" for k in ("accuracy", "mae", "loss") if k in test), "")
        run = published["run"]
        size = (weights.weights_dir() / published["file"]).stat().st_size
        rows.append(
            [name, figure, str(run["epochs"]), f"{run['train_seconds']:.1f}", f"{size / 1024:.1f}"]
        )
    head = ["model", "test", "epochs", "train s", "KiB"]
    return results_file.markdown_table(head, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="models to train with their recipes")
    parser.add_argument("--run", action="append", default=[], help="a finished run to publish")
    parser.add_argument("--runs-dir", type=Path, default=ROOT / "bench-runs" / "weights")
    args = parser.parse_args()
    for name in args.models:
        result = train(name, runs_dir=args.runs_dir, verbose=0)
        args.run.append(result.run_dir)
    for run in args.run:
        evaluate(run, runs_dir=args.runs_dir)
        published = weights.publish(run)
        print(f"published {published['file']} from {run}", flush=True)
    print(table(weights.manifest()))


if __name__ == "__main__":
    main()
