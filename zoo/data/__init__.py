"""Datasets for the zoo's models, as numpy arrays, from local files or a one-time download.

`load(name, split)` is the one entry point. Files are searched in the `data_dir` argument alone
when given, else in `$ZOO_DATA_DIR`, the Keras cache and system directories before anything is
downloaded (see `zoo.data.files`); the course's small slide tables are embedded in
`zoo.data.tables`. `sources(name, split)` names the files a split is read from, with their hashes,
for a run to record what it was trained on. Data of one's own (`zoo.data.own`) is named by its
`UserDataset` instead of a name, and read through the same two functions.

Arrays are cached per file in-process (decoding CIFAR-10 takes about a second) and returned
read-only, so one caller cannot silently change another's data: copy before modifying in place.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from zoo.data import cifar10, diabetes, idx, own, tables
from zoo.data.files import Format, locate, sha256, split_files
from zoo.errors import ZooError

__all__ = [
    "DATASETS",
    "FASHION_MNIST_CLASSES",
    "FEATURES",
    "SPLITS",
    "feature_names",
    "load",
    "sources",
]

SPLITS: tuple[str, ...] = ("train", "test")

DATASETS: dict[str, str] = {
    "mnist": "MNIST digits: 28x28x1 uint8 images, labels 0-9 (60,000 train, 10,000 test)",
    "fashion-mnist": (
        "Fashion-MNIST clothes: 28x28x1 uint8 images, labels 0-9 (60,000 train, 10,000 test)"
    ),
    "cifar10": "CIFAR-10 photos: 32x32x3 uint8 images, labels 0-9 (50,000 train, 10,000 test)",
    "diabetes": "Pima diabetes CSV: 8 features in [-1, 1], label 0/1 (608 train, 151 test)",
    "linear": "slide table: x = 1, 2, 3 and y = x (3 rows)",
    "linear-2d": "slide table: two equal features, y = 10 * x (3 rows)",
    "logistic-table": "slide table: 2 features, label 0/1 (6 rows)",
    "softmax-table": "slide table: 4 features, classes A, B, C as ids 0, 1, 2 (8 rows)",
    "xor": "XOR truth table (4 rows)",
    "and": "AND truth table (4 rows)",
    "or": "OR truth table (4 rows)",
}

# Fashion-MNIST's class names, in label order, as folder names ("T-shirt/top" loses its slash).
FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

# The column names of the tables that have them: a model trained on one takes these features, in
# this order, and its export names them for clients (the playground labels its form with them).
FEATURES: dict[str, tuple[str, ...]] = {"diabetes": diabetes.FEATURES}

_READERS: dict[Format, Callable[[Path, str], tuple[np.ndarray, np.ndarray]]] = {
    "idx": idx.read_idx_split,
    "mnist-npz": idx.read_mnist_npz,
    "cifar-npz": cifar10.read_cifar_npz,
    "cifar-batches": cifar10.read_batches_dir,
    "cifar-tar": cifar10.read_batches_tar,
    "csv": diabetes.read_csv,
}


def load(
    name: str | own.UserDataset,
    split: str = "train",
    data_dir: str | os.PathLike[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return a dataset split as read-only (x, y) arrays.

    Raises ZooError for an unknown name or split, DataNotFoundError when no copy is found or
    downloadable, and CorruptDataError when a file is found but unusable; each says in one line
    which file to put where. A `UserDataset` is read from its own path (`data_dir` is not used).
    """
    if split not in SPLITS:
        raise ZooError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    if isinstance(name, own.UserDataset):
        return _read_only(*own.load(name, split))
    if name not in DATASETS:
        raise ZooError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    if name in tables.TABLE_NAMES:
        return _read_only(*tables.read_table(name))
    fmt, path = locate(name, split, data_dir)
    return _read_cached(fmt, path.resolve(), split, path.stat().st_mtime_ns)


def sources(
    name: str | own.UserDataset,
    split: str = "train",
    data_dir: str | os.PathLike[str] | None = None,
) -> list[dict[str, str]]:
    """The files `load` reads for a split, as {"path", "sha256"} (none for a slide table; for a
    folder of one's own images, the folder and the sha256 of all its images)."""
    if isinstance(name, own.UserDataset):
        return [{"path": name.path, "sha256": name.sha256}]
    if name in tables.TABLE_NAMES:
        return []
    found = locate(name, split, data_dir)
    return [{"path": str(p.resolve()), "sha256": sha256(p)} for p in split_files(found, split)]


def feature_names(name: str | own.UserDataset) -> tuple[str, ...]:
    """The column names of a table's features, in order, for clients; () when it has none."""
    if isinstance(name, own.UserDataset):
        return name.features or ()
    return FEATURES.get(name, ())


@functools.lru_cache(maxsize=8)
def _read_cached(
    fmt: Format, path: Path, split: str, mtime_ns: int
) -> tuple[np.ndarray, np.ndarray]:
    """Decode a located file once per process; the mtime in the key notices a replaced file."""
    return _read_only(*_READERS[fmt](path, split))


def _read_only(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mark arrays read-only, so shared (cached) data cannot be changed by accident."""
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y
