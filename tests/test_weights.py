"""Pretrained weights: every file in weights/ is the one its manifest measured, loads into the
registry's architecture, and reproduces the manifest's test figures on the real test split."""

import shutil

import numpy as np
import pytest
from conftest import run_zoo
from helpers import assert_one_line_error

import zoo
from zoo import weights
from zoo.evaluate import evaluate

PUBLISHED = sorted(weights.manifest())


def test_weights_are_small_and_published_for_the_tables():
    assert {"linear-regression", "softmax-classification", "xor-mlp", "diabetes"} <= set(PUBLISHED)
    sizes = [(weights.weights_dir() / weights.entry(n)["file"]).stat().st_size for n in PUBLISHED]
    assert sum(sizes) < 8 * 2**20  # the whole set stays a few MB


@pytest.mark.parametrize("name", PUBLISHED)
def test_pretrained_weights_reproduce_the_manifests_test_figures(name, tmp_path):
    run = weights.pretrained_run(name, tmp_path)
    measured = evaluate(run, runs_dir=tmp_path).metrics
    published = weights.entry(name)["test"]
    for key, value in published.items():
        assert measured[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    assert weights.pretrained_run(name, tmp_path) == run  # reused, not built again


def test_a_damaged_weights_file_is_refused_by_name(tmp_path, monkeypatch):
    damaged = tmp_path / "weights"
    shutil.copytree(weights.weights_dir(), damaged)
    path = damaged / weights.entry("xor-mlp")["file"]
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    monkeypatch.setenv("ZOO_WEIGHTS_DIR", str(damaged))
    with pytest.raises(weights.WeightsError, match=r"xor-mlp\.weights\.h5: sha256 .* damaged"):
        zoo.create_model("xor-mlp", pretrained=True)
    path.unlink()
    with pytest.raises(weights.WeightsError, match="is missing"):
        zoo.create_model("xor-mlp", pretrained=True)


def test_a_model_without_weights_names_those_that_have_them(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(weights.WeightsError, match="models with weights: none"):
        zoo.create_model("cnn-mnist", pretrained=True)


def test_pretrained_xor_solves_xor():
    model = zoo.create_model("xor-mlp", pretrained=True)
    table = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    np.testing.assert_array_equal((model.predict(table, verbose=0) > 0.5).reshape(-1), [0, 1, 1, 0])


def test_zoo_export_and_evaluate_pretrained_need_no_training(tmp_path):
    options = ("--runs-dir", str(tmp_path / "runs"))
    exported = run_zoo(
        "export", "--pretrained", "softmax-classification", *options,
        "--model-dir", str(tmp_path / "models"),
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "models" / "softmax-classification" / "1" / "model.onnx").is_file()
    evaluated = run_zoo("evaluate", "--pretrained", "xor-mlp", *options)
    assert evaluated.returncode == 0, evaluated.stderr
    accuracy = weights.entry("xor-mlp")["test"]["accuracy"]
    assert f"accuracy {accuracy:.4f}" in evaluated.stdout.splitlines()[1]
    assert f"weights/manifest.json: accuracy {accuracy:.4f}" in evaluated.stdout
    missing = run_zoo("export", "--pretrained", "gan-mnist", *options)
    assert_one_line_error(missing, "no pretrained weights for gan-mnist", "cnn-mnist")
    assert not (tmp_path / "runs" / "gan-mnist").exists()
