"""Plugins: a user's own models, from a module named by ZOO_PLUGINS and from an installed
distribution's `zoo.models` entry point, are listed, trained, evaluated, exported, served and
answered by the real `zoo` commands; a broken or clashing plugin is one `Error:` line.

The distribution is installed with pip into a folder of this test's own (`--target`), put on the
commands' PYTHONPATH, never into the shared environment.
"""

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import keras
import pytest
from helpers import Server, assert_one_line_error, running

from zoo import catalogue, data, runs

REPO = Path(__file__).resolve().parents[1]
# The README's plugin ("Your own model"): a builder and its spec, on the zoo's diabetes table.
README_MODULE = re.compile(r"```python\n# my_models.py\n(.*?)```", re.DOTALL)
MODULE = README_MODULE.search((REPO / "README.md").read_text()).group(1)
PYPROJECT = """
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "tiny-zoo"
version = "0.1"

[project.entry-points."zoo.models"]
tiny = "tiny_zoo"
"""
SCRIPT_MODEL = "my-mlp"  # the README's module, named by ZOO_PLUGINS, registers it
INSTALLED_MODEL = "tiny-mlp"  # the installed distribution's, the same module but for its id


def write_module(folder: Path, name: str, model: str) -> Path:
    """The README's module as folder/name.py, registering `model`."""
    path = folder / f"{name}.py"
    path.write_text(MODULE.replace(f'"{SCRIPT_MODEL}"', f'"{model}"'))
    return path


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A folder with the script plugin, the distribution installed into site/, and the runs and
    the model repository its tests write."""
    root = tmp_path_factory.mktemp("plugins")
    source = root / "tiny-zoo"
    (source / "tiny_zoo").mkdir(parents=True)
    (source / "pyproject.toml").write_text(PYPROJECT)
    write_module(source / "tiny_zoo", "__init__", INSTALLED_MODEL)
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip, "--target", str(root / "site"), str(source)], check=True, cwd=root)
    write_module(root, "my_models", SCRIPT_MODEL)
    return root


def plugged(root: Path, plugins: str = "") -> dict[str, str]:
    """The environment of a `zoo` command that sees both plugins (or `plugins` instead of the
    script one): the distribution on its path, the script named by ZOO_PLUGINS."""
    return {
        "PYTHONPATH": str(root / "site"),
        "ZOO_PLUGINS": plugins or str(root / "my_models.py"),
    }


def test_plugin_models_are_listed_beside_the_zoos_with_where_they_come_from(zoo_cli, root):
    listed = zoo_cli("list", "--runs-dir", str(root / "runs"), env=plugged(root))
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line.split() for line in listed.stdout.splitlines()[1:]}
    assert listed.stdout.split()[7] == "plugin"
    # task, dataset, params (8*16+16 + 16+1), slide, ours, weights, plugin: no slide, no weights
    described = ["binary", "diabetes", "161", "-", "-", "-"]
    assert rows[SCRIPT_MODEL][1:] == [*described, str(root / "my_models.py")]
    assert rows[INSTALLED_MODEL][1:] == [*described, "tiny"]
    assert rows["cnn-mnist"][-1] == "-"
    # The zoo's own table is untouched: plugins are read live, never cached into it.
    assert {e.name for e in catalogue.entries()} & {SCRIPT_MODEL, INSTALLED_MODEL} == set()


def test_plugin_models_train_evaluate_export_and_are_served_and_answered(zoo_cli, root):
    env, runs_dir = plugged(root), str(root / "runs")
    for model in (SCRIPT_MODEL, INSTALLED_MODEL):
        trained = zoo_cli("train", model, "--epochs", "1", "--runs-dir", runs_dir, env=env)
        assert trained.returncode == 0, trained.stderr
        exported = zoo_cli(
            "export", model, "--runs-dir", runs_dir, "--model-dir", str(root / "models"),
            "--samples", "8", env=env,
        )  # fmt: skip
        assert exported.returncode == 0, exported.stderr
        assert f"exported {model} version 1" in exported.stdout
    evaluated = zoo_cli("evaluate", SCRIPT_MODEL, "--runs-dir", runs_dir, env=env)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "test (151 examples): accuracy" in evaluated.stdout
    run = runs.list_runs(root / "runs", SCRIPT_MODEL)[-1]
    assert runs.read_json(run / runs.CONFIG)["spec"]["plugin"] == str(root / "my_models.py")

    features = data.load("diabetes", "test")[0][0]
    with running(Server(root), SCRIPT_MODEL) as server:
        server.wait_ready(INSTALLED_MODEL)
        # `zoo predict` names the classes with the plugin's labels, with the plugins or without
        # them: the server says the labels its export recorded, and reads no registry.
        labels = ["healthy", "diabetic"]
        for model, env in [(SCRIPT_MODEL, plugged(root)), (INSTALLED_MODEL, {})]:
            asked = zoo_cli(
                "predict", model, "--url", server.url, "--json", "--",
                *map(str, features), env=env,
            )  # fmt: skip
            assert asked.returncode == 0, asked.stderr
            [answer] = json.loads(asked.stdout)
            run = runs.list_runs(root / "runs", model)[-1]
            keras_model = keras.saving.load_model(run / runs.MODEL)
            diabetic = float(keras_model.predict(features[None], verbose=0)[0, 0])
            assert dict(answer["top_k"])[labels[1]] == pytest.approx(diabetic, abs=1e-5)
            assert answer["label"] == labels[diabetic > 0.5]
        # The playground lists what the server serves, a plugin's models with the zoo's.
        status, index = server.rest("/v2/repository/index", "{}")
        assert status == 200
        assert {m["name"] for m in index} == {SCRIPT_MODEL, INSTALLED_MODEL}
        with urllib.request.urlopen(server.url + "/", timeout=30) as page:
            assert page.status == 200


@pytest.mark.parametrize(
    ("source", "command", "fragments"),
    [
        ("import no_such_module\n", "list", ["ModuleNotFoundError", "(broken.py:1)"]),
        ("raise RuntimeError('no\\ntwo lines')\n", "train", ["RuntimeError: no two lines"]),
        (None, "list", ["FileNotFoundError: no such file"]),
    ],
    ids=["a-missing-import", "an-exception", "no-such-file"],
)
def test_a_plugin_that_fails_to_import_is_one_error_line_naming_it(
    zoo_cli, tmp_path, source, command, fragments
):
    path = tmp_path / "broken.py"
    if source is not None:
        path.write_text(source)
    args = [command] if command == "list" else [command, SCRIPT_MODEL, "--runs-dir", str(tmp_path)]
    result = zoo_cli(*args, env={"ZOO_PLUGINS": str(path)})
    assert_one_line_error(result, f"plugin '{path}' (ZOO_PLUGINS) did not load: ", *fragments)


def test_a_plugin_named_by_a_missing_module_is_one_error_line(zoo_cli):
    result = zoo_cli("list", env={"ZOO_PLUGINS": " , no_such_plugin"})
    assert_one_line_error(
        result, "plugin 'no_such_plugin' (ZOO_PLUGINS)", "No module named 'no_such_plugin'"
    )


def test_a_model_id_that_clashes_is_one_error_line_naming_both(zoo_cli, root, tmp_path):
    clash = write_module(tmp_path, "clash", "diabetes")
    result = zoo_cli("list", env={"ZOO_PLUGINS": str(clash)})
    assert_one_line_error(
        result, f"plugin '{clash}' (ZOO_PLUGINS)", "'diabetes' is taken: zoo.models.logistic"
    )
    again = write_module(tmp_path, "again", INSTALLED_MODEL)  # the installed plugin's id
    result = zoo_cli("train", INSTALLED_MODEL, env=plugged(root, str(again)))
    assert_one_line_error(result, f"plugin '{again}'", "taken: plugin 'tiny' registers it")


def test_an_installed_plugin_that_fails_names_its_entry_point_and_distribution(
    zoo_cli, root, tmp_path
):
    shadow = tmp_path / "tiny_zoo.py"  # found before the installed package: a broken twin
    shadow.write_text("import no_such_module\n")
    env = {"PYTHONPATH": f"{tmp_path}:{root / 'site'}"}
    result = zoo_cli("list", env=env)
    assert_one_line_error(
        result, "plugin 'tiny' (entry point of tiny-zoo)", "No module named 'no_such_module'"
    )


def test_without_plugins_the_list_has_no_plugin_column(zoo_cli, tmp_path):
    listed = zoo_cli("list", "xor*", "--runs-dir", str(tmp_path), env={"ZOO_PLUGINS": ""})
    assert listed.returncode == 0, listed.stderr
    header = listed.stdout.splitlines()[0].split()
    assert header == ["id", "task", "dataset", "params", "slide", "ours", "weights"]
