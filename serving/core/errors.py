"""Errors a request or a server start-up can cause, each carrying the status code TF Serving would give.

The front ends map the code once each (http.py to HTTP, grpc_status.py to gRPC), so the servables and
the repository raise one kind of error and never think about the protocol.
"""

from __future__ import annotations

import os

from zoo.errors import ZooError

INVALID_ARGUMENT = "INVALID_ARGUMENT"
NOT_FOUND = "NOT_FOUND"
UNAVAILABLE = "UNAVAILABLE"
RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"  # REST only (405): a known path, asked the wrong way


class ServingError(ZooError):
    """A request the server refuses; `code` is TF Serving's canonical status code for it."""

    code = INVALID_ARGUMENT


class InvalidArgument(ServingError):
    """Bad input: a malformed body, unknown input names, a wrong dtype or shape."""


class NotFound(ServingError):
    """No such model or version is being served."""

    code = NOT_FOUND


class Unavailable(ServingError):
    """The model's batch queue is full: refused at once, for the client to retry (REST 503)."""

    code = UNAVAILABLE


class ResourceExhausted(ServingError):
    """A request above the server's size limit (REST 413): refused before it is parsed."""

    code = RESOURCE_EXHAUSTED


class DeadlineExceeded(ServingError):
    """A REST request that took longer than its timeout (504); its place in the queue is freed."""

    code = DEADLINE_EXCEEDED


class MethodNotAllowed(ServingError):
    """A REST path that exists, asked with another method; `allowed` goes in the Allow header."""

    code = METHOD_NOT_ALLOWED

    def __init__(self, method: str, path: str, allowed: str) -> None:
        super().__init__(f"Method {method} is not allowed on {path}: use {allowed}")
        self.allowed = allowed


def check_method(method: str, path: str, allowed: str) -> None:
    """Refuse a request to a known REST path whose method is not the one it takes."""
    if method != allowed:
        raise MethodNotAllowed(method, path, allowed)


# The runtimes' own errors for an input they refuse, by (top-level module, class name), so that
# neither runtime is imported to recognise them: TensorFlow's (eager and TF1 sessions alike) and
# ONNX Runtime's INVALID_ARGUMENT and FAIL statuses.
_RUNTIME_INPUT_ERRORS = {
    ("tensorflow", "InvalidArgumentError"),
    ("onnxruntime", "InvalidArgument"),
    ("onnxruntime", "Fail"),  # what ONNX Runtime raises for a node that cannot take the input
}


def runtime_input_error(exc: BaseException) -> InvalidArgument | None:
    """The model runtime's refusal of a request's input as INVALID_ARGUMENT in the runtime's own
    words, as TF Serving passes TensorFlow's status on; None for any other failure (INTERNAL).

    TensorFlow's eager calls raise UnicodeDecodeError instead of their error when its message
    quotes input bytes that are not UTF-8 (tf.strings.to_number of b"\xff"): the message is
    still there, in the bytes it could not decode, and it is the input's."""
    for kind in type(exc).__mro__:
        if (kind.__module__.partition(".")[0], kind.__name__) in _RUNTIME_INPUT_ERRORS:
            return InvalidArgument(getattr(exc, "message", None) or str(exc))
    if isinstance(exc, UnicodeDecodeError) and _raised_in(exc, "tensorflow"):
        return InvalidArgument(bytes(exc.object).decode("utf-8", "backslashreplace"))
    return None


def _raised_in(exc: BaseException, package: str) -> bool:
    """Whether the innermost frame of `exc`'s traceback is in `package`'s code."""
    traceback = exc.__traceback__
    if traceback is None:
        return False
    while traceback.tb_next is not None:
        traceback = traceback.tb_next
    return f"{os.sep}{package}{os.sep}" in traceback.tb_frame.f_code.co_filename


class ServerError(ZooError):
    """The server cannot start: no models, a port in use. One line for the CLI, exit code 2."""


class ClientError(ZooError):
    """`zoo predict` could not ask or was refused: unreachable server, bad INPUT, an error answer."""
