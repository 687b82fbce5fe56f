"""One loaded (model, version): ONNX Runtime or TensorFlow behind the same small interface.

ONNX Runtime is the default: on this CPU it runs the same graph several times faster than TensorFlow
and releases the GIL while it computes. `--backend tf` runs the SavedModel exactly as TF Serving would.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from serving.signature import SIGNATURE_NAME, ModelSignature

BACKENDS = ("onnx", "tf")
# One request's graph on one core: the server gets its parallelism from concurrent requests, and a
# multi-threaded op pool per request only adds contention on a small machine.
INTRA_OP_THREADS = 1


class Backend:
    """A servable: its signature and `run`, which checks the request before the runtime sees it."""

    platform = ""  # the runtime in Triton's and KServe's words, for the v2 model metadata

    def __init__(self, version_dir: Path) -> None:
        self.path = version_dir
        self.version = int(version_dir.name)
        self.signature = ModelSignature.read(version_dir)

    def run(
        self, inputs: Mapping[str, np.ndarray], outputs: Iterable[str] = ()
    ) -> dict[str, np.ndarray]:
        """The named outputs (all when `outputs` is empty) for checked inputs."""
        self.signature.check_inputs(inputs)
        return self._run(inputs, self.signature.check_outputs(outputs))

    def _run(
        self, inputs: Mapping[str, np.ndarray], outputs: tuple[str, ...]
    ) -> dict[str, np.ndarray]:
        raise NotImplementedError


class OnnxBackend(Backend):
    """The version's model.onnx in an ONNX Runtime CPU session."""

    platform = "onnxruntime_onnx"

    def __init__(self, version_dir: Path) -> None:
        import onnxruntime

        super().__init__(version_dir)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = INTRA_OP_THREADS
        options.inter_op_num_threads = 1
        model = version_dir / self.signature.files.get("onnx", "model.onnx")
        self._session = onnxruntime.InferenceSession(
            str(model), options, providers=["CPUExecutionProvider"]
        )

    def _run(self, inputs, outputs):
        return dict(zip(outputs, self._session.run(list(outputs), dict(inputs)), strict=True))


class TfBackend(Backend):
    """The version's SavedModel, called through its serving_default signature."""

    platform = "tensorflow_savedmodel"

    def __init__(self, version_dir: Path) -> None:
        import tensorflow as tf

        super().__init__(version_dir)
        self._function = tf.saved_model.load(str(version_dir)).signatures[SIGNATURE_NAME]

    def _run(self, inputs, outputs):
        answers = self._function(**inputs)
        return {name: answers[name].numpy() for name in outputs}


def load(version_dir: Path, backend: str) -> Backend:
    """Load one version folder with the named backend ("onnx" or "tf")."""
    return {"onnx": OnnxBackend, "tf": TfBackend}[backend](version_dir)
