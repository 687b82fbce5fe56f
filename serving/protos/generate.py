"""Write serving/protos/ with protoc from the official descriptors that the installed
tensorflow-serving-api and TensorFlow ship.

    python -m zoo.serving.protos.generate           # (re)write the modules
    python -m zoo.serving.protos.generate --check   # exit 1 when the committed ones are not its output

The official modules are imported (and TensorFlow with them) only here. Their files, every import
included, go to protoc as one FileDescriptorSet (`--descriptor_set_in`), so the output is compiled
from exactly the definitions TF Serving's stubs carry; their imports are then moved under
`zoo.serving.protos.` (protoc has no option for a package prefix). The official files that no
installed package ships compiled, monitoring_config.proto and ssl_config.proto, are compiled from
official/. Run it again when tensorflow-serving-api or grpcio-tools changes; the test suite runs
`--check`.
"""

from __future__ import annotations

import argparse
import filecmp
import importlib
import re
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGE = "zoo.serving.protos"
# What the server, `zoo predict --grpc` and the Classify/Regress inputs use; their imports follow.
OFFICIAL = [
    "tensorflow_serving.apis.prediction_service_pb2",
    "tensorflow_serving.apis.model_service_pb2",
    "tensorflow_serving.apis.input_pb2",
    "tensorflow_serving.apis.prediction_log_pb2",  # warmup records (assets.extra)
    "tensorflow.core.protobuf.meta_graph_pb2",
    "tensorflow.core.protobuf.saved_model_pb2",  # reading a SavedModel's signatures without TF
]
# Official files that no installed package ships compiled, kept as TF Serving wrote them.
SOURCES = HERE / "official"
FROM_SOURCES = [
    "tensorflow_serving/config/monitoring_config.proto",  # --monitoring_config_file
    "tensorflow_serving/config/ssl_config.proto",  # --ssl_config_file
]
SERVICES = [
    "tensorflow_serving/apis/prediction_service.proto",
    "tensorflow_serving/apis/model_service.proto",
]
TOP_LEVEL = ("tensorflow", "tensorflow_serving", "xla", "tsl")  # the folders protoc writes
_IMPORT = re.compile(rf"^from ({'|'.join(TOP_LEVEL)})([.\w]*) import ", re.MULTILINE)


def descriptor_set() -> bytes:
    """The official files and all they import, dependencies first, as a FileDescriptorSet."""
    from google.protobuf import descriptor_pb2

    ordered: list = []

    def visit(file) -> None:
        if file in ordered:
            return
        for dependency in file.dependencies:
            visit(dependency)
        ordered.append(file)

    for module in OFFICIAL:
        visit(importlib.import_module(module).DESCRIPTOR)
    files = descriptor_pb2.FileDescriptorSet()
    for file in ordered:
        files.file.add().ParseFromString(file.serialized_pb)
    return files.SerializeToString()


def compile_into(out: Path) -> None:
    """protoc's Python (and, for the services, gRPC) modules for every non-Google file, in `out`."""
    from google.protobuf import descriptor_pb2
    from grpc_tools import protoc

    data = descriptor_set()
    names = [
        f.name
        for f in descriptor_pb2.FileDescriptorSet.FromString(data).file
        if not f.name.startswith("google/")
    ]
    set_path = out / "official.binpb"
    set_path.write_bytes(data)
    for args in (
        [f"--descriptor_set_in={set_path}", "--python_out", str(out), *names],
        [f"--descriptor_set_in={set_path}", "--grpc_python_out", str(out), *SERVICES],
        [f"--proto_path={SOURCES}", "--python_out", str(out), *FROM_SOURCES],
    ):
        if protoc.main(["protoc", *args]) != 0:
            raise SystemExit(f"protoc failed on {args[3:]}")
    set_path.unlink()
    for module in out.rglob("*.py"):
        module.write_text(_IMPORT.sub(rf"from {PACKAGE}.\1\2 import ", module.read_text()))
    for folder in [out, *(p for p in out.rglob("*") if p.is_dir())]:
        if folder != out:
            (folder / "__init__.py").touch()


def _differences(new: Path, old: Path) -> list[str]:
    """Paths (relative) that differ between two generated trees."""
    found = []
    for name in TOP_LEVEL:
        if (new / name).exists() or (old / name).exists():
            compared = filecmp.dircmp(new / name, old / name) if (old / name).exists() else None
            if compared is None:
                found.append(name)
                continue
            stack = [(name, compared)]
            while stack:
                prefix, diff = stack.pop()
                found += [f"{prefix}/{f}" for f in diff.left_only + diff.right_only]
                found += [f"{prefix}/{f}" for f in diff.diff_files]
                stack += [(f"{prefix}/{d}", sub) for d, sub in diff.subdirs.items()]
    return [f for f in found if "__pycache__" not in f]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        compile_into(out)
        if args.check:
            stale = _differences(out, HERE)
            for path in stale:
                print(f"serving/protos/{path} is not generate's output", file=sys.stderr)
            return 1 if stale else 0
        for name in TOP_LEVEL:
            if (out / name).exists():
                # Written beside, then swapped in: a failed run leaves the old modules whole.
                staged = HERE / f".{name}.new"
                shutil.rmtree(staged, ignore_errors=True)
                shutil.copytree(out / name, staged)
                shutil.rmtree(HERE / name, ignore_errors=True)
                staged.rename(HERE / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
