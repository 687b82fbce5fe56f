"""Triton's statistics extension for both v2 front ends: `GET /v2/models[/NAME[/versions/V]]/stats`
and gRPC's ModelStatistics. The figures come from the core (core/statistics.py, read from the
metrics); this only picks the versions asked for and writes Triton's JSON, which gRPC parses into
its ModelStatisticsResponse, so that the two protocols cannot drift apart.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from zoo.serving.core import statistics
from zoo.serving.core.errors import NotFound
from zoo.serving.core.metrics import Metrics
from zoo.serving.core.repository import Repository
from zoo.serving.core.resolve import ServableRequest, servable

COUNTS = ("last_inference", "inference_count", "execution_count")


def model_statistics(
    repository: Repository, metrics: Metrics, name: str = "", version: str = ""
) -> dict[str, Any]:
    """Triton's $stats_model_response: every served version of every model (no `name`), of one
    model (no `version`), or the one version named; NotFound for a model or version not served."""
    if not name:
        versions = [(n, v) for n, served in repository.models.items() for v in served]
    elif version:
        versions = [(name, servable(repository, ServableRequest.parse(name, version)).version)]
    else:
        versions = [(name, v) for v in repository.models.get(name, [])]
        if not versions:
            raise NotFound(f"Servable not found for request: Latest({name})")
    found = statistics.read(metrics.families(), versions)
    return {"model_stats": [_json(s) for s in found]}


def _json(found: statistics.VersionStatistics) -> dict[str, Any]:
    """One version's $model_stat, in Triton's order, with its version as a string."""
    fields = dataclasses.asdict(found)
    answer = {key: fields.pop(key) for key in ("name", "version", *COUNTS)}
    answer["version"] = str(found.version)
    batches = fields.pop("batch_stats")
    answer["inference_stats"] = fields  # the Durations left: success, fail, queue, ...
    answer["batch_stats"] = batches
    return answer
