"""Export: real SavedModels and ONNX files of every model, loaded back, checked, and laid out for servers."""

import dataclasses
import json
import stat
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import onnxruntime
import pytest
import tensorflow as tf
from helpers import assert_one_line_error, fake_run

import zoo
from zoo import data, publish, runs
from zoo.export import ExportError, ParityError, export_run, format_table
from zoo.export.onnx import run_onnx, write_onnx
from zoo.export.parity import expected_outputs, measure, parity_inputs, require
from zoo.export.savedmodel import run_savedmodel, write_savedmodel
from zoo.export.serving import serving_function, signature
from zoo.registry import InputSpec
from zoo.train import train

SAMPLES = 16
SAVED_MODEL_CLI = Path(sys.executable).parent / "saved_model_cli"
CLASSIFIER_OUTPUTS = {"probabilities", "classes"}


@pytest.fixture(scope="module")
def export_once(tmp_path_factory):
    """export_once(name) -> ExportResult of a fresh model in both formats, exported once per
    module."""
    root = tmp_path_factory.mktemp("exports")
    cache = {}

    def export(name):
        if name not in cache:
            run = fake_run(root / "runs", name)
            cache[name] = export_run(run, model_dir=root / "models", samples=SAMPLES)
        return cache[name]

    return export


def leftovers(model_dir: Path) -> list[Path]:
    """Temporary and displaced version folders an export must never leave behind."""
    return [p for p in model_dir.rglob(".*") if p.is_dir()] if model_dir.exists() else []


def expected_signature(spec) -> dict[str, tuple[tf.DType, tuple]]:
    """Output name -> (dtype, shape with None for the batch) that clients are promised."""
    if spec.task == "regression":
        return {"predictions": (tf.float32, (None, 1))}
    if spec.task == "generative":
        return {"images": (tf.float32, (None, 28, 28, 1))}
    classes = len(spec.labels) if spec.task == "multiclass" else 2
    return {"probabilities": (tf.float32, (None, classes)), "classes": (tf.int64, (None,))}


@pytest.mark.parametrize("name", zoo.list_models())
def test_every_model_exports_to_both_formats_and_matches_keras(name, export_once):
    spec = zoo.get_spec(name)
    result = export_once(name)
    assert result.version_dir.name == "1" and result.model == name
    assert [r.format for r in result.parity] == ["savedmodel", "onnx"]
    for check in result.parity:
        assert check.samples == len(parity_inputs(spec, SAMPLES)) and check.max_abs_diff <= 1e-4
        has_classes = spec.task not in ("regression", "generative")
        assert check.argmax_agreement == (1.0 if has_classes else None)

    # The SavedModel's serving signature, as TF Serving reads it.
    loaded = tf.saved_model.load(str(result.version_dir))
    serve = loaded.signatures["serving_default"]
    _, inputs = serve.structured_input_signature
    assert list(inputs) == [spec.input.name]
    assert inputs[spec.input.name].dtype == tf.float32
    assert tuple(inputs[spec.input.name].shape) == (None, *spec.input.shape)
    promised = expected_signature(spec)
    outputs = serve.structured_outputs
    assert {k: (v.dtype, tuple(v.shape)) for k, v in outputs.items()} == promised

    # The ONNX model's names, types and dynamic batch, as ONNX Runtime reads them.
    session = onnxruntime.InferenceSession(str(result.files["onnx"]))
    (onnx_input,) = session.get_inputs()
    assert onnx_input.name == spec.input.name and onnx_input.type == "tensor(float)"
    assert onnx_input.shape == ["batch", *spec.input.shape]
    onnx_types = {"float32": "tensor(float)", "int64": "tensor(int64)"}
    assert {o.name: (o.type, o.shape[0]) for o in session.get_outputs()} == {
        k: (onnx_types[dtype.name], "batch") for k, (dtype, _) in promised.items()
    }

    raw = np.resize(parity_inputs(spec, 5), (5, *spec.input.shape))  # slide tables have 3+ rows
    for batch in (1, 5):
        feed = {spec.input.name: raw[:batch]}
        from_tf, from_onnx = (
            serve(**feed),
            dict(zip(promised, session.run(list(promised), feed), strict=True)),
        )
        for key, (_, shape) in promised.items():
            assert from_tf[key].shape == (batch, *shape[1:]) == from_onnx[key].shape

    described = json.loads((result.version_dir / "zoo.json").read_text())
    assert described["model"] == name and described["task"] == spec.task
    assert described["inputs"] == [
        {"name": spec.input.name, "dtype": "float32", "shape": [-1, *spec.input.shape]}
    ]
    assert described["labels"] == (list(spec.labels) if spec.labels else None)
    assert [r["format"] for r in described["parity"]["results"]] == ["savedmodel", "onnx"]
    assert {"tensorflow", "keras", "tf2onnx", "onnxruntime", "onnx"} <= set(described["versions"])


def test_saved_model_cli_shows_a_predict_signature(export_once):
    result = export_once("cnn-mnist")
    shown = subprocess.run(
        [str(SAVED_MODEL_CLI), "show", "--dir", str(result.version_dir), "--all"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert shown.returncode == 0, shown.stderr
    serving = shown.stdout.split("signature_def['serving_default']:")[1]
    assert "Method name is: tensorflow/serving/predict" in serving
    assert "inputs['images'] tensor_info:" in serving and "shape: (-1, 28, 28, 1)" in serving
    assert "outputs['probabilities']" in serving and "outputs['classes']" in serving


def test_the_repository_has_the_layout_both_servers_expect(export_once):
    result = export_once("cnn-mnist")
    version = result.version_dir
    assert (version / "saved_model.pb").is_file() and (version / "variables").is_dir()
    assert (version / "model.onnx").is_file()
    # Readable by a server running as another user, as a plain mkdir or open would have made them.
    assert stat.S_IMODE(version.stat().st_mode) == runs.umask_mode(0o777)
    for written in (version / "zoo.json", result.config, version.parent / "labels.txt"):
        assert stat.S_IMODE(written.stat().st_mode) == runs.umask_mode(0o666)
    labels = [str(d) for d in range(10)]
    assert (version / "assets.extra" / "labels.txt").read_text().splitlines() == labels
    assert (version.parent / "labels.txt").read_text().splitlines() == labels
    assert (
        json.loads((version / "zoo.json").read_text())["labels_file"] == "assets.extra/labels.txt"
    )

    config = result.config.read_text()
    assert result.config == version.parent / "config.pbtxt"
    assert 'name: "cnn-mnist"' in config and 'platform: "onnxruntime_onnx"' in config
    assert "max_batch_size: 256" in config
    assert 'name: "images"\n    data_type: TYPE_FP32\n    dims: [ 28, 28, 1 ]' in config
    probabilities = config.split('name: "probabilities"')[1].split("}")[0]
    assert "TYPE_FP32" in probabilities and "dims: [ 10 ]" in probabilities
    assert 'label_filename: "labels.txt"' in probabilities
    classes = config.split('name: "classes"')[1]
    assert (
        "TYPE_INT64" in classes
        and "dims: [ 1 ]" in classes
        and "reshape: { shape: [ ] }" in classes
    )


def test_images_go_in_as_raw_pixels(export_once):
    """The /255 lives in the graph: raw pixels in, the same answer as Keras on scaled pixels."""
    result = export_once("mlp-mnist")
    spec = zoo.get_spec("mlp-mnist")
    raw = parity_inputs(spec, 4)
    assert raw.max() > 1
    model = keras.saving.load_model(result.run_dir / runs.MODEL)
    keras_probabilities = np.asarray(model(raw / 255, training=False))
    served = run_onnx(result.version_dir, {"images": raw})
    np.testing.assert_allclose(served["probabilities"], keras_probabilities, atol=1e-5)


def test_parity_catches_an_artefact_of_another_model(export_once):
    spec = zoo.get_spec("mlp-mnist")
    result = export_once("mlp-mnist")
    keras.utils.set_random_seed(1)
    other = zoo.create_model("mlp-mnist")  # same architecture, other weights
    raw = parity_inputs(spec, SAMPLES)
    feed = {"images": raw}
    expected = expected_outputs(spec, other, raw)
    checks = [
        measure("savedmodel", run_savedmodel(result.version_dir, feed), expected),
        measure("onnx", run_onnx(result.version_dir, feed), expected),
    ]
    assert all(c.max_abs_diff > 1e-3 and c.argmax_agreement < 1 for c in checks)
    with pytest.raises(ParityError, match=r"parity check failed.*savedmodel.*onnx"):
        require(checks)
    table = format_table(checks).splitlines()
    assert table[0].split() == ["format", "max", "abs", "diff", "argmax", "agreement"]
    assert table[2].startswith("onnx")


def test_a_failed_parity_check_leaves_nothing_behind(tmp_path):
    run = fake_run(tmp_path / "runs", "cnn-cifar10")
    models = tmp_path / "models"
    # ONNX Runtime's kernels sum in another order than TensorFlow's: never bit-identical.
    with pytest.raises(ParityError, match="onnx: max abs diff"):
        export_run(run, model_dir=models, samples=SAMPLES, tolerance=0.0)
    assert not models.exists()

    (models / "cnn-cifar10" / "1").mkdir(parents=True)
    with pytest.raises(ParityError):
        export_run(run, model_dir=models, samples=SAMPLES, tolerance=0.0)
    assert sorted(p.name for p in (models / "cnn-cifar10").iterdir()) == ["1"]


def test_a_generator_takes_z_and_returns_images(tmp_path):
    """No generator is registered yet; its spec's task alone decides the serving function."""
    spec = dataclasses.replace(
        zoo.get_spec("linear-regression"), task="generative", input=InputSpec("z", (8,))
    )
    keras.utils.set_random_seed(0)
    generator = keras.Sequential(
        [keras.layers.Dense(12, activation="tanh"), keras.layers.Reshape((2, 2, 3))]
    )
    generator(np.zeros((1, 8), np.float32))
    serve = serving_function(spec, generator)
    contract = signature(spec, serve)
    assert contract.input.name == "z" and contract.input.shape == (-1, 8)
    assert [(t.name, t.shape) for t in contract.outputs] == [("images", (-1, 2, 2, 3))]
    write_savedmodel(generator, serve, tmp_path)
    write_onnx(serve, contract, tmp_path, opset=18)
    z = parity_inputs(spec, SAMPLES)
    expected = expected_outputs(spec, generator, z)
    checks = [
        measure("savedmodel", run_savedmodel(tmp_path, {"z": z}), expected),
        measure("onnx", run_onnx(tmp_path, {"z": z}), expected),
    ]
    require(checks)
    assert all(c.argmax_agreement is None for c in checks)


def test_options_no_export_can_use_are_errors(tmp_path):
    run = fake_run(tmp_path / "runs", "xor-mlp")
    for options, fragment in [
        ({"formats": ("tflite",)}, "formats must be among"),
        ({"opset": 99}, "opset must be between"),
        ({"name": "../escape"}, "invalid model name"),
    ]:
        with pytest.raises(ExportError, match=fragment):
            export_run(run, model_dir=tmp_path / "models", **options)
    assert not (tmp_path / "models").exists()


def test_versions_count_up_and_an_existing_one_needs_force(zoo_cli, tmp_path):
    run = fake_run(tmp_path / "runs", "softmax-classification")
    models = tmp_path / "models"
    repository = models / "softmax-classification"
    args = ["export", str(run), "--model-dir", str(models), "--samples", "8"]

    first = zoo_cli(*args)
    assert first.returncode == 0, first.stderr
    assert f"run: {run}" in first.stdout and "version 1" in first.stdout
    assert first.stdout.splitlines()[1].split()[:3] == ["format", "max", "abs"]
    second = zoo_cli(*args, "--format", "savedmodel")
    assert second.returncode == 0, second.stderr
    assert sorted(p.name for p in repository.iterdir() if p.is_dir()) == ["1", "2"]
    assert not (repository / "2" / "model.onnx").exists()
    assert 'platform: "tensorflow_savedmodel"' in (repository / "config.pbtxt").read_text()

    stamp = (repository / "1" / "zoo.json").read_text()
    again = zoo_cli(*args, "--version", "1")
    assert_one_line_error(again, "already exists", "--force")
    assert (repository / "1" / "zoo.json").read_text() == stamp

    forced = zoo_cli(*args, "--version", "1", "--force", "--format", "onnx")
    assert forced.returncode == 0, forced.stderr
    assert (repository / "1" / "model.onnx").is_file()
    assert not (repository / "1" / "saved_model.pb").exists()
    assert leftovers(models) == []


def test_no_run_named_exports_the_newest_finished_run(zoo_cli, tmp_path):
    runs_dir = tmp_path / "runs"
    fake_run(runs_dir, "perceptron-and", "20250101-000000")
    newest = fake_run(runs_dir, "perceptron-or", "20250102-000000")
    unfinished = runs_dir / "xor-mlp" / "20250103-000000"
    unfinished.mkdir(parents=True)
    runs.write_json(unfinished / runs.CONFIG, {"model": "xor-mlp"})
    publish.pretrained_run("perceptron-and", runs_dir)  # made last, but not a run trained here

    models = tmp_path / "models"
    result = zoo_cli(
        "export", "--format", "onnx", "--runs-dir", str(runs_dir), "--model-dir", str(models)
    )
    assert result.returncode == 0, result.stderr
    assert f"exported the newest finished run, {newest}" in result.stdout
    assert sorted(p.name for p in (models / "perceptron-or" / "1").iterdir()) == [
        "assets.extra",
        "model.onnx",
        "zoo.json",
    ]
    assert [p.name for p in models.iterdir()] == ["perceptron-or"]


@pytest.mark.parametrize(
    "case", ["unknown run", "unfinished run", "model dir is a file", "name is a file"]
)
def test_export_errors_are_one_line_and_leave_nothing_behind(case, zoo_cli, tmp_path):
    runs_dir, models = tmp_path / "runs", tmp_path / "models"
    run = fake_run(runs_dir, "xor-mlp")
    expected = {
        "unknown run": ("unknown model 'resnet-9000'",),
        "unfinished run": ("has no model.keras",),
        "model dir is a file": ("models",),
        "name is a file": ("cannot write to the model directory", "xor-mlp"),
    }[case]
    ref = "resnet-9000" if case == "unknown run" else str(run)
    if case == "unfinished run":
        (run / runs.MODEL).unlink()
    if case == "model dir is a file":
        models.write_text("not a folder")
    if case == "name is a file":
        models.mkdir()
        (models / "xor-mlp").write_text("not a folder")
    before = sorted(tmp_path.rglob("*"))

    result = zoo_cli("export", ref, "--runs-dir", str(runs_dir), "--model-dir", str(models))
    assert_one_line_error(result, *expected)
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.parametrize("name, method", [("cnn-mnist", "static"), ("mlp-mnist", "dynamic")])
def test_int8_model_is_smaller_and_keeps_the_accuracy(name, method, tmp_path):
    # A short real training run: an untrained model's accuracy would not show what int8 costs.
    # 4,000 images: after one epoch of 2,000 cnn-mnist can still be near chance (0.23 seen).
    run = train(name, epochs=1, limit=4000, runs_dir=tmp_path / "runs", verbose=0).run_dir
    result = export_run(run, model_dir=tmp_path / "models", samples=SAMPLES, quantize="int8")
    quantized = result.quantized
    assert quantized.method == method and quantized.metric == "accuracy"
    assert (result.version_dir / "model.int8.onnx").stat().st_size == quantized.int8_bytes
    assert quantized.int8_bytes < quantized.float_bytes / 2
    assert quantized.test_examples == len(data.load(zoo.get_spec(name).dataset, "test")[0])
    assert quantized.float_value > 0.5  # well above chance (0.1): int8 has something to keep
    assert abs(quantized.int8_value - quantized.float_value) < 0.02
    session = onnxruntime.InferenceSession(str(result.version_dir / "model.int8.onnx"))
    assert {o.name for o in session.get_outputs()} == CLASSIFIER_OUTPUTS
    described = json.loads((result.version_dir / "zoo.json").read_text())
    assert described["quantized"] == quantized.to_json()


def test_quantize_needs_the_onnx_format(tmp_path):
    run = fake_run(tmp_path / "runs", "xor-mlp")
    with pytest.raises(ExportError, match="export the onnx format too"):
        export_run(run, model_dir=tmp_path / "models", formats=("savedmodel",), quantize="int8")
    assert not (tmp_path / "models").exists()
