"""The one mapping of a ServingError's code to a gRPC status, for every gRPC service (TF Serving's
and KServe v2's) on the server."""

from __future__ import annotations

import grpc

from zoo.serving.errors import NOT_FOUND, RESOURCE_EXHAUSTED, UNAVAILABLE, ServingError

GRPC_STATUS = {  # the rest are INVALID_ARGUMENT
    NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


async def abort(context: grpc.aio.ServicerContext, exc: ServingError) -> None:
    """End the call with the status of `exc` and its message (raises, as context.abort does)."""
    await context.abort(GRPC_STATUS.get(exc.code, grpc.StatusCode.INVALID_ARGUMENT), str(exc))
