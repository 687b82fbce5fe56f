"""Measure: how far the two backends' `serving_image` answers are apart on real MNIST digits.

    ZOO_DATA_DIR=../shared/data python bench/image_bytes.py [--digits 1000]

The pretrained cnn-mnist is exported once; the first N test digits are encoded as files (PNG and
JPEG at MNIST's 28x28, and RGB files of other sizes, which both backends must convert and resize),
and each batch goes through the servables `zoo serve` runs: `--backend tf` (the SavedModel's graph
decodes with TensorFlow) and `--backend onnx` (Pillow decodes in Python, then ONNX Runtime). The
pixels are compared too (the graph's decoder alone against Pillow's). The table is printed and
written to bench/results/image_bytes.md.
"""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path

import numpy as np
import results_file
from PIL import Image

from zoo import data, publish
from zoo.export import export_run
from zoo.export.contract import IMAGE_INPUT, IMAGE_SIGNATURE
from zoo.export.serving import image_function
from zoo.serving.core import images, servables

RESULTS = Path(__file__).parent / "results" / "image_bytes.md"


def encodings(x: np.ndarray) -> dict[str, list[bytes]]:
    """The digits as files people send: MNIST's own size, and RGB files of other sizes."""

    def encoded(pixels: np.ndarray, fmt: str) -> bytes:
        out = io.BytesIO()
        Image.fromarray(pixels).save(out, fmt)
        return out.getvalue()

    def rgb(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        return np.asarray(Image.fromarray(pixels).convert("RGB").resize(size, Image.BICUBIC))

    digits = [image[..., 0] for image in x]
    return {
        "PNG, 28x28 gray": [encoded(d, "PNG") for d in digits],
        "JPEG, 28x28 gray": [encoded(d, "JPEG") for d in digits],
        "PNG, 56x56 RGB (upscaled)": [encoded(rgb(d, (56, 56)), "PNG") for d in digits],
        "JPEG, 80x100 RGB (resized)": [encoded(rgb(d, (80, 100)), "JPEG") for d in digits],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, default=1000)
    args = parser.parse_args()
    x, y = data.load("mnist", "test")
    x, y = x[: args.digits], y[: args.digits]
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        run = publish.pretrained_run("cnn-mnist", root / "runs")
        version = export_run(run, model_dir=root / "models", samples=4).version_dir
        onnx, tf = (servables.load(version, kind) for kind in ("onnx", "tf"))
        described = onnx.exported.image
        graph_pixels = image_function(described, lambda pixels: {"pixels": pixels})
        rows = []
        for name, files in encodings(x).items():
            batch = {IMAGE_INPUT: np.array(files, dtype=object)}
            answers = [s.run_batch(batch, IMAGE_SIGNATURE) for s in (onnx, tf)]
            pixels = abs(
                graph_pixels(batch[IMAGE_INPUT])["pixels"].numpy()
                - images.decode_images(batch[IMAGE_INPUT], described)
            )
            by_onnx, by_tf = (a["classes"] for a in answers)
            gap = abs(answers[0]["probabilities"] - answers[1]["probabilities"])
            rows.append(
                [
                    name,
                    f"{pixels.max():.3g} / {pixels.mean():.3g}",
                    f"{gap.max():.2g}",
                    f"{(by_onnx == by_tf).sum()}/{len(y)}",
                    f"{(by_tf == y).mean():.2%} / {(by_onnx == y).mean():.2%}",
                ]
            )
    head = [
        "files",
        "pixels: max / mean abs. gap (0-255)",
        "probabilities: max abs. gap",
        "same label",
        "accuracy tf / onnx",
    ]
    table = results_file.markdown_table(head, rows)
    print(table)
    RESULTS.write_text(
        f"serving_image on the first {len(y)} MNIST test digits, pretrained cnn-mnist "
        f"({results_file.provenance()['machine']}):\n\n{table}\n"
    )


if __name__ == "__main__":
    main()
