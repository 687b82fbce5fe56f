"""TF Serving's `--monitoring_config_file`: where the Prometheus metrics are served.

    prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }

The file is a MonitoringConfig in protobuf's text format. tensorflow-serving-api ships no module
for monitoring_config.proto, so its two messages are declared here field for field as TF Serving's
file declares them (package tensorflow.serving), and parsed by protobuf's own text format: a file
TF Serving reads is read the same, and a misspelt field is refused. Without the file zoo serves
the metrics at both of metrics.PATHS; with it, where it says (TF Serving's default path when it
names none), and nowhere when `enable` is false.
"""

from __future__ import annotations

from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

from zoo.serving.core.errors import ServerError
from zoo.serving.core.metrics import PATHS

OPTION = "--monitoring_config_file"
DEFAULT_PATH = PATHS[0]  # TF Serving's, when prometheus_config names no path


def _message_class():
    """MonitoringConfig, from a FileDescriptorProto equal to monitoring_config.proto's."""
    file = descriptor_pb2.FileDescriptorProto(
        name="zoo/tensorflow_serving/config/monitoring_config.proto",
        package="tensorflow.serving",
        syntax="proto3",
    )
    field = descriptor_pb2.FieldDescriptorProto
    prometheus = file.message_type.add(name="PrometheusConfig")
    prometheus.field.add(name="enable", number=1, type=field.TYPE_BOOL, label=field.LABEL_OPTIONAL)
    prometheus.field.add(name="path", number=2, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    monitoring = file.message_type.add(name="MonitoringConfig")
    monitoring.field.add(
        name="prometheus_config",
        number=1,
        type=field.TYPE_MESSAGE,
        type_name=".tensorflow.serving.PrometheusConfig",
        label=field.LABEL_OPTIONAL,
    )
    pool = descriptor_pool.DescriptorPool()  # its own pool: no clash with any other definition
    pool.Add(file)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig")
    )


def metrics_paths(path: Path | None) -> tuple[str, ...]:
    """The REST paths of the metrics: both of zoo's without a file, else the file's (or none)."""
    if path is None:
        return PATHS
    config = _message_class()()
    try:
        text_format.Parse(path.read_text(), config)
    except (OSError, UnicodeDecodeError) as exc:
        raise ServerError(f"{OPTION} {path}: cannot read it: {exc}") from None
    except text_format.ParseError as exc:
        raise ServerError(f"{OPTION} {path}: line {exc}") from None
    prometheus = config.prometheus_config
    if not prometheus.enable:
        return ()
    if prometheus.path and not prometheus.path.startswith("/"):
        raise ServerError(
            f"{OPTION} {path}: prometheus_config.path {prometheus.path!r} must start with /"
        )
    return (prometheus.path or DEFAULT_PATH,)
