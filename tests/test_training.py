"""Training on real data: short runs of every image model, run directories, determinism, resume."""

import csv
import json
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import zoo
from zoo import data, plots, runs
from zoo.data.pipeline import make_pipeline
from zoo.evaluate import evaluate, short_run
from zoo.train import compile_model, train

# Classifiers; the GANs' training is tested in test_gan.py.
IMAGE_MODELS = [
    n
    for n in zoo.list_models()
    if zoo.get_spec(n).dataset in ("mnist", "cifar10") and zoo.get_spec(n).task != "generative"
]
LIMIT = 320


def loss_on(model, name, x, y):
    spec = zoo.get_spec(name)
    return model.evaluate(make_pipeline(x, y, spec, 64, training=False), verbose=0)[0]


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_short_real_run_lowers_the_loss(name, tmp_path):
    spec = zoo.get_spec(name)
    x, y = data.load(spec.dataset, "train")
    x, y = x[:LIMIT], y[:LIMIT]
    keras.utils.set_random_seed(0)
    untrained = zoo.create_model(name)
    compile_model(untrained, spec, spec.recipe, steps_per_epoch=1)

    result = train(name, epochs=2, limit=LIMIT, runs_dir=tmp_path, verbose=0)
    trained = keras.saving.load_model(result.run_dir / runs.MODEL)
    assert loss_on(trained, name, x, y) < loss_on(untrained, name, x, y)


def test_run_directory_describes_itself(tmp_path):
    result = train("cnn-mnist", epochs=2, limit=LIMIT, seed=7, runs_dir=tmp_path, verbose=0)
    run = result.run_dir
    assert run.parent == tmp_path / "cnn-mnist"
    config = json.loads((run / runs.CONFIG).read_text())
    assert config["model"] == "cnn-mnist" and config["seed"] == 7 and config["limit"] == LIMIT
    assert config["recipe"]["epochs"] == 2 and config["recipe"]["optimizer"] == "sgd"
    assert config["spec"]["input"] == {
        "name": "images",
        "shape": [28, 28, 1],
        "dtype": "float32",
        "scale": 1 / 255,
    }
    assert {"tensorflow", "keras", "numpy"} <= set(config["versions"])
    assert config["train_examples"] + config["validation_examples"] == LIMIT

    with open(run / runs.HISTORY) as f:
        history = list(csv.DictReader(f))
    assert [row["epoch"] for row in history] == ["0", "1"]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history[0])
    metrics = json.loads((run / runs.METRICS).read_text())
    assert metrics["epochs"] == 2 and metrics["train_seconds"] > 0
    assert metrics["validation"]["accuracy"] == pytest.approx(float(history[-1]["val_accuracy"]))
    assert (run / runs.CURVES).read_bytes().startswith(b"\x89PNG")
    assert json.loads((run / runs.CHECKPOINT_STATE).read_text())["epoch"] == 2
    assert not list(run.glob(".*")), "no temporary files are left behind"


def test_same_seed_same_weights_on_the_cpu(tmp_path):
    def weights(seed):
        run = train("cnn-mnist", epochs=1, limit=LIMIT, seed=seed, runs_dir=tmp_path, verbose=0)
        return keras.saving.load_model(run.run_dir / runs.MODEL).get_weights()

    first, again, other = weights(1), weights(1), weights(2)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_augmentation_is_seeded_and_changes_images():
    spec = zoo.get_spec("cnn-bn-cifar10")
    x, y = data.load("cifar10", "train")
    x, y = x[:64], y[:64]

    def first_batch(seed):
        return next(iter(make_pipeline(x, y, spec, 64, training=True, seed=seed)))[0].numpy()

    np.testing.assert_array_equal(first_batch(3), first_batch(3))
    plain = next(iter(make_pipeline(x, y, spec, 64, training=False)))[0].numpy()
    assert first_batch(3).shape == plain.shape
    assert not np.array_equal(np.sort(first_batch(3), axis=None), np.sort(plain, axis=None))


def test_killed_run_resumes_from_its_last_checkpoint(tmp_path, zoo_cli):
    script = [
        sys.executable,
        "-m",
        "cli.main",
        "train",
        "cnn-mnist",
        "--epochs",
        "4",
        "--limit",
        "3000",
        "--runs-dir",
        str(tmp_path),
    ]
    proc = subprocess.Popen(script, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    state = None
    while time.monotonic() < deadline and proc.poll() is None:
        states = list(tmp_path.glob(f"cnn-mnist/*/{runs.CHECKPOINT_STATE}"))
        if states and json.loads(states[0].read_text())["epoch"] >= 1:
            state = states[0]
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert state is not None, "the run wrote no checkpoint before the deadline"
    run = state.parent
    killed_at = json.loads(state.read_text())["epoch"]
    assert killed_at < 4 and not (run / runs.MODEL).exists()

    finished = zoo_cli("train", "--resume", str(run))
    assert finished.returncode == 0, finished.stderr
    assert "Epoch" in finished.stdout and f"Epoch {killed_at + 1}/4" in finished.stdout
    metrics = json.loads((run / runs.METRICS).read_text())
    assert metrics["epochs"] == 4
    assert (run / runs.MODEL).exists()
    again = zoo_cli("train", "--resume", str(run))
    assert again.returncode == 2 and "already finished" in again.stderr


def test_evaluate_records_test_metrics_and_confusion(tmp_path):
    run = train("cnn-mnist", epochs=1, limit=LIMIT, runs_dir=tmp_path, verbose=0).run_dir
    result = evaluate(run, limit=500)
    assert result.metrics["examples"] == 500
    assert result.confusion.sum() == 500
    assert np.trace(result.confusion) / 500 == pytest.approx(result.metrics["accuracy"], abs=1e-6)
    assert result.confusion_png.read_bytes().startswith(b"\x89PNG")
    assert json.loads((run / runs.METRICS).read_text())["test"]["examples"] == 500


def test_a_short_run_says_how_it_fell_short_of_its_recipe():
    spec = zoo.get_spec("cnn-mnist")
    full = {"limit": None, "recipe": {"epochs": spec.recipe.epochs}}
    assert short_run(full, spec) is None
    note = short_run({"limit": 2000, "recipe": {"epochs": 1}}, spec)
    assert (
        note
        == f"trained on the first 2,000 examples (--limit), for 1 of the recipe's {spec.recipe.epochs} epochs"
    )


@pytest.mark.parametrize("epochs", [1, 3])
def test_curves_tick_whole_epochs_only(tmp_path, epochs, monkeypatch):
    ticks = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: ticks.extend(fig.axes[0].get_xticks()))
    plots.learning_curves({"loss": [1.0] * epochs}, tmp_path / "curves.png", "t")
    visible = [t for t in ticks if 0.5 <= t <= epochs + 0.5]
    assert visible and all(float(t).is_integer() for t in visible)
