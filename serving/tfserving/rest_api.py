"""TF Serving's REST API: status, metadata, :predict, :classify and :regress under /v1/models/.

A version is named by number (`/versions/2`) or by label (`/labels/stable`); the core resolves it
(`resolve`). Bodies are TF Serving's JSON (`json_tensors`, `examples` for the Example-based
methods); refusals are raised as ServingErrors for the HTTP shell (http.py) to answer.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import orjson

from zoo.serving.core import metrics
from zoo.serving.core.decoding import Decoder, LargeBody
from zoo.serving.core.errors import check_method
from zoo.serving.core.repository import Repository
from zoo.serving.core.resolve import ServableRequest, servable, status
from zoo.serving.core.runner import Runner
from zoo.serving.core.servables import Backend
from zoo.serving.core.signature import ModelSignature
from zoo.serving.tfserving import bodies, json_tensors, methods
from zoo.serving.tfserving.metadata import signature_def_map, to_json

ROUTE = re.compile(
    r"/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
    r"(?:(?P<metadata>/metadata)|:(?P<verb>predict|classify|regress))?"
)
EXAMPLE_METHODS = {"classify": methods.classify, "regress": methods.regress}
APIS = {"predict": metrics.PREDICT, "classify": metrics.CLASSIFY, "regress": metrics.REGRESS}


class TfServingApi:
    """The /v1/models/ routes, under the HTTP shell: `answer` gives the JSON body of the answer (None
    for a path that is not one of them), or raises the ServingError to refuse with."""

    def __init__(self, repository: Repository, runner: Runner, decoder: Decoder) -> None:
        self.repository = repository
        self.runner = runner
        self.decoder = decoder

    async def answer(self, method: str, path: str, body: bytes | LargeBody) -> bytes | None:
        route = ROUTE.fullmatch(path)
        if route is None:
            return None
        verb = route["verb"]
        check_method(method, path, "POST" if verb else "GET")
        request = ServableRequest.parse(route["name"], route["version"], route["label"])
        if route["metadata"]:
            return orjson.dumps(self._metadata(request))
        if not verb:
            return orjson.dumps(self._status(request))
        found = servable(self.repository, request)
        self.runner.refuse_if_full(found, api=APIS[verb], entrypoint=metrics.REST)
        if verb == "predict":
            key, fmt, inputs = await self.decoder.decode(body, bodies.predict, found.signatures)
            named = found.signatures[key]
            return json_tensors.predict_answer(fmt, await self._predict(found, named, inputs))
        key, examples = await self.decoder.decode(body, bodies.examples, found.signatures)
        result = await EXAMPLE_METHODS[verb](
            self.runner, found, found.signatures[key], examples, metrics.REST
        )
        return methods.results_json(result)

    async def _predict(
        self, found: Backend, named: ModelSignature, inputs: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        return await self.runner.run(
            found, inputs, api=metrics.PREDICT, entrypoint=metrics.REST, signature=named
        )

    def _metadata(self, request: ServableRequest) -> dict[str, Any]:
        found = servable(self.repository, request)
        return {
            "model_spec": {
                "name": request.name,
                "signature_name": "",
                "version": str(found.version),
            },
            "metadata": {"signature_def": to_json(signature_def_map(found))},
        }

    def _status(self, request: ServableRequest) -> dict[str, Any]:
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
                for s in status(self.repository, request)
            ]
        }
