"""serving/protos/ is protoc's output for the official TF Serving and TensorFlow protos.

They are what lets `zoo serve` and `zoo predict --grpc` speak TF Serving's gRPC without importing
TensorFlow, so they must stay exactly the official definitions: the same files, byte for byte, in
protobuf's default pool (a process that imports both sets gets one set of classes).
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import zoo.serving.protos
from zoo.serving.protos import generate

ROOT = Path(zoo.serving.protos.__file__).parent
# What no installed package ships compiled: compiled from TF Serving's own .proto in official/.
FROM_SOURCES = {
    source.removesuffix(".proto").replace("/", ".") + "_pb2" for source in generate.FROM_SOURCES
}
GENERATED = sorted(
    {".".join(path.relative_to(ROOT).with_suffix("").parts) for path in ROOT.rglob("*_pb2.py")}
    - FROM_SOURCES
)


def test_the_modules_are_generates_output():
    check = subprocess.run(
        [sys.executable, "-m", "zoo.serving.protos.generate", "--check"],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize("module", GENERATED)
def test_each_module_is_the_official_file(module):
    ours = importlib.import_module(f"zoo.serving.protos.{module}")
    # TensorFlow keeps XLA's protos under tensorflow.compiler; the rest sit where their files say.
    official = importlib.import_module(module.replace("xla.", "tensorflow.compiler.xla.", 1))
    assert ours.DESCRIPTOR.serialized_pb == official.DESCRIPTOR.serialized_pb
    for name in official.DESCRIPTOR.message_types_by_name:
        assert getattr(ours, name) is getattr(official, name), name


def test_the_services_answer_on_the_official_method_paths():
    from tensorflow_serving.apis import prediction_service_pb2 as official

    from zoo.serving.protos.tensorflow_serving.apis import prediction_service_pb2 as ours

    service = ours.DESCRIPTOR.services_by_name["PredictionService"]
    assert service.full_name == "tensorflow.serving.PredictionService"
    assert [m.name for m in service.methods] == [
        m.name for m in official.DESCRIPTOR.services_by_name["PredictionService"].methods
    ]


def test_generate_covers_what_the_server_imports():
    served = {
        line.split()[1]
        for path in Path(generate.__file__).parents[1].rglob("*.py")
        for line in path.read_text().splitlines()
        if line.lstrip().startswith("from zoo.serving.protos.")
    }
    assert served, "the server imports none of zoo.serving.protos"
    for package in served:
        assert importlib.import_module(package)
