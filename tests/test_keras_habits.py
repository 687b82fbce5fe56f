"""Keras habits: TensorBoard logs of a run, callbacks of one's own, and `zoo.predict`, one call from
raw inputs to labelled answers for every kind of zoo model, on the real test data."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo import data, runs, weights
from zoo.errors import ZooError
from zoo.train import train

MNIST_IMAGES = 300


def epoch_figures(run_dir, split: str, tag: str = "epoch_loss") -> dict[int, float]:
    """epoch -> value of `tag`, from every TensorBoard event file of `split` in the run."""
    found = {}
    for events in sorted((run_dir / runs.TENSORBOARD / split).glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            for value in event.summary.value:
                if value.tag == tag:
                    found[event.step] = float(tf.make_ndarray(value.tensor))
    return found


def test_tensorboard_logs_are_written_in_the_run_folder(zoo_cli, tmp_path):
    result = zoo_cli(
        "train", "mlp-mnist", "--epochs", "2", "--limit", "1000", "--tensorboard",
        "--runs-dir", str(tmp_path / "runs"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (run,) = runs.list_runs(tmp_path / "runs", "mlp-mnist")
    assert f"tensorboard: tensorboard --logdir {run / runs.TENSORBOARD}" in result.stdout
    history = zoo.train.read_history(run / runs.HISTORY)
    # The same losses as history.csv, epoch by epoch, for training and validation.
    for split, column in (("train", "loss"), ("validation", "val_loss")):
        logged = epoch_figures(run, split)
        assert sorted(logged) == [0, 1]
        np.testing.assert_allclose([logged[0], logged[1]], history[column], rtol=1e-6)


class StopBefore(keras.callbacks.Callback):
    """Ctrl-C as a callback: a KeyboardInterrupt as epoch `epoch` begins."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


class Epochs(keras.callbacks.Callback):
    """Records the epochs it sees end, and the logs it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[int] = []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(epoch)
        assert "loss" in logs


def test_own_callbacks_run_and_resume_runs_without_them_but_keeps_tensorboard(tmp_path):
    started = []
    with pytest.raises(KeyboardInterrupt):
        train(
            "mlp-mnist", epochs=3, limit=1000, runs_dir=tmp_path / "runs", verbose=0,
            tensorboard=True, callbacks=[StopBefore(1)], started=started.append,
        )  # fmt: skip
    (run,) = started
    assert sorted(epoch_figures(run, "train")) == [0]

    # The interrupting callback is not recorded: the resumed run goes to its end, calling the
    # callbacks it is given now, and goes on writing the TensorBoard logs it had.
    seen = Epochs()
    result = train(resume=run, runs_dir=tmp_path / "runs", verbose=0, callbacks=[seen])
    assert seen.seen == [1, 2]
    assert result.metrics["epochs"] == 3
    assert sorted(epoch_figures(run, "train")) == [0, 1, 2]
    assert sorted(epoch_figures(run, "validation")) == [0, 1, 2]


def accuracy(answers: list[dict], labels: np.ndarray) -> float:
    truth = [str(int(y)) for y in np.asarray(labels).reshape(-1)]
    return float(np.mean([answer["label"] == y for answer, y in zip(answers, truth, strict=True)]))


@pytest.mark.parametrize("name", ["cnn-mnist", "cnn-mnist-dropout"])
def test_predict_takes_raw_pixels_and_gives_probabilities_logits_or_not(name):
    assert zoo.get_spec("cnn-mnist-dropout").recipe.from_logits  # the case this test is for
    x, y = data.load("mnist", "test")
    assert x.max() == 255  # raw pixels, as a client sends them
    answers = zoo.predict(name, x[:MNIST_IMAGES])
    assert len(answers) == MNIST_IMAGES
    assert accuracy(answers, y[:MNIST_IMAGES]) > 0.9  # chance is 0.1
    for answer in answers:
        probabilities = answer["probabilities"]
        assert list(probabilities) == list(zoo.get_spec(name).labels)
        assert min(probabilities.values()) >= 0
        assert sum(probabilities.values()) == pytest.approx(1, abs=1e-5)
        assert answer["label"] == max(probabilities, key=probabilities.get)


def test_predict_of_a_binary_model_is_its_measured_accuracy():
    """One sigmoid unit: two labelled probabilities; on the whole test split, the accuracy that
    weights/manifest.json records for the pretrained weights."""
    x, y = data.load("diabetes", "test")
    answers = zoo.predict("diabetes", x)
    measured = weights.entry("diabetes")["test"]
    assert len(answers) == measured["examples"]
    assert accuracy(answers, y) == pytest.approx(measured["accuracy"], abs=0.5 / len(y))
    for answer in answers:
        assert set(answer["probabilities"]) == {"0", "1"}
        assert sum(answer["probabilities"].values()) == pytest.approx(1)


def test_predict_of_a_regression_model_is_a_value():
    x, y = data.load("linear", "test")
    answers = zoo.predict("linear-regression", x)
    assert [set(a) for a in answers] == [{"value"}] * len(x)
    np.testing.assert_allclose([a["value"] for a in answers], y[:, 0], atol=1e-3)


def test_predict_takes_a_model_its_spec_one_example_or_says_what_is_missing(tmp_path):
    x, _ = data.load("mnist", "test")
    model = zoo.create_model("mlp-mnist", pretrained=True)
    ours = zoo.predict(model, x[:5])
    assert ours == zoo.predict("mlp-mnist", x[:5])
    # One example, without a batch dimension (a batch of another size rounds a little apart).
    (alone,) = zoo.predict(model, x[0])
    assert alone["label"] == ours[0]["label"]
    assert alone["probabilities"] == pytest.approx(ours[0]["probabilities"], abs=1e-6)

    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")  # a file does not keep the spec
    with pytest.raises(ZooError, match="pass spec=NAME"):
        zoo.predict(loaded, x[:5])
    assert zoo.predict(loaded, x[:5], spec="mlp-mnist") == ours
    with pytest.raises(ZooError, match=r"takes examples of shape \[28, 28, 1\]"):
        zoo.predict(model, x[:5, :14])
    with pytest.raises(ZooError, match="zoo generate"):
        zoo.predict("gan-mnist", np.zeros((1, 100)))
