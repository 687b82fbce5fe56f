"""The model registry: one `ModelSpec` per model id, the single source of truth.

Like timm's registry, a model is a decorated builder function; unlike a bare builder, each entry also
declares everything train, evaluate, export and serve need (task, dataset, input signature, labels,
recipe), so none of them needs a per-model `if`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from zoo.errors import UnknownModelError, ZooError

if TYPE_CHECKING:
    from zoo.data.own import UserDataset

Task = Literal["regression", "binary", "multiclass", "generative"]
TASKS: tuple[str, ...] = ("regression", "binary", "multiclass", "generative")
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "nadam")


@dataclass(frozen=True)
class InputSpec:
    """The model's input as a client sends it: one example's shape, its dtype, and its name.

    `scale` is the preprocessing between what a client sends and what the network sees (1/255 for raw
    pixels); the tf.data pipeline applies it in training, and an export folds it into the graph.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    scale: float = 1.0

    @property
    def is_image(self) -> bool:
        """Whether an example is a picture (height, width, 1 or 3 channels) of raw pixels, which
        an export also serves from encoded PNG or JPEG bytes (its `serving_image` signature)."""
        return len(self.shape) == 3 and self.shape[-1] in (1, 3)


@dataclass(frozen=True)
class Recipe:
    """The default training recipe, taken from the slide the model comes from.

    `steps_per_epoch` repeats a tiny table within one epoch, so thousands of full-batch steps of the
    toy models run in Keras's compiled loop instead of thousands of one-step epochs.
    """

    optimizer: str = "sgd"
    learning_rate: float = 0.01
    loss: str = "sparse_categorical_crossentropy"
    epochs: int = 5
    batch_size: int = 32
    from_logits: bool = False
    validation_split: float = 0.1
    augment: bool = False
    lr_schedule: Literal["constant", "cosine"] = "constant"
    steps_per_epoch: int | None = None

    @property
    def one_hot_labels(self) -> bool:
        """Whether integer class ids must become one-hot rows for this loss (slides' mse / CE on one-hot)."""
        return self.loss in ("categorical_crossentropy", "mse")


@dataclass(frozen=True)
class Example:
    """The slide's own test input and the answer the slide shows for it."""

    inputs: tuple[tuple[float, ...], ...]
    expected: tuple[Any, ...]


@dataclass(frozen=True)
class ModelSpec:
    """Everything known about one model of the zoo, besides its weights."""

    name: str
    builder: Callable[..., Any]
    task: Task
    dataset: str | UserDataset  # a `zoo.data` name; one's own data for a run trained on it
    input: InputSpec
    recipe: Recipe
    description: str
    labels: tuple[str, ...] | None = None
    slide_metric: str | None = None
    slide_value: float | None = None
    example: Example | None = None
    source: str = ""
    data_scale: float | None = None
    plugin: str | None = None  # the plugin that registered it (zoo/plugins.py); None: the zoo's own

    @property
    def pixel_scale(self) -> float:
        """What the training pipeline multiplies the dataset's arrays by.

        A classifier's input *is* the data, so this is its input's scale; a generator's input is a
        latent z while the data it learns to draw are images, so it declares their scale itself.
        """
        return self.input.scale if self.data_scale is None else self.data_scale

    @property
    def num_outputs(self) -> int:
        """Width of the network's last layer."""
        return len(self.labels) if self.task == "multiclass" and self.labels else 1

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready description (everything but the builder), recorded in run and export dirs."""
        data = dataclasses.asdict(self)
        data.pop("builder")
        return data


_REGISTRY: dict[str, ModelSpec] = {}
_plugin: str | None = None  # the plugin being imported, while zoo/plugins.py imports one


def register(name: str, **declaration: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator that registers a builder under `name` with its declaration (ModelSpec fields)."""

    def decorate(builder: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY:
            first = _REGISTRY[name]
            whose = f"plugin {first.plugin!r}" if first.plugin else first.builder.__module__
            raise ValueError(f"model id {name!r} is taken: {whose} registers it already")
        spec = ModelSpec(name=name, builder=builder, **{**declaration, "plugin": _plugin})
        if spec.task not in TASKS:
            raise ValueError(f"{name}: task must be one of {TASKS}")
        _REGISTRY[name] = spec
        return builder

    return decorate


@contextlib.contextmanager
def registering_for(plugin: str) -> Iterator[None]:
    """Mark the models registered inside as `plugin`'s (zoo/plugins.py imports each plugin in it),
    so their specs, their runs and `zoo list` say where they came from."""
    global _plugin
    outer, _plugin = _plugin, plugin
    try:
        yield
    finally:
        _plugin = outer


def _ensure_models_imported(plugins: bool = True) -> None:
    # Importing the package runs every @register; done lazily so `zoo.registry` stays import-light.
    # Then the user's plugins register theirs, once (a failing one is a PluginError, every time).
    import zoo.models  # noqa: F401

    if plugins:
        from zoo import plugins as user_plugins

        user_plugins.load()


def get_spec(name: str) -> ModelSpec:
    """The spec of model `name`; an unknown id is a user error that names the nearest valid ones."""
    _ensure_models_imported()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownModelError.among(name, list(_REGISTRY)) from None


def list_models(pattern: str = "*", pretrained: bool = False, plugins: bool = True) -> list[str]:
    """Registered model ids matching a shell-style pattern (as timm's `list_models`); with
    `pretrained`, only those with published weights (zoo/weights.py): weights are optional;
    without `plugins`, the zoo's own models alone, and no plugin is imported."""
    _ensure_models_imported(plugins)
    names = sorted(
        name
        for name, spec in _REGISTRY.items()
        if fnmatch.fnmatch(name, pattern) and (plugins or spec.plugin is None)
    )
    if pretrained:
        from zoo import weights

        published = weights.manifest()
        names = [n for n in names if n in published]
    return names


def create_model(
    name: str, pretrained: bool = False, num_classes: int | None = None, **overrides: Any
) -> Any:
    """Build model `name`, with its input shape known, so its parameters exist and can be counted;
    with `pretrained`, load the weights this project trained for it (zoo/weights.py). The model
    carries its spec as `model.zoo_spec`, for `zoo.predict` to read its outputs right.

    `num_classes`, as timm's argument, gives a classifier a fresh head of that many classes (a new
    last layer, same activation): the rest of the network is as built, or with `pretrained` as
    trained, ready to fine-tune. A head of the model's own width is kept, pretrained weights and all.
    """
    spec = get_spec(name)
    head = head_overrides(spec, num_classes)
    model = _built(spec, **overrides, **head)
    # A fresh head's classes are its outputs' indices, until training names them (zoo train --dataset).
    model.zoo_spec = dataclasses.replace(spec, labels=_indices(num_classes)) if head else spec
    if pretrained:
        from zoo import weights

        if not head:
            return weights.load_into(model, spec)
        published = weights.load_into(_built(spec, **overrides), spec)
        # The two networks differ in the head alone: every other weight has its twin, in order.
        for trained, fresh in zip(published.weights, model.weights, strict=True):
            if trained.shape == fresh.shape:
                fresh.assign(trained)
    return model


def _built(spec: ModelSpec, **overrides: Any) -> Any:
    import keras

    model = spec.builder(**overrides)
    # Calling on one zero example builds Sequential and subclassed models alike.
    model(keras.ops.zeros((1, *spec.input.shape), dtype=spec.input.dtype))
    return model


def head_overrides(spec: ModelSpec, num_classes: int | None) -> dict[str, int]:
    """The builder argument that gives `spec`'s classifier `num_classes` classes: none when it has
    that many already; a ZooError, before anything is built or written, when it cannot have them."""
    if num_classes is None:
        return {}
    if spec.task not in ("binary", "multiclass"):
        raise ZooError(f"{spec.name} is a {spec.task} model: it has no classes to set")
    own = 2 if spec.task == "binary" else spec.num_outputs
    if num_classes == own:
        return {}
    if spec.task == "binary":
        raise ZooError(
            f"{spec.name} tells 2 classes apart (one sigmoid unit), not {num_classes}: "
            "choose a multiclass model"
        )
    if num_classes < 2:
        raise ZooError(f"a classifier needs at least 2 classes, got {num_classes}")
    if "num_classes" not in inspect.signature(spec.builder).parameters:
        raise ZooError(
            f"{spec.name}'s head cannot be replaced: its builder takes no num_classes argument"
        )
    return {"num_classes": num_classes}


def _indices(count: int | None) -> tuple[str, ...] | None:
    return tuple(str(i) for i in range(count)) if count else None


def spec_fields() -> list[str]:
    """The declaration keys a `register` call accepts (for error messages and docs)."""
    return [
        f.name for f in dataclasses.fields(ModelSpec) if f.name not in ("name", "builder", "plugin")
    ]


__all__ = [
    "Example",
    "InputSpec",
    "ModelSpec",
    "Recipe",
    "create_model",
    "get_spec",
    "head_overrides",
    "list_models",
    "register",
]
