"""deploy/: every manifest valid, and naming exactly what `zoo export` writes and `zoo serve` answers.

Deployment, Service, HorizontalPodAutoscaler and PersistentVolumeClaim are validated against a pinned
Kubernetes release's OpenAPI schemas by kubernetes-validate, in strict mode (an unknown or misspelt
field fails). KServe's InferenceService is a custom resource kubernetes-validate has no schema for:
`inference_service_errors` checks the structure KServe requires of it field by field instead.

Then the manifests are held against a real export of cnn-mnist: the folder they name on the model
volume, the model names, the Deployment's and the Dockerfile's `zoo serve` arguments (parsed by the
CLI itself), and the probe and scrape paths, which a real `zoo serve` started with the Deployment's
arguments must answer. Nothing here builds the image or applies a manifest: there is no Docker,
Kubernetes or KServe on this machine.
"""

import copy
import json
import re
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click
import kubernetes_validate
import pytest
import yaml
from test_export import fake_run
from test_serving import READY_SECONDS, Server, running

from cli.main import cli
from export import ExportResult, export_run
from export.repository import CONFIG
from serving.metrics import PATHS as METRICS_PATHS

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
MANIFESTS = {
    "kubernetes/zoo-serve.yaml": [
        "PersistentVolumeClaim",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
    ],
    "kserve/tfserving.yaml": ["InferenceService"],
    "kserve/triton.yaml": ["InferenceService"],
}
# The release whose schemas the core kinds must satisfy: every API version used here is GA in it
# (autoscaling/v2 since 1.23), and clusters of 1.30 or newer serve them unchanged.
KUBERNETES = "1.30.0"
MODEL = "cnn-mnist"  # the example model every manifest serves
KSERVE_API = "serving.kserve.io/v1beta1"
DNS_1035 = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")  # KServe's rule for service names
STORAGE_SCHEMES = ("pvc://", "gs://", "s3://", "https://")
# The v1beta1 fields these manifests use; any other is a typo KServe would reject or ignore.
ISVC_FIELDS = {
    "spec": {"predictor"},
    "predictor": {"model"},
    "model": {"modelFormat", "runtime", "storageUri", "args", "resources"},
}
# modelFormat -> the runtime that serves it here (KServe's choice for it when none is named)
FORMATS = {"tensorflow": "kserve-tensorflow-serving", "onnx": "kserve-tritonserver"}


def load(path: Path) -> list[dict[str, Any]]:
    """The YAML documents of one manifest file, skipping empty ones as kubectl does."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


DOCUMENTS = {name: load(DEPLOY / name) for name in MANIFESTS}
ALL = [doc for docs in DOCUMENTS.values() for doc in docs]
CORE = [doc for doc in ALL if doc["apiVersion"] != KSERVE_API]
SERVICES = [doc for doc in ALL if doc["apiVersion"] == KSERVE_API]


def ident(doc: dict[str, Any]) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The single document of `kind`: the checks below assume one of each."""
    (found,) = [doc for doc in docs if doc["kind"] == kind]
    return found


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (only,) = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return only


def dockerfile(text: str) -> dict[str, list[str]]:
    """Instruction -> its arguments, one entry per occurrence, continuation lines joined."""
    joined = re.sub(
        r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    )
    found: dict[str, list[str]] = {}
    for line in filter(str.strip, joined.splitlines()):
        instruction, _, rest = line.strip().partition(" ")
        found.setdefault(instruction.upper(), []).append(rest.strip())
    return found


DOCKER = dockerfile(DOCKERFILE.read_text())


def serve_params(args: list[str]) -> dict[str, Any]:
    """What `zoo serve ARGS` would run with, parsed by the CLI itself without serving anything."""
    return cli.commands["serve"].make_context("serve", list(args)).params


def image_args() -> list[str]:
    """The arguments the image passes to its `zoo serve` entrypoint when run without any."""
    assert json.loads(DOCKER["ENTRYPOINT"][-1]) == ["zoo", "serve"]
    return json.loads(DOCKER["CMD"][-1])


def pvc(uri: str) -> tuple[str, str]:
    """(claim, path inside it) of a KServe pvc:// storageUri."""
    claim, _, path = uri.removeprefix("pvc://").partition("/")
    return claim, path


def numbered(folder: Path, file: str) -> list[Path]:
    """The version folders (ASCII digits, as both servers require) that hold `file`."""
    if not folder.is_dir():
        return []
    return [
        v for v in folder.iterdir() if v.name.isascii() and v.name.isdigit() and (v / file).exists()
    ]


def inference_service_errors(doc: dict[str, Any]) -> list[str]:
    """What KServe requires of an InferenceService that no schema here checks: its API, a
    DNS-1035 name, one predictor model with a known format and a storageUri it can fetch, and
    only the fields these manifests are meant to use (a misspelt one is silently ignored)."""
    errors = []
    if doc.get("apiVersion") != KSERVE_API or doc.get("kind") != "InferenceService":
        errors.append(f"not a {KSERVE_API} InferenceService")
    if not DNS_1035.fullmatch(doc.get("metadata", {}).get("name", "")):
        errors.append("metadata.name is not a DNS-1035 label")
    spec = doc.get("spec", {})
    predictor = spec.get("predictor", {})
    model = predictor.get("model", {})
    for field, value in (("spec", spec), ("predictor", predictor), ("model", model)):
        if unknown := set(value) - ISVC_FIELDS[field]:
            errors.append(f"unexpected fields in {field}: {sorted(unknown)}")
    fmt = model.get("modelFormat", {}).get("name")
    if fmt not in FORMATS:
        errors.append(f"spec.predictor.model.modelFormat.name {fmt!r} is none of {sorted(FORMATS)}")
    elif model.get("runtime", FORMATS[fmt]) != FORMATS[fmt]:
        errors.append(f"runtime {model['runtime']!r} does not serve the {fmt} format here")
    if not str(model.get("storageUri", "")).startswith(STORAGE_SCHEMES):
        errors.append(f"storageUri {model.get('storageUri')!r} is not one of {STORAGE_SCHEMES}")
    if not all(isinstance(arg, str) for arg in model.get("args", [])):
        errors.append("args must be strings")
    return errors


def wiring_errors(docs: list[dict[str, Any]], image: list[str]) -> list[str]:
    """Whether the Kubernetes objects point at each other and at the ports `zoo serve` opens:
    references by name and label are only checked by a cluster, and then only at runtime."""
    deployment, service = one(docs, "Deployment"), one(docs, "Service")
    hpa, claim = one(docs, "HorizontalPodAutoscaler"), one(docs, "PersistentVolumeClaim")
    template = deployment["spec"]["template"]
    pod, main = template["metadata"], container(docs)
    params = serve_params(main["args"])
    ports = {p["name"]: p["containerPort"] for p in main["ports"]}
    errors = []
    labels = pod["labels"].items()
    if not deployment["spec"]["selector"]["matchLabels"].items() <= labels:
        errors.append("the Deployment's selector does not match its pods")
    if not service["spec"]["selector"].items() <= labels:
        errors.append("the Service's selector does not match the pods")
    if sorted(ports.values()) != sorted([params["grpc_port"], params["rest_port"]]):
        errors.append(f"container ports {ports} are not zoo serve's REST and gRPC ports")
    if sorted(str(p) for p in ports.values()) != sorted(DOCKER["EXPOSE"][-1].split()):
        errors.append("the container ports are not the ones the image exposes")
    for entry in service["spec"]["ports"]:
        if ports.get(entry["targetPort"], entry["targetPort"]) not in ports.values():
            errors.append(f"Service port {entry['name']} targets no container port")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        port = main[probe]["httpGet"]["port"]
        if ports.get(port, port) != params["rest_port"]:
            errors.append(f"{probe} is not on the REST port {params['rest_port']}")
    notes = pod["annotations"]
    if notes.get("prometheus.io/scrape") != "true" or notes.get("prometheus.io/port") != str(
        params["rest_port"]
    ):
        errors.append("the pods are not scraped on the REST port")
    if notes.get("prometheus.io/path") not in METRICS_PATHS:
        errors.append(f"prometheus.io/path is none of zoo serve's {METRICS_PATHS}")
    target = hpa["spec"]["scaleTargetRef"]
    if (target["kind"], target["name"]) != ("Deployment", deployment["metadata"]["name"]):
        errors.append("the HorizontalPodAutoscaler scales something else")
    if "cpu" not in main.get("resources", {}).get("requests", {}):
        errors.append("no CPU request: the autoscaler's CPU utilisation has nothing to divide by")
    volumes = {v["name"]: v for v in template["spec"]["volumes"]}
    for volume in volumes.values():
        if volume["persistentVolumeClaim"]["claimName"] != claim["metadata"]["name"]:
            errors.append(f"volume {volume['name']} claims no PersistentVolumeClaim defined here")
    for service_doc in (doc for doc in docs if doc["apiVersion"] == KSERVE_API):
        if (
            pvc(service_doc["spec"]["predictor"]["model"]["storageUri"])[0]
            != claim["metadata"]["name"]
        ):
            errors.append(
                f"{ident(service_doc)} reads a claim other than {claim['metadata']['name']}"
            )
    if main.get("command") not in (None, ["zoo", "serve"]):
        errors.append("the container replaces the image's `zoo serve` entrypoint")
    image_params = serve_params(image)
    if image_params["model_dir"] != params["model_dir"]:
        errors.append("the Deployment and the image serve different model folders")
    if f"//127.0.0.1:{image_params['rest_port']}/" not in DOCKER["HEALTHCHECK"][-1]:
        errors.append("the image's HEALTHCHECK is not on its REST port")
    return errors


def repository_errors(docs: list[dict[str, Any]], volume: Path, result: ExportResult) -> list[str]:
    """Whether each manifest names what the export wrote, with `volume` standing for the root of
    the zoo-models claim (it holds the export's model_dir, models/)."""
    model_dir, name = result.version_dir.parent.parent, result.name
    errors = []
    for doc in docs:
        if doc["kind"] == "Deployment":
            errors += deployment_errors(doc, volume, model_dir, name)
        elif doc["kind"] == "InferenceService":
            model = doc["spec"]["predictor"]["model"]
            folder = volume / pvc(model["storageUri"])[1]
            if model["modelFormat"]["name"] == "tensorflow":
                errors += tfserving_errors(doc["metadata"]["name"], folder, model_dir / name)
            else:
                errors += triton_errors(model["args"], folder, model_dir, name)
    return errors


def deployment_errors(doc: dict[str, Any], volume: Path, model_dir: Path, name: str) -> list[str]:
    """The Deployment's --model-dir must be the mount of the export's model_dir, and every model
    it names must have a version with the file its backend loads."""
    (main,) = doc["spec"]["template"]["spec"]["containers"]
    params = serve_params(main["args"])
    mounts = {m["mountPath"]: m for m in main["volumeMounts"]}
    mount = mounts.get(str(params["model_dir"]))
    if mount is None:
        return [f"--model-dir {params['model_dir']} is no volume mount"]
    mounted = volume / mount.get("subPath", "")
    if mounted != model_dir:
        return [f"the pods mount {mounted}, not the repository {model_dir}"]
    errors = []
    file = "model.onnx" if params["backend"] == "onnx" else "saved_model.pb"
    for served in params["models"].split(",") if params["models"] else [name]:
        if served != name or not numbered(mounted / served, file):
            errors.append(f"--models names {served!r}, which has no exported version with {file}")
    return errors


def tfserving_errors(service: str, folder: Path, base: Path) -> list[str]:
    """TF Serving's base path is one model's folder of numbered SavedModels; KServe names the
    model after the InferenceService."""
    errors = []
    if folder != base or not numbered(folder, "saved_model.pb"):
        errors.append(f"storageUri is {folder}, not the base path {base} of a SavedModel")
    if service != base.name:
        errors.append(
            f"InferenceService {service} would serve the model as {service!r}, not {base.name!r}"
        )
    return errors


def triton_errors(args: list[str], folder: Path, model_dir: Path, name: str) -> list[str]:
    """Triton's repository root holds <model>/config.pbtxt, named as its folder, and numbered
    versions with model.onnx; the model to load is named in Triton's --load-model."""
    loads = [arg.removeprefix("--load-model=") for arg in args if arg.startswith("--load-model=")]
    if folder != model_dir:
        return [f"storageUri is {folder}, not the repository root {model_dir}"]
    errors = []
    for model in loads or ["(no --load-model)"]:
        config = folder / model / CONFIG
        if model != name or not config.is_file() or not numbered(folder / model, "model.onnx"):
            errors.append(
                f"--load-model={model}: no exported {model}/{CONFIG} and version with model.onnx"
            )
        elif f'name: "{model}"' not in config.read_text().splitlines():
            errors.append(f"{config} does not name the model {model!r}")
    return errors


def renamed(docs: list[dict[str, Any]], old: str, new: str) -> list[dict[str, Any]]:
    """A deep copy of the manifests with every string mentioning `old` rewritten to `new`."""

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value.replace(old, new) if isinstance(value, str) else value

    return [walk(doc) for doc in docs]


def get(url: str) -> int:
    """The status of a GET, error statuses included."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def local(args: list[str]) -> list[str]:
    """The container's arguments for a test server, whose address, folder and ports are its own."""
    kept, pairs = [], iter(args)
    for arg in pairs:
        if arg in {"--host", "--model-dir", "--rest-port", "--grpc-port"}:
            next(pairs)  # and its value
        else:
            kept.append(arg)
    return kept


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, ExportResult]:
    """(the zoo-models volume's stand-in, holding models/, and the export of cnn-mnist into it)."""
    volume = tmp_path_factory.mktemp("zoo-models")
    result = export_run(fake_run(volume / "runs", MODEL), model_dir=volume / "models", samples=4)
    return volume, result


def test_the_manifests_are_the_documented_files_and_kinds():
    assert sorted(str(p.relative_to(DEPLOY)) for p in DEPLOY.rglob("*.yaml")) == sorted(MANIFESTS)
    assert {name: [doc["kind"] for doc in docs] for name, docs in DOCUMENTS.items()} == MANIFESTS


@pytest.mark.parametrize("doc", CORE, ids=ident)
def test_core_kinds_validate_against_the_kubernetes_schema(doc):
    assert kubernetes_validate.validate(doc, KUBERNETES, strict=True) == "1.30"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("readinessprobe",), {}),
        (("ports", 0, "containerPort"), "8501"),
        (("args",), "--workers 2"),
    ],
    ids=["misspelt field", "port as a string", "args as one string"],
)
def test_the_schema_check_rejects_a_broken_deployment(path, value):
    broken = copy.deepcopy(one(ALL, "Deployment"))
    target = broken["spec"]["template"]["spec"]["containers"][0]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


@pytest.mark.parametrize("doc", SERVICES, ids=ident)
def test_inference_services_have_kserves_required_structure(doc):
    assert inference_service_errors(doc) == []


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda d: d["metadata"].update(name="cnn_mnist"), "DNS-1035"),
        (lambda d: d["spec"]["predictor"]["model"].pop("modelFormat"), "modelFormat.name"),
        (
            lambda d: d["spec"]["predictor"]["model"].update(storageURI="s3://x"),
            "unexpected fields",
        ),
        (lambda d: d["spec"]["predictor"]["model"].update(storageUri="/models"), "storageUri"),
        (lambda d: d["spec"]["predictor"]["model"].update(runtime="kserve-mlserver"), "runtime"),
    ],
    ids=["name", "no format", "misspelt field", "local path", "wrong runtime"],
)
def test_the_inference_service_check_rejects_broken_ones(change, error):
    for doc in SERVICES:
        broken = copy.deepcopy(doc)
        change(broken)
        assert any(error in e for e in inference_service_errors(broken)), ident(doc)


def test_the_objects_are_wired_to_each_other_and_to_zoo_serves_ports():
    assert wiring_errors(ALL, image_args()) == []


def test_the_wiring_check_catches_a_dangling_reference():
    broken = copy.deepcopy(ALL)
    one(broken, "Service")["spec"]["ports"][0]["targetPort"] = "http"
    one(broken, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]["name"] = "zoo"
    container(broken)["readinessProbe"]["httpGet"]["port"] = 8500
    errors = wiring_errors(broken, [*image_args(), "--model-dir", "/srv", "--rest-port", "9501"])
    assert len(errors) == 5, errors


def test_the_container_arguments_are_zoo_serve_options_for_a_container():
    for args in (container(ALL)["args"], image_args()):
        params = serve_params(args)
        assert params["host"] == "0.0.0.0"  # zoo serve's default, 127.0.0.1, is unreachable
        assert params["model_dir"] == Path("/models")
    assert serve_params(container(ALL)["args"])["workers"] == 2
    assert serve_params(container(ALL)["args"])["models"] == MODEL


def test_a_misspelt_zoo_serve_option_is_refused():
    with pytest.raises(click.NoSuchOption):
        serve_params([*container(ALL)["args"], "--worker", "3"])


def test_the_manifests_name_what_zoo_export_wrote(exported):
    volume, result = exported
    assert result.name == MODEL and (result.version_dir / "saved_model.pb").is_file()
    assert repository_errors(ALL, volume, result) == []


def test_a_model_export_did_not_write_is_caught_in_every_manifest(exported):
    volume, result = exported
    errors = repository_errors(renamed(ALL, MODEL, "cnn-fashion"), volume, result)
    assert len(errors) == 4, errors  # --models, the TF Serving base path and name, --load-model
    moved = renamed(ALL, "zoo-models/models", "zoo-models/exports")
    container(moved)["volumeMounts"][0]["subPath"] = "exports"
    errors = repository_errors(moved, volume, result)
    assert len(errors) == 3, errors  # both storageUris and the pods' mount


def test_config_pbtxt_names_its_folder(exported, tmp_path):
    volume, _ = exported
    copied = tmp_path / "models"
    shutil.copytree(volume / "models", copied)
    config = copied / MODEL / CONFIG
    config.write_text(config.read_text().replace(f'name: "{MODEL}"', 'name: "other"'))
    (triton,) = [
        d for d in SERVICES if d["spec"]["predictor"]["model"]["modelFormat"]["name"] == "onnx"
    ]
    args = triton["spec"]["predictor"]["model"]["args"]
    assert triton_errors(args, copied, copied, MODEL) == [
        f"{config} does not name the model {MODEL!r}"
    ]


def test_zoo_serve_answers_the_probes_and_the_scrape_path(exported):
    volume, _ = exported
    main, pod = container(ALL), one(ALL, "Deployment")["spec"]["template"]["metadata"]
    params = serve_params(main["args"])
    paths = {
        main[p]["httpGet"]["path"] for p in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    paths |= {pod["annotations"]["prometheus.io/path"]}
    paths |= set(re.findall(r"http://127\.0\.0\.1:\d+(/[\w/]+)", DOCKER["HEALTHCHECK"][-1]))
    assert paths == {"/v2/health/live", "/v2/health/ready", "/metrics"}
    with running(Server(volume, *local(main["args"]))) as server:
        wait_for_workers(server, params["workers"])
        # Fresh connections each time, so the kernel hands them to every worker.
        assert {path: {get(server.url + path) for _ in range(4)} for path in sorted(paths)} == {
            path: {200} for path in sorted(paths)
        }


def wait_for_workers(server: Server, workers: int) -> None:
    """Until every worker serves: before that, one still loading would answer ready with 503."""
    deadline = time.monotonic() + READY_SECONDS
    while workers > 1 and f"{workers} workers serving" not in server.log.read_text():
        assert time.monotonic() < deadline and server.process.poll() is None, server.log.read_text()
        time.sleep(0.2)
