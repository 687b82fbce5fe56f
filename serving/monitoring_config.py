"""TF Serving's `--monitoring_config_file`: where the Prometheus metrics are served.

    prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }

The file is a MonitoringConfig in protobuf's text format, parsed with TF Serving's own
monitoring_config.proto (compiled into serving/protos; tensorflow-serving-api does not ship it): a
file TF Serving reads is read the same, and a misspelt field is refused. Without the file zoo serves
the metrics at both of metrics.PATHS; with it, where it says (TF Serving's default path when it
names none), and nowhere when `enable` is false.
"""

from __future__ import annotations

from pathlib import Path

from zoo.serving.core import text_proto
from zoo.serving.core.errors import ServerError
from zoo.serving.core.metrics import PATHS
from zoo.serving.protos.tensorflow_serving.config.monitoring_config_pb2 import MonitoringConfig

OPTION = "--monitoring_config_file"
DEFAULT_PATH = PATHS[0]  # TF Serving's, when prometheus_config names no path


def metrics_paths(path: Path | None) -> tuple[str, ...]:
    """The REST paths of the metrics: both of zoo's without a file, else the file's (or none)."""
    if path is None:
        return PATHS
    config = text_proto.read(path, MonitoringConfig(), OPTION)
    prometheus = config.prometheus_config
    if not prometheus.enable:
        return ()
    if prometheus.path and not prometheus.path.startswith("/"):
        raise ServerError(
            f"{OPTION} {path}: prometheus_config.path {prometheus.path!r} must start with /"
        )
    return (prometheus.path or DEFAULT_PATH,)
