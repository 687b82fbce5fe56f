"""Multi-worker training on tf.distribute: two `zoo train` worker processes on 127.0.0.1, as two
pods of a TFJob would run, each given the cluster by --workers and --worker-index."""

import json
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import ZOO, assert_one_line_error, free_port

from zoo import runs
from zoo.train import read_history, train

RECIPE = {"limit": 2000, "epochs": 2, "seed": 3}  # the single worker's run to match
MODEL = "cnn-mnist"
OPTIONS = [f"--{k}={v}" for k, v in RECIPE.items()]


def start_workers(runs_dir: Path, *args: str) -> list[subprocess.Popen]:
    """Two workers of one cluster on free loopback ports, both running `zoo train ARGS`."""
    cluster = ",".join(f"127.0.0.1:{free_port()}" for _ in range(2))
    return [
        subprocess.Popen(
            [
                *(str(ZOO), "train", *args, "--runs-dir", str(runs_dir)),
                *("--strategy", "multi-worker", "--workers", cluster, "--worker-index", str(i)),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]


def finish(workers: list[subprocess.Popen]) -> list[str]:
    outputs = [worker.communicate(timeout=300)[0] for worker in workers]
    for worker, output in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, output
    return outputs


def leftovers() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("zoo-worker-*")}


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """The same recipe on one worker: the run two workers must match."""
    return train(MODEL, **RECIPE, runs_dir=tmp_path_factory.mktemp("one"), verbose=0)


def assert_matches(run: Path, single) -> None:
    """Two workers with the recipe's global batch follow one worker's trajectory: the same
    history and weights up to float rounding (the all-reduce sums in another order)."""
    metrics = json.loads((run / runs.METRICS).read_text())
    for split in ("train", "validation"):
        for name, value in single.metrics[split].items():
            assert metrics[split][name] == pytest.approx(value, abs=0.01), (split, name)
    ours = keras.saving.load_model(run / runs.MODEL).weights
    theirs = keras.saving.load_model(single.run_dir / runs.MODEL).weights
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-3)


def test_two_workers_train_one_run_as_one_worker_would(tmp_path, single):
    before = leftovers()
    chief, other = finish(start_workers(tmp_path / "runs", MODEL, *OPTIONS))
    assert "Epoch 2/2" in chief and "Epoch 2/2" in other  # both trained every epoch
    assert "worker 1 of 2: done; worker 0 wrote the run" in other
    (run,) = (tmp_path / "runs" / MODEL).iterdir()  # one run, the chief's
    config = json.loads((run / runs.CONFIG).read_text())
    assert config["strategy"] == {"name": "multi-worker", "workers": 2, "replicas": 2}
    names = {runs.CONFIG, runs.HISTORY, runs.CHECKPOINT, runs.CHECKPOINT_STATE, runs.MODEL}
    assert names | {runs.METRICS, runs.CURVES} <= {p.name for p in run.iterdir()}
    assert not [p for p in run.rglob(".*")]  # no temporary file of an unfinished write
    assert len(read_history(run / runs.HISTORY)["loss"]) == RECIPE["epochs"]
    assert leftovers() == before  # worker 1's scratch folder is gone
    assert_matches(run, single)


def test_a_killed_cluster_resumes_under_the_strategy(tmp_path, single):
    workers = start_workers(tmp_path / "runs", MODEL, *OPTIONS)
    deadline = time.monotonic() + 300
    while not list((tmp_path / "runs").glob(f"*/*/{runs.CHECKPOINT_STATE}")):
        assert time.monotonic() < deadline and workers[0].poll() is None, "no checkpoint"
        time.sleep(0.05)
    for worker in workers:  # both pods lost in the second epoch
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    (run,) = (tmp_path / "runs" / MODEL).iterdir()
    assert not (run / runs.MODEL).exists()

    chief, _ = finish(start_workers(tmp_path / "runs", "--resume", str(run)))
    assert "Epoch 2/2" in chief and "Epoch 1/2" not in chief
    assert_matches(run, single)


def test_bad_cluster_options_are_one_line(tmp_path):
    cases = [
        ([MODEL, "--workers", "127.0.0.1:1"], "go together"),
        (
            [MODEL, "--strategy", "multi-worker", "--workers", "x", "--worker-index", "0"],
            "host:port",
        ),
        (
            [MODEL, "--strategy", "multi-worker", "--workers", "a:1,b:2", "--worker-index", "2"],
            "0 to 1",
        ),
        ([MODEL, "--workers", "a:1,b:2", "--worker-index", "0"], "--strategy multi-worker"),
        ([MODEL, "--strategy", "multi-worker"], "needs TF_CONFIG"),
        (["gan-mnist-simple", "--strategy", "mirrored"], "runs on one device"),
    ]
    for options, fragment in cases:
        result = subprocess.run(
            [str(ZOO), "train", "--runs-dir", str(tmp_path), *options],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert_one_line_error(result, fragment)
    assert not list(tmp_path.iterdir())


def test_mirrored_trains_on_this_machine_s_one_replica(tmp_path, single):
    """MirroredStrategy takes every local GPU; on this CPU-only machine that is one replica, and
    the run is one worker's to the float (the same ops, in a strategy's scope)."""
    result = train(MODEL, **RECIPE, runs_dir=tmp_path, verbose=0, strategy="mirrored")
    config = json.loads((result.run_dir / runs.CONFIG).read_text())
    assert config["strategy"] == {"name": "mirrored", "workers": 1, "replicas": 1}
    single_config = json.loads((single.run_dir / runs.CONFIG).read_text())
    assert single_config["strategy"] == {"name": "default", "workers": 1, "replicas": 1}
    assert_matches(result.run_dir, single)
