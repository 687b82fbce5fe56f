"""`zoo predict` learns a model's labels and how to prepare its images from the served model
itself (its model configuration, REST GET /v2/models/NAME/config and gRPC ModelConfig), not from
its name: a .keras file exported with a labels file, and a model trained on a folder of one's own
dark-on-light images, exported under its own name and under the zoo's `cnn-mnist`, against a real
`zoo serve`; a version folder copied without config.pbtxt answers as well."""

import json
import shutil

import keras
import numpy as np
import pytest
from conftest import run_zoo
from helpers import Server, running
from PIL import Image

from zoo import data
from zoo.data.own import write_images
from zoo.export import export_run
from zoo.export.contract import CONFIG, LABELS_PARAMETER, METADATA, POLARITY
from zoo.images import AS_IS, LIGHT_ON_DARK

KERAS_LABELS = ["nought", "one", "two"]  # MNIST's 0, 1 and 2, as the labels file names them
SHAPES = {0: "circle", 1: "stroke"}  # MNIST's 0 and 1 drawn dark on light, as folder names
PROTOCOLS = ("--url", "--grpc")
OLD = "mlp-mnist"  # an older export, served under the name of one of the zoo's MNIST models


def keras_digits() -> keras.Model:
    """Plain Keras code, no zoo: a softmax over MNIST's first three digits, from raw pixels."""
    pixels = keras.Input((28, 28, 1), name="pixels")
    x = keras.layers.Rescaling(1 / 255, name="scale")(pixels)
    x = keras.layers.Flatten(name="flatten")(x)
    probabilities = keras.layers.Dense(3, activation="softmax", name="probabilities")(x)
    return keras.Model(pixels, probabilities, name="digits")


@pytest.fixture(scope="module")
def mnist():
    x, y = data.load("mnist", "train")
    return x, y


@pytest.fixture(scope="module")
def served(tmp_path_factory, mnist):
    """A server of: `digits` (a .keras file with a labels file); `shapes` and `cnn-mnist` (one
    run of cnn-mnist trained on a folder of dark-on-light shapes); `copied` (shapes' version
    folder alone, no config.pbtxt); `mlp-mnist` (the same, its zoo.json as an export made before
    exports recorded a polarity, under the name of one of the zoo's MNIST models)."""
    root = tmp_path_factory.mktemp("predict-labels")
    models = root / "models"
    x, y = mnist

    keras.utils.set_random_seed(0)
    digits = keras_digits()
    keep = np.flatnonzero(y < 3)[:1500]
    digits.compile("adam", "sparse_categorical_crossentropy")
    digits.fit(x[keep], y[keep], epochs=1, verbose=0)
    digits.save(root / "digits.keras")
    (root / "labels.txt").write_text("".join(f"{label}\n" for label in KERAS_LABELS))
    exported = run_zoo(
        "export", str(root / "digits.keras"), "--name", "digits", "--labels",
        str(root / "labels.txt"), "--format", "onnx", "--model-dir", str(models),
        "--samples", "4",
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr

    keep = np.flatnonzero(y < 2)[:100]
    write_images(root / "shapes", 255 - x[keep], [SHAPES[int(c)] for c in y[keep]])
    trained = run_zoo(
        "train", "cnn-mnist", "--dataset", str(root / "shapes"), "--epochs", "1",
        "--runs-dir", str(root / "runs"),
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    (run,) = (root / "runs" / "cnn-mnist").iterdir()
    for name in ("shapes", "cnn-mnist"):
        export_run(run, formats=("onnx",), model_dir=models, name=name, samples=4)

    for name in ("copied", OLD):
        shutil.copytree(models / "shapes" / "1", models / name / "1")
    described = json.loads((models / OLD / "1" / METADATA).read_text())
    del described[POLARITY]
    (models / OLD / "1" / METADATA).write_text(json.dumps(described))

    with running(Server(root), model="digits") as server:
        for name in ("shapes", "cnn-mnist", "copied", OLD):
            server.wait_ready(name)
        yield server


def predict(server: Server, protocol: str, model: str, *inputs) -> tuple[list[dict], list[str]]:
    """`zoo predict --json` over `protocol`: the answers, and the notes on stderr."""
    where = server.url if protocol == "--url" else server.grpc_target
    answered = run_zoo("predict", model, *map(str, inputs), protocol, where, "--json")
    assert answered.returncode == 0, answered.stderr
    return json.loads(answered.stdout), answered.stderr.splitlines()


def drawn(tmp_path, mnist, digits: list[int]) -> list:
    """PNG files of MNIST training digits drawn dark on light, as in Paint or on paper."""
    x, y = mnist
    files = []
    for digit in digits:
        files.append(tmp_path / f"drawn-{digit}.png")
        Image.fromarray(255 - x[np.flatnonzero(y == digit)[0], ..., 0]).save(files[-1])
    return files


def test_export_tells_clients_the_labels_and_polarity_in_config_pbtxt(served):
    for name, labels, polarity in (
        ("digits", KERAS_LABELS, AS_IS),
        ("shapes", sorted(SHAPES.values()), AS_IS),
        ("cnn-mnist", sorted(SHAPES.values()), AS_IS),
    ):
        text = (served.model_dir / name / CONFIG).read_text()
        assert f'key: "{POLARITY}" value: {{ string_value: "{polarity}" }}' in text
        status, config = served.rest(f"/v2/models/{name}/config")
        assert status == 200, config
        parameters = config["parameters"]
        assert json.loads(parameters[LABELS_PARAMETER]["string_value"]) == labels
        assert parameters[POLARITY]["string_value"] == polarity


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_keras_file_answers_with_its_labels_file(served, protocol, tmp_path, mnist):
    answers, notes = predict(served, protocol, "digits", *drawn(tmp_path, mnist, [0, 1, 2]))
    assert notes == []  # trained elsewhere, on data the zoo does not know: sent as it is
    for answer in answers:
        assert answer["label"] in KERAS_LABELS
        assert sorted(label for label, _ in answer["top_k"]) == sorted(KERAS_LABELS)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("model", ["shapes", "cnn-mnist", "copied"])
def test_a_folder_model_answers_with_its_folder_names_whatever_its_name(
    served, protocol, model, tmp_path, mnist
):
    answers, notes = predict(served, protocol, model, *drawn(tmp_path, mnist, [0, 1]))
    assert notes == []  # its own images were dark on light: nothing is inverted, even as cnn-mnist
    for answer in answers:
        assert answer["label"] in SHAPES.values()
        assert sorted(label for label, _ in answer["top_k"]) == sorted(SHAPES.values())


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_what_a_server_does_not_say_is_read_from_the_catalogue_by_name(
    served, protocol, tmp_path, mnist
):
    """An older export's zoo.json names no polarity, nor does its derived configuration: the
    client reads it as the zoo's catalogue has the model of that name (MNIST's: light on dark, so
    a dark-on-light image is inverted); its labels, which zoo.json has, still come from the server."""
    status, config = served.rest(f"/v2/models/{OLD}/config")
    assert status == 200 and POLARITY not in config["parameters"], config
    (image,) = drawn(tmp_path, mnist, [0])
    answers, notes = predict(served, protocol, OLD, image)
    assert notes == [
        f"note: {image} is dark on light: inverted, as {OLD} learned {LIGHT_ON_DARK} images"
    ]
    assert answers[0]["label"] in SHAPES.values()
