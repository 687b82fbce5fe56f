"""Training on real data: short runs of every image model, run directories, determinism, resume."""

import csv
import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import assert_one_line_error

import zoo
from zoo import data, plots, publish, runs
from zoo.data.pipeline import make_pipeline
from zoo.errors import RunError
from zoo.evaluate import evaluate, short_run
from zoo.train import compile_model, read_history, train

# Classifiers; the GANs' training is tested in test_gan.py.
IMAGE_MODELS = [
    n
    for n in zoo.list_models()
    if zoo.get_spec(n).dataset in ("mnist", "cifar10") and zoo.get_spec(n).task != "generative"
]
LIMIT = 320
REPO = Path(__file__).resolve().parents[1]


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
    made = dt.datetime.fromisoformat(config["created"])  # what "the newest run" is ordered by
    assert abs(dt.datetime.now(dt.timezone.utc) - made) < dt.timedelta(minutes=10)
    assert config["train_examples"] + config["validation_examples"] == LIMIT
    mnist = Path(os.environ["ZOO_DATA_DIR"]).resolve() / "mnist-idx"
    read = [mnist / "train-images-idx3-ubyte.gz", mnist / "train-labels-idx1-ubyte.gz"]
    assert config["data"] == [
        {"path": str(f), "sha256": hashlib.sha256(f.read_bytes()).hexdigest()} for f in read
    ]

    with open(run / runs.HISTORY) as f:
        history = list(csv.DictReader(f))
    assert [row["epoch"] for row in history] == ["0", "1"]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history[0])
    metrics = json.loads((run / runs.METRICS).read_text())
    assert metrics["epochs"] == 2 and metrics["train_seconds"] > 0
    assert metrics["validation"]["accuracy"] == pytest.approx(float(history[-1]["val_accuracy"]))
    assert (run / runs.CURVES).read_bytes().startswith(b"\x89PNG")
    assert json.loads((run / runs.CHECKPOINT_STATE).read_text())["epoch"] == 2
    assert runs.read_checkpoint_state(run / runs.CHECKPOINT)["epoch"] == 2
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


# A run that a kill interrupts, long enough to be stopped in mid-epoch after its first checkpoint;
# dropout and Adam give it random streams and optimizer moments to resume, not weights only.
KILLED = {"model": "cnn-mnist-dropout", "epochs": 4, "limit": 3000, "seed": 5}

# `zoo ARGS` with a file-size limit of LIMIT bytes: a write past it fails with EFBIG, as one on a
# full disk fails with ENOSPC (the same OSError to the code), without needing a small filesystem.
# SIGXFSZ would kill the process instead; ignored, it stays ignored across exec.
ZOO_WITH_FILE_SIZE_LIMIT = """
import os, resource, signal, sys
limit = int(sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
os.execv(sys.executable, [sys.executable, "-m", "zoo.cli.main", *sys.argv[2:]])
"""


def copy_run(run, tmp_path):
    """A copy of `run` to change, in a `<model>/<run-id>` folder as the CLI expects."""
    return shutil.copytree(run, tmp_path / run.parent.name / run.name)


def assert_run_files_whole(run):
    """No temporary file of an interrupted write is left, and every JSON file parses."""
    assert not [p.name for p in run.rglob(".*")]
    for path in run.rglob("*.json"):
        json.loads(path.read_text())


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory):
    """The folder of a `zoo train` SIGKILLed while an epoch was in progress, after a checkpoint."""
    runs_dir = tmp_path_factory.mktemp("killed")
    args = [f"--{k}={v}" for k, v in KILLED.items() if k != "model"]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zoo.cli.main",
            "train",
            KILLED["model"],
            *args,
            "--runs-dir",
            runs_dir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
    )
    deadline = time.monotonic() + 300
    state = None
    while time.monotonic() < deadline and proc.poll() is None:
        # checkpoint.json is written last at an epoch's end: the next epoch is under way.
        states = list(runs_dir.glob(f"*/*/{runs.CHECKPOINT_STATE}"))
        if states and json.loads(states[0].read_text())["epoch"] >= 1:
            state = states[0]
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert state is not None, "the run wrote no checkpoint before the deadline"
    return state.parent


def test_killed_run_resumes_to_the_weights_of_an_unbroken_run(killed_run, tmp_path, zoo_cli):
    run = copy_run(killed_run, tmp_path)
    killed_at = runs.read_checkpoint_state(run / runs.CHECKPOINT)["epoch"]
    assert 1 <= killed_at < KILLED["epochs"] and not (run / runs.MODEL).exists()
    for path in run.glob("*.json"):
        json.loads(path.read_text())  # the kill truncated none of them
    # A kill between an epoch's two renames leaves checkpoint.json behind checkpoint.keras (or
    # missing, after the first): resume trusts only the state inside checkpoint.keras.
    (run / runs.CHECKPOINT_STATE).unlink()

    finished = zoo_cli("train", "--resume", str(run))
    assert finished.returncode == 0, finished.stderr
    assert f"Epoch {killed_at + 1}/{KILLED['epochs']}" in finished.stdout
    assert_run_files_whole(run)

    unbroken = train(**KILLED, runs_dir=tmp_path / "unbroken", verbose=0)
    resumed = keras.saving.load_model(run / runs.MODEL)
    reference = keras.saving.load_model(unbroken.run_dir / runs.MODEL)
    for a, b in zip(resumed.weights, reference.weights, strict=True):
        np.testing.assert_array_equal(a, b)
    metrics = json.loads((run / runs.METRICS).read_text())
    assert metrics["epochs"] == KILLED["epochs"]
    assert (metrics["train"], metrics["validation"]) == (
        unbroken.metrics["train"],
        unbroken.metrics["validation"],
    )
    assert read_history(run / runs.HISTORY) == unbroken.history

    again = zoo_cli("train", "--resume", str(run))
    assert again.returncode == 2 and "already finished" in again.stderr


def test_a_torn_last_history_row_is_dropped_and_resume_starts_a_new_one(killed_run, tmp_path):
    run = copy_run(killed_run, tmp_path)
    logged = read_history(run / runs.HISTORY)
    killed_at = runs.read_checkpoint_state(run / runs.CHECKPOINT)["epoch"]
    with open(run / runs.HISTORY, "a") as f:
        f.write(f"{killed_at},0.91")  # the kill came while CSVLogger wrote the next epoch's row
    assert read_history(run / runs.HISTORY) == logged

    result = train(resume=run, verbose=0)
    assert result.metrics["epochs"] == KILLED["epochs"]
    with open(run / runs.HISTORY) as f:
        rows = list(csv.reader(f))
    assert all(len(row) == len(rows[0]) for row in rows)
    header_only = tmp_path / "header.csv"
    header_only.write_text("epoch,accuracy,lo")  # killed while writing the very first line
    assert read_history(header_only) == {}


def test_a_full_disk_in_mid_training_is_one_line_and_keeps_the_last_checkpoint(
    killed_run, tmp_path
):
    run = copy_run(killed_run, tmp_path)
    checkpoint = run / runs.CHECKPOINT
    before = checkpoint.read_bytes()
    # Resuming unpacks the checkpoint member by member; saving the next one writes them all into
    # one file: a limit between the two lets the run start and fails its first checkpoint.
    with zipfile.ZipFile(checkpoint) as archive:
        largest_member = max(member.file_size for member in archive.infolist())
    limit = (largest_member + len(before)) // 2
    result = subprocess.run(
        [sys.executable, "-c", ZOO_WITH_FILE_SIZE_LIMIT, str(limit), "train", "--resume", str(run)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert_one_line_error(result, "File too large", str(checkpoint))
    assert checkpoint.read_bytes() == before
    assert_run_files_whole(run)
    state = runs.read_checkpoint_state(checkpoint)
    assert keras.saving.load_model(checkpoint).optimizer.iterations > 0
    assert state["epoch"] == runs.read_checkpoint_state(killed_run / runs.CHECKPOINT)["epoch"]


def read_only(folder: Path) -> list[str]:
    """A command prefix that runs its command with `folder` read-only: a read-only bind mount in
    a mount namespace of its own for root, whom permissions do not stop; chmod for anyone else."""
    if os.geteuid() != 0:
        for path in [folder, *folder.rglob("*")]:
            if path.is_dir():
                path.chmod(0o555)
        return []
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode:
        pytest.skip("root without `unshare -m` cannot make a folder read-only")
    remount = 'mount --bind -o ro "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
    return ["unshare", "-m", "sh", "-c", remount, str(folder)]


def test_a_read_only_runs_directory_is_one_line_and_changes_nothing(killed_run, tmp_path):
    """A new run, and the resume of a killed one, in a folder that cannot be written: one line
    naming the place, exit 2, and the killed run's files as they were."""
    run = copy_run(killed_run, tmp_path)
    files = {path: path.read_bytes() for path in run.rglob("*") if path.is_file()}
    prefix = read_only(tmp_path)
    reason = "Read-only file system" if prefix else "Permission denied"
    new_run = ["train", "xor-mlp", "--epochs", "1", "--runs-dir", str(tmp_path / "new")]
    for args, place in (
        (new_run, str(tmp_path / "new")),
        (["train", "--resume", str(run)], str(run)),
    ):
        result = subprocess.run(
            [*prefix, sys.executable, "-m", "zoo.cli.main", *args],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=300,
        )
        assert_one_line_error(result, reason, place)
    assert {path: path.read_bytes() for path in run.rglob("*") if path.is_file()} == files


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """A `zoo train cnn-mnist` stopped by Ctrl-C (SIGINT) in its second or third epoch, run in a
    folder that already holds cnn-mnist's pretrained run (`zoo export --pretrained` makes it)."""
    folder = tmp_path_factory.mktemp("interrupted")
    publish.pretrained_run("cnn-mnist", folder / "runs")
    data_dir = Path(os.environ["ZOO_DATA_DIR"]).resolve()
    command = ["train", "cnn-mnist", "--limit", "2000", "--epochs", "3", "--data-dir", data_dir]
    stdout, stderr = folder / "stdout.txt", folder / "stderr.txt"
    with open(stdout, "w") as out, open(stderr, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "zoo.cli.main", *command],
            stdout=out,
            stderr=err,
            cwd=folder,
            env={**os.environ, "ZOO_DATA_DIR": str(data_dir)},
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            states = list(folder.glob(f"runs/cnn-mnist/2*/{runs.CHECKPOINT_STATE}"))
            if states and json.loads(states[0].read_text())["epoch"] >= 1:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        returncode = proc.wait(timeout=120)
    (run,) = folder.glob("runs/cnn-mnist/2*")
    return {
        "folder": folder,
        "run": run.relative_to(folder),
        "data_dir": data_dir,
        "returncode": returncode,
        "stdout": stdout.read_text(),
        "stderr": stderr.read_text(),
    }


def test_ctrl_c_keeps_the_run_and_prints_the_line_that_resumes_it(interrupted):
    run, data_dir = interrupted["run"], interrupted["data_dir"]
    assert interrupted["returncode"] == 130, interrupted["stderr"]
    assert interrupted["stdout"].splitlines()[0] == f"run: {run}"  # named before the first epoch
    assert "Traceback" not in interrupted["stderr"]
    kept = interrupted["folder"] / run
    done = runs.read_checkpoint_state(kept / runs.CHECKPOINT)["epoch"]
    assert 1 <= done < 3 and not (kept / runs.MODEL).exists()
    assert interrupted["stderr"].splitlines()[-2:] == [
        f"Interrupted: the run is kept in {run} ({done} of 3 epochs done).",
        f"Resume it with: zoo train --resume {run} --data-dir {data_dir}",
    ]
    assert_run_files_whole(kept)


def test_resume_of_a_model_id_continues_its_interrupted_run_not_the_pretrained_one(
    interrupted, tmp_path, zoo_cli
):
    folder = shutil.copytree(interrupted["folder"], tmp_path / "copy")
    data_dir = str(interrupted["data_dir"])
    resumed = zoo_cli("train", "--resume", "cnn-mnist", env={"ZOO_DATA_DIR": data_dir}, cwd=folder)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.splitlines()[0] == f"run: {interrupted['run']}"
    assert runs.read_json(folder / interrupted["run"] / runs.METRICS)["epochs"] == 3
    with pytest.raises(RunError, match=r"no unfinished cnn-mnist run .*: nothing to resume"):
        train(resume="cnn-mnist", runs_dir=folder / "runs", data_dir=data_dir)


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
