"""Where a model runs and how many threads its runtime may use: TF Serving's flags for the whole
server, Triton's per-model config.pbtxt `parameters`, and zoo's default between them.

- intra-op threads split one operator (a convolution, a matmul) across cores: what makes one
  request on a big model faster. TF Serving's `--tensorflow_intra_op_parallelism`, Triton's
  `intra_op_thread_count`; 0 lets the runtime choose (it takes every core).
- inter-op threads run independent operators of the graph at the same time (ONNX Runtime's
  parallel execution mode when more than one). `--tensorflow_inter_op_parallelism`,
  `inter_op_thread_count`.

The default gives each model's runtime the cores this process may use (a `taskset` pin counts),
shared among the `--workers` processes, as TF Serving and Triton give every core: 2 intra-op
threads on this 2-core machine with one worker, 1 (the one setting there was before these
options) with `--workers 2`, 16 on a 16-core machine. It is one pool per model, which its
concurrent batches share (a session's pool serves every run of it, and the calling batch thread
computes too), so a lone client gets every core while a loaded server runs at most a batch thread
and a pool thread per core, not a pool per batch thread. docs/serving.md has the figures that
chose it: here a second thread gave a loaded ResNet 2.3x the req/s and a lone client up to 1.3x,
and lost only while other jobs took the second core. A model's config.pbtxt wins over the flags,
the flags over the default.

The device: `--device auto|cpu|cuda`, or a model's config.pbtxt as Triton reads it (an
`instance_group` of KIND_GPU or KIND_CPU, a `gpu_execution_accelerator`). `auto` and `cuda` take
CUDA where the runtime has it and a GPU is present; the load line says what each version runs on,
and why not CUDA when it was asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tritonclient.grpc import model_config_pb2

from zoo.serving.core.batching import available_cores
from zoo.serving.core.errors import ServerError

DEVICES = ("auto", "cpu", "cuda")
INTRA_OP = "intra_op_thread_count"  # Triton's ONNX Runtime backend's parameter names
INTER_OP = "inter_op_thread_count"


@dataclass(frozen=True)
class Execution:
    """Threads and device for a model's runtime. The server's settings leave a count None (the
    default); `for_model` makes them one model's, every count set."""

    intra_op: int | None = None
    inter_op: int | None = None
    device: str = "auto"
    workers: int = 1  # server processes sharing the cores (--workers)

    def __post_init__(self) -> None:
        for name in ("intra_op", "inter_op"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ServerError(f"{name} threads must not be negative (0: the runtime chooses)")
        if self.device not in DEVICES:
            raise ServerError(f"device must be one of {', '.join(DEVICES)}, not {self.device!r}")

    def for_model(self, config) -> Execution:
        """This model's settings: its config.pbtxt's (Triton's ModelConfig, or None), else these,
        else the default."""
        parameters = config.parameters if config is not None else {}
        own_device = model_device(config) if config is not None else None
        return replace(
            self,
            intra_op=_first(
                _parameter(parameters, INTRA_OP),
                self.intra_op,
                default_intra_op(self.workers),
            ),
            inter_op=_first(_parameter(parameters, INTER_OP), self.inter_op, 1),
            device=own_device or self.device,
        )

    def describe(self) -> str:
        """`2 intra-op threads, 1 inter-op thread`, as the load line says it."""

        def count(value: int | None, kind: str) -> str:
            if not value:
                return f"{kind} threads: the runtime's choice"
            return f"{value} {kind} thread{'s' * (value > 1)}"

        return f"{count(self.intra_op, 'intra-op')}, {count(self.inter_op, 'inter-op')}"


def default_intra_op(workers: int) -> int:
    """The cores this process may use, shared among the workers (at least one)."""
    return max(1, available_cores() // workers)


def model_device(config) -> str | None:
    """The device a Triton ModelConfig asks for: "cuda" for a GPU instance group or accelerator,
    "cpu" for a CPU instance group, None (the server's --device) for neither."""
    kinds = {group.kind for group in config.instance_group}
    if config.optimization.execution_accelerators.gpu_execution_accelerator or (
        model_config_pb2.ModelInstanceGroup.KIND_GPU in kinds
    ):
        return "cuda"
    if model_config_pb2.ModelInstanceGroup.KIND_CPU in kinds:
        return "cpu"
    return None


def _parameter(parameters, key: str) -> int | None:
    """A thread count from config.pbtxt's `parameters` (string values, as Triton's are), or None."""
    if key not in parameters:
        return None
    text = parameters[key].string_value.strip()
    if not (text.isascii() and text.isdigit()):
        raise ValueError(
            f"config.pbtxt: parameter {key} must be a whole number of threads, 0 or more "
            f"(0: the runtime chooses), got {text!r}"
        )
    return int(text)


def _first(*values: int | None) -> int:
    return next(v for v in values if v is not None)
