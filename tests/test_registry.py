"""The registry: every model of the slides, with the slides' exact parameter counts."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import zoo
from zoo import catalogue
from zoo.data import DATASETS
from zoo.errors import UnknownModelError

# id -> (trainable parameters on the slide, built as keras.Sequential?)
SLIDES = {
    "linear-regression": (2, True),
    "linear-regression-2d": (3, False),
    "logistic-regression": (3, True),
    "diabetes": (9, True),
    "softmax-classification": (15, True),
    "xor-mlp": (13, False),
    "xor-mlp-wide": (41, False),
    "xor-mlp-deep": (142, False),
    "perceptron-and": (3, True),
    "perceptron-or": (3, True),
    "mlp-mnist": (335_114, True),
    "mlp-mnist-small": (242_762, False),
    "mlp-mnist-sigmoid": (11_935, True),
    "cnn-mnist": (50_186, True),
    "cnn-mnist-dropout": (1_668_490, False),
    "cnn-mnist-strided": (410_634, False),
    "cnn-cifar10": (60_362, True),
    # generator + discriminator (tests/test_gan.py checks each)
    "gan-mnist": (247_440 + 1_169_409, False),
    "gan-mnist-simple": (227_344 + 201_217, False),
}


def trainable(model: keras.Model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_registry_holds_every_slide_model():
    assert set(SLIDES) <= set(zoo.list_models())
    assert "cnn-bn-cifar10" in zoo.list_models()


@pytest.mark.parametrize("name", sorted(SLIDES))
def test_parameter_count_and_style_match_the_slide(name):
    params, sequential = SLIDES[name]
    model = zoo.create_model(name)
    assert trainable(model) == params
    assert isinstance(model, keras.Sequential) == sequential


def test_cnn_bn_cifar10_is_conv_bn_relu_blocks():
    model = zoo.create_model("cnn-bn-cifar10")
    kinds = [type(layer).__name__ for layer in model.layers]
    first = kinds.index("Conv2D")
    assert kinds[first : first + 3] == ["Conv2D", "BatchNormalization", "ReLU"]
    assert kinds.count("Conv2D") == kinds.count("BatchNormalization") == 6
    assert kinds[-1] == "Dense" and model.layers[-1].units == 10


def test_strided_cnn_halves_28_to_14_to_7_to_4():
    model = zoo.create_model("cnn-mnist-strided")
    x = keras.ops.zeros((1, 28, 28, 1))
    shapes = []
    for layer in model.blocks:
        x = layer(x)
        if isinstance(layer, keras.layers.Conv2D):
            shapes.append(tuple(x.shape[1:]))
    assert shapes == [(14, 14, 64), (7, 7, 128), (4, 4, 256)]


@pytest.mark.parametrize("name", zoo.list_models())
def test_every_entry_declares_what_train_export_and_serve_need(name):
    spec = zoo.get_spec(name)
    assert spec.dataset in DATASETS
    assert spec.task in ("regression", "binary", "multiclass", "generative")
    assert spec.input.name in ("features", "images", "z")
    if spec.task in ("binary", "multiclass"):
        assert spec.labels and len(spec.labels) >= 2
    model = zoo.create_model(name)
    out = model(np.zeros((2, *spec.input.shape), dtype=spec.input.dtype))
    # A generator's output is an image; every other model's is one row of num_outputs.
    expected = (2, 28, 28, 1) if spec.task == "generative" else (2, spec.num_outputs)
    assert tuple(out.shape) == expected
    assert spec.to_json()["name"] == name


@pytest.mark.parametrize("name", [n for n, (_, seq) in SLIDES.items() if not seq])
def test_subclassed_models_survive_a_keras_file_round_trip(name, tmp_path):
    spec = zoo.get_spec(name)
    model = zoo.create_model(name)
    x = np.random.default_rng(0).uniform(size=(3, *spec.input.shape)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded) is type(model)
    np.testing.assert_allclose(loaded(x), model(x), atol=1e-6)


def test_list_models_filters_like_timm():
    assert zoo.list_models("xor-*") == ["xor-mlp", "xor-mlp-deep", "xor-mlp-wide"]


def test_the_python_api_is_as_quiet_as_the_cli():
    """`import zoo` leaves TensorFlow unloaded; building a model loads it without its chatter."""
    code = (
        "import sys, zoo\n"
        "assert 'tensorflow' not in sys.modules\n"
        "zoo.create_model('cnn-mnist')\n"
        "print('tensorflow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "True\n", "")


def test_unknown_model_names_the_known_ones():
    with pytest.raises(UnknownModelError, match=r"known models: .*cnn-mnist"):
        zoo.create_model("resnet-9000")


def test_the_catalogue_is_the_registry():
    # `zoo list` reads zoo/catalogue.json instead of importing Keras; a changed model rebuilds it.
    assert catalogue.entries() == catalogue.from_registry()


def test_the_committed_catalogue_is_current():
    """The rebuilt table is committed with the model change, so an installed package (often
    read-only) lists without Keras: the file in git names the sources this tree holds."""
    git = shutil.which("git")
    shown = git and subprocess.run(
        [git, "show", "HEAD:zoo/catalogue.json"],
        cwd=Path(catalogue.__file__).parent,
        capture_output=True,
        text=True,
    )
    if not shown or shown.returncode != 0:
        pytest.skip("not a git checkout")
    committed = json.loads(shown.stdout)["sources"]
    assert committed == catalogue.sources_digest(), "run `zoo list` and commit zoo/catalogue.json"


def test_a_stale_or_damaged_catalogue_is_rebuilt_and_a_current_one_read_as_written(tmp_path):
    path = tmp_path / "catalogue.json"
    registry = catalogue.from_registry()
    path.write_text(json.dumps({"sources": "an older zoo/models", "models": []}))
    assert catalogue.entries(path=path) == registry
    assert json.loads(path.read_text())["sources"] == catalogue.sources_digest()
    path.write_text("[{")
    assert catalogue.lookup("cnn-mnist", path=path) == catalogue.lookup("cnn-mnist")
    # A current table is the registry's answer, without building a model.
    table = json.loads(path.read_text())
    table["models"] = table["models"][:1]
    path.write_text(json.dumps(table))
    assert catalogue.entries(path=path) == registry[:1]


def test_the_catalogues_sources_are_the_registry_and_every_model_module(tmp_path):
    package = tmp_path / "zoo"
    shutil.copytree(Path(zoo.__file__).parent / "models", package / "models")
    shutil.copy(Path(zoo.__file__).parent / "registry.py", package)
    assert catalogue.sources_digest(package) == catalogue.sources_digest()
    (package / "models" / "new_family.py").write_text("# a new model's module\n")
    assert catalogue.sources_digest(package) != catalogue.sources_digest()


# A model registered from a module of its own: its decorated builder and nothing else.
PLUGIN = """
import keras

from zoo.registry import InputSpec, Recipe, register


@register(
    "xor-plugin",
    task="binary",
    dataset="xor",
    input=InputSpec("features", (2,)),
    labels=("0", "1"),
    recipe=Recipe(loss="binary_crossentropy", epochs=1, batch_size=4, validation_split=0.0),
    description="2-4-1 tanh MLP, registered outside the zoo",
)
def xor_plugin() -> keras.Model:
    return keras.Sequential(
        [keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1, activation="sigmoid")]
    )
"""

USE = """
import json, sys

import xor_plugin  # noqa: F401  (registers the model)
import zoo
from zoo import catalogue, weights
from zoo.evaluate import evaluate
from zoo.train import train

name = "xor-plugin"
try:
    zoo.create_model(name, pretrained=True)
except weights.WeightsError as exc:
    refused = str(exc)
trained = train(name, runs_dir=sys.argv[1], verbose=0)
print(json.dumps({
    "listed": zoo.list_models("xor-*"),
    "pretrained": zoo.list_models("xor-*", pretrained=True),
    "params": zoo.create_model(name).count_params(),
    "catalogue": [e.name for e in catalogue.from_registry() if e.name.startswith("xor-")],
    "refused": refused,
    "test": evaluate(trained.run_dir, runs_dir=sys.argv[1]).metrics,
}))
"""


def test_a_new_model_needs_only_its_decorated_builder(tmp_path):
    (tmp_path / "xor_plugin.py").write_text(PLUGIN)
    (tmp_path / "use.py").write_text(USE)
    done = subprocess.run(
        [sys.executable, str(tmp_path / "use.py"), str(tmp_path / "runs")],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["listed"] == ["xor-mlp", "xor-mlp-deep", "xor-mlp-wide", "xor-plugin"]
    assert found["pretrained"] == ["xor-mlp", "xor-mlp-deep", "xor-mlp-wide"]  # weights: optional
    assert found["params"] == 2 * 4 + 4 + 4 + 1
    assert found["catalogue"] == found["listed"]
    assert found["refused"].startswith("no pretrained weights for xor-plugin")
    assert 0 <= found["test"]["accuracy"] <= 1
