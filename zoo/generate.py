"""`zoo generate`: new digits from a generator, as a picture grid and optionally raw arrays.

The generator is a trained run's Keras model, or any function from latent points to images (a
served generator: `serving.client` asks one over TF Serving's APIs). Either way the latent points
come from the model id's own distribution and seed, so a seed names the same digits everywhere.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from zoo import runs
from zoo.errors import ZooError
from zoo.quality import generate_images, latent_points
from zoo.registry import ModelSpec, create_model, get_spec
from zoo.samples import grid, write_png

Draw = Callable[[np.ndarray], np.ndarray]  # latent points [n, latent] -> images [n, 28, 28, 1]


@dataclass
class Generated:
    """What `generate` wrote, and from which run (None when a server drew the images)."""

    run_dir: Path | None
    images: np.ndarray
    grid: Path
    npy: Path | None


def generate(
    source: str | os.PathLike[str],
    *,
    n: int = 40,
    seed: int = 0,
    out: str | os.PathLike[str] = "grid.png",
    npy: bool = False,
    runs_dir: str | os.PathLike[str] = "runs",
    draw: Draw | None = None,
) -> Generated:
    """Draw `n` images at seeded latent points; the same seed gives the same images.

    SOURCE is a run (or a model id's newest run) whose generator draws them, or, with `draw`, the
    model id whose latent distribution `draw` is fed from. Writes the grid PNG to `out` and, with
    `npy`, the float32 images beside it.
    """
    if n < 1:
        raise ZooError(f"n must be at least 1, got {n}")
    if draw is None:
        run_dir = runs.resolve_run(source, runs_dir)
        _require_generator(get_spec(runs.read_json(run_dir / runs.CONFIG)["model"]))
        images = generate_images(keras.saving.load_model(runs.require_model(run_dir)), n, seed)
    else:
        run_dir = None
        _require_generator(get_spec(str(source)))
        images = np.asarray(draw(latent_points(create_model(str(source)), n, seed)), np.float32)
    out = Path(out)
    write_png(grid(images), out)
    npy_path = None
    if npy:
        npy_path = out.with_suffix(".npy")
        with runs.atomic_path(npy_path) as tmp, open(tmp, "wb") as f:
            np.save(f, images)
    return Generated(run_dir, images, out, npy_path)


def _require_generator(spec: ModelSpec) -> None:
    if spec.task != "generative":
        raise ZooError(f"{spec.name} is a {spec.task} model, not a generator")
