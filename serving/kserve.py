"""KServe's Open Inference Protocol (v2) over REST, on the same repository and runner as TF Serving's.

With it, KServe, Triton and MLServer clients talk to `zoo serve` too: server liveness and
readiness, model metadata and readiness, and `infer` with JSON tensors (`data` in row-major order,
flat or nested, reshaped to `shape`; a flat `data` is read straight into NumPy). Refusals are the
protocol's `{"error": ...}`: 404 for an unknown model or version, 503 for a full batch queue, 400
for anything else. Triton's model configuration extension answers `GET .../config` (`v2_model`
reads it). The binary tensor extension is not spoken; its
bodies are not JSON and get a 400.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from serving import json_tensors, v2_model
from serving.backends import Backend
from serving.errors import InvalidArgument, ServingError
from serving.repository import Repository
from serving.runner import Runner
from serving.signature import ModelSignature
from serving.v2_model import DATATYPES

ROUTE = re.compile(
    r"/v2(?:/health/(?P<health>live|ready)"
    r"|/models/(?P<name>[^/]+)(?:/versions/(?P<version>\d+))?(?P<verb>/ready|/infer|/config)?)?"
)
TENSOR_FIELDS = ("name", "shape", "datatype", "data")


class KServeApi:
    """The /v2 routes; `answer` gives the JSON body or raises the ServingError to refuse with."""

    PREFIX = "/v2"

    def __init__(self, repository: Repository, runner: Runner) -> None:
        self.repository = repository
        self.runner = runner

    async def answer(self, method: str, path: str, body: bytes) -> bytes:
        route = ROUTE.fullmatch(path)
        verb = route and route["verb"]
        if route is None or method != ("POST" if verb == "/infer" else "GET"):
            raise ServingError(f"Malformed request: {method} {path}")
        if route["health"]:
            return json_tensors.dumps({route["health"]: self._health(route["health"])})
        if route["name"] is None:
            return json_tensors.dumps(v2_model.server_metadata())
        name = route["name"]
        version = int(route["version"]) if route["version"] else None
        servable = self.repository.servable(name, version)
        if verb == "/ready":
            return json_tensors.dumps({"name": name, "ready": True})
        if verb == "/config":
            return json_tensors.dumps(v2_model.config_json(v2_model.model_config(name, servable)))
        if verb == "/infer":
            request = json_tensors.parse_flat_data(body, servable.signature)
            return await self._infer(name, servable, request or json_tensors.parse(body))
        return json_tensors.dumps(v2_model.model_metadata(self.repository, name, servable))

    def _health(self, kind: str) -> bool:
        """Live while the process answers; ready as `v2_model.server_ready` says."""
        if kind == "ready" and not v2_model.server_ready(self.repository):
            raise ServingError("no model is loaded")
        return True

    async def _infer(self, name: str, servable: Backend, request: Mapping[str, Any]) -> bytes:
        given = request.get("inputs")
        if not isinstance(given, list) or not given:
            raise InvalidArgument("'inputs' must be a non-empty array of input tensors")
        inputs = dict(_input(tensor, servable.signature) for tensor in given)
        if len(inputs) != len(given):
            raise InvalidArgument("an input is given more than once")
        outputs = await self.runner.run(servable, inputs, _requested(request.get("outputs", [])))
        answer = {
            "model_name": name,
            "model_version": str(servable.version),
            "outputs": [
                {
                    "name": key,
                    "datatype": DATATYPES[value.dtype],
                    "shape": list(value.shape),
                    "data": value.reshape(-1),
                }
                for key, value in outputs.items()
            ],
        }
        if "id" in request:
            answer["id"] = request["id"]
        return json_tensors.dumps(answer)


def _input(tensor: Any, signature: ModelSignature) -> tuple[str, np.ndarray]:
    """One request input as an array of its declared shape, checked against the model's input."""
    if not isinstance(tensor, dict) or any(field not in tensor for field in TENSOR_FIELDS):
        raise InvalidArgument(f"each input must be an object with {', '.join(TENSOR_FIELDS)}")
    name, shape, datatype = tensor["name"], tensor["shape"], tensor["datatype"]
    v2_model.input_dtype(name, datatype, signature)
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise InvalidArgument(f"input {name}: shape must be a list of sizes, got {shape}")
    values = json_tensors.array(name, tensor["data"], signature)
    if values.size != math.prod(shape):
        raise InvalidArgument(f"input {name}: {values.size} values do not fill the shape {shape}")
    return name, values.reshape(shape)


def _requested(outputs: Any) -> list[str]:
    """The names in the request's `outputs` (all outputs when it names none)."""
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise InvalidArgument("'outputs' must be an array of objects with a name")
    return [o["name"] for o in outputs]
