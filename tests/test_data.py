"""zoo.data on the real files in $ZOO_DATA_DIR (../shared/data) and Debian's Fashion-MNIST.

Alternative layouts (Keras's mnist.npz, the canonical CIFAR-10 python batches, uncompressed IDX)
and broken files are built in tmp_path from the real data, so every check is against real values.
"""

import gzip
import io
import os
import pickle
import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from zoo.data import DATASETS, load
from zoo.data.files import SPECS
from zoo.data.tables import TABLE_NAMES
from zoo.errors import CorruptDataError, DataNotFoundError, ZooError

DATA = Path(os.environ["ZOO_DATA_DIR"])
MNIST_IDX = DATA / "mnist-idx"
DIABETES_CSV = DATA / "data-diabetes.csv"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
needs_fashion = pytest.mark.skipif(
    not FASHION_DIR.is_dir(), reason="apt-get install dataset-fashion-mnist"
)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty ZOO_DATA_DIR (returned) and Keras cache, with downloads switched off."""
    data, cache = tmp_path / "data", tmp_path / "keras"
    data.mkdir()
    cache.mkdir()
    monkeypatch.setenv("ZOO_DATA_DIR", str(data))
    monkeypatch.setenv("KERAS_HOME", str(cache))
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    return data


def test_every_dataset_is_described_and_loadable_by_name() -> None:
    assert set(DATASETS) == set(SPECS) | set(TABLE_NAMES)
    assert all(text and "\n" not in text for text in DATASETS.values())


@pytest.mark.parametrize(
    ("name", "split", "count", "image_shape"),
    [
        ("mnist", "train", 60000, (28, 28, 1)),
        ("mnist", "test", 10000, (28, 28, 1)),
        pytest.param("fashion-mnist", "train", 60000, (28, 28, 1), marks=needs_fashion),
        pytest.param("fashion-mnist", "test", 10000, (28, 28, 1), marks=needs_fashion),
        ("cifar10", "train", 50000, (32, 32, 3)),
        ("cifar10", "test", 10000, (32, 32, 3)),
    ],
)
def test_image_datasets_have_their_published_sizes(
    name: str, split: str, count: int, image_shape: tuple[int, ...]
) -> None:
    x, y = load(name, split)
    assert x.shape == (count, *image_shape) and x.dtype == np.uint8
    assert y.shape == (count,) and y.dtype == np.int64
    assert np.array_equal(np.unique(y), np.arange(10))
    assert x.max() == 255


def test_mnist_first_training_labels() -> None:
    _, y = load("mnist")
    assert y[:5].tolist() == [5, 0, 4, 1, 9]


def test_cifar10_labels_are_balanced_and_in_original_order() -> None:
    _, y_train = load("cifar10", "train")
    _, y_test = load("cifar10", "test")
    assert y_train[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert np.bincount(y_train).tolist() == [5000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10


@needs_fashion
def test_fashion_mnist_is_found_in_the_debian_dir(offline: Path) -> None:
    x, y = load("fashion-mnist", "train")
    assert x.shape == (60000, 28, 28, 1)
    assert y[:5].tolist() == [9, 0, 0, 3, 0]  # ankle boot, T-shirt, T-shirt, dress, T-shirt


def test_arrays_are_read_only() -> None:
    for name in ("mnist", "diabetes", "xor"):
        x, y = load(name)
        assert not x.flags.writeable and not y.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            x[0] = 0


def _canonical_batch(x: np.ndarray, y: np.ndarray, label: str) -> bytes:
    """Pickle images like cifar-10-python.tar.gz: channel-major rows, Python 2's numpy names."""
    batch = {
        b"batch_label": label.encode(),
        b"labels": [int(v) for v in y],
        b"data": x.transpose(0, 3, 1, 2).reshape(len(x), 3 * 32 * 32),
        b"filenames": [f"{i}.png".encode() for i in range(len(x))],
    }
    raw = pickle.dumps(batch, protocol=2)
    return raw.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")


def _real_cifar_batches() -> dict[str, bytes]:
    """Six canonical batches of 10 real images each: 50 train images, then 10 test images."""
    x, y = load("cifar10", "train", data_dir=DATA)
    x_test, y_test = load("cifar10", "test", data_dir=DATA)
    batches = {
        f"data_batch_{i}": _canonical_batch(
            x[10 * i - 10 : 10 * i], y[10 * i - 10 : 10 * i], f"training batch {i} of 5"
        )
        for i in range(1, 6)
    }
    batches["test_batch"] = _canonical_batch(x_test[:10], y_test[:10], "testing batch 1 of 1")
    return batches


def _write_tar(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, raw in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))


@pytest.mark.parametrize("layout", ["tar.gz", "extracted dir"])
def test_cifar10_python_batches_give_the_npz_pixels(tmp_path: Path, layout: str) -> None:
    batches = _real_cifar_batches()
    if layout == "tar.gz":
        _write_tar(tmp_path / "cifar-10-python.tar.gz", batches)
    else:
        (tmp_path / "cifar-10-batches-py").mkdir()
        for name, raw in batches.items():
            (tmp_path / "cifar-10-batches-py" / name).write_bytes(raw)
    x, y = load("cifar10", "train", data_dir=tmp_path)
    npz_x, npz_y = load("cifar10", "train")
    assert x.shape == (50, 32, 32, 3) and x.dtype == np.uint8 and y.dtype == np.int64
    assert np.array_equal(x, npz_x[:50]) and np.array_equal(y, npz_y[:50])
    x, y = load("cifar10", "test", data_dir=tmp_path)
    npz_x, npz_y = load("cifar10", "test")
    assert np.array_equal(x, npz_x[:10]) and np.array_equal(y, npz_y[:10])


def test_keras_mnist_npz_gives_the_idx_arrays(tmp_path: Path) -> None:
    (x, y), (x_test, y_test) = load("mnist", "train"), load("mnist", "test")
    np.savez(  # Keras's layout: (N, 28, 28) images, uint8 labels
        tmp_path / "mnist.npz",
        x_train=x[..., 0],
        y_train=y.astype(np.uint8),
        x_test=x_test[..., 0],
        y_test=y_test.astype(np.uint8),
    )
    for split, (want_x, want_y) in {"train": (x, y), "test": (x_test, y_test)}.items():
        got_x, got_y = load("mnist", split, data_dir=tmp_path)
        assert got_y.dtype == np.int64
        assert np.array_equal(got_x, want_x) and np.array_equal(got_y, want_y)


def test_uncompressed_idx_in_a_mnist_dir(offline: Path) -> None:
    (offline / "mnist").mkdir()
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        raw = gzip.decompress((MNIST_IDX / f"{name}.gz").read_bytes())
        (offline / "mnist" / name).write_bytes(raw)
    x, y = load("mnist", "test")
    real_x, real_y = load("mnist", "test", data_dir=DATA)
    assert np.array_equal(x, real_x) and np.array_equal(y, real_y)


def test_diabetes_split_and_first_row() -> None:
    x, y = load("diabetes", "train")
    x_test, y_test = load("diabetes", "test")
    assert x.shape == (608, 8) and y.shape == (608, 1) and x_test.shape == (151, 8)
    assert x.dtype == y.dtype == x_test.dtype == y_test.dtype == np.float32
    first = [-0.294118, 0.487437, 0.180328, -0.292929, 0, 0.00149028, -0.53117, -0.0333333]
    np.testing.assert_allclose(x[0], first, rtol=1e-6)
    assert y[0, 0] == 0
    table = np.loadtxt(DIABETES_CSV, delimiter=",", dtype=np.float32)
    np.testing.assert_array_equal(x_test, table[4::5, :8])  # every fifth row is held out
    np.testing.assert_array_equal(y_test, table[4::5, 8:])
    labels = np.concatenate([y, y_test])[:, 0]
    assert np.bincount(labels.astype(int)).tolist() == [263, 496]


TABLES = {
    "linear": ([[1], [2], [3]], [[1], [2], [3]]),
    "linear-2d": ([[1, 1], [2, 2], [3, 3]], [[10], [20], [30]]),
    "logistic-table": (
        [[1, 2], [2, 3], [3, 1], [4, 3], [5, 3], [6, 2]],
        [[0], [0], [0], [1], [1], [1]],
    ),
    "softmax-table": (
        [
            [1, 2, 1, 1],
            [2, 1, 3, 2],
            [3, 1, 3, 4],
            [4, 1, 5, 5],
            [1, 7, 5, 5],
            [1, 2, 5, 6],
            [1, 6, 6, 6],
            [1, 7, 7, 7],
        ],
        [2, 2, 2, 1, 1, 1, 0, 0],
    ),
    "xor": ([[0, 0], [0, 1], [1, 0], [1, 1]], [[0], [1], [1], [0]]),
    "and": ([[0, 0], [0, 1], [1, 0], [1, 1]], [[0], [0], [0], [1]]),
    "or": ([[0, 0], [0, 1], [1, 0], [1, 1]], [[0], [1], [1], [1]]),
}


@pytest.mark.parametrize("name", TABLES)
def test_slide_tables(name: str) -> None:
    want_x, want_y = TABLES[name]
    x, y = load(name, "train")
    assert x.dtype == np.float32 and x.tolist() == want_x and y.tolist() == want_y
    assert y.dtype == (np.int64 if name == "softmax-table" else np.float32)
    x_test, y_test = load(name, "test")
    assert np.array_equal(x_test, x) and np.array_equal(y_test, y)


def test_data_dir_beats_zoo_data_dir_beats_keras_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rows = DIABETES_CSV.read_text().splitlines()
    places = [tmp_path / "arg", tmp_path / "env", tmp_path / "keras" / "datasets"]
    for i, place in enumerate(places):  # a different ten real rows in each place
        place.mkdir(parents=True)
        (place / "data-03-diabetes.csv").write_text("\n".join(rows[10 * i : 10 * i + 10]) + "\n")
    monkeypatch.setenv("ZOO_DATA_DIR", str(places[1]))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))

    def first_row(place: int) -> list[float]:
        return np.array(rows[10 * place].split(",")[:8], dtype=np.float32).tolist()

    assert load("diabetes", data_dir=places[0])[0][0].tolist() == first_row(0)
    assert load("diabetes")[0][0].tolist() == first_row(1)
    monkeypatch.delenv("ZOO_DATA_DIR")
    assert load("diabetes")[0][0].tolist() == first_row(2)


@pytest.mark.parametrize(
    ("name", "file", "where"),
    [
        ("mnist", "train-images-idx3-ubyte.gz", "mnist-idx/"),
        ("cifar10", "cifar-10-python.tar.gz", ""),
        ("diabetes", "data-03-diabetes.csv", ""),
    ],
)
def test_missing_data_says_which_file_to_put_where(
    offline: Path, name: str, file: str, where: str
) -> None:
    with pytest.raises(DataNotFoundError) as caught:
        load(name)
    message = str(caught.value)
    assert file in message and f"{offline}/{where} " in message and "\n" not in message


def test_missing_data_dir_is_reported(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=f"{tmp_path / 'nope'} does not exist"):
        load("mnist", data_dir=tmp_path / "nope")


def _mnist_idx(offline: Path, files: dict[str, bytes]) -> None:
    (offline / "mnist-idx").mkdir()
    for name, raw in files.items():
        (offline / "mnist-idx" / name).write_bytes(raw)


def test_truncated_idx_gz_is_corrupt(offline: Path) -> None:
    images = (MNIST_IDX / "train-images-idx3-ubyte.gz").read_bytes()[:1000]
    labels = (MNIST_IDX / "train-labels-idx1-ubyte.gz").read_bytes()
    _mnist_idx(
        offline, {"train-images-idx3-ubyte.gz": images, "train-labels-idx1-ubyte.gz": labels}
    )
    with pytest.raises(CorruptDataError, match=r"train-images-idx3-ubyte\.gz.*truncated"):
        load("mnist")


def test_idx_with_wrong_magic_is_corrupt(offline: Path) -> None:
    labels = (MNIST_IDX / "t10k-labels-idx1-ubyte.gz").read_bytes()
    _mnist_idx(offline, {"t10k-images-idx3-ubyte.gz": labels, "t10k-labels-idx1-ubyte.gz": labels})
    with pytest.raises(CorruptDataError, match="magic number is 2049, expected 2051"):
        load("mnist", "test")


def test_idx_image_and_label_counts_must_match(offline: Path) -> None:
    images = (MNIST_IDX / "t10k-images-idx3-ubyte.gz").read_bytes()
    labels = (MNIST_IDX / "train-labels-idx1-ubyte.gz").read_bytes()
    _mnist_idx(offline, {"t10k-images-idx3-ubyte.gz": images, "t10k-labels-idx1-ubyte.gz": labels})
    with pytest.raises(CorruptDataError, match=r"10000 images but .* 60000 labels"):
        load("mnist", "test")


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda rows: [row.rsplit(",", 1)[0] for row in rows], "8 columns"),
        (lambda rows: ["a,b,c,d,e,f,g,h,label", *rows], "not a numeric CSV"),
    ],
)
def test_bad_csv_is_corrupt(
    offline: Path, edit: Callable[[list[str]], list[str]], problem: str
) -> None:
    rows = DIABETES_CSV.read_text().splitlines()
    (offline / "data-diabetes.csv").write_text("\n".join(edit(rows)) + "\n")
    with pytest.raises(CorruptDataError, match=problem):
        load("diabetes")


def test_npz_without_a_key_is_corrupt(offline: Path) -> None:
    x, y = load("cifar10", "test", data_dir=DATA)
    np.savez(offline / "cifar10.npz", x_train=x[:5], x_test=x[:5], y_test=y[:5])
    with pytest.raises(CorruptDataError, match=r"cifar10\.npz: has no 'y_train' array"):
        load("cifar10", "train")


def test_truncated_cifar_tar_is_corrupt(offline: Path, tmp_path: Path) -> None:
    _write_tar(tmp_path / "whole.tar.gz", _real_cifar_batches())
    whole = (tmp_path / "whole.tar.gz").read_bytes()
    (offline / "cifar-10-python.tar.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(CorruptDataError, match=r"cifar-10-python\.tar\.gz"):
        load("cifar10", "train")


class _RemovesAFileWhenUnpickled:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.remove, (str(self.path),)


def test_batch_pickling_other_objects_is_refused(offline: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.touch()
    batches = offline / "cifar-10-batches-py"
    batches.mkdir()
    (batches / "test_batch").write_bytes(pickle.dumps(_RemovesAFileWhenUnpickled(victim)))
    with pytest.raises(CorruptDataError, match="unexpected object"):
        load("cifar10", "test")
    assert victim.exists()


@pytest.mark.parametrize(("name", "split"), [("imagenet", "train"), ("mnist", "validation")])
def test_unknown_dataset_or_split(name: str, split: str) -> None:
    with pytest.raises(ZooError, match="choose one of") as caught:
        load(name, split)
    assert type(caught.value) is ZooError and "\n" not in str(caught.value)
