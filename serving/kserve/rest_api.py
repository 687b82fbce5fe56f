"""KServe's Open Inference Protocol (v2) over REST, on the same repository and runner as TF Serving's.

With it, KServe, Triton and MLServer clients talk to `zoo serve` too: server liveness and
readiness, model metadata and readiness, and `infer` with JSON tensors (`data` in row-major
order, flat or nested, reshaped to `shape`; a flat `data` is read straight into NumPy; BYTES as
JSON strings) or binary tensors (`binary_tensors`, the extension Triton's client uses by
default). Refusals are the protocol's `{"error": ...}`: 404 for an unknown path, model or
version, 405 for a known path asked with the wrong method, 503 for a full batch queue, 400 for
anything else. Triton's model configuration
extension answers `GET .../config` (`v2_model` reads it), its statistics extension
`GET /v2/models[/NAME[/versions/V]]/stats` (kserve/statistics.py), and its model repository
extension `POST /v2/repository/index` (the served and failed versions and the models not loaded:
how the playground lists models) and `POST /v2/repository/models/NAME/load` or `unload` (with
`zoo serve --model-control-mode explicit`; core/model_control.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from zoo.export.contract import STRING
from zoo.serving.core import json_io, model_control
from zoo.serving.core.decoding import Decoder, LargeBody, in_memory
from zoo.serving.core.errors import InvalidArgument, NotFound, Unavailable, check_method
from zoo.serving.core.metrics import MODEL_INFER, REST
from zoo.serving.core.repository import Repository
from zoo.serving.core.request_record import note_id
from zoo.serving.core.resolve import ServableRequest, servable
from zoo.serving.core.runner import Runner
from zoo.serving.core.servables import Backend
from zoo.serving.kserve import binary_tensors, infer_request, statistics, v2_model
from zoo.serving.kserve.v2_model import DATATYPES

ROUTE = re.compile(
    r"/v2(?:/health/(?P<health>live|ready)|(?P<index>/repository/index)"
    r"|/repository/models/(?P<control>[^/]+)/(?P<action>load|unload)|(?P<stats>/models/stats)"
    r"|/models/(?P<name>[^/]+)(?:/versions/(?P<version>\d+))?"
    r"(?P<verb>/ready|/infer|/config|/stats)?)?"
)
JSON = b"application/json"
OCTET_STREAM = b"application/octet-stream"


class KServeApi:
    """The /v2 routes, under the HTTP shell (http.py): `answer` gives the body and headers of the
    answer, or raises the ServingError to refuse with."""

    PREFIX = "/v2"

    def __init__(self, repository: Repository, runner: Runner, decoder: Decoder) -> None:
        self.repository = repository
        self.runner = runner
        self.decoder = decoder

    async def answer(
        self, method: str, path: str, body: bytes | LargeBody, headers: dict[bytes, bytes]
    ) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """The answer to a request under PREFIX: JSON, or binary outputs after a JSON header
        whose length the Inference-Header-Content-Length header gives (as in the request, when
        it has binary inputs)."""
        answer, header_length = await self._answer(method, path, body, headers)
        if header_length is None:
            return answer, [(b"content-type", JSON)]
        return answer, [
            (b"content-type", OCTET_STREAM),
            (binary_tensors.HEADER, str(header_length).encode()),
        ]

    async def _answer(
        self, method: str, path: str, body: bytes | LargeBody, headers: dict[bytes, bytes]
    ) -> tuple[bytes, int | None]:
        """The answer's body, and the length of its JSON header when binary outputs follow it."""
        route = ROUTE.fullmatch(path)
        if route is None:
            raise NotFound(f"Not found: {method} {path}")
        verb = route["verb"]
        posted = verb == "/infer" or route["index"] or route["control"]
        check_method(method, path, "POST" if posted else "GET")
        if route["health"]:
            return json_io.dumps({route["health"]: self._health(route["health"])}), None
        if route["index"]:
            ready = _request_object(in_memory(body)).get("ready", False)
            return json_io.dumps(v2_model.repository_index(self.repository, ready is True)), None
        if route["control"]:
            return await self._control(route["action"], route["control"], in_memory(body)), None
        if route["stats"] or verb == "/stats":
            answer = statistics.model_statistics(
                self.repository, self.runner.metrics, route["name"] or "", route["version"] or ""
            )
            return json_io.dumps(answer), None
        if route["name"] is None:
            return json_io.dumps(v2_model.server_metadata()), None
        name = route["name"]
        found = servable(self.repository, ServableRequest.parse(name, route["version"]))
        if verb == "/ready":
            return json_io.dumps({"name": name, "ready": True}), None
        if verb == "/config":
            config = v2_model.model_config(name, found)
            return json_io.dumps(v2_model.config_json(config)), None
        if verb == "/infer":
            return await self._infer(name, found, body, headers.get(binary_tensors.HEADER))
        return json_io.dumps(v2_model.model_metadata(self.repository, name, found)), None

    def _health(self, kind: str) -> bool:
        """Live while the process answers; ready as `v2_model.server_ready` says."""
        if kind == "ready" and not v2_model.server_ready(self.repository):
            raise Unavailable("no model is loaded")
        return True

    async def _control(self, action: str, name: str, body: bytes) -> bytes:
        """Load or unload the model `name`: `{}` once done, as Triton answers it with nothing."""
        parameters = _request_object(body).get("parameters", {})
        model_control.check_parameters(action, parameters)
        act = model_control.load if action == "load" else model_control.unload
        await act(self.repository, self.runner.metrics, name)
        return json_io.dumps({})

    async def _infer(
        self, name: str, found: Backend, body: bytes | LargeBody, header_length: bytes | None
    ) -> tuple[bytes, int | None]:
        self.runner.refuse_if_full(found, api=MODEL_INFER, entrypoint=REST)
        request, key, inputs = await self.decoder.decode(
            body, infer_request.decode, header_length, found.signatures
        )
        signature = found.signatures[key]
        note_id(request.get("id"))  # for the access log
        requested = _requested(request.get("outputs", []))
        binary = {
            output: binary_tensors.wants_binary(request, requested.get(output))
            for output in requested or signature.output_names
        }
        outputs = await self.runner.run(
            found,
            inputs,
            list(requested),
            api=MODEL_INFER,
            entrypoint=REST,
            signature=signature,
        )
        return _answer(name, found.version, request.get("id"), outputs, binary)


def _answer(
    name: str,
    version: int,
    request_id: Any,
    outputs: Mapping[str, np.ndarray],
    binary: Mapping[str, bool],
) -> tuple[bytes, int | None]:
    """The infer answer's body, and its JSON header's length when binary outputs follow it."""
    answer: dict[str, Any] = {"model_name": name, "model_version": str(version)}
    if request_id is not None:
        answer["id"] = request_id
    answer["outputs"], blobs = [], []
    for key, value in outputs.items():
        tensor = {"name": key, "datatype": DATATYPES[value.dtype], "shape": list(value.shape)}
        if binary[key]:
            blobs.append(binary_tensors.to_bytes(value))
            tensor["parameters"] = {binary_tensors.SIZE: len(blobs[-1])}
        else:
            tensor["data"] = _json_data(key, value.reshape(-1))
        answer["outputs"].append(tensor)
    header = json_io.dumps(answer)
    if not blobs:
        return header, None
    return b"".join([header, *blobs]), len(header)


def _json_data(name: str, value: np.ndarray) -> Any:
    """An output's flat `data`: numbers as they are, BYTES as strings, as Triton writes them. JSON
    cannot hold bytes that are not UTF-8: such an output must be asked for in binary."""
    if value.dtype != STRING:
        return value

    def decoded(element: bytes) -> str:
        try:
            return element.decode()
        except UnicodeDecodeError:
            raise InvalidArgument(
                f"output {name} holds bytes that are not UTF-8, which JSON cannot carry: ask for "
                f"it in binary (parameters.binary_data)"
            ) from None

    return json_io.jsonable(value, decoded)


def _request_object(body: bytes) -> dict[str, Any]:
    """The JSON object of a request whose body may be empty (the repository extension's)."""
    return json_io.parse(body) if body.strip() else {}


def _requested(outputs: Any) -> dict[str, dict[str, Any]]:
    """The request's `outputs` by name (all outputs when it names none)."""
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise InvalidArgument("'outputs' must be an array of objects with a name")
    return {o["name"]: o for o in outputs}
