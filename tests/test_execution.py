"""Threads and device per model: TF Serving's flags, Triton's config.pbtxt parameters, the default.

What each runtime was given is read back from the runtime itself: an ONNX Runtime session's own
options and providers, a TensorFlow session's ConfigProto; through a real `zoo serve`, from the
load line it prints. The models are foreign_models.py's (Triton's add_sub with its config.pbtxt,
an ONNX graph in a bare folder, TF Serving's half_plus_two SavedModel).
"""

import os
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from conftest import run_zoo
from foreign_models import VERSION, VERSION_FOLDER, half_plus_two, onnx_affine, triton_add_sub
from helpers import Server, assert_one_line_error, running, worker_pids

from zoo.serving.core.execution import Execution, default_intra_op
from zoo.serving.core.model_sources import Directory
from zoo.serving.core.repository import END, Repository
from zoo.serving.core.servables import load

NO_CUDA = "CUDAExecutionProvider" not in onnxruntime.get_available_providers()
CORES = len(os.sched_getaffinity(0))


def parameters(**counts: str) -> str:
    """config.pbtxt's `parameters` entries, as Triton's ONNX Runtime backend reads them."""
    return "".join(
        f'parameters {{ key: "{key}" value: {{ string_value: "{value}" }} }}\n'
        for key, value in counts.items()
    )


def session_threads(servable) -> tuple[int, int, str]:
    options = servable._session.get_session_options()
    return options.intra_op_num_threads, options.inter_op_num_threads, options.execution_mode.name


def test_the_default_shares_the_cores_among_the_workers(tmp_path):
    onnx_affine(tmp_path)
    version = tmp_path / "onnx_affine" / VERSION_FOLDER
    for workers in (1, 2, CORES + 1):
        servable = load(version, "onnx", Execution(workers=workers))
        expected = max(1, CORES // workers)
        assert expected == default_intra_op(workers)
        assert session_threads(servable) == (expected, 1, "ORT_SEQUENTIAL")
        answer = servable.run_batch({"X": np.ones((2, 3), np.float32)})
        assert answer["Y"].tolist() == [[3.0] * 3] * 2


def test_the_flags_reach_the_onnx_runtime_session_and_config_pbtxt_wins(tmp_path):
    add_sub = triton_add_sub(tmp_path)
    version = tmp_path / add_sub.name / VERSION_FOLDER
    flags = Execution(intra_op=3, inter_op=2)
    assert session_threads(load(version, "onnx", flags)) == (3, 2, "ORT_PARALLEL")
    assert session_threads(load(version, "onnx", Execution(intra_op=1))) == (1, 1, "ORT_SEQUENTIAL")
    config = version.parent / "config.pbtxt"
    config.write_text(
        config.read_text() + parameters(intra_op_thread_count="5", inter_op_thread_count="0")
    )
    servable = load(version, "onnx", flags)
    assert session_threads(servable) == (5, 0, "ORT_PARALLEL")  # 0: ONNX Runtime chooses
    assert servable.describe() == (
        "onnx on CPUExecutionProvider, 5 intra-op threads, inter-op threads: the runtime's choice"
    )


@pytest.mark.parametrize("value", ["-1", "two", "1.5", ""])
def test_a_bad_thread_count_in_config_pbtxt_fails_that_version_naming_the_parameter(
    tmp_path, value
):
    add_sub = triton_add_sub(tmp_path)
    onnx_affine(tmp_path)
    config = tmp_path / add_sub.name / "config.pbtxt"
    config.write_text(config.read_text() + parameters(inter_op_thread_count=value))
    lines = []
    repository = Repository(Directory(tmp_path), "onnx", log=lines.append)
    repository.poll()
    assert repository.models == {"onnx_affine": [VERSION]}  # the other model serves on
    (failed,) = repository.status(add_sub.name)
    assert failed.state == END
    assert "parameter inter_op_thread_count" in failed.error and repr(value) in failed.error


@pytest.mark.skipif(not NO_CUDA, reason="this onnxruntime has CUDA: bench/gpu_check.py checks it")
def test_asking_for_cuda_without_it_runs_on_the_cpu_and_says_so(tmp_path):
    add_sub = triton_add_sub(tmp_path)
    version = tmp_path / add_sub.name / VERSION_FOLDER
    servable = load(version, "onnx", Execution(device="cuda"))
    assert servable._session.get_providers() == ["CPUExecutionProvider"]
    assert servable.device == "CPUExecutionProvider"
    assert "cuda asked for" in servable.describe() and "on CPU" in servable.describe()
    config = version.parent / "config.pbtxt"
    config.write_text(config.read_text() + "instance_group { kind: KIND_GPU count: 1 }\n")
    assert "cuda asked for" in load(version, "onnx").describe()  # the model's own config asks
    config.write_text(config.read_text().replace("KIND_GPU", "KIND_CPU"))
    assert load(version, "onnx", Execution(device="cuda")).note == ""  # its config says CPU


def test_the_tensorflow_session_gets_the_threads_and_the_device(tmp_path):
    model = half_plus_two(tmp_path)
    version = tmp_path / model.name / VERSION_FOLDER
    servable = load(version, "tf", Execution(intra_op=3, inter_op=2, device="cpu"))
    config = servable._session._config
    assert (config.intra_op_parallelism_threads, config.inter_op_parallelism_threads) == (3, 2)
    assert config.use_per_session_threads and config.gpu_options.allow_growth
    assert config.device_count["GPU"] == 0 and servable.device == "CPU"
    assert servable.describe().startswith("tf on CPU, 3 intra-op threads, 2 inter-op threads")
    answer = servable.run_batch({"x": np.array([[1.0], [2.0]], np.float32)})
    assert answer["y"].ravel().tolist() == [2.5, 3.0]

    (version.parent / "config.pbtxt").write_text(parameters(intra_op_thread_count="1"))
    config = load(version, "tf", Execution(intra_op=3))._session._config
    assert (config.intra_op_parallelism_threads, config.inter_op_parallelism_threads) == (1, 1)


def test_zoo_serve_says_each_versions_threads_and_device(tmp_path):
    """TF Serving's spellings of the flags, a model whose config.pbtxt sets its own, and --device
    cuda on a machine without it (or with it)."""
    add_sub = triton_add_sub(tmp_path / "models")
    onnx_affine(tmp_path / "models")
    config = tmp_path / "models" / add_sub.name / "config.pbtxt"
    config.write_text(config.read_text() + parameters(intra_op_thread_count="2"))
    options = ("--tensorflow_intra_op_parallelism=1", "--tensorflow_inter_op_parallelism", "3")
    with running(Server(tmp_path, *options, "--device", "cuda"), "onnx_affine") as server:
        status, answer = server.rest(
            "/v1/models/onnx_affine:predict", '{"instances": [[1.0, 2.0, 3.0]]}'
        )
        assert (status, answer["predictions"]) == (200, [[3.0, 5.0, 7.0]])
        log = server.log.read_text()
    lines = {line.split(":")[0]: line for line in log.splitlines() if " loaded (" in line}
    assert "1 intra-op thread, 3 inter-op threads" in lines["onnx_affine"]
    assert "2 intra-op threads, 3 inter-op threads" in lines[add_sub.name]
    if NO_CUDA:
        assert "on CPUExecutionProvider" in lines["onnx_affine"]
        assert "cuda asked for" in lines["onnx_affine"]


def test_zoo_serve_backend_tf_gives_each_savedmodel_its_own_pools(tmp_path):
    """TensorFlow imported by the server itself: each session's intra-op pool is its own, so the
    load line carries no note that the first session's pool is everyone's."""
    model = half_plus_two(tmp_path / "models")
    config = tmp_path / "models" / model.name / "config.pbtxt"
    config.write_text(parameters(intra_op_thread_count="3"))
    options = ("--backend", "tf", "--inter-op-threads", "2", "--device", "cpu")
    with running(Server(tmp_path, *options), model.name) as server:
        status, answer = server.rest(f"/v1/models/{model.name}:predict", '{"instances": [1.0]}')
        assert (status, answer["predictions"]) == (200, [2.5])
        log = server.log.read_text()
    expected = f"{model.name}: version {VERSION} loaded (tf on CPU, 3 intra-op threads, 2 inter-op "
    assert expected + "threads)" in log


def test_zoo_serve_with_two_workers_gives_each_its_share_of_the_cores(tmp_path):
    onnx_affine(tmp_path / "models")
    with running(Server(tmp_path, "--workers", "2"), "onnx_affine") as server:
        assert len(worker_pids(server)) == 2  # both serving, the first one's loads logged
    log = server.log.read_text()  # complete once the workers have stopped
    threads = default_intra_op(2)
    expected = f"{threads} intra-op thread{'s' * (threads > 1)}, 1 inter-op thread"
    assert (
        f"onnx_affine: version {VERSION} loaded (onnx on CPUExecutionProvider, {expected})" in log
    )


@pytest.mark.parametrize(
    "flag",
    [
        ("--intra-op-threads", "-1"),
        ("--tensorflow_intra_op_parallelism=two",),
        ("--tensorflow_inter_op_parallelism", "-2"),
        ("--device", "tpu"),
    ],
)
def test_a_bad_thread_flag_is_one_error_line(tmp_path: Path, flag):
    result = run_zoo("serve", "--model-dir", str(tmp_path), *flag)
    assert_one_line_error(result, flag[0].partition("=")[0])
