"""Your own data and fine-tuning: an image folder, a CSV and an .npz written here from real data,
trained through `zoo train --dataset`, evaluated and exported with their own labels; bad data
refused in one line naming the file, with no run folder left; `create_model(num_classes=N)` and
`--pretrained` fine-tuning."""

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_one_line_error

import zoo
from zoo import data, runs
from zoo.data.own import write_images
from zoo.errors import ZooError
from zoo.evaluate import evaluate
from zoo.export import export_run
from zoo.train import train

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
DIGIT_NAMES = np.array(["zero", "one", "two"])


def digit_folder(root: Path, count: int = 150) -> Path:
    """MNIST's 0, 1 and 2 as a folder of 36x36 colour PNGs named by class: not the model's input
    (28x28, grayscale), so reading it must convert them."""
    x, y = data.load("mnist", "train")
    keep = np.flatnonzero(y < 3)[:count]
    padded = np.pad(x[keep], ((0, 0), (4, 4), (4, 4), (0, 0)))  # 36x36
    write_images(root, np.repeat(padded, 3, axis=-1), DIGIT_NAMES[y[keep]])
    return root


def diabetes_csv(path: Path, label_column: str = "outcome") -> Path:
    """The diabetes table with a header, its label as words, and the label column first."""
    x, y = data.load("diabetes", "train")
    header = [label_column, *data.FEATURES["diabetes"]]
    lines = [",".join(header)]
    for features, label in zip(x, y[:, 0], strict=True):
        word = "diabetic" if label else "healthy"
        lines.append(",".join([word, *(f"{v:.6f}" for v in features)]))
    path.write_text("\n".join(lines) + "\n")
    return path


def run_folders(runs_dir: Path) -> list[Path]:
    return [p.parent for p in runs_dir.glob(f"*/*/{runs.CONFIG}")]


def test_an_image_folder_trains_evaluates_and_exports_with_its_folder_names(tmp_path, zoo_cli):
    folder = digit_folder(tmp_path / "digits")
    trained = zoo_cli(
        "train", "cnn-mnist", "--dataset", str(folder), "--epochs", "1",
        "--runs-dir", str(tmp_path / "runs"),
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    (run,) = run_folders(tmp_path / "runs")
    recorded = runs.read_json(run / runs.CONFIG)["dataset"]
    assert recorded["path"] == str(folder) and recorded["kind"] == "images"
    assert recorded["classes"] == ["one", "two", "zero"]  # the folder names, sorted
    assert len(recorded["sha256"]) == 64

    evaluated = zoo_cli("evaluate", str(run))
    assert evaluated.returncode == 0, evaluated.stderr
    assert "test (30 examples)" in evaluated.stdout  # every fifth image held out
    assert "slide:" not in evaluated.stdout  # the slide's MNIST figure says nothing here

    exported = zoo_cli(
        "export", str(run), "--format", "onnx", "--model-dir", str(tmp_path / "models"),
        "--samples", "8",
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    model_dir = tmp_path / "models" / "cnn-mnist"
    described = json.loads((model_dir / "1" / "zoo.json").read_text())
    assert described["labels"] == ["one", "two", "zero"]
    assert (model_dir / "labels.txt").read_text().split() == ["one", "two", "zero"]
    assert "dims: [ 3 ]" in (model_dir / "config.pbtxt").read_text()  # a 3-class head


def test_a_csv_with_a_label_column_trains_through_the_cli(tmp_path, zoo_cli):
    table = diabetes_csv(tmp_path / "patients.csv")
    trained = zoo_cli(
        "train", "diabetes", "--dataset", str(table), "--label-column", "outcome",
        "--epochs", "3", "--runs-dir", str(tmp_path / "runs"),
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    (run,) = run_folders(tmp_path / "runs")
    recorded = runs.read_json(run / runs.CONFIG)["dataset"]
    assert recorded["classes"] == ["diabetic", "healthy"]
    assert recorded["features"] == list(data.FEATURES["diabetes"])
    assert recorded["label_column"] == "outcome"

    result = evaluate(run)
    assert result.metrics["examples"] == len(data.load("diabetes", "train")[0]) // 5
    assert result.spec.labels == ("diabetic", "healthy")
    exported = export_run(run, formats=("onnx",), model_dir=tmp_path / "models", samples=8)
    described = json.loads((exported.version_dir / "zoo.json").read_text())
    assert described["feature_names"] == list(data.FEATURES["diabetes"])
    assert described["labels"] == ["diabetic", "healthy"]


def test_an_npz_of_x_and_y_gives_the_model_its_classes(tmp_path):
    # Four diabetes features, and which fifth of glucose values a patient falls in: 5 classes
    # for the 3-class softmax table model, which gets a 5-wide head.
    x, _ = data.load("diabetes", "train")
    glucose = np.digitize(x[:, 1], np.quantile(x[:, 1], [0.2, 0.4, 0.6, 0.8]))
    np.savez(tmp_path / "glucose.npz", x=x[:, :4], y=glucose)
    result = train(
        "softmax-classification",
        dataset=tmp_path / "glucose.npz",
        epochs=1,
        runs_dir=tmp_path / "runs",
        verbose=0,
    )
    evaluation = evaluate(result.run_dir)
    assert evaluation.spec.labels == ("0", "1", "2", "3", "4")
    assert evaluation.confusion.shape == (5, 5)
    assert evaluation.confusion.sum() == len(x) // 5


def no_class_folders(tmp_path: Path) -> tuple[str, Path, str | None]:
    folder = tmp_path / "flat"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"")
    return "cnn-mnist", folder, None


def unreadable_image(tmp_path: Path) -> tuple[str, Path, str | None]:
    folder = digit_folder(tmp_path / "digits", count=20)
    (folder / "one" / "broken.png").write_bytes(b"not a picture")
    return "cnn-mnist", folder / "one" / "broken.png", None


def missing_label_column(tmp_path: Path) -> tuple[str, Path, str | None]:
    return "diabetes", diabetes_csv(tmp_path / "t.csv"), "label"


def ragged_rows(tmp_path: Path) -> tuple[str, Path, str | None]:
    table = diabetes_csv(tmp_path / "t.csv")
    lines = table.read_text().splitlines()
    lines[5] = lines[5].rsplit(",", 1)[0]  # row 6 lost its last cell
    table.write_text("\n".join(lines) + "\n")
    return "diabetes", table, "outcome"


def a_word_among_the_features(tmp_path: Path) -> tuple[str, Path, str | None]:
    table = diabetes_csv(tmp_path / "t.csv")
    lines = table.read_text().splitlines()
    lines[2] = lines[2].rsplit(",", 1)[0] + ",old"
    table.write_text("\n".join(lines) + "\n")
    return "diabetes", table, "outcome"


def too_few_features(tmp_path: Path) -> tuple[str, Path, str | None]:
    table = diabetes_csv(tmp_path / "t.csv")
    table.write_text("\n".join(line.rsplit(",", 1)[0] for line in table.read_text().splitlines()))
    return "diabetes", table, "outcome"


def images_for_a_table_model(tmp_path: Path) -> tuple[str, Path, str | None]:
    return "diabetes", digit_folder(tmp_path / "digits", count=20), None


def npz_of_the_wrong_shape(tmp_path: Path) -> tuple[str, Path, str | None]:
    x, y = data.load("diabetes", "train")
    np.savez(tmp_path / "d.npz", x=x[:, :5], y=y)
    return "softmax-classification", tmp_path / "d.npz", None


def three_classes_for_a_binary_model(tmp_path: Path) -> tuple[str, Path, str | None]:
    table = diabetes_csv(tmp_path / "t.csv")
    lines = table.read_text().splitlines()
    lines[3] = "unsure" + lines[3][lines[3].index(",") :]
    table.write_text("\n".join(lines) + "\n")
    return "diabetes", table, "outcome"


BAD_DATA = [
    no_class_folders,
    unreadable_image,
    missing_label_column,
    ragged_rows,
    a_word_among_the_features,
    too_few_features,
    images_for_a_table_model,
    npz_of_the_wrong_shape,
    three_classes_for_a_binary_model,
]


@pytest.mark.parametrize("case", BAD_DATA, ids=lambda case: case.__name__)
def test_bad_data_is_one_line_naming_the_file_and_leaves_no_run(case, tmp_path):
    model, named, label_column = case(tmp_path)
    dataset = named if named.is_dir() or named.suffix != ".png" else named.parents[1]
    with pytest.raises(ZooError) as refused:
        train(
            model,
            dataset=dataset,
            label_column=label_column,
            epochs=1,
            runs_dir=tmp_path / "runs",
            verbose=0,
        )
    message = str(refused.value)
    assert str(named) in message and "\n" not in message
    assert not (tmp_path / "runs").exists()


def test_the_cli_refuses_bad_data_in_one_line_with_no_run_folder(tmp_path, zoo_cli):
    _, broken, _ = unreadable_image(tmp_path)
    refused = zoo_cli(
        "train", "cnn-mnist", "--dataset", str(broken.parents[1]), "--runs-dir",
        str(tmp_path / "runs"),
    )  # fmt: skip
    assert_one_line_error(refused, str(broken), "not a readable image")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("name", ["cnn-mnist", "cnn-mnist-dropout"])  # Sequential, subclassed
def test_num_classes_keeps_the_pretrained_body_and_gives_a_fresh_head(name):
    published = zoo.create_model(name, pretrained=True)
    tuned = zoo.create_model(name, pretrained=True, num_classes=4)
    assert tuned(np.zeros((1, 28, 28, 1), np.float32)).shape == (1, 4)
    body = list(zip(published.weights, tuned.weights, strict=True))[:-2]
    assert all(np.array_equal(old.numpy(), new.numpy()) for old, new in body)
    kernel, bias = tuned.weights[-2:]
    assert kernel.shape[-1] == 4 and not np.any(bias.numpy())  # a fresh Dense: zero bias
    # Its own number of classes keeps the head too: the published model, as it is.
    same = zoo.create_model(name, pretrained=True, num_classes=10)
    assert all(
        np.array_equal(a.numpy(), b.numpy())
        for a, b in zip(published.weights, same.weights, strict=True)
    )


@pytest.mark.parametrize(
    ("name", "fragment"),
    [("diabetes", "tells 2 classes apart"), ("gan-mnist", "no classes to set")],
)
def test_a_head_that_cannot_take_the_classes_is_refused(name, fragment):
    with pytest.raises(ZooError, match=fragment):
        zoo.create_model(name, num_classes=3)


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_fine_tuning_the_mnist_weights_beats_training_from_scratch(tmp_path):
    names = np.array(data.FASHION_MNIST_CLASSES)
    for split, count in (("train", 200), ("test", 500)):
        x, y = data.load("fashion-mnist", split)
        write_images(tmp_path / "fashion" / split, x[:count], names[y[:count]])
    accuracy = {}
    for pretrained in (False, True):
        result = train(
            "cnn-mnist",
            dataset=tmp_path / "fashion",
            pretrained=pretrained,
            epochs=2,
            seed=0,
            runs_dir=tmp_path / "runs",
            verbose=0,
        )
        accuracy[pretrained] = evaluate(result.run_dir).metrics["accuracy"]
        start = runs.read_json(result.run_dir / runs.CONFIG)["fine_tuned_from"]
        assert (start is not None) == pretrained
    assert accuracy[True] > accuracy[False]


def test_resume_keeps_the_runs_own_data(zoo_cli, tmp_path):
    refused = zoo_cli("train", "--resume", "somewhere", "--dataset", str(tmp_path), "--pretrained")
    assert_one_line_error(refused, "--dataset", "--pretrained")
