"""Your own data: a folder of images (one subfolder per class), a CSV with a label column, or an
.npz with `x` and `y`, for any model of the zoo whose input it fits.

`describe(path, spec, label_column)` reads the data once, checks that `spec`'s model can take it,
and returns a `UserDataset`: what a run records in its config.json (path, kind, sha256, classes,
feature names), so that `zoo evaluate` and `zoo export` read the same data with the same labels
through `run_spec`, with no per-model case. `load(dataset, split)` gives a split as arrays.

Images are converted to the model's input, grayscale or colour and resized to its height and
width, and kept as 0-255 uint8 pixels like the zoo's own image sets: the pipeline applies the
model's input scale. The classes are the subfolder names, sorted, as
`keras.utils.image_dataset_from_directory` orders them; a CSV's or an .npz's are its label values,
sorted (numerically when they are numbers).

A folder with `train/` and `test/` (each holding the class folders) has its own test split;
otherwise every fifth example (index % 5 == 4) is held out as the test split, as the diabetes CSV
is, so the split is the same on every read and needs no seed. Bad data is a CorruptDataError of
one line naming the file, raised before a run folder exists.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from zoo.data.files import one_line, read_npz
from zoo.errors import CorruptDataError, DataNotFoundError, ZooError
from zoo.registry import ModelSpec, get_spec, head_overrides

Kind = Literal["images", "csv", "npz"]
IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")  # what Keras's directory reader takes
HELD_OUT_EVERY = 5


@dataclass(frozen=True)
class UserDataset:
    """Data of one's own as a run records it: enough to read it again, and to notice a change."""

    path: str  # absolute
    kind: Kind
    task: str  # the model's task the labels were read for: class ids, or regression targets
    sha256: str  # of the file; of a folder, of every image's relative path and bytes
    shape: tuple[int, ...]  # one example as the model takes it (images are converted to it)
    classes: tuple[str, ...] | None  # the labels, in class-id order; None for regression targets
    features: tuple[str, ...] | None = None  # a CSV's feature columns, in order
    label_column: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UserDataset:
        tuples = {k: tuple(v) for k, v in data.items() if isinstance(v, list)}
        return cls(**{**data, **tuples})


@dataclass(frozen=True)
class _Read:
    """A dataset decoded: examples with their raw labels (folder names or cell values), split."""

    splits: dict[str, tuple[np.ndarray, np.ndarray]]
    sha256: str
    features: tuple[str, ...] | None = None


def describe(path: str | Path, spec: ModelSpec, label_column: str | None = None) -> UserDataset:
    """Read the data at `path` for `spec`'s model and describe it, or raise one line naming the
    file that is wrong: no class folders, an unreadable image or CSV, a missing label column,
    ragged rows, or examples of a shape the model cannot take."""
    source = Path(path).expanduser().resolve()
    kind = _kind(source)
    if spec.task == "generative":
        raise CorruptDataError(f"{spec.name} is a generator: it trains on its own dataset only")
    if label_column is not None and kind != "csv":
        raise CorruptDataError(f"{source}: --label-column is for a CSV, and this is {kind}")
    if kind == "csv" and label_column is None:
        raise CorruptDataError(
            f"{source}: name its label column with --label-column "
            f"(its columns: {', '.join(_header(source))})"
        )
    if kind == "images" and not (spec.input.is_image and spec.task != "regression"):
        raise CorruptDataError(
            f"{source}: a folder of classes of images, but {spec.name} is a {spec.task} model "
            f"of {_shape(spec.input.shape)} inputs"
        )
    read = _read(source, kind, spec.input.shape, label_column, _stamp(source))
    labels = np.concatenate([y for _, y in read.splits.values()])
    if spec.task == "regression":
        classes = None
        _column(labels, source)
    else:
        classes = _classes(source, labels)
    dataset = UserDataset(
        str(source),
        kind,
        spec.task,
        read.sha256,
        spec.input.shape,
        classes,
        read.features,
        label_column,
    )
    try:
        trained_spec(spec, dataset)  # a classifier that cannot have these classes says so now
    except ZooError as err:
        raise CorruptDataError(f"{source}: {err}") from None
    return dataset


def load(dataset: UserDataset, split: str) -> tuple[np.ndarray, np.ndarray]:
    """A split of `dataset` as (x, y): y as the zoo's readers give it (class ids, or (N, 1)
    columns for one sigmoid unit or a regression). The data must still be what was described."""
    source = Path(dataset.path)
    if not source.exists():
        raise DataNotFoundError(f"{source} is gone: the run's data must stay where it was")
    read = _read(source, dataset.kind, dataset.shape, dataset.label_column, _stamp(source))
    if read.sha256 != dataset.sha256:
        raise CorruptDataError(
            f"{source} changed since the run recorded it (sha256 {read.sha256[:12]}..., "
            f"recorded {dataset.sha256[:12]}...)"
        )
    x, raw = read.splits["train" if split == "train" else "test"]
    if dataset.classes is None:
        return x, _column(raw, source)
    ids = np.array([dataset.classes.index(str(v)) for v in raw], dtype=np.int64)
    return x, ids[:, None].astype(np.float32) if dataset.task == "binary" else ids


def trained_spec(spec: ModelSpec, dataset: UserDataset) -> ModelSpec:
    """`spec` as trained on `dataset`: its data, and its classes as the labels that evaluation
    and export show; without the slide's figures and examples, which were for the slide's data."""
    if dataset.classes is not None:
        head_overrides(spec, len(dataset.classes))
    return dataclasses.replace(
        spec,
        dataset=dataset,
        labels=dataset.classes,
        slide_metric=None,
        slide_value=None,
        example=None,
    )


def num_classes(spec: ModelSpec) -> int | None:
    """How many classes `spec`'s head must tell apart (None: not a classifier, or as registered)."""
    return len(spec.labels) if spec.task in ("binary", "multiclass") and spec.labels else None


def run_spec(config: dict[str, Any]) -> ModelSpec:
    """The spec a run was trained with: the registry's, on the run's own data when it had some."""
    spec = get_spec(config["model"])
    recorded = config.get("dataset")
    return spec if recorded is None else trained_spec(spec, UserDataset.from_json(recorded))


def write_images(folder: str | Path, x: np.ndarray, labels: list[str] | np.ndarray) -> None:
    """Write 0-255 images as PNG files, one subfolder per label, as `describe` reads a folder:
    how a benchmark or a test turns an array dataset into a folder of one's own."""
    for n, (pixels, label) in enumerate(zip(x, labels, strict=True)):
        class_dir = Path(folder) / str(label)
        class_dir.mkdir(parents=True, exist_ok=True)
        image = np.asarray(pixels, dtype=np.uint8)
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(
            class_dir / f"{n:05d}.png"
        )


def _kind(source: Path) -> Kind:
    if source.is_dir():
        return "images"
    if not source.is_file():
        raise DataNotFoundError(f"{source} does not exist")
    suffix = source.suffix.lower()
    if suffix in (".csv", ".npz"):
        return "csv" if suffix == ".csv" else "npz"
    raise CorruptDataError(
        f"{source}: give a folder of images (one subfolder per class), a .csv or an .npz"
    )


def _stamp(source: Path) -> int:
    """The file's or folder's mtime: a replaced file, or a folder's files added or removed, is
    read anew rather than from the cache."""
    return source.stat().st_mtime_ns


@functools.lru_cache(maxsize=4)
def _read(
    source: Path, kind: Kind, shape: tuple[int, ...], label_column: str | None, stamp: int
) -> _Read:
    """Decode a dataset once per process (training, then its export's parity check, read it)."""
    if kind == "images":
        return _read_images(source, shape)
    if kind == "csv":
        return _read_csv(source, shape, label_column or "")
    return _read_npz(source, shape)


def _read_images(root: Path, shape: tuple[int, ...]) -> _Read:
    """A folder of class folders, or train/ and test/ that each hold them."""
    digest = hashlib.sha256()
    own_split = (root / "train").is_dir() and (root / "test").is_dir()
    folders = {"train": root / "train", "test": root / "test"} if own_split else {"all": root}
    splits = {}
    for split, folder in folders.items():
        classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not classes:
            raise CorruptDataError(
                f"{folder}: no class folders (put each class's images in a subfolder named "
                "after the class)"
            )
        images, labels = [], []
        for class_dir in classes:
            files = sorted(
                p
                for p in class_dir.iterdir()
                if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
            )
            if not files:
                raise CorruptDataError(f"{class_dir}: no images ({', '.join(IMAGE_SUFFIXES)})")
            for file in files:
                data = file.read_bytes()
                digest.update(f"{file.relative_to(root)}\0{len(data)}\0".encode() + data)
                images.append(_pixels(file, data, shape))
                labels.append(class_dir.name)
        splits[split] = (np.stack(images), np.array(labels))
    if own_split:
        unknown = set(splits["test"][1]) - set(splits["train"][1])
        if unknown:
            raise CorruptDataError(
                f"{root / 'test'}: class folder {sorted(unknown)[0]!r} is not in {root / 'train'}"
            )
        return _Read(splits, digest.hexdigest())
    return _Read(_held_out(*splits["all"]), digest.hexdigest())


def _pixels(file: Path, data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """One image as the model's input takes it: its channels and size, 0-255 uint8."""
    height, width, channels = shape
    try:
        with Image.open(io.BytesIO(data)) as image:
            image = image.convert("L" if channels == 1 else "RGB")
            if image.size != (width, height):
                image = image.resize((width, height), Image.Resampling.BILINEAR)
            return np.asarray(image, dtype=np.uint8).reshape(shape)
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise CorruptDataError(one_line(f"{file}: not a readable image ({err})")) from err


def _header(source: Path) -> list[str]:
    return next(iter(_rows(source)), [])


def _rows(source: Path) -> list[list[str]]:
    """A CSV's non-empty rows, header first."""
    try:
        with open(source, newline="", encoding="utf-8-sig") as file:
            return [row for row in csv.reader(file) if any(cell.strip() for cell in row)]
    except (UnicodeDecodeError, csv.Error) as err:
        raise CorruptDataError(one_line(f"{source}: not a readable CSV ({err})")) from err


def _read_csv(source: Path, shape: tuple[int, ...], label_column: str) -> _Read:
    """A CSV with a header: the label column, and every other column a numeric feature."""
    rows = _rows(source)
    if len(rows) < 2:
        raise CorruptDataError(f"{source}: a header and at least one row are needed")
    header = [name.strip() for name in rows[0]]
    if label_column not in header:
        raise CorruptDataError(
            f"{source}: no column {label_column!r} (its columns: {', '.join(header)})"
        )
    label_at = header.index(label_column)
    features = tuple(name for i, name in enumerate(header) if i != label_at)
    if (len(features),) != shape:
        raise CorruptDataError(
            f"{source}: {len(features)} feature columns, but the model takes {_shape(shape)}"
        )
    x = np.empty((len(rows) - 1, len(features)), dtype=np.float32)
    labels = []
    for n, row in enumerate(rows[1:]):
        if len(row) != len(header):
            raise CorruptDataError(
                f"{source}: row {n + 2} has {len(row)} cells, the header {len(header)}"
            )
        labels.append(row[label_at].strip())
        cells = [cell for i, cell in enumerate(row) if i != label_at]
        try:
            x[n] = [float(cell) for cell in cells]
        except ValueError as err:
            raise CorruptDataError(one_line(f"{source}: row {n + 2}: {err}")) from err
    return _Read(_held_out(x, np.array(labels)), _file_sha256(source), features)


def _read_npz(source: Path, shape: tuple[int, ...]) -> _Read:
    """An .npz with `x` (examples) and `y` (one label or target each)."""
    try:
        x, y = read_npz(source, ("x", "y"))
    except CorruptDataError as err:  # the zoo's own files' wording: "replace it with a good copy"
        raise CorruptDataError(str(err).removesuffix("; replace it with a good copy")) from None
    if x.ndim == len(shape) and shape[-1:] == (1,):  # images without their one channel axis
        x = x[..., None]
    if x.shape[1:] != shape:
        raise CorruptDataError(
            f"{source}: x holds {_shape(x.shape[1:])} examples, but the model takes {_shape(shape)}"
        )
    if y.shape[:1] != x.shape[:1] or y.size != len(x):
        raise CorruptDataError(f"{source}: {len(x)} examples in x, but y is {y.shape}")
    if not (
        np.issubdtype(x.dtype, np.number)
        and (np.issubdtype(y.dtype, np.number) or y.dtype.kind == "U")
    ):
        raise CorruptDataError(f"{source}: x must be numbers and y numbers or strings")
    x = x if x.dtype == np.uint8 else x.astype(np.float32)
    return _Read(_held_out(x, y.reshape(-1)), _file_sha256(source))


def _held_out(x: np.ndarray, labels: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every fifth example is the test split: the data had none of its own."""
    test = np.arange(len(x)) % HELD_OUT_EVERY == HELD_OUT_EVERY - 1
    return {"train": (x[~test], labels[~test]), "test": (x[test], labels[test])}


def _classes(source: Path, labels: np.ndarray) -> tuple[str, ...]:
    """The distinct labels as class names, in class-id order: numbers by value, else by name."""
    names = sorted({str(v) for v in labels})
    with contextlib.suppress(ValueError):  # not all numbers: by name
        names.sort(key=float)
    if len(names) < 2:
        raise CorruptDataError(
            f"{source}: one class ({names[0]!r}); a classifier needs two or more"
        )
    return tuple(names)


def _column(values: np.ndarray, source: Path) -> np.ndarray:
    """Regression targets as the (N, 1) float32 column the zoo's regressors learn."""
    try:
        return values.astype(np.float32).reshape(-1, 1)
    except ValueError as err:
        raise CorruptDataError(
            one_line(f"{source}: a regression target is not a number ({err})")
        ) from err


def _file_sha256(source: Path) -> str:
    with open(source, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)
