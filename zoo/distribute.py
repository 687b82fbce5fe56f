"""Training on several devices or machines, on tf.distribute: the engine users already run.

- `default`: one device, TensorFlow's default strategy.
- `mirrored`: every local GPU (MirroredStrategy; on a machine without one, its one CPU replica).
- `multi-worker`: several processes or hosts (MultiWorkerMirroredStrategy), configured by
  TF_CONFIG as Kubeflow's TFJob or a StatefulSet sets it, or by `cluster_config`, which writes it
  from `--workers host:port,... --worker-index i`.

The recipe's batch size is the global batch: each step, every replica computes its share and the
gradients are all-reduced, so N workers follow one worker's trajectory up to float rounding. The
pipeline shards by data (`make_pipeline`: each worker takes its share of every global batch). The
chief, worker 0, alone writes the run directory; the others write into a temporary folder that is
removed when they finish. TensorFlow is imported only once a strategy is made, so that the CLI
offers the choices and checks --workers without it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from zoo.errors import ZooError

if TYPE_CHECKING:
    import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi-worker")
_ADDRESS = re.compile(r"[A-Za-z0-9.\-\[\]:]+:\d{1,5}")


def cluster_config(workers: Sequence[str], index: int) -> str:
    """TF_CONFIG for worker `index` of `workers` (host:port each), checked."""
    if len(workers) < 1:
        raise ZooError("--workers needs at least one host:port")
    for address in workers:
        if not _ADDRESS.fullmatch(address):
            raise ZooError(f"--workers: {address!r} is not host:port")
    if len(set(workers)) < len(workers):
        raise ZooError(f"--workers names an address twice: {','.join(workers)}")
    if not 0 <= index < len(workers):
        raise ZooError(f"--worker-index must be from 0 to {len(workers) - 1}, got {index}")
    return json.dumps(
        {"cluster": {"worker": list(workers)}, "task": {"type": "worker", "index": index}}
    )


def _multi_worker() -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy as Keras 3's `fit` calls it (keras-team/keras#20585).

    Keras reduces nested structures (a batch's (x, y), the logs) with one `reduce` call, which
    this strategy takes only for single values, and asks for the mean of a scalar metric along
    axis 0. Reducing each value on its own, scalars with no axis, is what Keras means.
    """
    import tensorflow as tf

    class MultiWorker(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op, value, axis):
            def one(v: Any) -> Any:
                rank = self.experimental_local_results(v)[0].shape.rank
                return super(MultiWorker, self).reduce(reduce_op, v, None if rank == 0 else axis)

            return tf.nest.map_structure(one, value)

    return MultiWorker()


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The strategy `name`; create it before any other TensorFlow op (multi-worker needs that)."""
    import tensorflow as tf

    if name not in STRATEGIES:
        raise ZooError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if "TF_CONFIG" not in os.environ:
        raise ZooError("--strategy multi-worker needs TF_CONFIG, or --workers and --worker-index")
    try:
        json.loads(os.environ["TF_CONFIG"])["cluster"]["worker"]
    except (ValueError, KeyError, TypeError):
        raise ZooError(
            "TF_CONFIG is not a cluster: expected "
            '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": N}}'
        ) from None
    return _multi_worker()


def worker(strategy: tf.distribute.Strategy) -> tuple[int, int]:
    """(this worker's index, how many workers): (0, 1) but for multi-worker."""
    import tensorflow as tf

    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        resolver = strategy.cluster_resolver
        return resolver.task_id, len(resolver.cluster_spec().as_dict()["worker"])
    return 0, 1


def describe(strategy: tf.distribute.Strategy, name: str) -> dict[str, Any]:
    """What config.json records of a run's strategy."""
    _, count = worker(strategy)
    return {"name": name, "workers": count, "replicas": strategy.num_replicas_in_sync}
