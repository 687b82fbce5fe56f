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

import dataclasses
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from zoo import dependencies
from zoo.export.contract import IMAGE_INPUT, IMAGE_SIGNATURE, STRING, Exported, TensorSpec
from zoo.quiet import load_tensorflow
from zoo.serving.core import images, model_files, strings
from zoo.serving.core.batching import BatchingParameters
from zoo.serving.core.signature import ModelSignature, default_signature

BACKENDS = ("onnx", "tf")


class Backend:
    """A servable: its named signatures, and `run_batch`, which computes every output of one of
    them for checked inputs.

    `signature` is the one a request naming none gets; `exported` is zoo.json's contract for zoo's
    own exports (labels, task), None for any other model. The repository sets `batching`, the
    version's batching parameters, when it loads it.
    """

    platform = ""  # the runtime in Triton's and KServe's words, for the v2 model metadata
    kind = ""  # the --backend that names it
    batching: BatchingParameters
    signatures: dict[str, ModelSignature]
    # A SavedModel's SignatureDefs, every one as it has them (the metadata); none elsewhere.
    signature_defs: Mapping[str, Any] = {}

    def __init__(self, version_dir: Path, exported: Exported | None) -> None:
        self.path = version_dir
        self.version = int(version_dir.name)
        self.exported = exported

    @functools.cached_property
    def signature(self) -> ModelSignature:
        return default_signature(self.signatures)

    def run_batch(
        self, inputs: Mapping[str, np.ndarray], signature: str | None = None
    ) -> dict[str, np.ndarray]:
        """Every output of the signature named `signature` (the default one when None), for
        inputs its checks accepted."""
        raise NotImplementedError


class OnnxBackend(Backend):
    """The version's ONNX model in an ONNX Runtime CPU session. Its signature is its graph's, and
    for an image model zoo exported, `serving_image` too: the images are decoded in Python as
    zoo.json declares (images.py), then run through the graph, as the SavedModel's graph does."""

    platform = "onnxruntime_onnx"
    kind = "onnx"

    def __init__(self, version_dir: Path, exported: Exported | None, model: Path) -> None:
        super().__init__(version_dir, exported)
        self._session = onnx_session(model)
        signature = model_files.onnx_signature(self._session)
        config = model_files.triton_config(version_dir.parent) if exported is None else None
        if config is not None:  # zoo's own config.pbtxt is for Triton; its graph takes any batch
            signature = model_files.with_triton_config(signature, config)
        self.signatures = model_files.in_exported_order({signature.name: signature}, exported)
        if exported is not None and exported.image is not None:
            self.signatures[IMAGE_SIGNATURE] = dataclasses.replace(
                self.signature,
                name=IMAGE_SIGNATURE,
                inputs=(TensorSpec(IMAGE_INPUT, STRING, (-1,)),),
            )
        self._names = list(self.signature.output_names)

    def run_batch(self, inputs, signature=None):
        if signature == IMAGE_SIGNATURE:
            (pixels,) = self.signature.input_names
            inputs = {pixels: images.decode_images(inputs[IMAGE_INPUT], self.exported.image)}
        answers = self._session.run(self._names, strings.for_onnx_runtime(inputs))
        return strings.from_onnx_runtime(dict(zip(self._names, answers, strict=True)))


class TfBackend(Backend):
    """The version's SavedModel, run as TF Serving runs it: its `serve` MetaGraphDef in a session,
    each signature by feeding and fetching the graph tensors its SignatureDef names. This loads TF1
    SavedModels (which `tf.saved_model.load` cannot call) and TF2 ones alike, every signature."""

    platform = "tensorflow_savedmodel"
    kind = "tf"

    def __init__(self, version_dir: Path, exported: Exported | None) -> None:
        super().__init__(version_dir, exported)
        try:
            tf = load_tensorflow()  # only this backend needs TensorFlow
        except ModuleNotFoundError as error:  # a serving-only install
            raise dependencies.explain(error, "a SavedModel without model.onnx") from None
        from tensorflow.core.protobuf import config_pb2

        self._config = config_pb2
        graph_def = model_files.meta_graph(version_dir)
        self.signatures = model_files.in_exported_order(
            model_files.saved_model_signatures(graph_def, check_shapes=exported is not None),
            exported,
        )
        self.signature_defs = graph_def.signature_def
        graph = tf.Graph()
        self._session = tf.compat.v1.Session(graph=graph)
        with graph.as_default():
            tf.compat.v1.saved_model.loader.load(
                self._session, [model_files.SERVE_TAG], str(version_dir)
            )
        self._runs = {name: self._callable(s) for name, s in self.signatures.items()}

    def _callable(self, signature: ModelSignature):
        """The session's callable for a signature. It is made from CallableOptions (the Session's
        `_make_callable_from_options`: `make_callable` has no way to skip its feed checks), as TF
        Serving runs a session in C++, so that a feed's shape is checked by the graph, not refused
        by the Python client's stricter check against the tensor's static shape."""
        definition = signature.definition
        options = self._config.CallableOptions(
            feed=[definition.inputs[name].name for name in signature.input_names],
            fetch=[definition.outputs[name].name for name in signature.output_names],
        )
        return self._session._make_callable_from_options(options), signature

    def run_batch(self, inputs, signature=None):
        run, described = self._runs[signature or self.signature.name]
        answers = run(*(inputs[name] for name in described.input_names))  # refusals: runner.py
        return dict(zip(described.output_names, answers, strict=True))


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
    """Load one version folder: with the named backend ("onnx" or "tf") where it holds both
    formats, else with the one runtime its only model file needs."""
    exported = Exported.find(version_dir)
    found = model_files.formats(version_dir, exported)
    if not found:
        raise FileNotFoundError(
            f"{version_dir} holds no model: neither a SavedModel ({model_files.SAVED_MODEL}) "
            f"nor an ONNX model ({model_files.onnx_file_name(version_dir)})"
        )
    kind = backend if backend in found else next(iter(found))
    if kind == "onnx":
        return OnnxBackend(version_dir, exported, found["onnx"])
    return TfBackend(version_dir, exported)
