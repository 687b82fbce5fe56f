"""One loaded (model, version): ONNX Runtime or TensorFlow behind the same small interface.

ONNX Runtime is the default: on this CPU it runs the same graph several times faster than TensorFlow
and releases the GIL while it computes. `--backend tf` runs the SavedModel exactly as TF Serving would.

ONNX Runtime's session options (docs/PERFORMANCE.md measures them): every graph optimization
(ORT_ENABLE_ALL: constant folding, Conv+activation fusion, layout transforms), no spinning (a
spinning thread burns a core the event loop needs for parsing requests), and the threads and
device of execution.py: by default one pool per model, of the cores the worker may use.
TensorFlow's session gets the same threads, in pools of its own (execution.py says why).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from zoo import dependencies
from zoo.export.contract import IMAGE_INPUT, IMAGE_SIGNATURE, STRING, Exported, TensorSpec
from zoo.quiet import load_tensorflow
from zoo.serving.core import images, model_files, strings
from zoo.serving.core.batching import BatchingParameters
from zoo.serving.core.execution import Execution
from zoo.serving.core.signature import ModelSignature, default_signature

BACKENDS = ("onnx", "tf")
CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"
# Set before TensorFlow is imported, each session's intra-op pool is its own rather than the first
# session's for the whole process (TF's LocalDevice reads it once).
TF_OWN_POOLS = "TF_OVERRIDE_GLOBAL_THREADPOOL"


class Backend:
    """A servable: its named signatures, and `run_batch`, which computes every output of one of
    them for checked inputs.

    `signature` is the one a request naming none gets; `exported` is zoo.json's contract for zoo's
    own exports (labels, task), None for any other model. The repository sets `batching`, the
    version's batching parameters, when it loads it. `execution` is the threads and device it was
    asked to run with, `device` what it runs on, `note` why that differs from what was asked.
    """

    platform = ""  # the runtime in Triton's and KServe's words, for the v2 model metadata
    kind = ""  # the --backend that names it
    batching: BatchingParameters
    signatures: dict[str, ModelSignature]
    # A SavedModel's SignatureDefs, every one as it has them (the metadata); none elsewhere.
    signature_defs: Mapping[str, Any] = {}
    device = "CPU"
    note = ""

    def __init__(self, version_dir: Path, exported: Exported | None, execution: Execution) -> None:
        self.path = version_dir
        self.version = int(version_dir.name)
        self.exported = exported
        self.execution = execution

    def describe(self) -> str:
        """What the load line says: the backend, its device and threads, and any fallback."""
        note = f"; {self.note}" if self.note else ""
        return f"{self.kind} on {self.device}, {self.execution.describe()}{note}"

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
    """The version's ONNX model in an ONNX Runtime session. Its signature is its graph's, and
    for an image model zoo exported, `serving_image` too: the images are decoded in Python as
    zoo.json declares (images.py), then run through the graph, as the SavedModel's graph does."""

    platform = "onnxruntime_onnx"
    kind = "onnx"

    def __init__(
        self, version_dir: Path, exported: Exported | None, model: Path, execution: Execution
    ) -> None:
        super().__init__(version_dir, exported, execution)
        self._session, self.note = onnx_session(model, execution)
        given = self._session.get_session_options()  # what the load line says, read back
        self.execution = dataclasses.replace(
            execution, intra_op=given.intra_op_num_threads, inter_op=given.inter_op_num_threads
        )
        self.device = ", ".join(self._session.get_providers())
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

    def __init__(self, version_dir: Path, exported: Exported | None, execution: Execution) -> None:
        super().__init__(version_dir, exported, execution)
        if "tensorflow" not in sys.modules:
            os.environ.setdefault(TF_OWN_POOLS, "1")
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
        self._session = tf.compat.v1.Session(graph=graph, config=self._session_config(tf))
        # The TF1 loader is the one that takes a session; its deprecation notice is not the user's.
        logger, level = tf.get_logger(), tf.get_logger().level
        logger.setLevel("ERROR")
        try:
            with graph.as_default():
                tf.compat.v1.saved_model.loader.load(
                    self._session, [model_files.SERVE_TAG], str(version_dir)
                )
        finally:
            logger.setLevel(level)
        self._runs = {name: self._callable(s) for name, s in self.signatures.items()}

    def _session_config(self, tf):
        """The session's threads (per-session pools: TF2's eager pools are the process's) and
        device: GPUs visible unless the CPU was asked for, each growing its memory as it needs,
        so that several workers share a GPU instead of the first taking all of it."""
        gpus = tf.config.list_physical_devices("GPU")
        for gpu in gpus:
            with contextlib.suppress(RuntimeError):  # already initialized: set as it was
                tf.config.experimental.set_memory_growth(gpu, True)
        execution = self.execution
        on_gpu = bool(gpus) and execution.device != "cpu"
        self.device = "GPU" if on_gpu else "CPU"
        if execution.device == "cuda" and not gpus:
            self.note = "cuda asked for, but TensorFlow sees no GPU: on CPU"
        if os.environ.get(TF_OWN_POOLS) != "1":
            self.note = "; ".join(
                filter(None, [self.note, "intra-op threads: the process's first session's"])
            )
        config = self._config.ConfigProto(
            intra_op_parallelism_threads=execution.intra_op,
            inter_op_parallelism_threads=execution.inter_op,
            use_per_session_threads=True,
        )
        config.gpu_options.allow_growth = True
        if not on_gpu:
            config.device_count["GPU"] = 0
        return config

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


def onnx_session(model: Path, execution: Execution | None = None):
    """An ONNX Runtime session on `model` with the options stated in this module's docstring
    (also what bench/serve.py measures its ceiling and baseline with), and why it is not on
    CUDA where that was asked for ("" when it is, or was not asked)."""
    import onnxruntime

    execution = (execution or Execution()).for_model(None)
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = (
        onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        if execution.inter_op == 1
        else onnxruntime.ExecutionMode.ORT_PARALLEL
    )
    options.intra_op_num_threads = execution.intra_op
    options.inter_op_num_threads = execution.inter_op
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    cuda = execution.device != "cpu" and CUDA in onnxruntime.get_available_providers()
    session = onnxruntime.InferenceSession(
        str(model), options, providers=[CUDA, CPU] if cuda else [CPU]
    )
    note = ""
    if execution.device == "cuda" and not cuda:
        note = f"cuda asked for, but this onnxruntime has no {CUDA} (onnxruntime-gpu has): on CPU"
    elif execution.device == "cuda" and CUDA not in session.get_providers():
        note = "cuda asked for, but CUDA found no GPU: on CPU"
    return session, note


def load(version_dir: Path, backend: str, execution: Execution | None = None) -> Backend:
    """Load one version folder: with the named backend ("onnx" or "tf") where it holds both
    formats, else with the one runtime its only model file needs. It runs with `execution` (the
    server's threads and device) as its config.pbtxt updates them."""
    exported = Exported.find(version_dir)
    found = model_files.formats(version_dir, exported)
    if not found:
        raise FileNotFoundError(
            f"{version_dir} holds no model: neither a SavedModel ({model_files.SAVED_MODEL}) "
            f"nor an ONNX model ({model_files.onnx_file_name(version_dir)})"
        )
    kind = backend if backend in found else next(iter(found))
    execution = (execution or Execution()).for_model(model_files.triton_config(version_dir.parent))
    if kind == "onnx":
        return OnnxBackend(version_dir, exported, found["onnx"], execution)
    return TfBackend(version_dir, exported, execution)
