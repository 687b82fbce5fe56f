"""The one mapping of a ServingError's code to a gRPC status, for every gRPC service on the server
(TF Serving's and KServe v2's): the gRPC counterpart of http.py's HTTP statuses."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from zoo.serving.core.errors import NOT_FOUND, RESOURCE_EXHAUSTED, UNAVAILABLE, ServingError

GRPC_STATUS = {  # the rest are INVALID_ARGUMENT
    NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
}
Answer = TypeVar("Answer")
Method = Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[Answer]]


def status_code(exc: ServingError) -> grpc.StatusCode:
    return GRPC_STATUS.get(exc.code, grpc.StatusCode.INVALID_ARGUMENT)


def maps_errors(method: Method) -> Method:
    """An RPC of a servicer that ends its call with the status and message of any ServingError it
    raises, as context.abort does; other exceptions are grpc's UNKNOWN, as before."""

    @functools.wraps(method)
    async def answer(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Answer:
        try:
            return await method(self, request, context)
        except ServingError as exc:
            await context.abort(status_code(exc), str(exc))

    return answer
