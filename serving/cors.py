"""CORS on the REST port, so that a web page on another origin may call it: `--rest-cors-origin
ORIGIN` (repeatable) allows those origins, TF Serving's `--rest_api_enable_cors_support` any.

A browser asks first (an OPTIONS preflight: Origin, Access-Control-Request-Method and -Headers)
before it sends a JSON POST from another origin, and lets the page read an answer only when it
names the page's origin in Access-Control-Allow-Origin. So for an allowed origin this answers the
preflight itself (204: the methods, the headers asked for, how long to keep the answer) and adds
the header, with Vary: Origin, to every answer of the app it wraps, refusals and errors included.
A preflight from another origin is refused (403) without the header; a request from another
origin is answered as before, without the header, and its browser keeps the answer from the page.
Nothing is credentialed (no cookies are used), so the headers the page asks to send are allowed.

It wraps http.py's app only when an origin is allowed: without CORS nothing is added to a
request's path. Starlette's CORSMiddleware does the same, but Starlette is not a dependency of the
server (http.py is a bare ASGI app, the fastest of bench/http_stack.py's stacks), and these few
lines are the part of it zoo needs.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable

from zoo.serving.core import json_io
from zoo.serving.core.errors import ServerError

ANY = "*"
OPTION, ANY_OPTION = "--rest-cors-origin", "--rest_api_enable_cors_support"
METHODS = b"GET, POST"
MAX_AGE = b"600"  # seconds a browser may keep a preflight's answer
# KServe v2's binary extension: the length of the JSON part, for a page to split the body.
EXPOSED = b"Inference-Header-Content-Length"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origins(given: Iterable[str], any_origin: bool = False) -> tuple[str, ...]:
    """The allowed origins, each as a browser sends it (ANY alone for any origin); none: no CORS."""
    if any_origin:
        return (ANY,)
    allowed = tuple(dict.fromkeys(_origin(text) for text in given))
    return (ANY,) if ANY in allowed else allowed


def _origin(text: str) -> str:
    """`text` as a browser writes its Origin header: scheme://host[:port], lower case, without a
    default port; anything else is a one-line error."""
    if text.strip() == ANY:
        return ANY
    parts = urllib.parse.urlsplit(text.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (
        not parts.scheme
        or not parts.hostname
        or port == -1
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
    ):
        raise ServerError(
            f"{OPTION} {text!r}: an origin is SCHEME://HOST[:PORT], e.g. https://app.example.com "
            "(or * for any)"
        )
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    shown_port = "" if port in (None, _DEFAULT_PORTS.get(parts.scheme)) else f":{port}"
    return f"{parts.scheme}://{host}{shown_port}".lower()


def wrap(app, allowed: Iterable[str]):
    """`app` answering the CORS of the `allowed` origins; `app` itself when none are."""
    allowed = frozenset(allowed)
    return Cors(app, allowed) if allowed else app


class Cors:
    """An ASGI app that answers preflights and adds the CORS headers to `app`'s answers."""

    def __init__(self, app, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(allowed)
        self.any = ANY in self.allowed

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        origin = headers.get(b"origin")
        if origin is None:  # not a browser's cross-origin request
            return await self.app(scope, receive, send)
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            return await self._preflight(origin, headers, send)
        granted = self._granted(origin)
        if not granted:
            return await self.app(scope, receive, send)

        async def send_granted(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *granted]}
            await send(message)

        await self.app(scope, receive, send_granted)

    def _granted(self, origin: bytes) -> list[tuple[bytes, bytes]]:
        """The headers that let a page on `origin` read the answer; none when it is not allowed."""
        if self.any:
            return [
                (b"access-control-allow-origin", b"*"),
                (b"access-control-expose-headers", EXPOSED),
            ]
        if origin.decode("latin-1").lower() not in self.allowed:
            return []
        return [
            (b"access-control-allow-origin", origin),
            (b"access-control-expose-headers", EXPOSED),
            (b"vary", b"Origin"),
        ]

    async def _preflight(self, origin: bytes, headers: dict[bytes, bytes], send) -> None:
        granted = self._granted(origin)
        if granted:
            status, body = 204, b""
            granted += [
                (b"access-control-allow-methods", METHODS),
                (b"access-control-max-age", MAX_AGE),
            ]
            asked = headers.get(b"access-control-request-headers")
            if asked:
                granted.append((b"access-control-allow-headers", asked))
        else:
            status = 403
            body = json_io.error(
                f"CORS: origin {origin.decode('latin-1')} is not allowed (zoo serve {OPTION})"
            )
            granted = [(b"content-type", b"application/json"), (b"vary", b"Origin")]
        granted.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": granted})
        await send({"type": "http.response.body", "body": body})


def describe(allowed: Iterable[str]) -> str:
    """What the log says of the allowed origins."""
    allowed = tuple(allowed)
    return f"any origin ({ANY_OPTION})" if ANY in allowed else ", ".join(allowed)
