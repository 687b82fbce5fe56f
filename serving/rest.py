"""TF Serving's REST API as a bare ASGI app: status, metadata, :predict, :classify and :regress
under /v1/models/, KServe's v2 protocol (kserve.py) under /v2/, and the server's Prometheus metrics
at /monitoring/prometheus/metrics.

A bare ASGI callable on uvicorn (httptools, uvloop) is the fastest of the stacks that
bench/http_stack.py compares (fastest in every quiet run, up to 1.65x; docs/serving.md); one
regular expression routes, because the API has one URL shape.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson

from serving import json_tensors, methods, metrics
from serving.errors import NOT_FOUND, UNAVAILABLE, ServingError
from serving.examples import input_from_json
from serving.kserve import KServeApi
from serving.metadata import signature_def_map, to_json
from serving.repository import Repository
from serving.runner import Runner

ROUTE = re.compile(
    r"/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
    r"(?:(?P<metadata>/metadata)|:(?P<verb>predict|classify|regress))?"
)
HTTP_STATUS = {NOT_FOUND: 404, UNAVAILABLE: 503}  # every other refusal is a 400, as in TF Serving
EXAMPLE_METHODS = {"classify": methods.classify, "regress": methods.regress}
log = logging.getLogger(__name__)
JSON = b"application/json"
METRICS = metrics.CONTENT_TYPE.encode()


class RestApp:
    """The ASGI application; every answer is JSON, every refusal `{"error": ...}`."""

    def __init__(self, repository: Repository, runner: Runner) -> None:
        self.repository = repository
        self.runner = runner
        self.kserve = KServeApi(repository, runner)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":  # lifespan is off; nothing else is spoken here
            return
        content_type = JSON
        try:
            if scope["path"] == metrics.PATH and scope["method"] == "GET":
                status, answer, content_type = 200, self.runner.metrics.text(), METRICS
            else:
                status, answer = 200, await self._answer(scope, receive)
        except ServingError as exc:
            status, answer = HTTP_STATUS.get(exc.code, 400), json_tensors.error(str(exc))
        except Exception as exc:  # a bug, not the client's fault: say so, log it, keep serving
            log.exception("%s %s failed", scope["method"], scope["path"])
            status, answer = 500, json_tensors.error(f"internal error: {type(exc).__name__}: {exc}")
        headers = [(b"content-type", content_type), (b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    async def _answer(self, scope, receive) -> bytes:
        method, path = scope["method"], scope["path"]
        body = await _body(receive) if method == "POST" else b""
        if path.startswith(KServeApi.PREFIX):
            return await self.kserve.answer(method, path, body)
        route = ROUTE.fullmatch(path)
        verb = route and route["verb"]
        if route is None or method != ("POST" if verb else "GET"):
            raise ServingError(f"Malformed request: {method} {path}")
        name, label = route["name"], route["label"]
        version = int(route["version"]) if route["version"] else None
        if route["metadata"]:
            return orjson.dumps(self._metadata(name, version, label))
        if not verb:
            return orjson.dumps(self._status(name, version, label))
        servable = self.repository.servable(name, version, label)
        if verb == "predict":
            fast = json_tensors.fast_predict_inputs(body, servable.signature)
            if fast is not None:
                fmt, inputs, signature_name = fast
                json_tensors.check_signature_name(signature_name)
                return json_tensors.predict_answer(fmt, await self.runner.run(servable, inputs))
        request = json_tensors.parse(body)
        json_tensors.check_signature_name(request.get("signature_name"))
        if verb in EXAMPLE_METHODS:
            result = await EXAMPLE_METHODS[verb](self.runner, servable, input_from_json(request))
            return methods.results_json(result)
        fmt, inputs = json_tensors.predict_inputs(request, servable.signature)
        return json_tensors.predict_answer(fmt, await self.runner.run(servable, inputs))

    def _metadata(self, name: str, version: int | None, label: str | None) -> dict[str, Any]:
        servable = self.repository.servable(name, version, label)
        return {
            "model_spec": {"name": name, "signature_name": "", "version": str(servable.version)},
            "metadata": {"signature_def": to_json(signature_def_map(servable.signature))},
        }

    def _status(self, name: str, version: int | None, label: str | None) -> dict[str, Any]:
        return {
            "model_version_status": [
                {
                    "version": str(s.version),
                    "state": s.state,
                    "status": {
                        "error_code": "UNKNOWN" if s.error else "OK",
                        "error_message": s.error,
                    },
                }
                for s in self.repository.status(name, version, label)
            ]
        }


async def _body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)
