"""Run directories: one self-describing folder per training run, written atomically.

    runs/<model>/<run-id>/
        config.json       the ModelSpec, the hyperparameters used, the seed, package versions, and
                          when the run was made (`created`: what "a model's newest run" means)
        history.csv       one row per epoch (Keras's CSVLogger)
        checkpoint.keras  the model, optimizer and training state after the last finished epoch
                          (checkpoint.json: a readable copy of that state)
        model.keras       the trained model, present only once training finished
        metrics.json      final training metrics, wall time, and test metrics after `evaluate`
        curves.png        learning curves; confusion.png after `evaluate` for classifiers
        tensorboard/      TensorBoard's event files, train/ and validation/ (`train --tensorboard`)

Every file is written to a temporary name in the same folder and renamed into place, so a crash or
a kill never leaves a half-written file that a later step would trust.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo.errors import RunError

CONFIG = "config.json"
MODEL = "model.keras"
CHECKPOINT = "checkpoint.keras"
CHECKPOINT_STATE = "checkpoint.json"
CHECKPOINT_STATE_MEMBER = "zoo-checkpoint.json"  # the same state, inside checkpoint.keras
HISTORY = "history.csv"
METRICS = "metrics.json"
CURVES = "curves.png"
CONFUSION = "confusion.png"
ANIMATION = "samples.gif"  # a generator's samples over training
TENSORBOARD = "tensorboard"  # a folder: `tensorboard --logdir runs/<model>/<run-id>/tensorboard`


def umask_mode(mode: int) -> int:
    """`mode` less the process umask: what open() or mkdir() would have given the file."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


@contextlib.contextmanager
def naming(path: str | os.PathLike[str]) -> Iterator[None]:
    """Re-raise an OSError that names no file as one naming `path`: a write that fails for a full
    disk (or a file-size limit) says only "No space left on device", not where."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None or exc.errno is None:
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from exc


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    # mkstemp makes the file private (0600); a server running as another user must read it.
    os.chmod(tmp, umask_mode(0o666))
    tmp_path = Path(tmp)
    try:
        with naming(target):
            yield tmp_path
            os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def tidy_after_kill(run: Path) -> None:
    """Clear up what a kill in mid-write leaves in `run`: `atomic_path`'s temporary files (read by
    nothing, they would pile up), and a last row of history.csv without its line end, which the
    rows appended on resume would otherwise continue (its epoch has no checkpoint: it runs again)."""
    for leftover in run.rglob(".*"):
        if leftover.is_file():
            leftover.unlink()
    history = run / HISTORY
    if history.exists():
        os.truncate(history, history.read_bytes().rfind(b"\n") + 1)


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write `data` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file of a run; a damaged one is a RunError, not a traceback."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RunError(f"{path} is missing") from None
    except json.JSONDecodeError as exc:
        raise RunError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None


def write_checkpoint_state(keras_file: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Add the training state to a `.keras` file (a zip archive), so that one rename replaces
    weights and state together. Keras reads its members by name and ignores this one."""
    with zipfile.ZipFile(keras_file, "a") as archive:
        archive.writestr(CHECKPOINT_STATE_MEMBER, json.dumps(state))


def read_checkpoint_state(keras_file: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The training state inside a checkpoint; None for one written before the state moved in."""
    try:
        with zipfile.ZipFile(keras_file) as archive:
            return json.loads(archive.read(CHECKPOINT_STATE_MEMBER))
    except KeyError:
        return None
    except zipfile.BadZipFile:
        raise RunError(f"{keras_file} is damaged: not a .keras archive") from None


def new_run_dir(runs_dir: str | os.PathLike[str], model: str) -> Path:
    """Create `runs/<model>/<UTC timestamp>[-n]/`, never reusing an existing folder."""
    parent = Path(runs_dir) / model
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        run = parent / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            run.mkdir(parents=True)
            return run
        except FileExistsError:
            continue
    raise RunError(f"could not create a new run directory under {parent}")


def created_now() -> str:
    """The time a run is made, as its config.json keeps it (`created`): UTC, to the microsecond."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


def created(run: Path) -> dt.datetime:
    """When `run` was made: its config's `created`; for a run from before that was recorded, the
    time in its id (`YYYYMMDD-HHMMSS[-n]`, UTC); else when its config.json was written."""
    with contextlib.suppress(TypeError, ValueError):
        recorded = dt.datetime.fromisoformat(_config_or_empty(run).get("created"))
        return recorded.astimezone(dt.timezone.utc)
    with contextlib.suppress(ValueError):
        stamp = dt.datetime.strptime(run.name[:15], "%Y%m%d-%H%M%S")
        return stamp.replace(tzinfo=dt.timezone.utc)
    return dt.datetime.fromtimestamp((run / CONFIG).stat().st_mtime, dt.timezone.utc)


def is_pretrained(run: Path) -> bool:
    """Whether `run` holds the project's pretrained weights (`zoo.publish.pretrained_run`), not a
    run trained here: its config records where the weights came from (`pretrained`)."""
    return "pretrained" in _config_or_empty(run)


def _config_or_empty(run: Path) -> dict[str, Any]:
    """The run's config, or {} for a damaged one: listing runs must not fail on it (reading the
    run, once chosen, names the damage)."""
    with contextlib.suppress(RunError):
        config = read_json(run / CONFIG)
        if isinstance(config, dict):
            return config
    return {}


def _run_dirs(runs_dir: str | os.PathLike[str], model: str) -> list[Path]:
    """Every run folder (one with a config.json) of the models matching `model`, in no order.

    A path (absolute, or with a `/`) names no model, and `Path.glob` would reject an absolute one,
    so it has none.
    """
    if "/" in model or Path(model).is_absolute():
        return []
    return [p.parent for p in Path(runs_dir).glob(f"{model}/*/{CONFIG}")]


def list_runs(runs_dir: str | os.PathLike[str], model: str = "*") -> list[Path]:
    """The runs trained under `runs_dir`, oldest first by the time they were made (`created`).

    `model` is a model id or a glob of them. The pretrained weights' run folders are left out:
    they are used only when asked for (`--pretrained`), never as "the newest run" of a model.
    """
    return sorted(
        (run for run in _run_dirs(runs_dir, model) if not is_pretrained(run)),
        key=lambda run: (created(run), run.name, run.parent.name),
    )


def resolve_run(
    ref: str | os.PathLike[str],
    runs_dir: str | os.PathLike[str] = "runs",
    *,
    unfinished: bool = False,
) -> Path:
    """Find a run from a path, `<model>/<run-id>` under `runs_dir`, or a model id: its newest run
    trained here (its newest unfinished one with `unfinished`), never its pretrained weights'."""
    for candidate in (Path(ref), Path(runs_dir) / ref):
        if (candidate / CONFIG).is_file():
            return candidate
    model = str(ref)
    trained = list_runs(runs_dir, model)
    candidates = [run for run in trained if not (run / MODEL).is_file()] if unfinished else trained
    if candidates:
        return candidates[-1]
    pretrained = [run for run in _run_dirs(runs_dir, model) if is_pretrained(run)]
    if unfinished and (trained or pretrained):
        newest = f" (the newest, {trained[-1]}, finished)" if trained else ""
        raise RunError(f"no unfinished {model} run under {runs_dir}{newest}: nothing to resume")
    if pretrained:
        raise RunError(
            f"no {model} run trained under {runs_dir}, only pretrained weights "
            f"({sorted(pretrained)[-1]}): add --pretrained to use them, or train one with "
            f"`zoo train {model}`"
        )
    raise RunError(
        f"no run {model!r}: give a run directory, <model>/<run-id> or a model id with runs "
        f"under {runs_dir}"
    )


def require_model(run: Path) -> Path:
    """The trained model file of a finished run."""
    model = run / MODEL
    if not model.is_file():
        hint = f"; resume it with: zoo train --resume {run}" if (run / CHECKPOINT).is_file() else ""
        raise RunError(f"run {run} has no {MODEL}: training did not finish{hint}")
    return model
