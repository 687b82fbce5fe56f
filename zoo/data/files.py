"""Where dataset files are found, and the checks every reader shares.

Each file-backed dataset has one small table (`SPECS`) of the layouts it may have inside a
directory. The same table drives the search, the download and the "put this file there" message,
so adding a layout is one line and every error message stays accurate.

A `data_dir` argument is the only place searched: a user who names a folder means that data, so
a folder without it is refused, never quietly replaced by another copy. Without one, the search
order, first hit wins, is `$ZOO_DATA_DIR`, the Keras cache (`$KERAS_HOME/datasets` or
`~/.keras/datasets`), a dataset's system directories, and finally a download into the Keras cache
(skipped when `$ZOO_OFFLINE` is set).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import urllib.error
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

from zoo.errors import CorruptDataError, DataNotFoundError

Format = Literal["idx", "mnist-npz", "cifar-npz", "cifar-batches", "cifar-tar", "csv"]

IDX_STEMS: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR_BATCHES: dict[str, tuple[str, ...]] = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
_KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


@dataclass(frozen=True)
class Layout:
    """One way a dataset can sit in a searched directory: a format and a relative path."""

    fmt: Format
    path: str  # a directory for "idx" and "cifar-batches", a file otherwise


@dataclass(frozen=True)
class Download:
    """What to fetch when no copy is found, and the format it arrives in."""

    fmt: Format
    cache_subdir: str  # under the Keras home, where `keras.utils.get_file` puts the files
    urls: tuple[str, ...]


@dataclass(frozen=True)
class Spec:
    """Everything the search needs to know about one file-backed dataset."""

    title: str
    layouts: tuple[Layout, ...]
    hint: str  # what to put where; "{dir}" is replaced by the first searched directory
    download: Download
    system_dirs: tuple[str, ...] = ()


class Found(NamedTuple):
    """A located copy: the reader format and the file or directory that holds it."""

    fmt: Format
    path: Path


_IDX_HINT = "train-images-idx3-ubyte.gz (and the other 3 IDX files) in {dir}/"

SPECS: dict[str, Spec] = {
    "mnist": Spec(
        title="MNIST",
        layouts=(
            Layout("idx", "mnist-idx"),
            Layout("idx", "mnist"),
            Layout("mnist-npz", "mnist.npz"),
        ),
        hint=_IDX_HINT + "mnist-idx/",
        download=Download("mnist-npz", "datasets", (_KERAS_ORIGIN + "mnist.npz",)),
    ),
    "fashion-mnist": Spec(
        title="Fashion-MNIST",
        layouts=(Layout("idx", "fashion-mnist"),),
        hint=_IDX_HINT + "fashion-mnist/",
        download=Download(
            "idx",
            "datasets/fashion-mnist",
            tuple(_KERAS_ORIGIN + stem + ".gz" for pair in IDX_STEMS.values() for stem in pair),
        ),
        system_dirs=("/usr/share/datasets",),  # Debian's dataset-fashion-mnist package
    ),
    "cifar10": Spec(
        title="CIFAR-10",
        layouts=(
            Layout("cifar-npz", "cifar-10/cifar10.npz"),
            Layout("cifar-npz", "cifar10.npz"),
            Layout("cifar-batches", "cifar-10-batches-py"),
            Layout("cifar-batches", "cifar-10-batches-py-target/cifar-10-batches-py"),  # Keras 3
            Layout("cifar-tar", "cifar-10-python.tar.gz"),
            Layout("cifar-tar", "cifar-10-batches-py.tar.gz"),  # Keras 2's cached archive
        ),
        hint="cifar-10-python.tar.gz (or cifar10.npz) in {dir}/",
        download=Download(
            "cifar-tar", "datasets", ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",)
        ),
    ),
    "diabetes": Spec(
        title="Diabetes CSV",
        layouts=(Layout("csv", "data-diabetes.csv"), Layout("csv", "data-03-diabetes.csv")),
        hint="data-03-diabetes.csv in {dir}/",
        download=Download(
            "csv",
            "datasets",
            (
                "https://raw.githubusercontent.com/hunkim/DeepLearningZeroToAll/master/"
                "data-03-diabetes.csv",
            ),
        ),
    ),
}


def one_line(text: str) -> str:
    """Collapse whitespace so a message never spans lines (the CLI prints it as one)."""
    return " ".join(text.split())


def corrupt(source: str | Path, problem: str) -> CorruptDataError:
    """Build the one-line error for a file that exists but cannot be used."""
    return CorruptDataError(
        one_line(f"corrupt data file {source}: {problem}; replace it with a good copy")
    )


def keras_home() -> Path:
    """The Keras home directory, resolved like Keras does but at call time, not import time."""
    return Path(os.environ.get("KERAS_HOME") or "~/.keras").expanduser()


def idx_paths(directory: Path, split: str) -> tuple[Path, Path] | None:
    """The (images, labels) IDX files of a split, gzipped or not, or None if either is missing."""
    found = []
    for stem in IDX_STEMS[split]:
        gz, raw = directory / f"{stem}.gz", directory / stem
        if gz.is_file():
            found.append(gz)
        elif raw.is_file():
            found.append(raw)
        else:
            return None
    return found[0], found[1]


def _complete(fmt: Format, path: Path, split: str) -> bool:
    """Whether a layout holds every file the split needs (a half-filled directory is skipped)."""
    if fmt == "idx":
        return idx_paths(path, split) is not None
    if fmt == "cifar-batches":
        return all((path / name).is_file() for name in CIFAR_BATCHES[split])
    return path.is_file()


def search_dirs(name: str, data_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """The directories searched for a dataset, in order: `data_dir` alone when given (it must
    exist), else the environment's, the Keras cache and the system's."""
    if data_dir is not None:
        given = Path(data_dir).expanduser()
        if not given.is_dir():
            raise DataNotFoundError(f"data directory {given} does not exist")
        return [given]
    dirs = []
    env = os.environ.get("ZOO_DATA_DIR")
    if env:
        if not Path(env).expanduser().is_dir():
            raise DataNotFoundError(f"ZOO_DATA_DIR={env} is not a directory; fix or unset it")
        dirs.append(Path(env).expanduser())
    dirs.append(keras_home() / "datasets")
    dirs.extend(Path(d) for d in SPECS[name].system_dirs)
    return dirs


def locate(name: str, split: str, data_dir: str | os.PathLike[str] | None = None) -> Found:
    """Find a local copy of a dataset's split, else download one (unless `data_dir` names the one
    folder to use), else raise DataNotFoundError."""
    spec = SPECS[name]
    dirs = search_dirs(name, data_dir)
    for directory in dirs:
        for layout in spec.layouts:
            path = directory / layout.path
            if _complete(layout.fmt, path, split):
                return Found(layout.fmt, path)
    if data_dir is not None:
        raise DataNotFoundError(
            f"{spec.title} not found in {dirs[0]}: put {spec.hint.format(dir=dirs[0])} "
            "(a --data-dir is the only folder searched)"
        )
    return _download(spec, dirs[0])


def split_files(found: Found, split: str) -> list[Path]:
    """The files a split is read from: two IDX files, CIFAR-10's batches, or the one archive."""
    if found.fmt == "idx":
        return list(idx_paths(found.path, split) or ())
    if found.fmt == "cifar-batches":
        return [found.path / name for name in CIFAR_BATCHES[split]]
    return [found.path]


def sha256(path: Path) -> str:
    """A file's SHA-256, computed once per process for each version (size, mtime) of the file."""
    info = path.stat()
    return _sha256(path.resolve(), info.st_size, info.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _download(spec: Spec, first_dir: Path) -> Found:
    """Fetch a dataset into the Keras cache, turning any failure into a one-line 'put it here'."""
    put = f"{spec.title} not found: put {spec.hint.format(dir=first_dir)}"
    if os.environ.get("ZOO_OFFLINE", "") not in ("", "0"):
        raise DataNotFoundError(
            f"{put} (ZOO_OFFLINE is set, so the download from {spec.download.urls[0]} was skipped)"
        )
    from keras.utils import get_file  # imports TensorFlow: only pay for it when downloading

    home = keras_home()
    # Keras uses /tmp/.keras if the home is missing; create it so the next search finds the copy.
    with contextlib.suppress(OSError):
        home.mkdir(parents=True, exist_ok=True)
    got = []
    for url in spec.download.urls:
        try:
            got.append(
                get_file(
                    fname=url.rsplit("/", 1)[1],
                    origin=url,
                    cache_dir=str(home),
                    cache_subdir=spec.download.cache_subdir,
                )
            )
        except Exception as err:  # Keras wraps URL errors in a bare Exception
            raise DataNotFoundError(
                one_line(
                    f"{put}, or connect to the internet (download from {url} failed: {_why(err)})"
                )
            ) from err
    path = Path(got[0])
    return Found(spec.download.fmt, path.parent if spec.download.fmt == "idx" else path)


def _why(err: Exception) -> str:
    """The useful part of a failed download: the HTTP status or the network error."""
    cause = err.__context__
    if isinstance(cause, urllib.error.HTTPError):
        return f"HTTP {cause.code} {cause.reason}"
    if isinstance(cause, urllib.error.URLError):
        return str(cause.reason)
    return str(err)


def read_npz(path: Path, keys: tuple[str, ...]) -> list[np.ndarray]:
    """Read the named arrays of an .npz, reporting a bad archive or a missing key as corrupt."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [key for key in keys if key not in npz.files]
            if missing:
                raise corrupt(path, f"has no {missing[0]!r} array (it has {', '.join(npz.files)})")
            return [npz[key] for key in keys]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise corrupt(path, f"not a readable .npz archive ({err})") from err


def check_labelled(
    source: str | Path, x: np.ndarray, y: np.ndarray, image_shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Validate decoded images and class labels; return them with labels as flat int64 0..9."""
    if x.dtype != np.uint8 or x.shape[1:] != image_shape:
        expected = ", ".join(str(d) for d in image_shape)
        raise corrupt(source, f"images are {x.dtype} {x.shape}, expected uint8 (N, {expected})")
    if y.ndim == 2 and y.shape[1] == 1:  # Keras-style (N, 1) labels
        y = y[:, 0]
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
        raise corrupt(source, f"{len(x)} images but labels are {y.dtype} {y.shape}")
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise corrupt(source, f"labels range {y.min()}..{y.max()}, expected 0..9")
    return x, y.astype(np.int64)
