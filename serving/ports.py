"""Claim the REST and gRPC ports before anything loads, so a port in use is a one-line error.

REST: the socket is bound and listening here (SO_REUSEADDR, so a restart does not wait out
TIME_WAIT); every worker serves on this one socket.

gRPC: grpc.aio binds with SO_REUSEPORT, which lets a second server on the same port start and take
half the connections. So the port is first probed with a plain socket (SO_REUSEADDR only, which the
kernel refuses while anything listens on the port or holds it without SO_REUSEADDR), then held for
the server's lifetime by a guard: bound with SO_REUSEPORT alone and never listening. The guard
makes a later server's probe fail, lets this server's own gRPC listeners bind beside it (same user,
SO_REUSEPORT), and receives no connections. Port 0 is resolved once, by the probe.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass

from zoo.serving.core.errors import ServerError


@dataclass(frozen=True)
class Ports:
    """The listening REST socket and the gRPC port (a real one, never 0) the servers bind."""

    rest: socket.socket
    grpc_port: int


@contextlib.contextmanager
def claim(host: str, rest_port: int, grpc_port: int) -> Iterator[Ports]:
    """Both ports, held until the block ends; ServerError naming the first one in use."""
    with contextlib.ExitStack() as held:
        rest = held.enter_context(_socket(host, rest_port, "REST", reuse_address=True))
        rest.listen(1024)
        with _socket(host, grpc_port, "gRPC", reuse_address=True) as probe:
            grpc_port = probe.getsockname()[1]
        held.enter_context(_socket(host, grpc_port, "gRPC", reuse_port=True))
        yield Ports(rest, grpc_port)


def _socket(
    host: str, port: int, protocol: str, reuse_address: bool = False, reuse_port: bool = False
) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, int(reuse_address))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, int(reuse_port))
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServerError(f"cannot listen on {host}:{port} ({protocol}): {exc.strerror}") from None
    return sock
