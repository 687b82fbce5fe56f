"""MNIST and Fashion-MNIST: the original IDX files, or Keras's `mnist.npz`.

IDX is the format both data sets are published in (and what Debian and the Keras Fashion-MNIST
cache hold); `mnist.npz` is what `keras.datasets.mnist` caches. Both give uint8 (N, 28, 28, 1)
images and int64 (N,) labels.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from zoo.data.files import check_labelled, corrupt, idx_paths, read_npz
from zoo.errors import DataNotFoundError

_IMAGES_MAGIC = 2051  # unsigned bytes, 3 dimensions: count, rows, cols
_LABELS_MAGIC = 2049  # unsigned bytes, 1 dimension: count
_SIDE = 28


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Read one IDX file (gzipped if it ends in .gz) after checking its header against its size."""
    ndim = magic & 0xFF
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        raise corrupt(path, f"truncated or not gzip ({err})") from err
    header_len = 4 * (1 + ndim)
    if len(data) < header_len:
        raise corrupt(path, f"only {len(data)} bytes, shorter than the IDX header")
    found_magic, *dims = struct.unpack(f">{1 + ndim}i", data[:header_len])
    if found_magic != magic:
        raise corrupt(path, f"IDX magic number is {found_magic}, expected {magic}")
    expected = math.prod(dims)
    if min(dims) < 0 or len(data) - header_len != expected:
        raise corrupt(
            path, f"header says {dims} ({expected} bytes) but {len(data) - header_len} bytes follow"
        )
    return np.frombuffer(data, np.uint8, offset=header_len).reshape(dims)


def read_idx_split(directory: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read a split's images and labels from a directory of IDX files."""
    paths = idx_paths(directory, split)
    if paths is None:  # the files vanished since the search found them
        raise DataNotFoundError(f"{directory} no longer holds the {split} IDX files")
    images_path, labels_path = paths
    x = read_idx(images_path, _IMAGES_MAGIC)
    y = read_idx(labels_path, _LABELS_MAGIC)
    if len(x) != len(y):
        raise corrupt(images_path, f"{len(x)} images but {labels_path.name} has {len(y)} labels")
    x, y = check_labelled(images_path, x, y, (_SIDE, _SIDE))
    return x[..., np.newaxis], y


def read_mnist_npz(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read a split from Keras's mnist.npz: x_train (N, 28, 28) uint8, y_train, x_test, y_test."""
    x, y = read_npz(path, (f"x_{split}", f"y_{split}"))
    x, y = check_labelled(path, x, y, (_SIDE, _SIDE))
    return x[..., np.newaxis], y
