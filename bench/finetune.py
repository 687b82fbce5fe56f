"""Benchmark: fine-tuning the published cnn-mnist weights on a small folder of one's own images,
against the same model trained from scratch on it.

Fashion-MNIST (Debian's dataset-fashion-mnist) is written out as an image folder, one subfolder per
class named after it: `train/` with the first N training images, `test/` with the full 10,000-image
test set. Then, for each seed, the very commands a user types:

    zoo train cnn-mnist --dataset DIR --seed S               # from scratch
    zoo train cnn-mnist --dataset DIR --seed S --pretrained  # from the MNIST weights
    zoo evaluate RUN                                         # on DIR/test

with the recipe's epochs, batch size and learning rate for both, and prints test accuracy as a
Markdown table (mean, and the range over the seeds).

    ZOO_DATA_DIR=../shared/data python bench/finetune.py
    ZOO_DATA_DIR=../shared/data python bench/finetune.py --train-images 1000 --seeds 3 --epochs 5
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import results_file

from zoo import data, runs
from zoo.data.own import write_images

MODEL = "cnn-mnist"
ZOO = [sys.executable, "-m", "zoo.cli.main"]


def write_folder(root: Path, train_images: int) -> None:
    """Fashion-MNIST as a folder of one's own: train/ (the first N) and test/ (all 10,000)."""
    names = np.array(data.FASHION_MNIST_CLASSES)
    for split, count in (("train", train_images), ("test", None)):
        x, y = data.load("fashion-mnist", split)
        write_images(root / split, x[:count], names[y[:count]])


def zoo(*args: str) -> str:
    """Run a `zoo` command as a user does; its output, or its error and the command, on failure."""
    done = subprocess.run([*ZOO, *args], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"zoo {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def test_accuracy(folder: Path, runs_dir: Path, seed: int, epochs: int, pretrained: bool) -> float:
    """Train one run on the folder, evaluate it on its test/, and return its test accuracy."""
    start = ["--pretrained"] if pretrained else []
    out = zoo(
        "train",
        MODEL,
        "--dataset",
        str(folder),
        "--seed",
        str(seed),
        "--epochs",
        str(epochs),
        "--runs-dir",
        str(runs_dir),
        *start,
    )
    run = re.findall(r"^run: (.+)$", out, re.M)[-1]
    zoo("evaluate", run)
    return runs.read_json(Path(run) / runs.METRICS)["test"]["accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-images", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5, help="cnn-mnist's recipe: 5")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="zoo-finetune-") as tmp:
        folder = Path(tmp) / "fashion"
        write_folder(folder, args.train_images)
        for pretrained in (False, True):
            scores = [
                test_accuracy(folder, Path(tmp) / "runs", seed, args.epochs, pretrained)
                for seed in range(args.seeds)
            ]
            print(f"{'pretrained' if pretrained else 'scratch'}: {scores}", flush=True)
            rows.append(
                [
                    "published MNIST weights (`--pretrained`)" if pretrained else "scratch",
                    f"{args.train_images:,}",
                    str(args.epochs),
                    f"{statistics.mean(scores):.2%}",
                    f"{min(scores):.2%} to {max(scores):.2%}",
                ]
            )
    head = ["cnn-mnist from", "training images", "epochs", "test accuracy (mean)", "over seeds"]
    print(f"\nFashion-MNIST, 10,000 test images, seeds 0-{args.seeds - 1}")
    print(results_file.markdown_table(head, rows))
    print(json.dumps(results_file.provenance()))


if __name__ == "__main__":
    main()
