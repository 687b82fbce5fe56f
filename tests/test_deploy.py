"""deploy/: every manifest valid, and naming exactly what `zoo export` writes and `zoo serve` answers.

Deployment, Job, Service, HorizontalPodAutoscaler and PersistentVolumeClaim are validated against
a pinned Kubernetes release's OpenAPI schemas by kubernetes-validate, in strict mode (an unknown or
misspelt field fails). KServe's InferenceService is a custom resource kubernetes-validate has no schema for:
`inference_service_errors` checks the structure KServe requires of it field by field instead.

Then the manifests are held against a real export of cnn-mnist: the folder they name on the model
volume, the model names, the Deployment's and the Dockerfile's `zoo serve` arguments (parsed by the
CLI itself), and the probe and scrape paths, which a real `zoo serve` started with the Deployment's
arguments must answer.

The training manifests, an Indexed Job with its headless Service and a Kubeflow TFJob, are held
against `zoo train`: the Job's core kinds validate as above and the TFJob (a custom resource) gets
`tfjob_errors`; every worker's args, after Kubernetes' $(VAR) expansion of its index, are parsed
by the CLI, and the --workers they name must be the DNS names Kubernetes gives the Job's pods.

Nothing here builds the image, trains or applies a manifest: there is no Docker, Kubernetes,
KServe or training operator on this machine.
"""

import copy
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click
import kubernetes_validate
import pytest
import yaml
from helpers import (
    DOCKER,
    PROGRAM,
    READY_SECONDS,
    Server,
    entrypoint_script,
    fake_run,
    image_env,
    running,
)

from zoo import distribute
from zoo.cli.main import cli
from zoo.errors import ZooError
from zoo.export import ExportResult, export_run
from zoo.export.contract import CONFIG
from zoo.serving.core.metrics import PATHS as METRICS_PATHS

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
MANIFESTS = {
    "kubernetes/zoo-serve.yaml": [
        "PersistentVolumeClaim",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
    ],
    "kserve/tfserving.yaml": ["InferenceService"],
    "kserve/triton.yaml": ["InferenceService"],
    "kserve/zoo.yaml": ["ServingRuntime", "InferenceService"],
    "kubernetes/zoo-train.yaml": [
        "Service",
        "PersistentVolumeClaim",
        "PersistentVolumeClaim",
        "Job",
    ],
    "kubeflow/tfjob.yaml": ["TFJob"],
}
SERVING = (
    "kubernetes/zoo-serve.yaml",
    "kserve/tfserving.yaml",
    "kserve/triton.yaml",
    "kserve/zoo.yaml",
)
TRAINING = ("kubernetes/zoo-train.yaml", "kubeflow/tfjob.yaml")
# The release whose schemas the core kinds must satisfy: every API version used here is GA in it
# (autoscaling/v2 since 1.23), and clusters of 1.30 or newer serve them unchanged.
KUBERNETES = "1.30.0"
MODEL = "cnn-mnist"  # the example model every manifest serves
KSERVE_API = "serving.kserve.io/v1beta1"
KSERVE_RUNTIME_API = "serving.kserve.io/v1alpha1"  # ServingRuntime's
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
KUBEFLOW_API = "kubeflow.org/v1"
CUSTOM = {
    KSERVE_API,
    KSERVE_RUNTIME_API,
    KUBEFLOW_API,
}  # custom resources: no schema for them in kubernetes-validate
# The v1 TFJob fields these manifests use, and the training operator's values for a replica's
# restartPolicy; its container must be called `tensorflow`, the one it writes TF_CONFIG into.
TFJOB_FIELDS = {
    "spec": {"runPolicy", "tfReplicaSpecs"},
    "runPolicy": {
        "backoffLimit",
        "cleanPodPolicy",
        "activeDeadlineSeconds",
        "ttlSecondsAfterFinished",
    },
    "Worker": {"replicas", "restartPolicy", "template"},
}
TFJOB_RESTART = ("Always", "OnFailure", "Never", "ExitCode")
TFJOB_CONTAINER = "tensorflow"
# An Indexed Job's pod learns its index from this annotation; the container defines the variable
# from it so that Kubernetes expands $(JOB_COMPLETION_INDEX) in the args.
INDEX_VAR = "JOB_COMPLETION_INDEX"
INDEX_FIELD = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
DEPLOY_DOC = DEPLOY.parent / "docs" / "DEPLOY.md"


def load(path: Path) -> list[dict[str, Any]]:
    """The YAML documents of one manifest file, skipping empty ones as kubectl does."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


DOCUMENTS = {name: load(DEPLOY / name) for name in MANIFESTS}
ALL = [doc for docs in DOCUMENTS.values() for doc in docs]
CORE = [doc for doc in ALL if doc["apiVersion"] not in CUSTOM]
SERVE = [doc for name in SERVING for doc in DOCUMENTS[name]]
TRAIN = [doc for name in TRAINING for doc in DOCUMENTS[name]]
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


def serve_params(args: list[str]) -> dict[str, Any]:
    """What `zoo serve ARGS` would run with, parsed by the CLI itself without serving anything."""
    return cli.commands["serve"].make_context("serve", list(args)).params


def image_args(env: dict[str, str] | None = None) -> list[str]:
    """The arguments the image's entrypoint passes to `zoo serve` when run without any, expanded
    by sh itself with the image's ENV (updated by `env`): the script with `printf` for `zoo serve`."""
    printing = entrypoint_script().replace(f"exec {PROGRAM} serve ", "printf '%s\\n' ", 1)
    shown = subprocess.run(
        ["sh", "-c", printing, "zoo-serve"],
        env={**image_env(), **(env or {})},
        capture_output=True,
        text=True,
        check=True,
    )
    return shown.stdout.splitlines()


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


def runtime_formats(docs: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Runtime -> the formats it serves: KServe's for the formats here, and the ServingRuntimes
    of `docs`."""
    found = {runtime: {fmt} for fmt, runtime in FORMATS.items()}
    for doc in docs:
        if doc["kind"] == "ServingRuntime":
            formats = doc["spec"].get("supportedModelFormats", [])
            found[doc["metadata"]["name"]] = {f["name"] for f in formats}
    return found


def inference_service_errors(
    doc: dict[str, Any], runtimes: dict[str, set[str]] | None = None
) -> list[str]:
    """What KServe requires of an InferenceService that no schema here checks: its API, a
    DNS-1035 name, one predictor model with a known format and a storageUri it can fetch, a
    runtime (KServe's for the format, or one defined here) that serves its format, and only the
    fields these manifests are meant to use (a misspelt one is silently ignored). `runtimes`:
    those these manifests define by default."""
    runtimes = runtime_formats(ALL) if runtimes is None else runtimes
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
    elif fmt not in runtimes.get(model.get("runtime", FORMATS[fmt]), set()):
        errors.append(f"runtime {model['runtime']!r} does not serve the {fmt} format here")
    if not str(model.get("storageUri", "")).startswith(STORAGE_SCHEMES):
        errors.append(f"storageUri {model.get('storageUri')!r} is not one of {STORAGE_SCHEMES}")
    if not all(isinstance(arg, str) for arg in model.get("args", [])):
        errors.append("args must be strings")
    return errors


RUNTIME_FIELDS = {"annotations", "supportedModelFormats", "protocolVersions", "containers"}
PROTOCOLS = {"v1", "v2", "grpc-v1", "grpc-v2"}  # KServe's protocolVersions
KSERVE_MOUNT = "/mnt/models"  # where KServe's storage initializer puts the storageUri
KSERVE_PORTS = {"rest_port": 8080, "grpc_port": 9000}  # KServe's TF Serving runtime's


def serving_runtime_errors(doc: dict[str, Any]) -> list[str]:
    """What KServe requires of a ServingRuntime, and that it starts `zoo serve` as KServe starts
    TF Serving: one kserve-container running `zoo serve` with TF Serving's runtime arguments
    (parsed by the CLI itself), the model named {{.Name}} at /mnt/models, REST on 8080 and gRPC on
    9000, reachable from outside the pod, and the scrape annotations on a metrics path it serves."""
    errors = []
    if doc.get("apiVersion") != KSERVE_RUNTIME_API or doc.get("kind") != "ServingRuntime":
        errors.append(f"not a {KSERVE_RUNTIME_API} ServingRuntime")
    if not DNS_1035.fullmatch(doc.get("metadata", {}).get("name", "")):
        errors.append("metadata.name is not a DNS-1035 label")
    spec = doc.get("spec", {})
    if unknown := set(spec) - RUNTIME_FIELDS:
        errors.append(f"unexpected fields in spec: {sorted(unknown)}")
    formats = spec.get("supportedModelFormats", [])
    if not formats or any(f.get("name") not in FORMATS for f in formats):
        errors.append(f"supportedModelFormats must name formats of {sorted(FORMATS)}")
    if not set(spec.get("protocolVersions", [])) <= PROTOCOLS:
        errors.append(f"protocolVersions are not among {sorted(PROTOCOLS)}")
    containers = spec.get("containers", [])
    if [c.get("name") for c in containers] != ["kserve-container"]:
        return [*errors, "there must be one container, named kserve-container"]
    (main,) = containers
    if main.get("command") != [PROGRAM, "serve"]:
        errors.append(f"the container does not run `{PROGRAM} serve`")
    try:
        params = serve_params(main.get("args", []))
    except click.ClickException as exc:
        return [*errors, f"`zoo serve` refuses its args: {exc.format_message()}"]
    if (params["model_name"], params["model_base_path"]) != ("{{.Name}}", Path(KSERVE_MOUNT)):
        errors.append(f"the model is not --model_name={{{{.Name}}}} at {KSERVE_MOUNT}")
    if {key: params[key] for key in KSERVE_PORTS} != KSERVE_PORTS:
        errors.append(f"the ports are not KServe's {KSERVE_PORTS}")
    if params["host"] != "0.0.0.0":
        errors.append("--host is not 0.0.0.0: KServe could not reach it")
    notes = spec.get("annotations", {})
    if notes.get("prometheus.kserve.io/port") != str(params["rest_port"]):
        errors.append("the metrics are not scraped on the REST port")
    if notes.get("prometheus.kserve.io/path") not in METRICS_PATHS:
        errors.append(f"prometheus.kserve.io/path is none of zoo serve's {METRICS_PATHS}")
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
    if image_params["model_base_path"].parent != params["model_dir"]:
        errors.append("the Deployment's --model-dir is not the image's MODEL_BASE_PATH")
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


def train_params(args: list[str]) -> dict[str, Any]:
    """What `zoo ARGS` (a training container's args: `train` and its options) would run with,
    parsed by the CLI itself: make_context stops before the command's body, so nothing writes
    TF_CONFIG, imports TensorFlow or trains."""
    if args[:1] != ["train"]:
        raise click.UsageError(f"the args start with {args[:1]}, not the subcommand train")
    return cli.commands["train"].make_context("train", list(args[1:])).params


def expand(args: list[str], env: dict[str, str]) -> list[str]:
    """Kubernetes' expansion of a container's args: $(VAR) of a variable the container defines
    becomes its value, $$ is a literal $, and any other $(...) stays as written."""

    def value(match: re.Match[str]) -> str:
        return "$" if match[0] == "$$" else env.get(match[1], match[0])

    return [re.sub(r"\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)", value, arg) for arg in args]


def variables(main: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A container's env entries by name."""
    return {entry["name"]: entry for entry in main.get("env", [])}


def parsed(args: list[str], who: str, errors: list[str]) -> dict[str, Any] | None:
    """train_params(args), or None with the CLI's complaint added to `errors`."""
    try:
        return train_params(args)
    except click.ClickException as exc:
        errors.append(f"{who}: `zoo train` refuses its args: {exc.format_message()}")
        return None


def worker_errors(
    pod: dict[str, Any], main: dict[str, Any], params: dict[str, Any], docs: list[dict[str, Any]]
) -> list[str]:
    """What every training pod needs, by Job or by TFJob: the image's `zoo` run as `zoo train
    --strategy multi-worker` (the image's entrypoint is `zoo serve`), the --runs-dir a writable
    mount of a ReadWriteMany claim defined in `docs` (a resumed run, and the chief's finished one,
    must be where every worker looks), ZOO_DATA_DIR a mount, and a CPU request to schedule by."""
    errors = []
    claims = {d["metadata"]["name"]: d for d in docs if d["kind"] == "PersistentVolumeClaim"}
    program = PROGRAM
    if [*main.get("command", ["(the image's entrypoint)"]), *main["args"][:1]] != [
        program,
        "train",
    ]:
        errors.append(f"the container does not run `{program} train` in place of `zoo serve`")
    if params["strategy"] != "multi-worker":
        errors.append(f"--strategy is {params['strategy']}, not multi-worker")
    mounts = {m["mountPath"]: m for m in main.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for volume in volumes.values():
        if volume.get("persistentVolumeClaim", {}).get("claimName") not in claims:
            errors.append(f"volume {volume['name']} claims no PersistentVolumeClaim defined here")
    runs = mounts.get(str(params["runs_dir"]))
    if runs is None or runs.get("readOnly"):
        errors.append(f"--runs-dir {params['runs_dir']} is no writable volume mount")
    else:
        claim = volumes.get(runs["name"], {}).get("persistentVolumeClaim", {}).get("claimName")
        if "ReadWriteMany" not in claims.get(claim, {}).get("spec", {}).get("accessModes", []):
            errors.append("--runs-dir is not on a ReadWriteMany claim, which every worker mounts")
    data = variables(main).get("ZOO_DATA_DIR", {}).get("value")
    if data not in mounts:
        errors.append(f"ZOO_DATA_DIR {data!r} is no volume mount")
    if "cpu" not in main.get("resources", {}).get("requests", {}):
        errors.append("no CPU request")
    return errors


def job_errors(docs: list[dict[str, Any]]) -> list[str]:
    """Whether the Indexed Job's pods form the cluster their --workers names. Kubernetes names an
    Indexed Job's pod host <job>-<index>, and a pod with `subdomain: S` has the DNS name
    <host>.S only while a headless Service S selects it; every worker's args, once $(VAR) is
    expanded with its index, must name those hosts on the declared port and its own index."""
    job, service = one(docs, "Job"), one(docs, "Service")
    spec = job["spec"]
    template = spec["template"]
    pod = template["spec"]
    (main,) = pod["containers"]
    errors = []
    if spec.get("completionMode") != "Indexed":
        errors.append("the Job is not Indexed: its pods have no index for --worker-index")
    count = spec.get("completions", 1)
    if spec.get("parallelism", 1) != count:
        errors.append("parallelism is not completions: the workers wait for all of them to start")
    if pod.get("restartPolicy") not in ("Never", "OnFailure") or "backoffLimit" not in spec:
        errors.append("give restartPolicy Never or OnFailure and an explicit backoffLimit")
    if pod.get("subdomain") != service["metadata"]["name"]:
        errors.append(f"the pods' subdomain is not the Service {service['metadata']['name']}")
    if service["spec"].get("clusterIP") != "None":
        errors.append("the Service is not headless: it gives the pods no DNS names of their own")
    if not service["spec"].get("selector", {}).items() <= template["metadata"]["labels"].items():
        errors.append("the Service's selector does not match the Job's pods")
    source = variables(main).get(INDEX_VAR, {}).get("valueFrom", {}).get("fieldRef", {})
    if source.get("fieldPath") != INDEX_FIELD:
        errors.append(f"{INDEX_VAR} is not defined from {INDEX_FIELD}")
    ports = [p["containerPort"] for p in main.get("ports", [])]
    hosts = [
        f"{job['metadata']['name']}-{i}.{service['metadata']['name']}:{port}"
        for i in range(count)
        for port in ports[:1]
    ]
    for entry in service["spec"].get("ports", []):
        if entry["port"] not in ports:
            errors.append(f"Service port {entry['port']} is no container port {ports}")
    params = None
    for i in range(count):
        params = parsed(expand(main["args"], {INDEX_VAR: str(i)}), f"worker {i}", errors)
        if params is None:
            continue
        workers = (params["workers"] or "").split(",")
        if workers != hosts:
            errors.append(f"worker {i}: --workers is {workers}, not the pods {hosts}")
        elif params["worker_index"] != i:
            errors.append(f"worker {i}: --worker-index is {params['worker_index']}")
        else:
            try:
                distribute.cluster_config(workers, i)  # what the CLI then makes of them
            except ZooError as exc:
                errors.append(f"worker {i}: {exc}")
    return errors + (worker_errors(pod, main, params, docs) if params else [])


def tfjob_errors(doc: dict[str, Any], docs: list[dict[str, Any]]) -> list[str]:
    """What the training operator requires of a TFJob that no schema here checks: its API, a
    DNS-1035 name (the operator names pods and Services after it), only Worker replicas (a Chief
    or PS would make another cluster), at least two, a restartPolicy it knows, only the fields
    these manifests mean to use, a pod template valid as a core PodTemplate, and the container
    `tensorflow` running multi-worker training from the operator's TF_CONFIG, not --workers."""
    errors = []
    if doc.get("apiVersion") != KUBEFLOW_API or doc.get("kind") != "TFJob":
        errors.append(f"not a {KUBEFLOW_API} TFJob")
    name = doc.get("metadata", {}).get("name", "")
    if not DNS_1035.fullmatch(name):
        errors.append("metadata.name is not a DNS-1035 label")
    spec = doc.get("spec", {})
    replicas = spec.get("tfReplicaSpecs", {})
    worker = replicas.get("Worker", {})
    for field, value in (
        ("spec", spec),
        ("runPolicy", spec.get("runPolicy", {})),
        ("Worker", worker),
    ):
        if unknown := set(value) - TFJOB_FIELDS[field]:
            errors.append(f"unexpected fields in {field}: {sorted(unknown)}")
    if set(replicas) != {"Worker"}:
        errors.append(f"tfReplicaSpecs has {sorted(replicas)}, not only Worker")
    if not isinstance(worker.get("replicas"), int) or worker["replicas"] < 2:
        errors.append(f"Worker replicas is {worker.get('replicas')!r}, not 2 or more")
    if worker.get("restartPolicy") not in TFJOB_RESTART:
        errors.append(f"restartPolicy {worker.get('restartPolicy')!r} is none of {TFJOB_RESTART}")
    template = worker.get("template", {})
    pod_template = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": name}}
    try:
        kubernetes_validate.validate(
            {**pod_template, "template": template}, KUBERNETES, strict=True
        )
    except kubernetes_validate.ValidationError as exc:
        errors.append(f"the pod template: {exc.message}")
    pod = template.get("spec", {})
    containers = {c.get("name"): c for c in pod.get("containers", [])}
    main = containers.get(TFJOB_CONTAINER)
    if main is None:
        return [*errors, f"no container named {TFJOB_CONTAINER}, which gets TF_CONFIG"]
    if "TF_CONFIG" in variables(main):
        errors.append("the container sets TF_CONFIG, which the operator writes")
    params = parsed(main.get("args", []), TFJOB_CONTAINER, errors)
    if params is None:
        return errors
    if params["workers"] is not None or params["worker_index"] is not None:
        errors.append("--workers would overwrite the TF_CONFIG the operator writes")
    return errors + worker_errors(pod, main, params, docs)


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
def volume_and_export(tmp_path_factory) -> tuple[Path, ExportResult]:
    """(the zoo-models volume's stand-in, holding models/, and the export of cnn-mnist into it)."""
    volume = tmp_path_factory.mktemp("zoo-models")
    result = export_run(fake_run(volume / "runs", MODEL), model_dir=volume / "models", samples=4)
    return volume, result


def test_the_manifests_are_the_documented_files_and_kinds():
    assert sorted(str(p.relative_to(DEPLOY)) for p in DEPLOY.rglob("*.yaml")) == sorted(MANIFESTS)
    assert {name: [doc["kind"] for doc in docs] for name, docs in DOCUMENTS.items()} == MANIFESTS
    assert sorted(SERVING + TRAINING) == sorted(MANIFESTS)
    documented = DEPLOY_DOC.read_text()
    assert [name for name in MANIFESTS if f"`deploy/{name}`" not in documented] == []


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
    broken = copy.deepcopy(one(SERVE, "Deployment"))
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
    assert wiring_errors(SERVE, image_args()) == []


def test_the_wiring_check_catches_a_dangling_reference():
    broken = copy.deepcopy(SERVE)
    one(broken, "Service")["spec"]["ports"][0]["targetPort"] = "http"
    one(broken, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]["name"] = "zoo"
    container(broken)["readinessProbe"]["httpGet"]["port"] = 8500
    errors = wiring_errors(
        broken, [*image_args({"MODEL_BASE_PATH": "/srv"}), "--rest-port", "9501"]
    )
    assert len(errors) == 5, errors


def test_the_container_arguments_are_zoo_serve_options_for_a_container():
    image = serve_params(image_args())
    deployment = serve_params([*image_args(), *container(SERVE)["args"]])
    for params in (image, deployment):
        assert params["host"] == "0.0.0.0"  # zoo serve's default, 127.0.0.1, is unreachable
    # As tensorflow/serving's image: $MODEL_BASE_PATH/$MODEL_NAME, /models/model by default.
    assert (image["model_name"], image["model_base_path"]) == ("model", Path("/models/model"))
    assert (image["grpc_port"], image["rest_port"]) == (8500, 8501)
    assert (deployment["model_dir"], deployment["workers"]) == (Path("/models"), 2)
    assert deployment["models"] == MODEL


def test_a_misspelt_zoo_serve_option_is_refused():
    with pytest.raises(click.NoSuchOption):
        serve_params([*container(SERVE)["args"], "--worker", "3"])


def test_the_manifests_name_what_zoo_export_wrote(volume_and_export):
    volume, result = volume_and_export
    assert result.name == MODEL and (result.version_dir / "saved_model.pb").is_file()
    assert repository_errors(SERVE, volume, result) == []


def test_a_model_export_did_not_write_is_caught_in_every_manifest(volume_and_export):
    volume, result = volume_and_export
    errors = repository_errors(renamed(SERVE, MODEL, "cnn-fashion"), volume, result)
    # --models, --load-model, and the base path and name of both InferenceServices for SavedModels
    assert len(errors) == 6, errors
    moved = renamed(SERVE, "zoo-models/models", "zoo-models/exports")
    container(moved)["volumeMounts"][0]["subPath"] = "exports"
    errors = repository_errors(moved, volume, result)
    assert len(errors) == 4, errors  # the three storageUris and the pods' mount


def test_config_pbtxt_names_its_folder(volume_and_export, tmp_path):
    volume, _ = volume_and_export
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


RUNTIME = one(DOCUMENTS["kserve/zoo.yaml"], "ServingRuntime")


def test_the_serving_runtime_starts_zoo_serve_as_kserve_starts_tf_serving():
    assert serving_runtime_errors(RUNTIME) == []


def runtime_container(doc: dict[str, Any]) -> dict[str, Any]:
    (only,) = doc["spec"]["containers"]
    return only


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda d: d.update(apiVersion=KSERVE_API), "not a serving.kserve.io/v1alpha1"),
        (lambda d: d["spec"].update(supportedModelFormat=[]), "unexpected fields"),
        (lambda d: d["spec"]["supportedModelFormats"][0].update(name="pytorch"), "formats"),
        (lambda d: d["spec"].update(protocolVersions=["v3"]), "protocolVersions"),
        (lambda d: runtime_container(d).update(name="zoo"), "kserve-container"),
        (lambda d: runtime_container(d).update(command=["zoo"]), "does not run"),
        (lambda d: runtime_container(d)["args"].append("--model-name=x"), "refuses its args"),
        (lambda d: runtime_container(d)["args"].append("--model_base_path=/models"), "/mnt/models"),
        (lambda d: runtime_container(d)["args"].append("--port=8500"), "ports"),
        (lambda d: runtime_container(d)["args"].remove("--host=0.0.0.0"), "--host"),
        (lambda d: d["spec"]["annotations"].update({"prometheus.kserve.io/path": "/m"}), "path"),
    ],
    ids=[
        "api",
        "misspelt field",
        "format",
        "protocol",
        "container name",
        "command",
        "misspelt option",
        "base path",
        "port",
        "loopback",
        "scrape path",
    ],
)
def test_the_serving_runtime_check_rejects_broken_ones(change, error):
    broken = copy.deepcopy(RUNTIME)
    change(broken)
    errors = serving_runtime_errors(broken)
    assert any(error in e for e in errors), errors


ON_ZOO = one([d for d in SERVICES if d["spec"]["predictor"]["model"].get("runtime")
               == RUNTIME["metadata"]["name"]], "InferenceService")  # fmt: skip


def test_an_inference_service_may_name_only_a_runtime_defined_for_its_format():
    onnx_only = copy.deepcopy(RUNTIME)
    onnx_only["spec"]["supportedModelFormats"] = [{"name": "onnx", "version": "1"}]
    errors = inference_service_errors(ON_ZOO, runtime_formats([onnx_only]))
    assert any("does not serve the tensorflow format" in e for e in errors), errors


def test_zoo_serve_answers_with_the_serving_runtimes_arguments(volume_and_export):
    """The runtime's arguments as KServe fills them in for the InferenceService, with the model
    folder at /mnt/models and the ports made this test's own: the model answers by its name."""
    volume, _ = volume_and_export
    name = ON_ZOO["metadata"]["name"]
    mounted = volume / pvc(ON_ZOO["spec"]["predictor"]["model"]["storageUri"])[1]
    args = [
        arg.replace("{{.Name}}", name).replace(KSERVE_MOUNT, str(mounted))
        for arg in runtime_container(RUNTIME)["args"]
        if not arg.startswith(("--port=", "--rest_api_port=", "--host="))
    ]
    with running(Server(volume, *args, tf_serving=True), name) as server:
        status, answer = server.rest(f"/v1/models/{name}")
        assert status == 200 and answer["model_version_status"][0]["version"] == "1", answer


def test_zoo_serve_answers_the_probes_and_the_scrape_path(volume_and_export):
    volume, _ = volume_and_export
    main, pod = container(SERVE), one(SERVE, "Deployment")["spec"]["template"]["metadata"]
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


JOB, TFJOB = one(TRAIN, "Job"), one(TRAIN, "TFJob")
RUN_ID = "20260101-000000"  # any run: --resume is only parsed here


def worker_container(doc: dict[str, Any]) -> dict[str, Any]:
    """The training container of the Job or of the TFJob's Worker replicas."""
    spec = doc["spec"]
    template = (
        spec["template"] if doc["kind"] == "Job" else spec["tfReplicaSpecs"]["Worker"]["template"]
    )
    (only,) = template["spec"]["containers"]
    return only


def test_kubernetes_expands_only_the_variables_a_container_defines():
    assert expand(["$(A)", "x$(A)y", "$$(A)", "$(B)", "$A"], {"A": "0"}) == [
        "0",
        "x0y",
        "$(A)",
        "$(B)",
        "$A",
    ]


def test_the_schema_check_rejects_a_broken_job():
    for change in (
        lambda job: job["spec"]["template"]["spec"].update(subDomain="zoo-train"),
        lambda job: job["spec"].update(completions="2"),
    ):
        broken = copy.deepcopy(JOB)
        change(broken)
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_the_indexed_job_forms_the_cluster_its_args_name():
    assert job_errors(TRAIN) == []
    main = worker_container(JOB)
    for i in range(JOB["spec"]["completions"]):
        params = train_params(expand(main["args"], {INDEX_VAR: str(i)}))
        assert params["worker_index"] == i
        assert params["workers"] == "zoo-train-0.zoo-train:2222,zoo-train-1.zoo-train:2222"
        assert (params["model"], params["runs_dir"]) == (MODEL, Path("/runs"))


def broken_job(change: Any) -> list[dict[str, Any]]:
    """A copy of the training manifests with `change(job, service, container)` applied."""
    docs = copy.deepcopy(TRAIN)
    change(one(docs, "Job"), one(docs, "Service"), worker_container(one(docs, "Job")))
    return docs


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda j, s, c: j["spec"].pop("completionMode"), "not Indexed"),
        (lambda j, s, c: j["spec"].update(completions=3, parallelism=3), "not the pods"),
        (lambda j, s, c: j["spec"].update(parallelism=1), "parallelism"),
        (lambda j, s, c: j["spec"].pop("backoffLimit"), "backoffLimit"),
        (lambda j, s, c: j["spec"]["template"]["spec"].pop("subdomain"), "subdomain"),
        (lambda j, s, c: s["spec"].pop("clusterIP"), "headless"),
        (lambda j, s, c: s["spec"].update(selector={"app": "zoo"}), "selector"),
        (lambda j, s, c: c["ports"][0].update(containerPort=2223), "not the pods"),
        (lambda j, s, c: c["env"].pop(0), INDEX_VAR),
        (lambda j, s, c: c["args"].remove("--worker-index"), "refuses its args"),
        (lambda j, s, c: c.pop("command"), "in place of `zoo serve`"),
        (lambda j, s, c: c["args"].__setitem__(3, "mirrored"), "not multi-worker"),
        (lambda j, s, c: c["volumeMounts"][0].update(mountPath="/srv/runs"), "--runs-dir"),
        (lambda j, s, c: c["volumeMounts"][0].update(readOnly=True), "no writable"),
        (lambda j, s, c: c["env"][1].update(value="/datasets"), "ZOO_DATA_DIR"),
        (lambda j, s, c: c["resources"].pop("requests"), "CPU"),
    ],
    ids=[
        "not indexed",
        "three pods, two named",
        "one at a time",
        "default backoff",
        "no subdomain",
        "not headless",
        "selector",
        "port",
        "index undefined",
        "no index",
        "entrypoint kept",
        "strategy",
        "runs elsewhere",
        "runs read-only",
        "data elsewhere",
        "no cpu",
    ],
)
def test_the_job_check_rejects_broken_wiring(change, error):
    errors = job_errors(broken_job(change))
    assert any(error in e for e in errors), errors


def test_the_runs_claim_must_be_shared_by_every_worker():
    docs = copy.deepcopy(TRAIN)
    (runs,) = [d for d in docs if d["metadata"]["name"] == "zoo-runs"]
    runs["spec"]["accessModes"] = ["ReadWriteOnce"]
    for errors in (job_errors(docs), tfjob_errors(one(docs, "TFJob"), docs)):
        assert any("ReadWriteMany" in e for e in errors), errors
    runs["metadata"]["name"] = "runs"
    assert any("defined here" in e for e in job_errors(docs))


def test_the_tfjob_has_the_operators_required_structure():
    assert tfjob_errors(TFJOB, TRAIN) == []
    params = train_params(worker_container(TFJOB)["args"])
    assert (params["model"], params["strategy"], params["runs_dir"]) == (
        MODEL,
        "multi-worker",
        Path("/runs"),
    )


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda d, c: d.update(apiVersion="kubeflow.org/v1beta1"), "not a kubeflow.org/v1"),
        (lambda d, c: d["metadata"].update(name="zoo_train"), "DNS-1035"),
        (lambda d, c: d["spec"]["tfReplicaSpecs"]["Worker"].update(replicas=1), "replicas"),
        (
            lambda d, c: d["spec"]["tfReplicaSpecs"]["Worker"].update(restartPolicy="Sometimes"),
            "restartPolicy",
        ),
        (
            lambda d, c: d["spec"]["tfReplicaSpecs"].update(
                PS=d["spec"]["tfReplicaSpecs"]["Worker"]
            ),
            "only Worker",
        ),
        (lambda d, c: d["spec"].update(cleanPodPolicy="All"), "unexpected fields in spec"),
        (lambda d, c: c.update(name="zoo-train"), "no container named tensorflow"),
        (lambda d, c: c.update(volumeMount=c.pop("volumeMounts")), "the pod template"),
        (lambda d, c: c["env"].append({"name": "TF_CONFIG", "value": "{}"}), "sets TF_CONFIG"),
        (
            lambda d, c: c["args"].extend(["--workers", "a:1,b:2", "--worker-index", "0"]),
            "--workers",
        ),
        (lambda d, c: c["args"].__setitem__(-1, "runs"), "--runs-dir"),
        (lambda d, c: c["args"].append("--epoch=3"), "refuses its args"),
    ],
    ids=[
        "api",
        "name",
        "one replica",
        "restart policy",
        "parameter server",
        "misspelt field",
        "container name",
        "pod template field",
        "own TF_CONFIG",
        "workers given",
        "runs elsewhere",
        "misspelt option",
    ],
)
def test_the_tfjob_check_rejects_broken_ones(change, error):
    broken = copy.deepcopy(TFJOB)
    change(broken, worker_container(broken))
    errors = tfjob_errors(broken, TRAIN)
    assert any(error in e for e in errors), errors


@pytest.mark.parametrize("doc", [JOB, TFJOB], ids=ident)
def test_a_killed_run_resumes_with_the_same_args_and_resume_in_place_of_the_model(doc):
    args = expand(worker_container(doc)["args"], {INDEX_VAR: "0"})
    resumed = [
        a for arg in args for a in ([arg] if arg != MODEL else ["--resume", f"{MODEL}/{RUN_ID}"])
    ]
    params = train_params(resumed)
    assert (params["model"], params["resume"]) == (None, f"{MODEL}/{RUN_ID}")
    assert params["runs_dir"] == train_params(args)["runs_dir"]
