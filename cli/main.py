"""`zoo`: one command per verb; each parses its options, calls the library, and prints the result.

Only the commands that need TensorFlow load it (`load_tensorflow`), inside the command, so `zoo
--help`, `zoo list`, `zoo predict` and `zoo serve --backend onnx` start in a fraction of a second.

Errors the user can fix (ZooError, a file they named) become one `Error:` line and exit code 2.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shlex
import sys
from pathlib import Path
from typing import NoReturn

import click

from zoo import catalogue, dependencies, distribute, runs, text, versions, weights
from zoo.errors import ZooError
from zoo.export import keras_file
from zoo.export.defaults import DEFAULT_OPSET, DEFAULT_SAMPLES, FORMATS, QUANTIZE_MODES
from zoo.inference import format_example
from zoo.quiet import load_tensorflow
from zoo.registry import OPTIMIZERS, get_spec
from zoo.runs import ANIMATION

USER_ERROR = 2
INTERRUPTED = 130  # 128 + SIGINT: what a shell reports for a command stopped by Ctrl-C


class ZooGroup(click.Group):
    """A click group whose every user error, click's own included, is one line and exit code 2."""

    def main(self, args=None, prog_name=None, **extra):
        try:
            code = super().main(args, prog_name, standalone_mode=False, **extra)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)
        except click.ClickException as exc:  # bad flags and arguments
            _fail(f"{exc.format_message()} (try --help)")
        except ZooError as exc:
            _fail(str(exc))
        except OSError as exc:  # a path the user gave: unwritable, a file where a folder should be
            where = f": {exc.filename}" if exc.filename else ""
            _fail(f"{exc.strerror or exc}{where}")
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ModuleNotFoundError as error:  # a serving-only install asked to train, say
            raise dependencies.explain(error, f"zoo {ctx.invoked_subcommand}") from None


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(USER_ERROR)


data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder with the data files (default: $ZOO_DATA_DIR, then the Keras cache).",
)
runs_dir_option = click.option(
    "--runs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs"),
    show_default=True,
    help="Where run directories live.",
)


def server_options(
    url_help: str = "TF Serving REST address  [default: http://127.0.0.1:8501]",
    grpc_help: str = "Use TF Serving's gRPC API at HOST:PORT instead.",
):
    """--url / --grpc: which server a client command asks, never both."""
    return functools.partial(_server_options, url_help=url_help, grpc_help=grpc_help)


def _server_options(command, url_help: str, grpc_help: str):
    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value and ctx.params.get("url"):
            raise click.UsageError("give --url or --grpc, not both")
        return value

    command = click.option(
        "--grpc",
        "grpc_target",
        metavar="HOST:PORT",
        callback=check,
        help=grpc_help,
    )(command)
    return click.option("--url", is_eager=True, help=url_help)(command)


def port_option(protocol: str, default: int, tf_serving_name: str):
    """--rest-port / --grpc-port: where `zoo serve` listens with that protocol's APIs, also by
    the name tensorflow_model_server gives it."""
    return click.option(
        f"--{protocol.lower()}-port",
        tf_serving_name,
        f"{protocol.lower()}_port",
        type=click.IntRange(0, 65535),
        default=default,
        show_default=True,
        help=f"Port of the {protocol} APIs (TF Serving's and KServe v2's); 0 picks a free one.",
    )


def tls_and_cors_options(command):
    """`zoo serve`'s TLS (both protocols, or gRPC by TF Serving's SSLConfig) and CORS (REST)."""
    pem = click.Path(dir_okay=False, path_type=Path)
    for option in reversed(
        [
            click.option(
                "--ssl-cert",
                type=pem,
                metavar="FILE",
                help="Serve REST and gRPC over TLS with this PEM certificate (chain) and --ssl-key.",
            ),
            click.option("--ssl-key", type=pem, metavar="FILE", help="The PEM key of --ssl-cert."),
            click.option(
                "--ssl-client-ca",
                type=pem,
                metavar="FILE",
                help="Require client certificates signed by this PEM CA (REST and gRPC).",
            ),
            click.option(
                "--ssl_config_file",
                type=pem,
                help="TF Serving's SSLConfig (text: server_key, server_cert, custom_ca, "
                "client_verify): gRPC over TLS, as TF Serving does; REST stays plain.",
            ),
            click.option(
                "--rest-cors-origin",
                "cors_origins",
                multiple=True,
                metavar="ORIGIN",
                help="Let web pages on ORIGIN (https://app.example.com; repeatable; * for any) "
                "call the REST APIs: preflights answered, CORS headers set.",
            ),
            click.option(
                "--rest_api_enable_cors_support",
                "any_origin",
                type=click.BOOL,
                is_flag=False,
                flag_value=True,  # alone it means true, as TF Serving's booleans
                default=False,
                metavar="[=true|false]",
                help="TF Serving's: CORS for any origin (--rest-cors-origin '*').",
            ),
        ]
    ):
        command = option(command)
    return command


pretrained_option = click.option(
    "--pretrained",
    is_flag=True,
    help="RUN is a model id: use the weights this project trained and measured for it (weights/).",
)
limit_option = click.option(
    "--limit", type=click.IntRange(min=1), help="Use only the first N examples (quick runs)."
)


def _print_versions(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(versions.report())
        ctx.exit()


@click.group(cls=ZooGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=_print_versions,
    help="Show zoo's version and those of Python, TensorFlow, Keras and ONNX Runtime.",
)
def cli() -> None:
    """The course's models: list, train and evaluate them; export, serve and ask them (predict);
    draw digits with the GANs (generate). `zoo COMMAND --help` for each."""


@cli.command("list")
@click.argument("pattern", default="*")
@runs_dir_option
def list_command(pattern: str, runs_dir: Path) -> None:
    """Print the models: id, task, dataset, params, the slide's figure, ours and the weights'.

    "slide" is the slide's test figure, or its answers to its own inputs (the small tables); "ours"
    is the same for the newest full run (no --limit) trained under --runs-dir: its test figure once
    evaluated, else its answers to the slide's inputs; "weights" is the test figure of the
    pretrained weights (`--pretrained`), '-' for a model without them, and never counts as ours. A PATTERN
    that matches no model is an error (exit code 2). Plugins' models (ZOO_PLUGINS, or an installed
    `zoo.models` entry point) are listed too, with a "plugin" column naming where each comes from.
    """
    matching = catalogue.entries(pattern)  # the registry's table (builds a plugin's models only)
    if not matching:  # an error, as `ls nope*` is: an empty table would pass for an answer
        if not any(c in pattern for c in "*?["):
            catalogue.require(pattern)  # a mistyped id: suggest the nearest
        raise ZooError(f"no model matches {pattern!r} (`zoo list` shows them all)")
    rows = [("id", "task", "dataset", "params", "slide", "ours", "weights")]
    from_plugins = any(entry.plugin for entry in matching)
    if from_plugins:
        rows[0] += ("plugin",)
    published = weights.manifest()
    for entry in matching:
        name = entry.name
        if entry.slide_metric:
            slide = _figure(entry.slide_metric, entry.slide_value)
        elif entry.slide_inputs:
            slide = _answers(entry.slide_inputs, entry.slide_answers)
        else:
            slide = "-"
        ours = _measured(name, runs_dir)
        rows.append(
            (
                name,
                entry.task,
                entry.dataset,
                f"{entry.params:,}",
                slide,
                ours,
                _weights(name, published),
            )
        )
        if from_plugins:
            rows[-1] += (entry.plugin or "-",)
    click.echo(text.table(rows))
    if not published:
        click.echo(f"note: no pretrained weights: {weights.missing_manifest()}", err=True)


def _weights(name: str, published: dict) -> str:
    """The pretrained weights' test figure (`zoo export --pretrained`), or '-' when there are none."""
    return _test_figure(published.get(name, {}).get("test", {})) or "-"


def _test_figure(test: dict) -> str | None:
    """A run's or the weights' headline test figure, as `zoo list` shows it (None: none recorded)."""
    metric = next((m for m in ("accuracy", "mae", "frechet_distance") if m in test), None)
    return _figure(metric, test[metric]) if metric else None


def _measured(name: str, runs_dir: Path) -> str:
    for run in reversed(runs.list_runs(runs_dir, name)):
        with contextlib.suppress(ZooError):
            config = runs.read_json(run / runs.CONFIG)
            if config.get("limit") is not None or config.get("dataset"):
                continue  # a quick run on a subset, or one on other data, says nothing of the model
            figure = _test_figure(runs.read_json(run / runs.METRICS).get("test", {}))
            if figure:
                return figure
            example = runs.read_json(run / runs.METRICS).get("slide_example")
            if example:
                return _answers([r["inputs"] for r in example], [r["ours"] for r in example])
    return "-"


def _answers(inputs, answers) -> str:
    """A slide check in a cell: `[4] → 4` for one input, `0,0,0,1` for a table of them."""
    shown = [f"{a:.4g}" if isinstance(a, float) else str(a) for a in answers]
    if len(inputs) == 1:
        return f"[{', '.join(f'{x:g}' for x in inputs[0])}] → {shown[0]}"
    return ",".join(shown)


def _figure(metric: str, value: float) -> str:
    return f"{metric} {value:.2%}" if metric == "accuracy" else f"{metric} {value:.4g}"


@cli.command()
@click.argument("model", required=False)
@click.option("--epochs", type=click.IntRange(min=1), help="Override the recipe's epochs.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Override the recipe's batch size.")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), help="Override the recipe's optimizer.")
@click.option(
    "--learning-rate",
    type=click.FloatRange(min=0, min_open=True),
    help="Override the recipe's learning rate.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for everything random.")
@data_dir_option
@runs_dir_option
@limit_option
@click.option(
    "--resume",
    metavar="RUN",
    help="Continue an unfinished run from its last checkpoint (a model id: its newest unfinished run).",
)
@click.option(
    "--strategy",
    type=click.Choice(distribute.STRATEGIES),
    default="default",
    show_default=True,
    help="tf.distribute: one device, every local GPU (mirrored), or several processes or hosts "
    "(multi-worker, from TF_CONFIG or --workers).",
)
@click.option(
    "--workers",
    metavar="HOST:PORT,...",
    help="The multi-worker cluster, the same list for every worker (writes TF_CONFIG).",
)
@click.option(
    "--worker-index",
    type=click.IntRange(min=0),
    help="This process's place in --workers; worker 0 is the chief and writes the run.",
)
@click.option(
    "--dataset",
    type=click.Path(exists=True, path_type=Path),
    help="Your own data instead of the model's: a folder of images, one subfolder per class "
    "(or train/ and test/ that hold them), a CSV (with --label-column) or an .npz of x and y.",
)
@click.option(
    "--label-column",
    metavar="NAME",
    help="The --dataset CSV's label column; every other column is a feature.",
)
@click.option(
    "--pretrained",
    is_flag=True,
    help="Start from the weights published for MODEL and fine-tune them (on --dataset: with a "
    "head for its classes).",
)
@click.option(
    "--tensorboard",
    is_flag=True,
    help="Write TensorBoard logs into the run folder's tensorboard/ (a resumed run that has them "
    "goes on writing them).",
)
def train(
    model: str | None,
    resume: str | None,
    workers: str | None,
    worker_index: int | None,
    **options,
) -> None:
    """Train MODEL with its slide's recipe; writes runs/MODEL/RUN-ID/."""
    if model is None and resume is None:
        raise click.UsageError("name a MODEL to train (see `zoo list`), or --resume RUN")
    if (workers is None) != (worker_index is None):
        raise click.UsageError("--workers and --worker-index go together")
    if workers is not None:
        if options["strategy"] != "multi-worker":
            raise click.UsageError("--workers is for --strategy multi-worker")
        addresses = [w.strip() for w in workers.split(",") if w.strip()]
        os.environ["TF_CONFIG"] = distribute.cluster_config(addresses, worker_index)
    if resume is not None:
        recipe_options = ("epochs", "batch_size", "optimizer", "learning_rate", "limit")
        run_options = ("dataset", "label_column", "pretrained")
        given = [
            f"--{k.replace('_', '-')}"
            for k in (*recipe_options, *run_options)
            if options[k] not in (None, False)
        ]
        if given or options["seed"] != 0:
            raise click.UsageError(
                f"--resume keeps the run's own settings; drop {', '.join(given) or '--seed'}"
            )
        del options["seed"]
    if model is not None:
        catalogue.require(model)  # before TensorFlow loads: an unknown id is refused at once
    load_tensorflow()
    from zoo.train import train as train_model

    started: list[Path] = []

    def announce(run_dir: Path) -> None:
        started.append(run_dir)
        click.echo(f"run: {run_dir}")

    try:
        result = train_model(model, resume=resume, started=announce, **options)
    except KeyboardInterrupt:
        _interrupted(started[0] if started else None, options)
    index, count = result.worker
    if index:
        click.echo(f"\nworker {index} of {count}: done; worker 0 wrote the run")
        return
    spec = get_spec(result.run_dir.parent.name)
    click.echo(f"\nrun: {result.run_dir}")
    for split in ("train", "validation"):
        if result.metrics[split]:
            shown = ", ".join(f"{k} {v:.4f}" for k, v in sorted(result.metrics[split].items()))
            click.echo(f"{split}: {shown}")
    click.echo(
        f"time: {result.metrics['train_seconds']:.1f} s "
        f"({result.metrics['examples_per_second']:,.0f} examples/s)"
    )
    if result.example:
        click.echo("slide check:\n" + format_example(spec, result.example))
    for picture in (runs.CURVES, ANIMATION):
        if (result.run_dir / picture).is_file():
            click.echo(f"{picture}: {result.run_dir / picture}")
    if (result.run_dir / runs.TENSORBOARD).is_dir():
        click.echo(f"tensorboard: tensorboard --logdir {result.run_dir / runs.TENSORBOARD}")
    click.echo(f"next: zoo evaluate {result.run_dir}")


def _interrupted(run_dir: Path | None, options: dict) -> NoReturn:
    """Ctrl-C while training: say what was kept and the exact line that continues it, and exit 130
    (what a shell reports for a command stopped by SIGINT), without a traceback."""
    if run_dir is None:
        click.echo("\nInterrupted before a run folder was made: nothing to resume.", err=True)
        sys.exit(INTERRUPTED)
    line = ["zoo", "train", "--resume", str(run_dir)]
    if options["data_dir"] is not None:  # read from the command line, not from the run
        line += ["--data-dir", str(options["data_dir"])]
    if options["strategy"] != "default":
        line += ["--strategy", options["strategy"]]
    click.echo(
        f"\nInterrupted: the run is kept in {run_dir} ({_epochs_done(run_dir)})."
        f"\nResume it with: {shlex.join(line)}",
        err=True,
    )
    sys.exit(INTERRUPTED)


def _epochs_done(run_dir: Path) -> str:
    """`2 of 3 epochs done`: how far an interrupted run got, from its last checkpoint."""
    with contextlib.suppress(ZooError, OSError, KeyError, TypeError):
        total = runs.read_json(run_dir / runs.CONFIG)["recipe"]["epochs"]
        checkpoint = run_dir / runs.CHECKPOINT
        state = runs.read_checkpoint_state(checkpoint) if checkpoint.is_file() else None
        return f"{(state or {}).get('epoch', 0)} of {total} epochs done"
    return "its last checkpoint"


def _check_model_id(ref: str | None, pretrained: bool) -> None:
    """Refuse a RUN that can only be a model id (a bare word that is no folder here, or any name
    with --pretrained) and is none of the zoo's, before TensorFlow takes seconds to load."""
    if ref is not None and (pretrained or ("/" not in ref and not Path(ref).exists())):
        catalogue.require(ref)


@cli.command()
@click.argument("run")
@data_dir_option
@runs_dir_option
@limit_option
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="Test examples per step (memory, not the result).",
)
@pretrained_option
def evaluate(run: str, pretrained: bool, **options) -> None:
    """Evaluate RUN (a run directory, MODEL/RUN-ID, or a model id for its newest run trained here;
    --pretrained: the model's pretrained weights) on the test split."""
    _check_model_id(run, pretrained)
    load_tensorflow()
    from zoo.evaluate import evaluate as evaluate_run

    if pretrained:
        from zoo.publish import pretrained_run

        run = str(pretrained_run(run, options["runs_dir"]))
    result = evaluate_run(run, **options)
    spec = result.spec  # the run's: on its own data, with its classes, if it had some
    click.echo(f"run: {result.run_dir}")
    if result.report:  # a generator's figures come as a table
        click.echo(result.report)
    else:
        shown = ", ".join(
            f"{k} {v:.4f}" for k, v in sorted(result.metrics.items()) if k != "examples"
        )
        click.echo(f"test ({result.metrics['examples']:,} examples): {shown}")
    if pretrained:
        published = weights.entry(spec.name)["test"]
        click.echo(
            "weights/manifest.json: "
            + ", ".join(
                f"{k} {v:.4f}" for k, v in sorted(published.items()) if isinstance(v, float)
            )
        )
    if spec.slide_metric and spec.slide_metric in result.metrics:
        ours = result.metrics[spec.slide_metric]
        verdict = "meets" if ours >= spec.slide_value else "is below"
        whose = "the pretrained weights'" if pretrained else "ours"
        click.echo(
            f"slide: {spec.slide_metric} {spec.slide_value:.4f}; {whose} {ours:.4f} {verdict} it"
        )
    if result.short_run:
        click.echo(f"note: a short run, {result.short_run}: not what the full recipe reaches")
    if result.example:
        click.echo("slide check:\n" + format_example(spec, result.example))
    if result.confusion_png:
        click.echo(f"confusion matrix: {result.confusion_png}")


@cli.command()
@click.argument("run", metavar="RUN|MODEL")
@click.option("--n", type=click.IntRange(min=1), default=40, show_default=True, help="Images.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the latent points.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("grid.png"),
    show_default=True,
    help="The grid picture to write.",
)
@click.option("--npy", is_flag=True, help="Also write the images as float32 [N, 28, 28, 1] .npy.")
@server_options(
    url_help="Ask the served generator at this TF Serving REST address (e.g. "
    "http://127.0.0.1:8501) instead of drawing locally.",
    grpc_help="Ask the served generator over TF Serving's gRPC API at HOST:PORT instead.",
)
@runs_dir_option
@pretrained_option
def generate(
    run: str, url: str | None, grpc_target: str | None, pretrained: bool, **options
) -> None:
    """Draw new digits from a generator: RUN, MODEL/RUN-ID or a model id's newest run; with --url or
    --grpc, the served generator MODEL, fed the same seeded latent points."""
    if pretrained and (url or grpc_target):
        raise click.UsageError("--pretrained draws locally; the served MODEL has its own weights")
    _check_model_id(run, pretrained)
    load_tensorflow()
    if pretrained:
        from zoo.publish import pretrained_run

        run = str(pretrained_run(run, options["runs_dir"]))
    if url or grpc_target:
        from zoo.serving.client import generated_images

        options["draw"] = functools.partial(generated_images, run, url=url, grpc_target=grpc_target)
    from zoo.generate import generate as generate_images

    result = generate_images(run, **options)
    click.echo(f"from: {result.run_dir or url or grpc_target}")
    click.echo(f"grid: {result.grid} ({len(result.images)} images)")
    if result.npy:
        click.echo(f"npy: {result.npy}")


@cli.command()
@click.argument("run", required=False, metavar="[RUN|MODEL|PATH.keras]")
@click.option(
    "--format",
    "fmt",
    type=click.Choice([*FORMATS, "all"]),
    default="all",
    show_default=True,
    help="The SavedModel (TF Serving), the ONNX model (Triton), or both.",
)
@click.option(
    "--model-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("models"),
    show_default=True,
    help="The model repository that TF Serving and Triton read.",
)
@click.option(
    "--name",
    help="The model's name in the repository (default: the model id, or the .keras file's stem).",
)
@click.option(
    "--labels",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With PATH.keras: its class labels, one per line (line i names class i).",
)
@click.option(
    "--version",
    type=click.IntRange(min=1),
    help="Version to write (default: one more than the highest present).",
)
@click.option("--force", is_flag=True, help="Replace the version if it exists.")
@click.option(
    "--samples",
    type=click.IntRange(min=1),
    default=DEFAULT_SAMPLES,
    show_default=True,
    help="Test examples the parity check runs through Keras and each export.",
)
@click.option(
    "--opset",
    type=click.IntRange(min=1),
    default=DEFAULT_OPSET,
    show_default=True,
    help="ONNX opset.",
)
@click.option(
    "--quantize",
    type=click.Choice(QUANTIZE_MODES),
    help="Also write model.int8.onnx and compare it with the float model on the test split.",
)
@data_dir_option
@runs_dir_option
@pretrained_option
def export(run: str | None, fmt: str, pretrained: bool, labels: Path | None, **options) -> None:
    """Export RUN (a run directory, MODEL/RUN-ID, or a model id for its newest run trained here;
    default: the newest finished run trained here, of any model; --pretrained MODEL: the model's
    pretrained weights; PATH.keras: a Keras model saved anywhere) to MODEL-DIR/NAME/VERSION/ for
    TF Serving and Triton.

    The version is written aside, checked against the Keras model on real test examples (a .keras
    file's: seeded random inputs), and renamed into place only if every format matches.
    """
    formats = FORMATS if fmt == "all" else (fmt,)
    if run is not None and keras_file.is_keras_file(run):
        _export_keras(run, pretrained, labels, formats, **options)
        return
    if labels is not None:
        raise click.UsageError("--labels goes with a PATH.keras (a zoo model has its own)")
    _check_model_id(run, pretrained)
    load_tensorflow()
    from zoo.export import export_run, format_quantized
    from zoo.export.parity import parity_inputs

    if pretrained:
        if run is None:
            raise click.UsageError("--pretrained needs the MODEL whose weights to export")
        # The parity check's data, found before the run is written: a wrong data folder leaves nothing.
        parity_inputs(get_spec(run), options["samples"], options["data_dir"])
        from zoo.publish import pretrained_run

        run = str(pretrained_run(run, options["runs_dir"]))
    result = export_run(run, formats=formats, **options)
    if run is None:
        click.echo(f"no RUN given: exported the newest finished run, {result.run_dir}")
    else:
        click.echo(f"run: {result.run_dir}")
    _print_export(result)
    if result.quantized:
        click.echo(f"int8: {result.version_dir / result.quantized.file}")
        click.echo(format_quantized(result.quantized))
    click.echo(f"exported {result.name} version {result.version} to {result.version_dir}")


def _export_keras(
    path: str,
    pretrained: bool,
    labels: Path | None,
    formats: tuple[str, ...],
    quantize: str | None,
    data_dir: Path | None,
    runs_dir: Path,
    **options,
) -> None:
    """`zoo export PATH.keras`: a model trained elsewhere, into the same repository."""
    if pretrained or quantize:
        flag = "--pretrained" if pretrained else "--quantize"
        raise click.UsageError(f"{flag} is for the zoo's models, not for a .keras file")
    keras_file.check_file(path)  # before TensorFlow takes seconds to load
    load_tensorflow()
    from zoo.export import export_keras

    result = export_keras(path, labels=labels, formats=formats, **options)
    click.echo(f"model: {result.keras_file}; its outputs: {result.description}")
    _print_export(result)
    click.echo(f"exported {result.name} version {result.version} to {result.version_dir}")


def _print_export(result) -> None:
    """The parity table and the files written, as every export shows them."""
    from zoo.export import format_table

    click.echo(format_table(result.parity))
    for fmt_name, path in result.files.items():
        click.echo(f"{fmt_name}: {path}")
    click.echo(f"triton config: {result.config}")


def request_log_options(command):
    """`zoo serve`'s request logs: --access-log, --log-requests and how they are sampled and rotated."""
    options = [
        click.option(
            "--access-log",
            metavar="PATH|-",
            help="Append one JSON line per request (every API, REST and gRPC) to PATH, or to "
            "standard output with -.  [default: none]",
        ),
        click.option(
            "--log-requests",
            type=click.Path(dir_okay=False, path_type=Path),
            metavar="PATH",
            help="Write sampled requests and their answers to PATH as TF Serving's PredictionLog "
            "records (TFRecord): a warmup file, replayable as assets.extra/tf_serving_warmup_requests.",
        ),
        click.option(
            "--log-sample-rate",
            type=click.FloatRange(0, 1),
            default=1.0,
            show_default=True,
            help="The share of requests --log-requests keeps, drawn at random.",
        ),
        click.option(
            "--log-max-bytes",
            type=click.IntRange(min=1),
            help="Rotate --log-requests' file before it passes this size (to PATH.1, PATH.2, "
            "...).  [default: 64 MiB]",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@cli.command()
@click.option(
    "--model-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The model repository `zoo export` writes (it must exist), every model and version in "
    "it  [default: models, unless --model_base_path or --model_config_file is given]",
)
@click.option(
    "--model_name",
    metavar="NAME",
    help="TF Serving's: the name of the one model at --model_base_path  [default: default]",
)
@click.option(
    "--model_base_path",
    type=click.Path(file_okay=False, path_type=Path),
    help="TF Serving's: one model's folder of numbered versions; only the latest is served.",
)
@click.option(
    "--model_config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TF Serving's ModelServerConfig (text format): models with their base paths, "
    "platforms, version policies and labels. It replaces --model_name/--model_base_path.",
)
@click.option(
    "--model_config_file_poll_wait_seconds",
    "config_poll_seconds",
    type=click.FloatRange(min=0),
    default=0,
    show_default=True,
    help="TF Serving's: how often to read --model_config_file again and apply it (0: never).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@port_option("REST", 8501, "--rest_api_port")
@port_option("gRPC", 8500, "--port")
@tls_and_cors_options
@click.option(
    "--backend",
    type=click.Choice(["onnx", "tf"]),
    default="onnx",
    show_default=True,
    help="ONNX Runtime (model.onnx) or TensorFlow (the SavedModel) where a version has both; "
    "a version with one format is served by its runtime.",
)
@click.option("--models", help="Serve only these models (comma-separated names).")
@click.option(
    "--poll-seconds",
    "--file_system_poll_wait_seconds",
    "poll_seconds",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="How often to look for new and removed versions (0: only at start).",
)
@click.option(
    "--version-labels",
    metavar="MODEL:LABEL=VERSION,...",
    help="Version labels for /labels/LABEL and gRPC's version_label, e.g. cnn-mnist:stable=1.",
)
@click.option(
    "--enable-batching",
    "--enable_batching",
    "enable_batching",
    type=click.BOOL,
    is_flag=False,
    flag_value=True,  # alone it means true; TF Serving's `--enable_batching=false` too
    default=True,
    show_default=True,
    metavar="[=true|false]",
    help="Merge concurrent requests to a model version into batches (TF Serving's batching).",
)
@click.option(
    "--no-batching", is_flag=True, help="Run every request alone: --enable_batching=false."
)
@click.option(
    "--batching-parameters-file",
    "--batching_parameters_file",
    "batching_parameters_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TF Serving's batching parameters (text format: max_batch_size { value: 64 } ...); "
    "a model folder's own batching_parameters.txt overrides it for that model.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Server processes sharing the REST and gRPC ports, to use several cores.",
)
@click.option(
    "--intra-op-threads",
    "--tensorflow_intra_op_parallelism",
    "intra_op",
    type=click.IntRange(min=0),
    help="Threads that split one operator of a model, either backend (TF Serving's flag; a "
    "model's config.pbtxt intra_op_thread_count wins; 0: the runtime chooses)  [default: each "
    "worker's share of the cores]",
)
@click.option(
    "--inter-op-threads",
    "--tensorflow_inter_op_parallelism",
    "inter_op",
    type=click.IntRange(min=0),
    help="Threads that run a model's independent operators at once (TF Serving's flag; "
    "config.pbtxt's inter_op_thread_count wins; 0: the runtime chooses)  [default: 1]",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="Where models run: CUDA where the runtime has it (onnxruntime-gpu) and a GPU is "
    "present, else the CPU; a model's config.pbtxt instance_group kind wins.",
)
@click.option(
    "--max-request-bytes",
    type=click.IntRange(min=1),
    default=64 * 2**20,
    show_default=True,
    help="The largest request: REST answers 413 above it (a compressed body counts as "
    "decompressed), gRPC RESOURCE_EXHAUSTED.",
)
@click.option(
    "--large-body-bytes",
    type=click.IntRange(min=0),
    default=2**20,
    show_default=True,
    help="A REST body this large or larger is decoded in another process, so that it does not "
    "stall other requests (0: every body on the event loop).",
)
@click.option(
    "--rest-api-timeout-in-ms",
    "--rest_api_timeout_in_ms",
    "rest_api_timeout_in_ms",
    type=click.IntRange(min=0),
    default=30_000,
    show_default=True,
    help="A REST request unanswered this long gets a 504 and gives up its place in the queue "
    "(TF Serving's flag; 0: no timeout). gRPC clients set their own deadlines.",
)
@click.option(
    "--grpc_channel_arguments",
    metavar="KEY=VALUE,...",
    help="TF Serving's: gRPC server options, e.g. grpc.max_connection_age_ms=2000.",
)
@click.option(
    "--monitoring_config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help='TF Serving\'s MonitoringConfig: prometheus_config { enable: true, path: "/metrics" } '
    "serves the metrics at that path only  [default: /monitoring/prometheus/metrics and /metrics]",
)
@click.option(
    "--ui/--no-ui",
    default=True,
    show_default=True,
    help="Serve the playground page at / on the REST port: draw a digit, watch the GAN.",
)
@click.option(
    "--model-control-mode",
    "--model_control_mode",
    "model_control_mode",
    type=click.Choice(["none", "poll", "explicit"]),
    default="poll",
    show_default=True,
    help="Triton's: poll the model folders for changes; none: load every model at start, never "
    "change; explicit: load and unload models on request (POST /v2/repository/models/NAME/load).",
)
@click.option(
    "--load-model",
    "--load_model",
    "load_model",
    multiple=True,
    metavar="NAME",
    help="Triton's: with --model-control-mode explicit, a model to load at start (repeat it; "
    "* for all).",
)
@request_log_options
def serve(
    model_dir: Path | None,
    models: str | None,
    version_labels: str | None,
    model_name: str | None,
    model_base_path: Path | None,
    model_config_file: Path | None,
    enable_batching: bool,
    no_batching: bool,
    batching_parameters_file: Path | None,
    max_request_bytes: int,
    large_body_bytes: int,
    rest_api_timeout_in_ms: int,
    grpc_channel_arguments: str | None,
    monitoring_config_file: Path | None,
    ssl_cert: Path | None,
    ssl_key: Path | None,
    ssl_client_ca: Path | None,
    ssl_config_file: Path | None,
    cors_origins: tuple[str, ...],
    any_origin: bool,
    model_control_mode: str,
    load_model: tuple[str, ...],
    intra_op: int | None,
    inter_op: int | None,
    device: str,
    access_log: str | None,
    log_requests: Path | None,
    log_sample_rate: float,
    log_max_bytes: int | None,
    **options,
) -> None:
    """Serve models with TF Serving's REST and gRPC APIs and KServe's v2 until Ctrl-C: every model
    in MODEL-DIR, or as tensorflow_model_server does, --model_base_path or --model_config_file."""
    # The folders and files are checked below, not by click: a deployment's arguments parse anywhere.
    from dataclasses import replace

    from zoo.serving import cors, grpc_arguments, monitoring_config, tls
    from zoo.serving.core import batching, model_sources
    from zoo.serving.core import version_labels as labels
    from zoo.serving.core.execution import Execution
    from zoo.serving.core.limits import Limits
    from zoo.serving.core.model_control import ModelControl
    from zoo.serving.request_logs import RequestLogs
    from zoo.serving.server import serve as run_server

    if options["backend"] == "tf":
        dependencies.require("tensorflow", "zoo serve --backend tf")
    parameters = replace(
        batching.BatchingParameters.default(), enabled=enable_batching and not no_batching
    )
    if batching_parameters_file:
        parameters = batching.read_file(batching_parameters_file, parameters)
    names = [m.strip() for m in models.split(",") if m.strip()] if models else None
    run_server(
        model_sources.choose(
            model_dir,
            names,
            labels.parse(version_labels),
            model_name,
            model_base_path,
            model_config_file,
        ),
        log=click.echo,
        batching_parameters=parameters,
        limits=Limits(max_request_bytes, rest_api_timeout_in_ms / 1000, large_body_bytes),
        grpc_arguments=grpc_arguments.parse(grpc_channel_arguments),
        metrics_paths=monitoring_config.metrics_paths(monitoring_config_file),
        tls=tls.choose(ssl_cert, ssl_key, ssl_client_ca, ssl_config_file),
        cors_origins=cors.origins(cors_origins, any_origin),
        model_control=ModelControl(model_control_mode, load_model),
        execution=Execution(intra_op, inter_op, device),
        request_logs=RequestLogs(access_log, log_requests, log_sample_rate, log_max_bytes),
        **options,
    )


@cli.command()
@click.argument("model")
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@server_options()
@click.option(
    "--top-k",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Classes to show per answer, most probable first.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the answers as JSON.")
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=0,
    show_default=True,
    metavar="SECONDS",
    help="Wait up to SECONDS for a server that is starting (gRPC's wait_for_ready); 0 fails at "
    "once when nothing listens.",
)
@click.option(
    "--as-bytes",
    is_flag=True,
    help="Send image files as they are to the model's serving_image signature, which decodes, "
    "converts and resizes them on the server (nothing is inverted).",
)
def predict(
    model: str,
    inputs: tuple[str, ...],
    url: str | None,
    grpc_target: str | None,
    top_k: int,
    as_json: bool,
    wait: float,
    as_bytes: bool,
) -> None:
    """Ask a server for MODEL's answer to INPUT: image files, a .npy file, or a tabular example's numbers.

    Images are decoded here and sent as pixels; a dark-on-light image for a model of light-on-dark
    digits or clothes (MNIST, Fashion-MNIST) is inverted first, with a note on stderr. With
    --as-bytes they are sent as files, for the server to decode.
    """
    from zoo.serving import client

    def note(line: str) -> None:
        click.echo(f"note: {line}", err=True)

    prediction = client.predict(model, inputs, url, grpc_target, wait, note, as_bytes)
    answers = client.describe(prediction, top_k)
    click.echo(json.dumps(answers) if as_json else client.format_answers(answers))


if __name__ == "__main__":
    cli()
