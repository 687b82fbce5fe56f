"""`zoo predict`: turn a user's files or numbers into the model's input, ask a server, name the answer.

It speaks TF Serving's own APIs (REST or gRPC), so it works against `zoo serve` and a real TF Serving
alike: the input's name, shape and dtype come from the server's metadata. The labels, and how the
model's images were drawn, come from the served model too: the model configuration of Triton's API
on the same port (REST GET /v2/models/NAME/config, gRPC ModelConfig), whose parameters `zoo export`
writes (export/contract.py), so a model of one's own answers with its own labels whatever its name.
A server that has no such configuration (a real TF Serving) is read as the zoo's catalogue has the
model of that name, if any.

Neither needs TensorFlow: REST reads the metadata as JSON, and gRPC uses TF Serving's stubs as
compiled into `zoo.serving.protos`, so `zoo predict` starts in a fraction of a second either way.

A client fails at once when nothing listens, as gRPC's stubs and Triton's clients do, unless asked to
`wait` for a server that is starting (gRPC's wait_for_ready): `zoo serve &` then `zoo predict`,
pasted together, would otherwise ask before the server has bound its port.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo import catalogue, images
from zoo.export.contract import (
    IMAGE_SIGNATURE,
    LABELS_PARAMETER,
    OUTPUTS,
    POLARITY,
    SIGNATURE_NAME,
    STRING,
)
from zoo.serving.core.errors import ClientError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
TIMEOUT = 30.0
RETRY_SECONDS = 0.1  # between a waiting REST client's attempts to connect
# A waiting gRPC channel's attempts: gRPC's default backoff (1 s, growing 1.6x) would add seconds.
RECONNECT_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 250),
]
MAX_IMAGE_PIXELS = 4096 * 4096  # a decoded image is this many bytes per channel: 16 MB, not GBs
(GENERATED,) = OUTPUTS["generative"]  # a generator's output, as the export names it


# TensorFlow's DataType names (types.proto) of the dtypes a served input can have, as NumPy's.
NUMPY_DTYPES = {
    "DT_FLOAT": np.float32,
    "DT_DOUBLE": np.float64,
    "DT_HALF": np.float16,
    "DT_INT8": np.int8,
    "DT_INT16": np.int16,
    "DT_INT32": np.int32,
    "DT_INT64": np.int64,
    "DT_UINT8": np.uint8,
    "DT_UINT16": np.uint16,
    "DT_UINT32": np.uint32,
    "DT_UINT64": np.uint64,
    "DT_BOOL": np.bool_,
    "DT_STRING": STRING,
}


class InputInfo:
    """The input of the served model's signature `signature` as its metadata describes it (name,
    shape with -1, dtype), and its outputs.

    Read from the signature_def map in its JSON form, as REST sends it and as gRPC's proto prints.
    """

    def __init__(self, signature_def: Mapping[str, Any], signature: str = SIGNATURE_NAME) -> None:
        self.signature = signature
        if signature not in signature_def:
            raise ClientError(
                f"the served model has no {signature} signature: its signatures are "
                f"{', '.join(sorted(signature_def))}"
            )
        try:
            definition = signature_def[signature]
            (self.name, info) = next(iter(definition["inputs"].items()))
            dims = info.get("tensor_shape", {}).get("dim", [])
            self.shape = tuple(int(d.get("size", 0)) for d in dims)
            self.dtype = NUMPY_DTYPES[info["dtype"]]
            self.outputs = sorted(definition["outputs"])
        except (KeyError, StopIteration, TypeError, ValueError) as exc:
            raise ClientError(f"the server's metadata has no usable {signature}: {exc}") from None


class Described:
    """What a client knows of the served model `name` beyond its tensors: its labels and its
    images' polarity (zoo/images.py), as the server's model configuration says them (`said`: its
    parameters), each one it does not say as the zoo's catalogue has the model of that name."""

    def __init__(self, name: str, said: Mapping[str, str] | None) -> None:
        self.name = name
        self.said = said or {}

    @functools.cached_property
    def _entry(self) -> catalogue.Entry | None:
        return catalogue.lookup(self.name)  # the zoo's, or a plugin's (that imports plugins)

    @property
    def polarity(self) -> str | None:
        if POLARITY in self.said:
            return self.said[POLARITY]
        return images.polarity_of(self._entry.dataset) if self._entry else None

    def labels(self, classes: int) -> list[str]:
        """The labels of `classes` classes; class numbers where none are known, or they do not
        number `classes`."""
        labels = None
        if LABELS_PARAMETER in self.said:
            with contextlib.suppress(ValueError):
                labels = json.loads(self.said[LABELS_PARAMETER])
        elif self._entry:
            labels = self._entry.labels
        if isinstance(labels, (list, tuple)) and len(labels) == classes:
            return [str(label) for label in labels]
        return [str(i) for i in range(classes)]


@dataclass(frozen=True)
class Prediction:
    """A server's answers to a batch, and what it said of the model, to name them with."""

    outputs: dict[str, np.ndarray]
    model: Described


class RestClient:
    """TF Serving's REST API at `url` (http://host:port); a refused connection is tried again for
    `wait` seconds (a server that is starting has not bound its port yet)."""

    def __init__(self, url: str, wait: float = 0.0) -> None:
        self.url = url.rstrip("/")
        self.wait = wait

    def input_info(self, model: str, signature: str = SIGNATURE_NAME) -> InputInfo:
        answer = self._call(f"/v1/models/{model}/metadata")
        return InputInfo(answer["metadata"]["signature_def"]["signature_def"], signature)

    def parameters(self, model: str) -> dict[str, str] | None:
        """The parameters of the model's configuration (GET /v2/models/NAME/config, Triton's
        API); None where the server has none (a real TF Serving answers 404)."""
        try:
            config = self._call(f"/v2/models/{model}/config")
        except ClientError:
            return None
        parameters = config.get("parameters") or {}
        return {key: str(value.get("string_value", "")) for key, value in parameters.items()}

    def predict(self, model: str, info: InputInfo, batch: np.ndarray) -> dict[str, np.ndarray]:
        values = (
            [{"b64": base64.b64encode(item).decode()} for item in batch]
            if batch.dtype == STRING  # bytes, as TF Serving's REST API takes them
            else batch.tolist()
        )
        body = {"signature_name": info.signature, "inputs": {info.name: values}}
        answer = self._call(f"/v1/models/{model}:predict", body)
        outputs = answer["outputs"]  # the value itself when the model has one output
        named = outputs if len(info.outputs) > 1 else {info.outputs[0]: outputs}
        return {k: np.asarray(v) for k, v in named.items()}

    def _call(self, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data)
        try:
            with self._open(request) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            message = exc.read().decode(errors="replace")
            with contextlib.suppress(ValueError, KeyError, TypeError):
                message = json.loads(message)["error"]
            raise ClientError(f"{self.url} answered {exc.code}: {message}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            waited = f" (waited {self.wait:g} s)" if self.wait else ""
            raise ClientError(f"cannot reach {self.url}: {reason}{waited}") from None

    def _open(self, request: urllib.request.Request):
        """urlopen, trying a refused connection again until `wait` seconds have passed."""
        deadline = time.monotonic() + self.wait
        while True:
            try:
                return urllib.request.urlopen(request, timeout=TIMEOUT)
            except urllib.error.URLError as exc:
                if (
                    not isinstance(exc.reason, ConnectionRefusedError)
                    or time.monotonic() > deadline
                ):
                    raise
            time.sleep(RETRY_SECONDS)


class GrpcClient:
    """TF Serving's gRPC PredictionService at `target` (host:port), waiting up to `wait` seconds
    for the channel to connect (gRPC's wait_for_ready, retried every 0.1-0.25 s)."""

    def __init__(self, target: str, wait: float = 0.0) -> None:
        import grpc

        from zoo.serving.protos.tensorflow_serving.apis import prediction_service_pb2_grpc

        self.target = target
        channel = grpc.insecure_channel(target, options=RECONNECT_OPTIONS if wait else None)
        if wait:
            try:
                grpc.channel_ready_future(channel).result(timeout=wait)
            except grpc.FutureTimeoutError:
                raise ClientError(
                    f"cannot reach {target}: nothing answered within {wait:g} s"
                ) from None
        self.channel = channel
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

    def input_info(self, model: str, signature: str = SIGNATURE_NAME) -> InputInfo:
        from google.protobuf import json_format

        from zoo.serving.protos.tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        request.model_spec.name = model
        answer = self._call(self.stub.GetModelMetadata, request)
        signatures = get_model_metadata_pb2.SignatureDefMap()
        answer.metadata["signature_def"].Unpack(signatures)
        as_json = json_format.MessageToDict(signatures, preserving_proto_field_name=True)
        return InputInfo(as_json["signature_def"], signature)

    def parameters(self, model: str) -> dict[str, str] | None:
        """The parameters of the model's configuration (KServe v2's ModelConfig RPC, Triton's
        model configuration extension, on the same port); None where the server has none (a real
        TF Serving answers UNIMPLEMENTED)."""
        import grpc
        from tritonclient.grpc import service_pb2, service_pb2_grpc

        stub = service_pb2_grpc.GRPCInferenceServiceStub(self.channel)
        try:
            answer = stub.ModelConfig(service_pb2.ModelConfigRequest(name=model), timeout=TIMEOUT)
        except grpc.RpcError:
            return None
        return {key: value.string_value for key, value in answer.config.parameters.items()}

    def predict(self, model: str, info: InputInfo, batch: np.ndarray) -> dict[str, np.ndarray]:
        from zoo.serving.protos.tensorflow_serving.apis import predict_pb2
        from zoo.serving.tfserving import tensor_proto

        request = predict_pb2.PredictRequest()
        request.model_spec.name = model
        request.model_spec.signature_name = info.signature
        tensor_proto.as_proto_content(batch, request.inputs[info.name])
        answer = self._call(self.stub.Predict, request)
        return {k: tensor_proto.to_ndarray(k, v) for k, v in answer.outputs.items()}

    def _call(self, method, request):
        import grpc

        try:
            return method(request, timeout=TIMEOUT)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                raise ClientError(f"cannot reach {self.target}: {exc.details()}") from None
            raise ClientError(
                f"{self.target} answered {exc.code().name}: {exc.details()}"
            ) from None


def read_inputs(
    args: Sequence[str],
    info: InputInfo,
    model: Described | None = None,
    note: Callable[[str], None] = lambda line: None,
) -> np.ndarray:
    """A batch from image files, one .npy file, or the numbers of one or more tabular examples.

    Images are matched to how `model` learned its images: a dark-on-light digit for a model of
    MNIST's light-on-dark ones is inverted, and `note` told so.
    """
    example = info.shape[1:]
    if all(a.lower().endswith(IMAGE_SUFFIXES) for a in args):
        polarity = model.polarity if model else None
        pixels = []
        for arg in args:
            image, inverted = images.as_in_training(_image(Path(arg), example), polarity)
            if inverted:
                note(f"{arg} is dark on light: inverted, as {model.name} learned {polarity} images")
            pixels.append(image)
        batch = np.stack(pixels)
    elif len(args) == 1 and args[0].endswith(".npy"):
        batch = np.load(args[0])
        batch = batch[None] if batch.shape == example else batch
    else:
        try:
            batch = np.array([float(a) for a in args])
        except ValueError:
            raise ClientError(
                f"INPUT must be image files, one .npy file, or numbers; got {' '.join(args)}"
            ) from None
        size = int(np.prod(example))
        if batch.size % size:
            raise ClientError(f"{info.name} takes {size} numbers per example, got {batch.size}")
        batch = batch.reshape(-1, *example)
    return batch.astype(info.dtype)


def read_image_bytes(args: Sequence[str]) -> np.ndarray:
    """The image files' bytes as they are, for a model's serving_image signature to decode."""
    if not all(a.lower().endswith(IMAGE_SUFFIXES) for a in args):
        raise ClientError(
            f"--as-bytes sends image files ({', '.join(IMAGE_SUFFIXES)}); got {' '.join(args)}"
        )
    try:
        return np.array([Path(a).read_bytes() for a in args], dtype=STRING)
    except OSError as exc:
        raise ClientError(f"cannot read image {exc.filename}: {exc.strerror}") from None


def _image(path: Path, example: tuple[int, ...]) -> np.ndarray:
    """Raw 0-255 pixels in the model's size and channels (the /255 lives in the exported graph)."""
    from PIL import Image, UnidentifiedImageError

    if len(example) != 3:
        raise ClientError(f"the model takes {list(example)}-shaped examples, not images")
    height, width, channels = example
    try:
        with Image.open(path) as image:  # reads the header only: the size before the pixels
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise ClientError(
                    f"image {path} is {image.width}x{image.height}, larger than zoo predict "
                    f"decodes ({MAX_IMAGE_PIXELS:,} pixels): resize it first"
                )
            converted = image.convert("L" if channels == 1 else "RGB").resize((width, height))
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise ClientError(f"cannot read image {path}: {exc}") from None
    return np.asarray(converted, dtype=np.float32).reshape(example)


def connect(
    url: str | None = None, grpc_target: str | None = None, wait: float = 0.0
) -> RestClient | GrpcClient:
    """A client of the server at `grpc_target` (gRPC), else `url` (REST, default localhost:8501),
    which waits up to `wait` seconds for a server that is not listening yet."""
    if grpc_target:
        return GrpcClient(grpc_target, wait)
    return RestClient(url or "http://127.0.0.1:8501", wait)


def predict(
    model: str,
    args: Sequence[str],
    url: str | None = None,
    grpc_target: str | None = None,
    wait: float = 0.0,
    note: Callable[[str], None] = lambda line: None,
    as_bytes: bool = False,
) -> Prediction:
    """Ask the server at `url` (REST) or `grpc_target` for the model's answers to `args`,
    waiting up to `wait` seconds for a server that is starting; `note` hears how an input was
    changed to match the model's data (see `read_inputs`). With `as_bytes`, image files are
    sent as they are to the model's serving_image signature, which decodes them on the server
    (and inverts nothing)."""
    client = connect(url, grpc_target, wait)
    info = client.input_info(model, IMAGE_SIGNATURE if as_bytes else SIGNATURE_NAME)
    described = Described(model, client.parameters(model))
    batch = read_image_bytes(args) if as_bytes else read_inputs(args, info, described, note)
    return Prediction(client.predict(model, info, batch), described)


def generated_images(
    model: str, z: np.ndarray, url: str | None = None, grpc_target: str | None = None
) -> np.ndarray:
    """A served generator's images for latent points `z` (what `zoo generate --url` draws)."""
    client = connect(url, grpc_target)
    info = client.input_info(model)
    if GENERATED not in info.outputs:
        raise ClientError(f"{model} is not a generator: its outputs are {', '.join(info.outputs)}")
    return client.predict(model, info, z.astype(info.dtype))[GENERATED]


def describe(prediction: Prediction, top_k: int) -> list[dict[str, Any]]:
    """One entry per example: the label and the top-k (label, probability), or the raw outputs."""
    outputs = prediction.outputs
    if "probabilities" not in outputs:
        return [{k: v[i].tolist() for k, v in outputs.items()} for i in range(_batch(outputs))]
    probabilities = outputs["probabilities"]
    labels = prediction.model.labels(probabilities.shape[-1])
    answers = []
    for row in probabilities:
        best = np.argsort(-row, kind="stable")[:top_k]
        answers.append(
            {"label": labels[best[0]], "top_k": [[labels[i], float(row[i])] for i in best]}
        )
    return answers


def _batch(outputs: Mapping[str, np.ndarray]) -> int:
    return len(next(iter(outputs.values())))


def format_answers(answers: Sequence[Mapping[str, Any]]) -> str:
    """Human lines: the label, then each of the top-k with its probability; or the values."""
    lines = []
    for answer in answers:
        if "label" in answer:
            lines.append(answer["label"])
            lines += [f"  {label:<12} {p:.4f}" for label, p in answer["top_k"]]
        else:
            lines.append("  ".join(f"{k}: {v}" for k, v in answer.items()))
    return "\n".join(lines)
