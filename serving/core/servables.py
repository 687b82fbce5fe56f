"""One loaded (model, version): ONNX Runtime or TensorFlow behind the same small interface.

ONNX Runtime is the default: on this CPU it runs the same graph several times faster than TensorFlow
and releases the GIL while it computes. `--backend tf` runs the SavedModel exactly as TF Serving would.

ONNX Runtime's session options, chosen for a small CPU server (docs/PERFORMANCE.md measures them):
every graph optimization (ORT_ENABLE_ALL: constant folding, Conv+activation fusion, layout
transforms), one intra-op and one inter-op thread, sequential execution and no spinning. Parallelism
comes from batching and from the batch threads (one per core beyond the event loop's): a thread
pool per run would only fight them for the same cores, and spinning threads burn a core that the
event loop needs for parsing requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from zoo.export.contract import ONNX_MODEL, SIGNATURE_NAME
from zoo.quiet import load_tensorflow
from zoo.serving.core import strings
from zoo.serving.core.batching import BatchingParameters
from zoo.serving.core.signature import ModelSignature

BACKENDS = ("onnx", "tf")


class Backend:
    """A servable: its signature, and `run_batch`, which computes every output for checked inputs.

    The repository sets `batching`, the version's batching parameters, when it loads it.
    """

    platform = ""  # the runtime in Triton's and KServe's words, for the v2 model metadata
    batching: BatchingParameters

    def __init__(self, version_dir: Path) -> None:
        self.path = version_dir
        self.version = int(version_dir.name)
        self.signature = ModelSignature.read(version_dir)

    def run_batch(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every output, for inputs that `signature.check_inputs` accepted."""
        raise NotImplementedError


class OnnxBackend(Backend):
    """The version's model.onnx in an ONNX Runtime CPU session."""

    platform = "onnxruntime_onnx"

    def __init__(self, version_dir: Path) -> None:
        super().__init__(version_dir)
        self._session = onnx_session(version_dir / self.signature.files.get("onnx", ONNX_MODEL))
        self._names = list(self.signature.output_names)

    def run_batch(self, inputs):
        answers = self._session.run(self._names, strings.for_onnx_runtime(inputs))
        return strings.from_onnx_runtime(dict(zip(self._names, answers, strict=True)))


class TfBackend(Backend):
    """The version's SavedModel, called through its serving_default signature."""

    platform = "tensorflow_savedmodel"

    def __init__(self, version_dir: Path) -> None:
        tf = load_tensorflow()  # only this backend needs TensorFlow
        super().__init__(version_dir)
        self._function = tf.saved_model.load(str(version_dir)).signatures[SIGNATURE_NAME]

    def run_batch(self, inputs):
        answers = self._function(**inputs)
        return {name: answers[name].numpy() for name in self.signature.output_names}


def onnx_session(model: Path):
    """An ONNX Runtime CPU session on `model` with the options stated in this module's docstring
    (also what bench/serve.py measures its ceiling and baseline with)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def load(version_dir: Path, backend: str) -> Backend:
    """Load one version folder with the named backend ("onnx" or "tf")."""
    return {"onnx": OnnxBackend, "tf": TfBackend}[backend](version_dir)
