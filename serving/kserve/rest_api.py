"""KServe's Open Inference Protocol (v2) over REST, on the same repository and runner as TF Serving's.

With it, KServe, Triton and MLServer clients talk to `zoo serve` too: server liveness and
readiness, model metadata and readiness, and `infer` with JSON tensors (`data` in row-major
order, flat or nested, reshaped to `shape`; a flat `data` is read straight into NumPy; BYTES as
JSON strings) or binary tensors (`binary_tensors`, the extension Triton's client uses by
default). Refusals are the protocol's `{"error": ...}`: 404 for an unknown path, model or
version, 405 for a known path asked with the wrong method, 503 for a full batch queue, 400 for
anything else. Triton's model configuration
extension answers `GET .../config` (`v2_model` reads it), its model repository extension
`POST /v2/repository/index` (the served and failed versions: how the playground lists models).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from zoo.export.contract import STRING
from zoo.serving.core import json_io
from zoo.serving.core.errors import InvalidArgument, NotFound, Unavailable, check_method
from zoo.serving.core.limits import check_shape
from zoo.serving.core.metrics import MODEL_INFER, REST
from zoo.serving.core.repository import Repository
from zoo.serving.core.request_record import note_id
from zoo.serving.core.resolve import ServableRequest, servable
from zoo.serving.core.runner import Runner
from zoo.serving.core.servables import Backend
from zoo.serving.core.signature import ModelSignature, signature_taking
from zoo.serving.kserve import binary_tensors, v2_model
from zoo.serving.kserve.flat_data import parse_flat_data
from zoo.serving.kserve.v2_model import DATATYPES

ROUTE = re.compile(
    r"/v2(?:/health/(?P<health>live|ready)|(?P<index>/repository/index)"
    r"|/models/(?P<name>[^/]+)(?:/versions/(?P<version>\d+))?(?P<verb>/ready|/infer|/config)?)?"
)
TENSOR_FIELDS = ("name", "shape", "datatype", "data")
JSON = b"application/json"
OCTET_STREAM = b"application/octet-stream"


class KServeApi:
    """The /v2 routes, under the HTTP shell (http.py): `answer` gives the body and headers of the
    answer, or raises the ServingError to refuse with."""

    PREFIX = "/v2"

    def __init__(self, repository: Repository, runner: Runner) -> None:
        self.repository = repository
        self.runner = runner

    async def answer(
        self, method: str, path: str, body: bytes, headers: dict[bytes, bytes]
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
        self, method: str, path: str, body: bytes, headers: dict[bytes, bytes]
    ) -> tuple[bytes, int | None]:
        """The answer's body, and the length of its JSON header when binary outputs follow it."""
        route = ROUTE.fullmatch(path)
        if route is None:
            raise NotFound(f"Not found: {method} {path}")
        verb = route["verb"]
        check_method(method, path, "POST" if verb == "/infer" or route["index"] else "GET")
        if route["health"]:
            return json_io.dumps({route["health"]: self._health(route["health"])}), None
        if route["index"]:
            return json_io.dumps(v2_model.repository_index(self.repository)), None
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

    async def _infer(
        self, name: str, found: Backend, body: bytes, header_length: bytes | None
    ) -> tuple[bytes, int | None]:
        self.runner.refuse_if_full(found, api=MODEL_INFER, entrypoint=REST)
        signature = found.signature
        if header_length is None:
            request = parse_flat_data(body, signature) or json_io.parse(body)
            chunks = binary_tensors.Chunks(memoryview(b""))
        else:
            header, tail = binary_tensors.split(body, header_length)
            request, chunks = json_io.parse(header), binary_tensors.Chunks(tail)
        note_id(request.get("id"))  # for the access log
        given = request.get("inputs")
        if not isinstance(given, list) or not given:
            raise InvalidArgument("'inputs' must be a non-empty array of input tensors")
        names = (tensor.get("name") for tensor in given if isinstance(tensor, dict))
        signature = signature_taking(found.signatures, signature, names)
        inputs = dict(_input(tensor, signature, chunks) for tensor in given)
        chunks.check_used()
        if len(inputs) != len(given):
            raise InvalidArgument("an input is given more than once")
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


def _input(
    tensor: Any, signature: ModelSignature, chunks: binary_tensors.Chunks
) -> tuple[str, np.ndarray]:
    """One request input as an array of its declared shape, checked against the model's input:
    from its JSON `data`, or from the binary part when its parameters give a binary_data_size."""
    size = binary_tensors.parameters(tensor).get(binary_tensors.SIZE)
    fields = TENSOR_FIELDS if size is None else TENSOR_FIELDS[:-1]
    if not isinstance(tensor, dict) or any(field not in tensor for field in fields):
        raise InvalidArgument(
            f"each input must be an object with {', '.join(TENSOR_FIELDS)} "
            f"(or parameters.{binary_tensors.SIZE} instead of data)"
        )
    name, shape, datatype = tensor["name"], tensor["shape"], tensor["datatype"]
    dtype = v2_model.input_dtype(name, datatype, signature)
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise InvalidArgument(f"input {name}: shape must be a list of sizes, got {shape}")
    check_shape(f"input {name}", shape, dtype.itemsize)
    if size is not None:
        return name, chunks.array(name, size, dtype, shape)
    values = json_io.array(name, tensor["data"], signature)
    if values.size != math.prod(shape):
        raise InvalidArgument(f"input {name}: {values.size} values do not fill the shape {shape}")
    return name, values.reshape(shape)


def _requested(outputs: Any) -> dict[str, dict[str, Any]]:
    """The request's `outputs` by name (all outputs when it names none)."""
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise InvalidArgument("'outputs' must be an array of objects with a name")
    return {o["name"]: o for o in outputs}
