"""`zoo serve` over TLS: REST and gRPC with --ssl-cert and --ssl-key (and --ssl-client-ca to require
client certificates signed by that CA), or gRPC alone with TF Serving's --ssl_config_file.

TF Serving's SSLConfig is protobuf text, read with its own ssl_config.proto (compiled into
serving/protos: tensorflow-serving-api does not ship it), so a file TF Serving reads is read the
same. It holds the PEM text itself: server_key, server_cert, custom_ca, and client_verify, which
requires a client certificate signed by custom_ca. TF Serving applies it to gRPC only
(model_servers/server.cc, BuildServerCredentials), and so does zoo: REST stays plain HTTP.

Everything is read and checked here, before a port is claimed or a model loaded: a file that
cannot be read, is not PEM, an encrypted key or one that is not the certificate's is one line
naming its flag, not a failed handshake later. gRPC takes the PEM text (pickled to each worker with
the rest of the settings); uvicorn reads files, so REST is given their paths.
"""

from __future__ import annotations

import re
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from zoo.serving.core import text_proto
from zoo.serving.core.errors import ServerError
from zoo.serving.protos.tensorflow_serving.config.ssl_config_pb2 import SSLConfig

CERT, KEY, CLIENT_CA, CONFIG = "--ssl-cert", "--ssl-key", "--ssl-client-ca", "--ssl_config_file"
_CERTIFICATE = re.compile(rb"-----BEGIN (TRUSTED |X509 )?CERTIFICATE-----")
_PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----")


@dataclass(frozen=True)
class Tls:
    """The server's key and certificate chain (PEM) and, when client certificates are required,
    the CA (PEM) that must have signed them. `rest_files`, the paths of the same three (the CA's
    None when there is none), is None where TLS is for gRPC only (--ssl_config_file)."""

    key: bytes = field(repr=False)  # kept out of any log or traceback
    cert: bytes
    client_ca: bytes | None = None
    rest_files: tuple[str, str, str | None] | None = None

    def describe(self) -> str:
        """What the log says of it."""
        clients = "client certificates required" if self.client_ca else "no client certificates"
        if self.rest_files:
            return f"TLS on REST and gRPC, {clients}"
        return f"TLS on gRPC only, {clients} ({CONFIG}); REST is plain HTTP"


def add_grpc_port(server: grpc.aio.Server, address: str, tls: Tls | None) -> None:
    """Have the gRPC server listen on `address`, over TLS when `tls` says so."""
    if tls is None:
        server.add_insecure_port(address)
        return
    credentials = grpc.ssl_server_credentials(
        [(tls.key, tls.cert)],
        root_certificates=tls.client_ca,
        require_client_auth=tls.client_ca is not None,
    )
    server.add_secure_port(address, credentials)


def uvicorn_options(tls: Tls | None) -> dict[str, Any]:
    """uvicorn.Config's options for REST: none for plain HTTP."""
    if tls is None or tls.rest_files is None:
        return {}
    cert, key, client_ca = tls.rest_files
    return {
        "ssl_certfile": cert,
        "ssl_keyfile": key,
        "ssl_ca_certs": client_ca,
        "ssl_cert_reqs": ssl.CERT_REQUIRED if client_ca else ssl.CERT_NONE,
    }


def rest_scheme(tls: Tls | None) -> str:
    """REST's URL scheme."""
    return "https" if tls is not None and tls.rest_files is not None else "http"


def choose(
    cert: Path | None,
    key: Path | None,
    client_ca: Path | None = None,
    config_file: Path | None = None,
) -> Tls | None:
    """The TLS the flags ask for, read and checked; None: plain HTTP and gRPC, the default."""
    if config_file is not None:
        if cert or key or client_ca:
            raise ServerError(f"give {CONFIG} (gRPC only) or {CERT} and {KEY}, not both")
        return _from_config(config_file)
    if cert is None and key is None:
        if client_ca is not None:
            raise ServerError(f"{CLIENT_CA} needs {CERT} and {KEY}: the server's own certificate")
        return None
    if cert is None or key is None:
        given, missing = (CERT, KEY) if key is None else (KEY, CERT)
        raise ServerError(f"{given} needs {missing}: TLS takes a certificate and its key")
    named = {CERT: cert, KEY: key, CLIENT_CA: client_ca}  # _check's order
    pems = {flag: _read(path, f"{flag} {path}") for flag, path in named.items() if path}
    tls = Tls(
        pems[KEY],
        pems[CERT],
        pems.get(CLIENT_CA),
        (str(cert.resolve()), str(key.resolve()), client_ca and str(client_ca.resolve())),
    )
    _check(tls, *(f"{flag} {path}" for flag, path in named.items()))
    return tls


def _from_config(path: Path) -> Tls:
    """TF Serving's SSLConfig in `path`, as its server.cc applies it to gRPC."""
    config = text_proto.read(path, SSLConfig(), CONFIG)
    if config.client_verify and not config.custom_ca:
        raise ServerError(
            f"{CONFIG} {path}: client_verify needs custom_ca, the CA the clients' certificates "
            "must be signed by"
        )
    # custom_ca without client_verify asks for no client certificate: TF Serving's server ignores it.
    tls = Tls(
        config.server_key.encode(),
        config.server_cert.encode(),
        config.custom_ca.encode() if config.client_verify else None,
    )
    _check(
        tls, *(f"{CONFIG} {path}: {field}" for field in ("server_cert", "server_key", "custom_ca"))
    )
    return tls


def _read(path: Path, name: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ServerError(f"{name}: cannot read it: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _check(tls: Tls, cert: str, key: str, client_ca: str = "") -> None:
    """ServerError naming the flag unless the certificate and key are PEM, the key is the
    certificate's and unencrypted, and the CA (if any) holds certificates. Python's ssl reads
    certificates and keys from files only, hence the private temporary folder."""
    for pem, pattern, name, what in (
        (tls.cert, _CERTIFICATE, cert, "a PEM certificate"),
        (tls.key, _PRIVATE_KEY, key, "a PEM private key"),
        (tls.client_ca, _CERTIFICATE, client_ca, "PEM certificates"),
    ):
        if pem is not None and not pattern.search(pem):
            raise ServerError(f"{name}: not {what} (-----BEGIN ...-----)")

    def encrypted() -> str:
        raise ServerError(f"{key}: the key is encrypted; give it decrypted (openssl pkey -in KEY)")

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="zoo-tls-") as folder:  # readable by this user only
        cert_file, key_file = Path(folder, "cert.pem"), Path(folder, "key.pem")
        cert_file.write_bytes(tls.cert)
        key_file.write_bytes(tls.key)
        try:
            context.load_cert_chain(cert_file, key_file, password=encrypted)
        except ssl.SSLError as exc:
            if exc.reason == "KEY_VALUES_MISMATCH":
                raise ServerError(f"{key}: not the key of the certificate {cert}") from None
            raise ServerError(f"{cert}, {key}: {exc.reason or exc}") from None
    if tls.client_ca is not None:
        try:
            context.load_verify_locations(cadata=tls.client_ca.decode("ascii", "replace"))
        except ssl.SSLError as exc:
            raise ServerError(f"{client_ca}: {exc.reason or exc}") from None
