"""TF Serving's `--grpc_channel_arguments`: gRPC server options as `key=value,key=value`.

As TF Serving's main reads them: pairs separated by commas, each split at its first `=`; a value
that is an integer is passed as one, any other as a string (`grpc.max_connection_age_ms=2000,
grpc.primary_user_agent=zoo`). They are set after zoo's own options, so they override them.
"""

from __future__ import annotations

from zoo.serving.core.errors import ServerError

OPTION = "--grpc_channel_arguments"


def parse(text: str | None) -> tuple[tuple[str, int | str], ...]:
    """The (key, value) pairs of `text`; a pair without a key or `=` is a one-line error."""
    pairs = []
    for entry in filter(None, (e.strip() for e in (text or "").split(","))):
        key, equals, value = entry.partition("=")
        if not equals or not key.strip():
            raise ServerError(
                f"{OPTION}: {entry!r} is not KEY=VALUE (e.g. grpc.max_connection_age_ms=2000)"
            )
        value = value.strip()
        number = value.removeprefix("-")
        pairs.append((key.strip(), int(value) if number.isascii() and number.isdigit() else value))
    return tuple(pairs)
