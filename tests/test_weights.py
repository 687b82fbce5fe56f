"""Pretrained weights: every file in weights/ is the one its manifest measured, loads into the
registry's architecture, and reproduces the manifest's test figures on the real test split."""

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import run_zoo
from helpers import assert_one_line_error

import zoo
from zoo import publish, runs, weights
from zoo.errors import RunError
from zoo.evaluate import evaluate
from zoo.train import train

PUBLISHED = sorted(weights.manifest())


def test_published_weights_belong_to_registered_models_and_stay_a_few_mb():
    # Weights are optional (as in timm): a model without them is simply not in this list.
    assert zoo.list_models(pretrained=True) == PUBLISHED
    sizes = [(weights.weights_dir() / weights.entry(n)["file"]).stat().st_size for n in PUBLISHED]
    assert sum(sizes) < 8 * 2**20


def stored_arrays(path: Path) -> list[np.dtype]:
    with h5py.File(path) as file:
        found = []
        file.visititems(
            lambda _, item: found.append(item.dtype) if hasattr(item, "dtype") else None
        )
        return found


@pytest.mark.parametrize("name", PUBLISHED)
def test_a_file_holds_the_stored_part_in_the_manifests_dtype(name):
    published = weights.entry(name)
    part = weights.stored_part(zoo.create_model(name), zoo.get_spec(name))  # a GAN: its generator
    arrays = stored_arrays(weights.weights_dir() / published["file"])
    assert len(arrays) == len(part.weights)
    assert set(arrays) == {np.dtype(published["dtype"])}
    assert published["dtype"] == (
        "float16" if part.count_params() >= publish.HALF_FROM else "float32"
    )


@pytest.mark.parametrize("name", PUBLISHED)
def test_pretrained_weights_reproduce_the_manifests_test_figures(name, tmp_path):
    run = publish.pretrained_run(name, tmp_path)
    evaluate(run, runs_dir=tmp_path)
    measured = runs.read_json(run / runs.METRICS)["test"]  # a GAN's: its whole quality table
    published = weights.entry(name)["test"]
    assert measured.keys() == published.keys()
    for key, value in published.items():
        if isinstance(value, str):  # the yardstick classifier's weights, by hash
            assert measured[key] == value
        else:
            assert measured[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    assert publish.pretrained_run(name, tmp_path) == run  # reused, not built again


def test_publish_measures_the_stored_file_and_keeps_the_runs_origin(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setattr(publish, "HALF_FROM", 1)  # softmax-classification's 15 as float16
    trained = train("softmax-classification", epochs=20, runs_dir=tmp_path / "runs", verbose=0)
    published = publish.publish(trained.run_dir, runs_dir=tmp_path / "runs")
    path = tmp_path / "weights" / published["file"]
    assert published["dtype"] == "float16" and set(stored_arrays(path)) == {np.dtype("float16")}
    assert published["run"]["id"] == trained.run_dir.name and published["run"]["epochs"] == 20
    assert sorted(p.name for p in path.parent.iterdir()) == ["manifest.json", path.name]
    # Measured on the file, in the very folder that `--pretrained` then uses.
    again = publish.pretrained_run("softmax-classification", tmp_path / "runs")
    assert runs.read_json(again / runs.METRICS)["test"] == published["test"]
    assert publish.publish(again, runs_dir=tmp_path / "runs")["run"] == published["run"]


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
    missing = rf"{tmp_path / weights.MANIFEST} \(ZOO_WEIGHTS_DIR\) does not exist"
    with pytest.raises(weights.WeightsError, match=missing):
        zoo.create_model("cnn-mnist", pretrained=True)
    clones = Path(__file__).resolve().parents[1] / "weights"
    only_xor = {"xor-mlp": weights.entry("xor-mlp", clones)}
    (tmp_path / weights.MANIFEST).write_text(json.dumps(only_xor))
    with pytest.raises(weights.WeightsError, match=r"\(models with weights: xor-mlp\)"):
        zoo.create_model("cnn-mnist", pretrained=True)


def test_the_weights_are_the_installed_packages_data(monkeypatch):
    """Without ZOO_WEIGHTS_DIR, the folder of zoo.pretrained: this clone's weights/."""
    monkeypatch.delenv("ZOO_WEIGHTS_DIR", raising=False)
    assert weights.weights_dir() == Path(__file__).resolve().parents[1] / "weights"
    assert "cnn-mnist" in weights.manifest()


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
    empty = {"ZOO_WEIGHTS_DIR": str(tmp_path / "no-weights")}
    missing = run_zoo("export", "--pretrained", "cnn-mnist", *options, env=empty)
    assert_one_line_error(
        missing, "no pretrained weights for cnn-mnist", "(ZOO_WEIGHTS_DIR) does not exist"
    )
    listed = run_zoo("list", "xor-mlp", env=empty)
    assert listed.returncode == 0 and listed.stdout.split()[-1] == "-", listed.stdout
    assert listed.stderr.startswith("note: no pretrained weights: "), listed.stderr
    assert not (tmp_path / "runs" / "cnn-mnist").exists()


def test_a_pretrained_run_never_passes_for_one_trained_here(tmp_path):
    """After `zoo export --pretrained` (whose run folder's name sorts after every run id) and a
    quick run: evaluate and export of the model id take the quick run, `zoo list`'s "ours" never
    shows the weights' figure, and a model with only pretrained weights is not a trained one."""
    runs_dir = tmp_path / "runs"
    pretrained = publish.pretrained_run("cnn-mnist", runs_dir)
    evaluate(pretrained, limit=500)  # its test figure, as `zoo evaluate --pretrained` records it
    with pytest.raises(RunError, match=r"only pretrained weights .*: add --pretrained"):
        evaluate("cnn-mnist", runs_dir=runs_dir)
    quick = train("cnn-mnist", limit=2000, epochs=1, runs_dir=runs_dir, verbose=0).run_dir
    options = ("--runs-dir", str(runs_dir))

    evaluated = run_zoo("evaluate", "cnn-mnist", "--limit", "500", *options)
    assert evaluated.returncode == 0, evaluated.stderr
    assert evaluated.stdout.splitlines()[0] == f"run: {quick}"
    assert "note: a short run" in evaluated.stdout
    models = tmp_path / "models"
    exported = run_zoo(
        "export", "cnn-mnist", "--format", "onnx", "--quantize", "int8", "--samples", "8",
        "--model-dir", str(models), *options,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    source = runs.read_json(models / "cnn-mnist" / "1" / "zoo.json")["source_run"]
    assert source["id"] == f"cnn-mnist/{quick.name}"
    listed = run_zoo("list", "cnn-mnist", *options)
    published = weights.entry("cnn-mnist")["test"]["accuracy"]
    # ours: none (the quick run is a --limit one); the weights' figure only in its own column
    assert listed.stdout.splitlines()[1].split()[6:] == ["-", "accuracy", f"{published:.2%}"]


def test_zoo_export_pretrained_refuses_a_missing_data_folder_before_writing(tmp_path):
    """The parity check's data is found first: a wrong $ZOO_DATA_DIR leaves no half-made run."""
    missing = run_zoo(
        "export", "--pretrained", "cnn-mnist", "--runs-dir", str(tmp_path / "runs"),
        "--model-dir", str(tmp_path / "models"),
        env={"ZOO_DATA_DIR": str(tmp_path / "no-data")},
    )  # fmt: skip
    assert_one_line_error(missing, f"ZOO_DATA_DIR={tmp_path / 'no-data'} is not a directory")
    assert list(tmp_path.iterdir()) == []
