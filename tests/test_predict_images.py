"""`zoo predict` on images as people make them: a digit drawn black on white, as in Paint or on
paper, against a real `zoo serve` of the pretrained cnn-mnist, which learned MNIST's white on black."""

import pytest
from conftest import run_zoo
from helpers import Server, running
from PIL import Image

from zoo import data, publish
from zoo.export import export_run
from zoo.images import dark_on_light

DIGITS = 8


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict-images")
    run = publish.pretrained_run("cnn-mnist", root / "runs")
    export_run(run, formats=("onnx",), model_dir=root / "models", samples=4)
    with running(Server(root, log="serve.log"), model="cnn-mnist") as server:
        yield server


def test_no_mnist_digit_looks_inverted_and_every_inverted_one_does():
    for split in ("train", "test"):
        x, _ = data.load("mnist", split)
        assert not any(dark_on_light(image) for image in x)
        assert all(dark_on_light(255 - image) for image in x)


def test_a_black_on_white_digit_is_inverted_with_a_note_and_gets_its_label(served, tmp_path):
    x, y = data.load("mnist", "test")
    upright = tmp_path / "upright.png"
    Image.fromarray(x[0, ..., 0]).save(upright)
    drawn = []
    for i in range(DIGITS):
        drawn.append(tmp_path / f"drawn-{i}.png")
        Image.fromarray(255 - x[i, ..., 0]).save(drawn[-1])
    answer = run_zoo("predict", "cnn-mnist", str(upright), *map(str, drawn), "--url", served.url)
    assert answer.returncode == 0, answer.stderr
    labels = [line for line in answer.stdout.splitlines() if not line.startswith(" ")]
    assert labels == [str(y[0]), *map(str, y[:DIGITS])]
    notes = answer.stderr.splitlines()
    assert [n.split(" is dark on light")[0] for n in notes] == [f"note: {p}" for p in drawn]
