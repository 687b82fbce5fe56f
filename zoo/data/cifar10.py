"""CIFAR-10: an .npz of HWC arrays, or the canonical python batches (a directory or the tar.gz).

The canonical batches are pickled dicts whose b"data" rows hold one image channel-major (all red,
then green, then blue: CHW); they are converted to the HWC layout Keras and the .npz use. The
tar.gz is read in one streaming pass, so it never needs extracting.
"""

from __future__ import annotations

import codecs
import io
import pickle
import tarfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from zoo.data.files import CIFAR_BATCHES, check_labelled, corrupt, read_npz

_SHAPE = (32, 32, 3)
_RECONSTRUCT = np.empty(0).__reduce__()[0]  # numpy's array-unpickling helper, whatever its module
# The only globals a CIFAR batch refers to; anything else in a pickle could run arbitrary code.
_PICKLE_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,  # the original Python 2 pickles
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,  # pickled by numpy >= 2
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # bytes in Python 3 protocol-2 pickles
}


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that builds numpy arrays and plain containers, and nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _PICKLE_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name}") from None


def _decode_batch(source: str, raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Unpickle one batch and convert its CHW rows to HWC images."""
    try:
        batch = _BatchUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as err:  # garbage bytes can make unpickling fail in many ways
        raise corrupt(source, f"not a CIFAR-10 python batch ({type(err).__name__}: {err})") from err
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise corrupt(source, "not a CIFAR-10 python batch (no b'data' and b'labels' entries)")
    data, labels = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise corrupt(source, f"b'data' is {data.dtype} {data.shape}, expected uint8 (N, 3072)")
    x = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return check_labelled(source, x, labels, _SHAPE)


def _join(batches: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate decoded batches into contiguous arrays."""
    return np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])


def read_cifar_npz(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read a split from an .npz of x_train (N, 32, 32, 3) uint8, y_train (N,), x_test, y_test."""
    x, y = read_npz(path, (f"x_{split}", f"y_{split}"))
    return check_labelled(path, x, y, _SHAPE)


def read_batches_dir(directory: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read a split from an extracted cifar-10-batches-py directory."""
    return _join(
        [
            _decode_batch(str(directory / name), (directory / name).read_bytes())
            for name in CIFAR_BATCHES[split]
        ]
    )


def read_batches_tar(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read a split straight out of cifar-10-python.tar.gz, stopping once its batches are read."""
    wanted = CIFAR_BATCHES[split]
    raw: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                name = PurePosixPath(member.name).name
                if member.isfile() and name in wanted:
                    raw[name] = tar.extractfile(member).read()
                    if len(raw) == len(wanted):
                        break
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise corrupt(path, f"truncated or not a tar.gz ({err})") from err
    missing = [name for name in wanted if name not in raw]
    if missing:
        raise corrupt(path, f"has no cifar-10-batches-py/{missing[0]}")
    return _join([_decode_batch(f"{path}:{name}", raw[name]) for name in wanted])
