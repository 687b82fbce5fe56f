"""zoo as a user installs it: the wheel, in fresh virtual environments, used from an empty folder.

The wheel is built from this checkout as `pip install .` builds it and installed twice, with
bench/install_size.py's functions: whole (`pip install` of the wheel, TensorFlow and all) and
serving-only (deploy/requirements-serving.txt, then the wheel with `--no-deps`, as deploy/Dockerfile
installs it). pip takes the dependencies from the package index or its cache: about a minute here.
No clone is on these environments' path: what they run is what the wheel holds.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
import tomllib
from helpers import Server, running
from readme_blocks import PORTS, REPO, answered, beside_shared_data, busy, readme_blocks, run

from zoo import data as datasets
from zoo import weights

_spec = importlib.util.spec_from_file_location("install_size", REPO / "bench" / "install_size.py")
install_size = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(install_size)

FULL_ONLY = ("tensorflow", "keras", "tf2onnx", "onnx", "matplotlib", "h5py", "tensorboard")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return install_size.build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def whole(wheel, tmp_path_factory) -> Path:
    """The bin folder of a venv with the wheel installed as `pip install` installs it."""
    return install_size.install_whole(wheel, tmp_path_factory.mktemp("whole") / "venv").parent


@pytest.fixture(scope="module")
def serving(wheel, tmp_path_factory) -> Path:
    """The bin folder of a serving-only install."""
    return install_size.install_serving(wheel, tmp_path_factory.mktemp("serving") / "venv").parent


def user_env(bin_folder: Path) -> dict[str, str]:
    """A shell's environment with that venv first on PATH, and nothing that points zoo elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZOO_", "VIRTUAL_ENV"))}
    env.pop("PYTHONPATH", None)
    env["PATH"] = f"{bin_folder}{os.pathsep}{env['PATH']}"
    return env


def zoo(bin_folder: Path, *args: str, cwd: Path, env: dict[str, str] | None = None):
    return subprocess.run(
        [str(bin_folder / "zoo"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env or user_env(bin_folder),
        timeout=600,
    )


def test_the_wheel_holds_zoo_alone_with_its_weights_and_pages(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert top == {"zoo", f"{wheel.name.split('-py3')[0]}.dist-info"}, top
    manifest = json.loads(zipfile.ZipFile(wheel).read("zoo/pretrained/manifest.json"))
    assert manifest == weights.manifest()
    for entry in manifest.values():
        assert f"zoo/pretrained/{entry['file']}" in names
    for page in ("index.html", "playground.js", "playground.css"):
        assert f"zoo/serving/ui/{page}" in names
    assert "zoo/catalogue.json" in names


def test_the_first_minute_runs_from_the_installed_wheel(whole, tmp_path):
    """The README's first minute (pretrained export, serve, predict) and its kill, pasted into an
    empty folder with the wheel's venv first on PATH."""
    if any(busy(port) for port in PORTS):
        pytest.skip(f"the README's blocks serve on ports {PORTS}, which something here uses")
    empty = tmp_path / "empty"
    empty.mkdir()
    beside_shared_data(empty, Path(os.environ["ZOO_DATA_DIR"]).resolve())
    where = subprocess.run(
        [str(whole / "python"), "-c", "import zoo; print(zoo.__file__)"],
        capture_output=True,
        text=True,
        cwd=empty,
        env=user_env(whole),
    )
    assert where.stdout.startswith(str(whole.parent)), where.stdout + where.stderr

    ran = run(readme_blocks()[:2], empty, user_env(whole), tmp_path / "first-minute.log")
    assert ran.returncode == 0, ran.output[-6000:]
    assert not ran.left_running
    label = str(datasets.load("mnist", "test")[1][0])
    assert answered(ran.block_outputs()[0].splitlines(), label), ran.output
    assert (tmp_path / "first-minute" / "models" / "cnn-mnist" / "1" / "model.onnx").is_file()


def test_zoo_version_names_the_runtimes(whole, serving, tmp_path):
    for bin_folder, tensorflow in ((whole, r"2\.\d+\.\d+"), (serving, "not installed")):
        lines = zoo(bin_folder, "--version", cwd=tmp_path).stdout.splitlines()
        assert re.fullmatch(r"zoo \d+\.\d+\.\d+ \(keras-zoo\)", lines[0]), lines
        assert re.fullmatch(rf"\s+TensorFlow\s+{tensorflow}", lines[2]), lines
        assert re.fullmatch(r"\s+ONNX Runtime\s+1\.\d+\.\d+", lines[4]), lines


def test_the_serving_install_has_none_of_the_training_packages(serving):
    listed = subprocess.run(
        [str(serving / "python"), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    )
    installed = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert not installed & set(FULL_ONLY), installed & set(FULL_ONLY)
    assert "keras-zoo" in installed and "onnxruntime" in installed


def test_the_serving_install_serves_a_pretrained_export(serving, whole, tmp_path):
    """An export made by the whole install, served and asked by the serving-only one."""
    exported = zoo(
        whole,
        "export",
        "--pretrained",
        "cnn-mnist",
        cwd=tmp_path,
        env={**user_env(whole), "ZOO_DATA_DIR": str(Path(os.environ["ZOO_DATA_DIR"]).resolve())},
    )
    assert exported.returncode == 0, exported.stderr
    images, labels = datasets.load("mnist", "test")
    from PIL import Image

    Image.fromarray(images[0, ..., 0]).save(tmp_path / "digit.png")
    with running(Server(tmp_path, zoo=serving / "zoo"), "cnn-mnist") as server:
        for via in (["--url", server.url], ["--grpc", server.grpc_target, "--as-bytes"]):
            asked = zoo(serving, "predict", "cnn-mnist", "digit.png", *via, cwd=tmp_path)
            assert asked.returncode == 0, asked.stderr
            assert asked.stdout.splitlines()[0] == str(labels[0])
    assert "loaded (onnx on CPUExecutionProvider" in server.log.read_text()


@pytest.mark.parametrize(
    "args",
    [("serve", "--backend", "tf"), ("train", "xor-mlp"), ("export", "--pretrained", "xor-mlp")],
)
def test_the_serving_install_says_what_tensorflow_work_needs(serving, tmp_path, args):
    done = zoo(serving, *args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"Error: zoo {args[0]}") and "needs tensorflow" in line, line
    assert "pip install " in line and "'tensorflow<2.22,>=2.16'" in line, line
    assert not (tmp_path / "runs").exists() and not (tmp_path / "models").exists()


def test_the_serving_requirements_are_zoos_own():
    """Each line of deploy/requirements-serving.txt is a requirement of keras-zoo, as declared."""
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    lines = (REPO / "deploy" / "requirements-serving.txt").read_text().splitlines()
    wanted = [line for line in lines if line.strip() and not line.startswith("#")]
    assert set(wanted) <= set(declared), set(wanted) - set(declared)
    assert not any(line.split(">")[0].split("[")[0] in FULL_ONLY for line in wanted)


def test_the_dockerfiles_default_image_is_the_serving_install():
    """deploy/Dockerfile copies what the wheel is built from, and its .dockerignore lets it in."""
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    from_context = re.findall(r"^COPY (?!--from)(.+)$", dockerfile, re.MULTILINE)
    copied = {source for line in from_context for source in line.split()[:-1]}
    folders = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    needed = {f"{where}/" for where in folders["package-dir"].values()}
    needed |= {"pyproject.toml", "README.md", "deploy/requirements-serving.txt"}
    assert needed <= copied, needed - copied
    serve = dockerfile.split("FROM base AS serve")[1]
    assert "FROM " not in serve, "serve is the last stage: what `docker build` makes by default"
    assert "pip install -r requirements-serving.txt" in serve
    assert "pip install --no-deps ." in serve
    ignore = (REPO / "deploy" / "Dockerfile.dockerignore").read_text().splitlines()
    assert copied <= {line[1:] for line in ignore if line.startswith("!")}


def test_a_clone_is_still_set_up_with_the_editable_install():
    readme = (REPO / "README.md").read_text()
    assert 'pip install -e ".[dev]"' in readme
    assert '.venv/bin/python -m pip install -q -e ".[dev]"' in (REPO / ".ci" / "run").read_text()
