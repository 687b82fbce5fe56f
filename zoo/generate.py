"""`zoo generate`: new digits from a trained generator, as a picture grid and optionally raw arrays."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from zoo import runs
from zoo.errors import ZooError
from zoo.quality import generate_images
from zoo.registry import get_spec
from zoo.samples import grid, write_png


@dataclass
class Generated:
    """What `generate` wrote, and from which run."""

    run_dir: Path
    images: np.ndarray
    grid: Path
    npy: Path | None


def generate(
    run: str | os.PathLike[str],
    *,
    n: int = 40,
    seed: int = 0,
    out: str | os.PathLike[str] = "grid.png",
    npy: bool = False,
    runs_dir: str | os.PathLike[str] = "runs",
) -> Generated:
    """Draw `n` images at seeded latent points from RUN (or a model id's newest run); same seed,
    same images. Writes the grid PNG to `out` and, with `npy`, the float images beside it."""
    if n < 1:
        raise ZooError(f"n must be at least 1, got {n}")
    run_dir = runs.resolve_run(run, runs_dir)
    spec = get_spec(runs.read_json(run_dir / runs.CONFIG)["model"])
    if spec.task != "generative":
        raise ZooError(f"{spec.name} is a {spec.task} model, not a generator")
    model = keras.saving.load_model(runs.require_model(run_dir))
    images = generate_images(model, n, seed)
    out = Path(out)
    write_png(grid(images), out)
    npy_path = None
    if npy:
        npy_path = out.with_suffix(".npy")
        with runs.atomic_path(npy_path) as tmp, open(tmp, "wb") as f:
            np.save(f, images)
    return Generated(run_dir, images, out, npy_path)
