"""Pictures of a generator's output: image grids, one per epoch from a fixed z, and their animation.

The same latent points are drawn after every epoch, so the grids differ only by what the generator
learned, and the GIF of them shows the digits forming.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import keras
import numpy as np
from PIL import Image

from zoo.runs import ANIMATION, atomic_path

SAMPLES_DIR = "samples"
GRID_ROWS, GRID_COLUMNS = 4, 10  # the slide's layout
SAMPLE_SEED = 1234
PAD = 2  # pixels of frame between and around the digits


def grid(images: np.ndarray, columns: int = GRID_COLUMNS) -> np.ndarray:
    """Images (n, h, w, 1) with pixels in [0, 1] tiled row by row into one uint8 picture."""
    n, h, w = images.shape[:3]
    rows = math.ceil(n / columns)
    picture = np.full((PAD + rows * (h + PAD), PAD + columns * (w + PAD)), 96, np.uint8)
    pixels = np.clip(np.rint(images[..., 0] * 255), 0, 255).astype(np.uint8)
    for i, image in enumerate(pixels):
        top, left = PAD + (i // columns) * (h + PAD), PAD + (i % columns) * (w + PAD)
        picture[top : top + h, left : left + w] = image
    return picture


def write_png(picture: np.ndarray, path: str | os.PathLike[str]) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(picture).save(tmp, format="PNG")


def write_gif(frames: list[Path], path: str | os.PathLike[str], ms_per_frame: int = 300) -> None:
    """An endlessly looping GIF of the PNG `frames`, holding the last one a little longer."""
    images = [_read(frame) for frame in frames]
    durations = [ms_per_frame] * (len(images) - 1) + [ms_per_frame * 5]
    with atomic_path(path) as tmp:
        images[0].save(
            tmp, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0
        )


def _read(path: Path) -> Image.Image:
    """A picture's pixels, with its file closed again (a long run has hundreds of frames)."""
    with Image.open(path) as image:
        return image.copy()  # copying reads the pixels


class SampleGrids(keras.callbacks.Callback):
    """After every epoch, `samples/epoch-NNN.png` from a fixed z; at the end, `samples.gif` of them.

    The GIF is made from the PNGs on disk, so a resumed run's animation covers every epoch.
    """

    def __init__(self, run_dir: Path):
        super().__init__()
        self.folder = run_dir / SAMPLES_DIR
        self.animation = run_dir / ANIMATION

    def on_epoch_end(self, epoch, logs=None):
        z = self.model.latent_points(GRID_ROWS * GRID_COLUMNS, SAMPLE_SEED)
        images = np.asarray(self.model(z, training=False))
        write_png(grid(images), self.folder / f"epoch-{epoch + 1:03d}.png")

    def on_train_end(self, logs=None):
        frames = sorted(self.folder.glob("epoch-*.png"))
        if frames:
            write_gif(frames, self.animation)
