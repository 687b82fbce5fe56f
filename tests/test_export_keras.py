"""`zoo export PATH.keras`: Keras models saved by plain Keras code, trained a little on real data,
exported into a repository of the zoo's own kind, and served by a real `zoo serve`."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from helpers import Server, assert_one_line_error, running

from zoo import data
from zoo.export import ExportError, export_keras
from zoo.export.keras_file import describe

DIGITS = [f"digit {i}" for i in range(10)]


def digits_model() -> keras.Model:
    """A keras-io-style MNIST classifier that takes raw pixels and ends in logits."""
    pixels = keras.Input((28, 28, 1), name="pixels")
    x = keras.layers.Rescaling(1 / 255, name="scale")(pixels)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(64, activation="relu", name="hidden")(x)
    logits = keras.layers.Dense(10, name="logits")(x)
    return keras.Model(pixels, logits, name="digits")


def diabetes_model() -> keras.Model:
    """A Sequential logistic regression on the diabetes table: one sigmoid unit."""
    return keras.Sequential(
        [keras.Input((8,), name="features"), keras.layers.Dense(1, activation="sigmoid")]
    )


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Both models trained briefly on their real training data and saved with model.save, and
    the digits' labels file."""
    root = tmp_path_factory.mktemp("keras-files")
    keras.utils.set_random_seed(0)
    x, y = data.load("mnist", "train")
    digits = digits_model()
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    digits.compile("adam", loss, metrics=["accuracy"])
    digits.fit(x[:3000], y[:3000], epochs=2, verbose=0)
    digits.save(root / "digits.keras")
    (root / "labels.txt").write_text("".join(f"{label}\n" for label in DIGITS))

    x, y = data.load("diabetes", "train")
    diabetes = diabetes_model()
    diabetes.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")
    diabetes.fit(x, y, epochs=20, verbose=0)
    diabetes.save(root / "diabetes.keras")
    return root


def test_a_keras_file_exports_and_is_served_like_the_zoos_own(saved, zoo_cli, tmp_path):
    exported = zoo_cli(
        "export", str(saved / "digits.keras"), "--name", "digits",
        "--labels", str(saved / "labels.txt"), "--model-dir", str(tmp_path / "models"),
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert "its outputs: linear outputs read as logits (labels given)" in exported.stdout
    assert "exported digits version 1" in exported.stdout
    export_keras(saved / "diabetes.keras", model_dir=tmp_path / "models", samples=16)

    version = tmp_path / "models" / "digits" / "1"
    described = json.loads((version / "zoo.json").read_text())
    assert described["task"] == "multiclass"
    assert described["labels"] == DIGITS
    assert described["inputs"][0] == {
        "name": "pixels",
        "dtype": "float32",
        "shape": [-1, 28, 28, 1],
    }
    assert [r["format"] for r in described["parity"]["results"]] == ["savedmodel", "onnx"]
    assert described["source_file"]["path"] == str((saved / "digits.keras").resolve())
    assert (tmp_path / "models" / "digits" / "labels.txt").read_text().splitlines() == DIGITS

    x, y = data.load("mnist", "test")
    images = x[:50]
    logits = keras.saving.load_model(saved / "digits.keras").predict(images, verbose=0)
    keras_classes = logits.argmax(axis=-1)
    assert np.mean(keras_classes == y[:50]) > 0.8  # trained: chance is 0.1
    np.save(tmp_path / "images.npy", images)
    diabetes = keras.saving.load_model(saved / "diabetes.keras")
    table, _ = data.load("diabetes", "test")

    with running(Server(tmp_path), model="digits") as server:
        server.wait_ready("diabetes")
        answered = zoo_cli(
            "predict", "digits", str(tmp_path / "images.npy"), "--url", server.url, "--json"
        )
        assert answered.returncode == 0, answered.stderr
        labels = [answer["label"] for answer in json.loads(answered.stdout)]
        assert labels == [DIGITS[c] for c in keras_classes]  # its labels file's, from the server

        # TF Serving's Classify names the classes with the labels file's labels.
        status, answer = server.rest(
            "/v1/models/digits:classify",
            json.dumps({"examples": [{"pixels": images[0].ravel().tolist()}]}),
        )
        assert status == 200, answer
        scores = dict(answer["results"][0])
        assert list(scores) == DIGITS
        softmax = np.exp(logits[0]) / np.exp(logits[0]).sum()
        np.testing.assert_allclose(list(scores.values()), softmax, atol=1e-5)

        # One sigmoid unit: [1 - p, p], as the zoo's own binary models answer.
        status, answer = server.rest(
            "/v1/models/diabetes:predict", json.dumps({"instances": table[:5].tolist()})
        )
        assert status == 200, answer
        p = diabetes.predict(table[:5], verbose=0)[:, 0]
        got = np.array([row["probabilities"] for row in answer["predictions"]])
        np.testing.assert_allclose(got, np.stack([1 - p, p], axis=-1), atol=1e-5)
        assert [row["classes"] for row in answer["predictions"]] == (p > 0.5).astype(int).tolist()


def dense(width: int, activation: str | None) -> keras.Model:
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(width, activation=activation)(inputs))


@pytest.mark.parametrize(
    "width, activation, labels, expected",
    [
        (3, "softmax", None, ("multiclass", False)),
        (3, "softmax", ("a", "b", "c"), ("multiclass", False)),
        (1, "sigmoid", ("no", "yes"), ("binary", False)),
        (3, None, ("a", "b", "c"), ("multiclass", True)),
        (1, None, ("no", "yes"), ("binary", True)),
        (3, None, None, ("regression", False)),
        (1, "relu", None, ("regression", False)),
    ],
)
def test_the_task_is_read_off_the_last_layer_and_the_labels(width, activation, labels, expected):
    spec = describe(dense(width, activation), "m", labels, "m.keras")
    assert (spec.task, spec.recipe.from_logits) == expected
    assert spec.input.scale == 1.0  # the model takes what it takes


@pytest.mark.parametrize(
    "width, activation, labels, message",
    [
        (3, "softmax", ("a", "b"), "2 labels for m.keras, whose output has 3 classes"),
        (1, "sigmoid", ("a", "b", "c"), "3 labels for m.keras, whose output has 2 classes"),
        (3, "sigmoid", ("a", "b", "c"), "is no classifier's"),
    ],
)
def test_labels_that_do_not_fit_the_output_are_refused(width, activation, labels, message):
    with pytest.raises(ExportError, match=message):
        describe(dense(width, activation), "m", labels, "m.keras")


def test_a_model_of_two_inputs_is_refused():
    left, right = keras.Input((2,)), keras.Input((3,))
    joined = keras.layers.Concatenate()([left, right])
    model = keras.Model([left, right], keras.layers.Dense(1)(joined))
    with pytest.raises(
        ExportError, match="2 inputs and 1 outputs: zoo export takes a model of one"
    ):
        describe(model, "m", None, "m.keras")


@pytest.mark.parametrize(
    "case", ["missing file", "not a .keras file", "damaged file", "labels that do not fit"]
)
def test_export_errors_are_one_line_and_write_nothing(case, saved, zoo_cli, tmp_path):
    path = {
        "missing file": tmp_path / "nowhere.keras",
        "not a .keras file": saved / "labels.txt",
        "damaged file": tmp_path / "damaged.keras",
        "labels that do not fit": saved / "diabetes.keras",
    }[case]
    expected = {
        "missing file": ("nowhere.keras: no such file",),
        "not a .keras file": ("labels.txt is not a .keras file",),
        "damaged file": ("cannot load", "damaged.keras as a Keras model"),
        "labels that do not fit": ("10 labels for diabetes.keras", "2 classes"),
    }[case]
    if case == "damaged file":
        path.write_bytes((saved / "digits.keras").read_bytes()[:1000])
    models = tmp_path / "models"
    result = zoo_cli(
        "export", str(path), "--labels", str(saved / "labels.txt"), "--model-dir", str(models)
    )
    assert_one_line_error(result, *expected)
    assert not models.exists()
