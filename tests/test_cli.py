"""The `zoo` command as a user runs it: real processes, real files, one-line errors with exit code 2."""

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import assert_one_line_error

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def zoo_in_process(*args: str) -> subprocess.CompletedProcess:
    """`zoo ARGS` in this process (click's runner): the same exit code and streams as the command,
    without a fresh TensorFlow import, for the many cases that stop before any work."""
    from click.testing import CliRunner

    from zoo.cli.main import cli

    result = CliRunner().invoke(cli, args)
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def empty_data(tmp_path):
    """An environment with no data anywhere and no download."""
    (tmp_path / "data").mkdir()
    (tmp_path / "keras").mkdir()
    return {
        "ZOO_DATA_DIR": str(tmp_path / "data"),
        "KERAS_HOME": str(tmp_path / "keras"),
        "ZOO_OFFLINE": "1",
    }


def test_list_prints_every_model_with_its_parameters(zoo_cli, tmp_path):
    result = zoo_cli("list", "--runs-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
    assert rows["cnn-mnist"][1:4] == ["multiclass", "mnist", "50,186"]
    assert rows["mlp-mnist"][3] == "335,114"
    assert "97.74%" in " ".join(rows["cnn-mnist"])
    assert len(rows) >= 18
    assert result.stdout.split()[:6] == ["id", "task", "dataset", "params", "slide", "ours"]
    assert rows["perceptron-and"][4] == "0,0,0,1"  # the slide's answers where it has no figure
    assert "[1, 11, 7, 9] → B" in " ".join(rows["softmax-classification"])


@pytest.mark.parametrize(
    ("pattern", "fragments"),
    [("nope*", ["no model matches 'nope*'"]), ("cnn-mnsit", ["did you mean", "'cnn-mnist'"])],
)
def test_list_of_a_pattern_that_matches_nothing_is_an_error(pattern, fragments):
    assert_one_line_error(zoo_in_process("list", pattern), *fragments)


def test_train_prints_the_slide_check_and_evaluate_reads_the_run(zoo_cli, tmp_path):
    trained = zoo_cli("train", "softmax-classification", "--runs-dir", str(tmp_path))
    assert trained.returncode == 0, trained.stderr
    assert "softmax-classification([1, 11, 7, 9]) = B" in trained.stdout
    assert "Epoch 20/20" in trained.stdout  # Keras's progress output
    evaluated = zoo_cli("evaluate", "softmax-classification", "--runs-dir", str(tmp_path))
    assert evaluated.returncode == 0, evaluated.stderr
    assert "accuracy 1.0000" in evaluated.stdout and "confusion matrix:" in evaluated.stdout
    listed = zoo_cli("list", "softmax-*", "--runs-dir", str(tmp_path))
    assert "accuracy 100.00%" in listed.stdout


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["train"], "name a MODEL"),
        (["train", "cnn-mnist", "--epochs", "0"], "--epochs"),
        (["train", "cnn-mnist", "--batch-size", "-3"], "--batch-size"),
        (["train", "cnn-mnist", "--learning-rate", "0"], "--learning-rate"),
        (["train", "cnn-mnist", "--learning-rate", "fast"], "--learning-rate"),
        (["train", "cnn-mnist", "--optimizer", "adamax2"], "--optimizer"),
        (["train", "cnn-mnist", "--limit", "0"], "--limit"),
        (["train", "cnn-mnist", "--seed", "x"], "--seed"),
        (["evaluate", "cnn-mnist/no-such-run"], "no run"),
        (["fly"], "No such command"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(zoo_cli, tmp_path, args, fragment):
    result = zoo_cli(*args, "--runs-dir", str(tmp_path)) if args[0] != "fly" else zoo_cli(*args)
    assert_one_line_error(result, fragment)
    assert not any(tmp_path.iterdir()), "nothing is written for bad input"


@pytest.mark.parametrize(
    "args",
    [
        ["train", "cnn-mnsit"],
        ["evaluate", "cnn-mnsit"],
        ["export", "cnn-mnsit"],
        ["generate", "cnn-mnsit"],
        ["evaluate", "--pretrained", "cnn-mnsit"],
    ],
)
def test_an_unknown_model_is_refused_with_the_nearest_ids_before_tensorflow_loads(args, tmp_path):
    code = "import sys\nfrom zoo.cli.main import cli\ntry: cli()\nfinally: print('tensorflow' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code, *args, "--runs-dir", str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert_one_line_error(result, "unknown model 'cnn-mnsit'; did you mean", "'cnn-mnist'")
    assert result.stdout == "False\n", "TensorFlow was imported before the refusal"
    assert not any(tmp_path.iterdir()), "nothing is written for bad input"


@pytest.mark.parametrize(
    "args",
    [
        ["export", "/nonexistent", "--model-dir", "{tmp}/models"],
        ["evaluate", "/tmp"],
        ["generate", "/nonexistent", "--out", "{tmp}/grid.png"],
        ["train", "--resume", "/nonexistent"],
    ],
)
def test_an_absolute_path_that_is_no_run_is_one_line(tmp_path, args):
    args = [a.format(tmp=tmp_path) for a in args]
    result = zoo_in_process(*args, "--runs-dir", str(tmp_path / "runs"))
    assert_one_line_error(result, f"no run {args[1 if args[0] != 'train' else 2]!r}")
    assert not any(tmp_path.iterdir()), "nothing is written for bad input"


def test_serve_names_a_missing_model_folder_and_unknown_models(tmp_path):
    missing = zoo_in_process("serve", "--model-dir", str(tmp_path / "nonexistent"))
    assert_one_line_error(missing, f"{tmp_path / 'nonexistent'} does not exist")
    for name in ("cnn-mnist", "gan-mnist"):
        (tmp_path / "models" / name / "1").mkdir(parents=True)
    unknown = zoo_in_process(
        "serve", "--model-dir", str(tmp_path / "models"), "--models", "nope,cnn-mnist,nada"
    )
    assert_one_line_error(unknown, "no nope, nada in ", "it holds cnn-mnist, gan-mnist")


def test_missing_data_says_which_file_to_put_where(zoo_cli, tmp_path, empty_data):
    result = zoo_cli("train", "cnn-mnist", "--runs-dir", str(tmp_path / "runs"), env=empty_data)
    assert_one_line_error(
        result, "train-images-idx3-ubyte.gz", str(Path(empty_data["ZOO_DATA_DIR"]) / "mnist-idx")
    )
    assert not (tmp_path / "runs").exists()


def test_an_empty_data_dir_is_refused_not_replaced_by_zoo_data_dir(zoo_cli, tmp_path):
    (tmp_path / "emptydata").mkdir()
    args = ("--data-dir", "emptydata", "--runs-dir", "runs", "--limit", "64", "--epochs", "1")
    result = zoo_cli("train", "cnn-mnist", *args, cwd=tmp_path, env={"ZOO_DATA_DIR": str(SHARED)})
    assert_one_line_error(result, "train-images-idx3-ubyte.gz", "emptydata/mnist-idx/")
    assert not (tmp_path / "runs").exists()


def test_truncated_data_file_is_reported_not_trained_on(zoo_cli, tmp_path, empty_data):
    mnist = Path(empty_data["ZOO_DATA_DIR"]) / "mnist-idx"
    shutil.copytree(SHARED / "mnist-idx", mnist)
    (mnist / "train-images-idx3-ubyte.gz").write_bytes(
        (SHARED / "mnist-idx" / "train-images-idx3-ubyte.gz").read_bytes()[:50_000]
    )
    result = zoo_cli("train", "cnn-mnist", "--runs-dir", str(tmp_path / "runs"), env=empty_data)
    assert_one_line_error(result, "train-images-idx3-ubyte.gz")
    assert not (tmp_path / "runs").exists()


def test_corrupt_csv_is_reported(zoo_cli, tmp_path, empty_data):
    (Path(empty_data["ZOO_DATA_DIR"]) / "data-diabetes.csv").write_text("1,2,3\n4,5,6\n")
    result = zoo_cli("train", "diabetes", "--runs-dir", str(tmp_path / "runs"), env=empty_data)
    assert_one_line_error(result, "data-diabetes.csv")


def test_idx_with_wrong_magic_is_reported(zoo_cli, tmp_path, empty_data):
    mnist = Path(empty_data["ZOO_DATA_DIR"]) / "mnist-idx"
    shutil.copytree(SHARED / "mnist-idx", mnist)
    with gzip.open(mnist / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x03" + bytes(100))
    result = zoo_cli("train", "mlp-mnist", "--runs-dir", str(tmp_path / "runs"), env=empty_data)
    assert_one_line_error(result, "train-labels-idx1-ubyte.gz")


def test_evaluate_of_an_unfinished_run_suggests_resume(zoo_cli, tmp_path):
    run = tmp_path / "cnn-mnist" / "20260101-000000"
    run.mkdir(parents=True)
    (run / "config.json").write_text('{"model": "cnn-mnist"}')
    (run / "checkpoint.keras").write_bytes(b"")
    result = zoo_cli("evaluate", str(run))
    assert_one_line_error(result, "did not finish", "--resume")


def test_resume_refuses_new_settings(zoo_cli, tmp_path):
    result = zoo_cli("train", "--resume", "somewhere", "--epochs", "3")
    assert_one_line_error(result, "--epochs")


def test_unwritable_runs_dir_is_one_line(zoo_cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = zoo_cli("train", "linear-regression", "--runs-dir", str(blocker / "runs"))
    assert_one_line_error(result)
