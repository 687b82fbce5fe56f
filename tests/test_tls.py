"""`zoo serve` over TLS, asked by the clients people use: TF Serving's official gRPC stubs,
Triton's tritonclient (HTTP and gRPC), curl and Python's urllib, each trusting a CA made here.

The certificates are made by the openssl command in a temporary folder: a CA, the server's
certificate for 127.0.0.1 and localhost, a client's certificate signed by the CA and one signed by
another CA. A plain-text client is refused, and with --ssl-client-ca so is a client without a
certificate the CA signed. TF Serving's --ssl_config_file (its SSLConfig) puts gRPC behind TLS.
"""

import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from conftest import run_zoo
from google.protobuf import text_format
from helpers import (
    FIRST_MODEL,
    READY_SECONDS,
    Server,
    assert_one_line_error,
    examples,
    grpc_request,
    running,
)
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

from zoo.serving.protos.tensorflow_serving.config.ssl_config_pb2 import SSLConfig

pytestmark = pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command")
SERVER_EXTENSIONS = """\
subjectAltName = IP:127.0.0.1, DNS:localhost
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = {usage}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""


def openssl(folder: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)


def make_ca(folder: Path, name: str) -> None:
    """name.key and name.crt: a self-signed CA."""
    openssl(
        folder,
        *("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
        *("-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={name}"),
    )


def make_signed(folder: Path, name: str, ca: str, usage: str) -> None:
    """name.key and name.crt: a certificate for 127.0.0.1 and localhost, signed by `ca`."""
    (folder / f"{name}.ext").write_text(SERVER_EXTENSIONS.format(usage=usage))
    openssl(
        folder,
        *("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
        *("-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}"),
    )
    openssl(
        folder,
        *("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key"),
        *("-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext"),
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """ca, server (for 127.0.0.1), client (signed by ca) and stranger (signed by another CA)."""
    folder = tmp_path_factory.mktemp("pki")
    for ca in ("ca", "other-ca"):
        make_ca(folder, ca)
    make_signed(folder, "server", "ca", "serverAuth")
    make_signed(folder, "client", "ca", "clientAuth")
    make_signed(folder, "stranger", "other-ca", "clientAuth")
    return folder


def pem(pki: Path, name: str) -> bytes:
    return (pki / name).read_bytes()


class TlsServer(Server):
    """A `zoo serve` behind TLS, asked as a client with `client` (a certificate of pki) would."""

    def __init__(self, root: Path, pki: Path, *options: str, client: str | None = None) -> None:
        super().__init__(root, *options, "--no-ui")
        self.url = f"https://127.0.0.1:{self.rest_port}"
        self.context = ssl.create_default_context(cafile=pki / "ca.crt")
        if client:
            self.context.load_cert_chain(pki / f"{client}.crt", pki / f"{client}.key")
        self.predictions, self.models = stubs(self.grpc_target, credentials(pki, client))

    def wait_ready(self, model: str = FIRST_MODEL, line: str = "REST on https://") -> None:
        """Until the server says it serves (its gRPC and REST ports already listen by then)."""
        deadline = time.monotonic() + READY_SECONDS
        while line not in self.log.read_text():
            assert self.process.poll() is None and time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.2)

    def rest(self, path: str, body=None) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url + path, data=body)
        with urllib.request.urlopen(request, timeout=30, context=self.context) as answer:
            return answer.status, answer.read()


def credentials(pki: Path, client: str | None = None) -> grpc.ChannelCredentials:
    """Trusting pki's CA, and presenting `client`'s certificate when named."""
    key, cert = (pem(pki, f"{client}.key"), pem(pki, f"{client}.crt")) if client else (None, None)
    return grpc.ssl_channel_credentials(pem(pki, "ca.crt"), key, cert)


def stubs(target: str, creds: grpc.ChannelCredentials | None):
    """TF Serving's official PredictionService and ModelService stubs, over TLS or (None) plain."""
    channel = grpc.secure_channel(target, creds) if creds else grpc.insecure_channel(target)
    return (
        prediction_service_pb2_grpc.PredictionServiceStub(channel),
        model_service_pb2_grpc.ModelServiceStub(channel),
    )


def status(models, name: str = FIRST_MODEL) -> str:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    answer = models.GetModelStatus(request, timeout=10)
    return get_model_status_pb2.ModelVersionStatus.State.Name(answer.model_version_status[0].state)


def predict(predictions) -> np.ndarray:
    proto = tf.make_tensor_proto(examples(FIRST_MODEL, 2))
    answer = predictions.Predict(grpc_request(FIRST_MODEL, proto), timeout=30)
    return tf.make_ndarray(answer.outputs["probabilities"])


def curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["curl", "-sS", "--max-time", "20", *args], capture_output=True, text=True
    )


def refused_over_grpc(predictions) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as refused:
        predict(predictions)
    return refused.value.code()


@pytest.fixture(scope="module")
def tls_server(cnn_mnist_root, pki):
    options = ("--ssl-cert", str(pki / "server.crt"), "--ssl-key", str(pki / "server.key"))
    with running(TlsServer(cnn_mnist_root, pki, *options)) as server:
        yield server


def test_tf_servings_grpc_stubs_answer_over_tls(tls_server):
    assert status(tls_server.models) == "AVAILABLE"
    assert predict(tls_server.predictions).shape == (2, 10)
    assert "TLS on REST and gRPC, no client certificates" in tls_server.log.read_text()


def test_triton_clients_answer_over_tls(tls_server, pki):
    ca = str(pki / "ca.crt")
    over_http = triton_http.InferenceServerClient(
        f"127.0.0.1:{tls_server.rest_port}", ssl=True, ssl_options={"ca_certs": ca}
    )
    over_grpc = triton_grpc.InferenceServerClient(
        tls_server.grpc_target, ssl=True, root_certificates=ca
    )
    for client, module in ((over_http, triton_http), (over_grpc, triton_grpc)):
        assert client.is_model_ready(FIRST_MODEL)
        batch = examples(FIRST_MODEL, 2).astype(np.float32)
        inputs = [module.InferInput("images", list(batch.shape), "FP32")]
        inputs[0].set_data_from_numpy(batch)
        answer = client.infer(FIRST_MODEL, inputs)
        assert answer.as_numpy("probabilities").shape == (2, 10)
        client.close()


def test_curl_and_urllib_answer_when_they_trust_the_ca(tls_server, pki):
    path = f"/v1/models/{FIRST_MODEL}"
    answer = curl("--cacert", str(pki / "ca.crt"), tls_server.url + path)
    assert answer.returncode == 0 and '"AVAILABLE"' in answer.stdout, answer.stderr
    assert tls_server.rest(path)[0] == 200
    untrusting = curl(tls_server.url + path)  # the system's CAs never signed the server's
    assert untrusting.returncode == 60, untrusting.stderr  # curl: peer certificate not verified


def test_a_plain_text_client_is_refused(tls_server):
    with pytest.raises(OSError):  # urllib's URLError, a reset or closed connection
        urllib.request.urlopen(f"http://127.0.0.1:{tls_server.rest_port}/v1/models", timeout=10)
    assert curl(f"http://127.0.0.1:{tls_server.rest_port}/v1/models").returncode != 0
    assert refused_over_grpc(stubs(tls_server.grpc_target, None)[0]) == grpc.StatusCode.UNAVAILABLE


def test_ssl_client_ca_requires_a_client_certificate_it_signed(cnn_mnist_root, pki, tmp_path):
    """With --workers 2: both workers start with it (the parent says so once they serve), and
    new connections, each a worker's to take, are all answered."""
    (tmp_path / "models").symlink_to(cnn_mnist_root / "models")
    options = ("--ssl-cert", str(pki / "server.crt"), "--ssl-key", str(pki / "server.key"))
    options += ("--ssl-client-ca", str(pki / "ca.crt"), "--workers", "2")
    server = TlsServer(tmp_path, pki, *options, client="client")
    with running(server) as server:
        server.wait_ready(line="2 workers serving")
        assert "client certificates required" in server.log.read_text()
        for _ in range(4):
            predictions, _ = stubs(server.grpc_target, credentials(pki, "client"))
            assert predict(predictions).shape == (2, 10)
            assert server.rest(f"/v1/models/{FIRST_MODEL}")[0] == 200
        for client in (None, "stranger"):
            predictions, _ = stubs(server.grpc_target, credentials(pki, client))
            assert refused_over_grpc(predictions) == grpc.StatusCode.UNAVAILABLE
        no_certificate = ssl.create_default_context(cafile=pki / "ca.crt")
        with pytest.raises(OSError):  # urllib's URLError, ssl's SSLError, a reset
            urllib.request.urlopen(server.url + "/v1/models", timeout=10, context=no_certificate)
        ca = ("--cacert", str(pki / "ca.crt"))
        mine = ("--cert", str(pki / "client.crt"), "--key", str(pki / "client.key"))
        assert curl(*ca, f"{server.url}/v1/models/{FIRST_MODEL}").returncode != 0
        answer = curl(*ca, *mine, f"{server.url}/v1/models/{FIRST_MODEL}")
        assert answer.returncode == 0 and '"AVAILABLE"' in answer.stdout, answer.stderr
        triton = triton_http.InferenceServerClient(
            f"127.0.0.1:{server.rest_port}",
            ssl=True,
            ssl_options={
                "ca_certs": str(pki / "ca.crt"),
                "certfile": str(pki / "client.crt"),
                "keyfile": str(pki / "client.key"),
            },
        )
        assert triton.is_model_ready(FIRST_MODEL)
        triton.close()


def ssl_config(pki: Path, client_verify: bool, **fields: str) -> str:
    """TF Serving's SSLConfig text, the PEM text inline, as its --ssl_config_file holds it."""
    config = SSLConfig(
        server_key=pem(pki, "server.key").decode(),
        server_cert=pem(pki, "server.crt").decode(),
        custom_ca=pem(pki, "ca.crt").decode(),
        client_verify=client_verify,
    )
    for field, value in fields.items():
        setattr(config, field, value)
    return text_format.MessageToString(config)


def test_tf_servings_ssl_config_file_puts_grpc_behind_tls(cnn_mnist_root, pki, tmp_path):
    """As TF Serving does: gRPC over TLS, client certificates required by client_verify; REST plain."""
    (tmp_path / "models").symlink_to(cnn_mnist_root / "models")
    config = tmp_path / "ssl.config"
    config.write_text(ssl_config(pki, client_verify=True))
    with running(Server(tmp_path, f"--ssl_config_file={config}", "--no-ui")) as server:
        assert server.rest(f"/v1/models/{FIRST_MODEL}")[0] == 200  # plain HTTP, as in TF Serving
        predictions, models = stubs(server.grpc_target, credentials(pki, "client"))
        assert status(models) == "AVAILABLE"
        assert predict(predictions).shape == (2, 10)
        for creds in (None, credentials(pki)):  # plain text; TLS without a client certificate
            assert refused_over_grpc(stubs(server.grpc_target, creds)[0]) == (
                grpc.StatusCode.UNAVAILABLE
            )
        assert (
            "TLS on gRPC only, client certificates required (--ssl_config_file)"
            in server.log.read_text()
        )


@pytest.fixture(scope="module")
def bad_files(pki) -> Path:
    """pki with an encrypted key and SSLConfig files, good and bad."""
    openssl(
        pki, "pkey", "-in", "server.key", "-out", "encrypted.key", "-aes256", "-passout", "pass:x"
    )
    (pki / "misspelt.config").write_text("server_keys: 'x'\n")
    (pki / "no-ca.config").write_text(ssl_config(pki, client_verify=True, custom_ca=""))
    mismatch = ssl_config(pki, False, server_key=pem(pki, "client.key").decode())
    (pki / "mismatch.config").write_text(mismatch)
    (pki / "ssl.config").write_text(ssl_config(pki, client_verify=False))
    return pki


SERVER_PAIR = ["--ssl-cert", "PKI/server.crt", "--ssl-key", "PKI/server.key"]
BAD_FLAGS = {
    "cert without key": (["--ssl-cert", "PKI/server.crt"], "--ssl-cert needs --ssl-key"),
    "key without cert": (["--ssl-key", "PKI/server.key"], "--ssl-key needs --ssl-cert"),
    "client ca alone": (["--ssl-client-ca", "PKI/ca.crt"], "--ssl-client-ca needs --ssl-cert"),
    "missing cert": (
        ["--ssl-cert", "PKI/nope.crt", "--ssl-key", "PKI/server.key"],
        "--ssl-cert PKI/nope.crt: cannot read it: No such file or directory",
    ),
    "key as cert": (
        ["--ssl-cert", "PKI/server.key", "--ssl-key", "PKI/server.key"],
        "--ssl-cert PKI/server.key: not a PEM certificate",
    ),
    "cert as key": (
        ["--ssl-cert", "PKI/server.crt", "--ssl-key", "PKI/server.crt"],
        "--ssl-key PKI/server.crt: not a PEM private key",
    ),
    "another's key": (
        ["--ssl-cert", "PKI/server.crt", "--ssl-key", "PKI/client.key"],
        "--ssl-key PKI/client.key: not the key of the certificate --ssl-cert PKI/server.crt",
    ),
    "encrypted key": (
        ["--ssl-cert", "PKI/server.crt", "--ssl-key", "PKI/encrypted.key"],
        "--ssl-key PKI/encrypted.key: the key is encrypted",
    ),
    "ca a folder": (
        [*SERVER_PAIR, "--ssl-client-ca", "PKI"],
        "--ssl-client-ca",  # click's word: is a directory
    ),
    "ca not pem": (
        [*SERVER_PAIR, "--ssl-client-ca", "PKI/server.key"],
        "--ssl-client-ca PKI/server.key: not PEM certificates",
    ),
    "config and cert": (
        ["--ssl_config_file", "PKI/ssl.config", "--ssl-cert", "PKI/server.crt"],
        "give --ssl_config_file (gRPC only) or --ssl-cert and --ssl-key, not both",
    ),
    "config missing": (
        ["--ssl_config_file", "PKI/nope.config"],
        "--ssl_config_file PKI/nope.config: cannot read it",
    ),
    "config misspelt": (["--ssl_config_file", "PKI/misspelt.config"], "server_keys"),
    "config verify without ca": (
        ["--ssl_config_file", "PKI/no-ca.config"],
        "client_verify needs custom_ca",
    ),
    "config another's key": (
        ["--ssl_config_file", "PKI/mismatch.config"],
        "server_key: not the key of the certificate --ssl_config_file",
    ),
}


@pytest.mark.parametrize(("args", "fragment"), BAD_FLAGS.values(), ids=BAD_FLAGS)
def test_bad_tls_flags_are_one_error_line_before_anything_listens(
    args, fragment, bad_files, cnn_mnist_root
):
    """The REST port asked for is taken: the flags must be refused before it is claimed."""
    args = [arg.replace("PKI", str(bad_files)) for arg in args]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = run_zoo(
            "serve", "--model-dir", str(cnn_mnist_root / "models"), "--rest-port", port, *args
        )
    assert_one_line_error(result, fragment.replace("PKI", str(bad_files)))
