"""TF Serving's own integration test, `tensorflow_model_server_test.py`, pointed at `zoo serve`.

    python bench/tfserving_integration.py --src /tmp/tf-serving [--tests testClassify ...]

`--src` is a folder holding, as in a checkout of github.com/tensorflow/serving:

    tensorflow_serving/model_servers/tensorflow_model_server_test.py
    tensorflow_serving/model_servers/test_util/tensorflow_model_server_test_base.py
    tensorflow_serving/servables/tensorflow/testdata/  (saved_model_half_plus_two_cpu,
        saved_model_half_plus_two_tf2_cpu, saved_model_half_plus_three, good_model_config.txt,
        bad_model_config.txt, monitoring_config.txt, half_plus_two_model_metadata.json)

It is fetched by hand (CI cannot fetch), never copied into this repository, and never written to.
Their test module runs unchanged, their test base's `RunServer` included: it starts
TEST_SRCDIR/tf_serving/tensorflow_serving/model_servers/tensorflow_model_server with the binary's
flags (--port, --rest_api_port, --model_name and --model_base_path or --model_config_file, ...).
TEST_SRCDIR is built in the work folder from symlinks to `--src`, but for model_servers/, a folder
of symlinks plus ours as that binary: bench/tensorflow_model_server, which runs `zoo serve
--backend tf --no-ui` with the flags it is given, dropping only --grpc_socket_path (a Unix socket;
zoo serve listens on TCP only). Their RunServer adds grpc.so_reuseaddr=1 to
--grpc_channel_arguments, which zoo passes on to its gRPC server as given.

The selection below is every test but those that need a Unix socket, TF Lite, TensorFlow's
profiler service or TF Text, and one that must run in a process of its own; each left out is
listed with why (`--tests` runs any of them). A table of pass/fail with each failure's one-line
reason is printed at the end; the exit status is 1 when any selected test failed. The tests' own
output and the servers' (which inherit it) go to tests.log in the work folder (`--work`, a
temporary one by default); the servers are killed at exit, by their RunServer's atexit hook.

Their Keras tests build models with `tf.keras` as Keras 2 does. Under Keras 3, `tf.saved_model.save`
of their Sequential names its input `inputs`, not the Input layer's `x`, so the model itself lacks
the input the test sends (TF Serving would refuse it alike). With `pip install tf_keras` this
sets TF_USE_LEGACY_KERAS=1 for the test process, so `tf.keras` is Keras 2 as in TF Serving's CI.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import sys
import tempfile
import traceback
import types
import unittest
import urllib.error
import urllib.request
from pathlib import Path

ZOO = Path(sys.executable).parent / "zoo"
BINARY = Path(__file__).resolve().parent / "tensorflow_model_server"  # runs `zoo serve`
TEST_MODULE = "tensorflow_serving/model_servers/tensorflow_model_server_test.py"
BASE_MODULE = "tensorflow_serving/model_servers/test_util/tensorflow_model_server_test_base.py"
TESTDATA = "tensorflow_serving/servables/tensorflow/testdata"
NEEDED = (  # what the selected tests read from --src
    TEST_MODULE,
    BASE_MODULE,
    *(f"{TESTDATA}/{name}" for name in (
        "saved_model_half_plus_two_cpu", "saved_model_half_plus_two_tf2_cpu",
        "saved_model_half_plus_three", "good_model_config.txt", "bad_model_config.txt",
        "monitoring_config.txt", "half_plus_two_model_metadata.json",
    )),
)  # fmt: skip

SELECTED = (
    "testGetModelStatus",
    "testGetModelMetadata",
    "testClassify",
    "testClassifyTf2",
    "testRegress",
    "testRegressTf2",
    "testMultiInference",
    "testMultiInferenceTf2",
    "testPredictSavedModel",
    "testClassifyREST",
    "testRegressREST",
    "testPredictREST",
    "testPredictColumnarREST",
    "testGetStatusREST",
    "testGetModelMetadataREST",
    "testGoodModelConfig",
    "testBadModelConfig",
    "testModelConfigReload",
    "testModelConfigReloadWithZeroPollPeriod",
    "testGoodGrpcChannelArgs",
    "testPrometheusEndpoint",
    "test_tf_saved_model_save",
    "test_tf_saved_model_save_multiple_signatures",
    "test_sequential_keras_saved_model_save",
)
EXCLUDED = {
    "testPredictUDS": "predicts over the Unix socket --grpc_socket_path names (TCP only)",
    "testPredictOnTfLite": "TF Lite models (--prefer_tflite_model; zoo serves SavedModel, ONNX)",
    "testPredictWithSignatureDefOnTfLite": "TF Lite models (--prefer_tflite_model)",
    "test_profiler_service_with_valid_trace_request": "TensorFlow's profiler gRPC service",
    "test_tf_text": "TF Text ops (and its model is not in the fetched source)",
    "test_distrat_sequential_keras_saved_model_save": (
        "splits the test process's own CPU into two virtual devices (SetVirtualCpus), which "
        "TensorFlow refuses once an earlier test in the process has initialised it "
        "(test_tf_saved_model_save does): run it alone with --tests"
    ),
}


class Answers:
    """The REST answers their `CallREST` saw fail, kept for the table: it reports only "HTTP Error
    400: Bad Request" (and retries 60 times), while the body says why. Their calls go through
    unchanged; the error is re-raised as it came."""

    def __init__(self) -> None:
        self.last: str | None = None

    def urlopen(self, request, *args, **kwargs):
        try:
            return urllib.request.urlopen(request, *args, **kwargs)
        except urllib.error.HTTPError as error:
            self.last = f"{error.code} {error.read().decode(errors='replace').strip()}"
            raise


def last_line(log: Path) -> str:
    lines = log.read_text().strip().splitlines()
    return lines[-1] if lines else "(no output)"


def load(path: Path, name: str):
    """Import their file at `path` as module `name`, as Bazel would have it importable."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_module(src: Path, answers: Answers):
    """Their test module, unchanged but for its REST errors being watched (`answers`)."""
    import tensorflow_serving  # tensorflow-serving-api: the apis their modules import

    tensorflow_serving.__path__.append(str(src / "tensorflow_serving"))
    base = load(src / BASE_MODULE, "tensorflow_serving.model_servers.test_util."
                "tensorflow_model_server_test_base")  # fmt: skip
    request = types.SimpleNamespace(urlopen=answers.urlopen, Request=urllib.request.Request)
    base.urllib = types.SimpleNamespace(request=request)  # what their CallREST calls
    return load(src / TEST_MODULE, "tensorflow_model_server_test")


def test_srcdir(src: Path, work: Path) -> Path:
    """Their TEST_SRCDIR, of symlinks: tf_serving/tensorflow_serving/<entry> is `src`'s, but
    model_servers/ is a folder of `src`'s entries plus our `tensorflow_model_server`, the binary
    their RunServer starts. `src` itself is not written to."""
    srcdir = Path(tempfile.mkdtemp(prefix="srcdir-", dir=work))
    ours = srcdir / "tf_serving" / "tensorflow_serving"
    ours.mkdir(parents=True)
    theirs = src.resolve() / "tensorflow_serving"
    for entry in theirs.iterdir():
        if entry.name != "model_servers":
            (ours / entry.name).symlink_to(entry)
    (ours / "model_servers").mkdir()
    for entry in (theirs / "model_servers").iterdir():
        if entry.name != BINARY.name:
            (ours / "model_servers" / entry.name).symlink_to(entry)
    (ours / "model_servers" / BINARY.name).symlink_to(BINARY)
    return srcdir


@contextlib.contextmanager
def output_to(log: Path):
    """Their prints and the servers they start (which inherit stdout and stderr) write to `log`;
    yields a stream on the terminal's stderr, for the test runner's progress."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log.open("w") as out, os.fdopen(os.dup(2), "w") as terminal:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        try:
            yield terminal
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def reason(error: tuple) -> str:
    """One line: a gRPC error's code and details, else the exception's first line."""
    kind, value, _ = error
    if hasattr(value, "code") and hasattr(value, "details"):
        return f"{value.code()}: {value.details()}".splitlines()[0][:200]
    lines = "".join(traceback.format_exception_only(kind, value)).strip().splitlines()
    return (lines[0] if lines else kind.__name__)[:200]


class Collected(unittest.TextTestResult):
    """Keeps each test's outcome for the table, with the server's answer to a failed REST call."""

    answers = Answers()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.outcomes: dict[str, str] = {}

    def startTest(self, test) -> None:
        super().startTest(test)
        self.answers.last = None

    def _reason(self, err) -> str:
        answer = self.answers.last
        return reason(err) + (f" (the answer: {answer[:200]})" if answer else "")

    def addSuccess(self, test) -> None:
        super().addSuccess(test)
        self.outcomes[test._testMethodName] = ""

    def addFailure(self, test, err) -> None:
        super().addFailure(test, err)
        self.outcomes[test._testMethodName] = self._reason(err)

    def addError(self, test, err) -> None:
        super().addError(test, err)
        self.outcomes[test._testMethodName] = self._reason(err)


def table(outcomes: dict[str, str]) -> str:
    passed = sum(not why for why in outcomes.values())
    rows = [f"| {name} | {'fail: ' + why.replace('|', '/').replace(chr(10), ' ') if why else 'pass'} |"
            for name, why in outcomes.items()]  # fmt: skip
    return "\n".join(
        ["| test | result |", "|---|---|", *rows, f"\n{passed} of {len(outcomes)} pass"]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=os.environ.get("TFSERVING_SRC"))
    parser.add_argument(
        "--tests", nargs="+", default=list(SELECTED), choices=[*SELECTED, *EXCLUDED]
    )
    parser.add_argument("--work", type=Path, help="where the tests' and servers' output goes")
    parser.add_argument("--json", type=Path, help="also write {test: reason or ''} here")
    args = parser.parse_args()
    if args.src is None:
        parser.error("--src: a fetched tensorflow/serving is needed")
    missing = [path for path in NEEDED if not (args.src / path).exists()]
    if missing:
        parser.error(f"--src {args.src} lacks {', '.join(missing)} (a fetched tensorflow/serving)")
    work = args.work or Path(tempfile.mkdtemp(prefix="tfserving-integration-"))
    work.mkdir(parents=True, exist_ok=True)
    # Their paths: TEST_SRCDIR/tf_serving/tensorflow_serving/...; temp files: TEST_TMPDIR.
    os.environ["TEST_SRCDIR"] = str(test_srcdir(args.src, work))
    os.environ["ZOO"] = str(ZOO)  # the zoo our tensorflow_model_server runs: this environment's
    if importlib.util.find_spec("tf_keras"):  # their `tf.keras` is Keras 2, as in TF Serving's CI
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TEST_TMPDIR", tempfile.mkdtemp(prefix="tmp-", dir=work))
    module = test_module(args.src, Collected.answers)
    from absl import flags

    flags.FLAGS(sys.argv[:1])  # their tests read FLAGS.test_tmpdir
    suite = unittest.TestSuite(module.TensorflowModelServerTest(name) for name in args.tests)
    with output_to(work / "tests.log") as terminal:
        runner = unittest.TextTestRunner(resultclass=Collected, verbosity=2, stream=terminal)
        result = runner.run(suite)
    outcomes = {name: result.outcomes.get(name, "not run") for name in args.tests}
    print(f"\nzoo serve against {TEST_MODULE} (logs: {work})\n")
    print(table(outcomes))
    if args.json:
        args.json.write_text(json.dumps(outcomes, indent=1) + "\n")
    sys.exit(0 if not any(outcomes.values()) else 1)


if __name__ == "__main__":
    main()
