"""Who decides which models are served: Triton's `--model-control-mode`, with its meanings.

- `poll` (zoo's default, and TF Serving's only way): every model of the sources loads at start, and
  the file system (and a model config file) is polled for changes while serving;
- `none`: every model loads at start and nothing changes after;
- `explicit`: only the models `--load-model` names load at start (`*`: all), and clients load and
  unload models with Triton's model repository extension (POST /v2/repository/models/NAME/load or
  unload, gRPC RepositoryModelLoad and RepositoryModelUnload). A load reads the model's folder again
  (new versions are loaded, removed ones dropped); it is all or nothing: if any version fails, the
  versions served before stay served and the load is refused with the reason.

The repository (repository.py) keeps the table; this holds the mode and its rules, and the calls
the front ends make, off the event loop, since loading a model takes seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zoo.serving.core.errors import InvalidArgument, ServerError

if TYPE_CHECKING:  # the repository imports this module for its modes
    from zoo.serving.core.metrics import Metrics
    from zoo.serving.core.repository import Repository

NONE, POLL, EXPLICIT = "none", "poll", "explicit"
MODES = (NONE, POLL, EXPLICIT)
ALL = "*"  # --load-model's name for every model


@dataclass(frozen=True)
class ModelControl:
    """The mode, and with `explicit` the models to load at start (`load_models`)."""

    mode: str = POLL
    load_models: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ServerError(f"--model-control-mode must be one of {', '.join(MODES)}")
        if self.load_models and self.mode != EXPLICIT:
            raise ServerError(
                "--load-model: models are loaded on demand only with --model-control-mode explicit"
            )

    @property
    def polls(self) -> bool:
        """Whether the sources are polled for changes while serving."""
        return self.mode == POLL

    def at_start(self, available: list[str]) -> set[str] | None:
        """The models to load at start among those `available` (None: all, and those that come
        later, as a poll finds them)."""
        if self.mode != EXPLICIT:
            return None
        if ALL in self.load_models:
            return set(available)
        unknown = [name for name in self.load_models if name not in available]
        if unknown:
            raise ServerError(
                f"--load-model: no model {', '.join(unknown)}; "
                f"there are {', '.join(available) or 'none'}"
            )
        return set(self.load_models)

    def check(self, action: str) -> None:
        """Refuse a client's load or unload unless the mode is explicit, as Triton does."""
        if self.mode != EXPLICIT:
            raise InvalidArgument(
                f"cannot {action} a model with --model-control-mode {self.mode}: "
                f"this server {'polls its model folders' if self.polls else 'serves what it loaded at start'}; "
                "start it with --model-control-mode explicit to load and unload models on request"
            )

    def describe(self) -> str:
        """One line for the server's log."""
        if self.mode != EXPLICIT:
            return self.mode
        return "explicit (POST /v2/repository/models/NAME/load or unload, gRPC RepositoryModelLoad)"


def check_parameters(action: str, parameters: Mapping[str, Any]) -> None:
    """Refuse the parameters of a load or unload that zoo serve cannot honour: Triton's load takes
    a config or files to use instead of the folder's, and zoo serve loads the folder as it is;
    unload's `unload_dependents` is taken (zoo serves no ensembles: there are none)."""
    if not isinstance(parameters, Mapping):
        raise InvalidArgument("'parameters' must be an object")
    unknown = sorted(set(parameters) - ({"unload_dependents"} if action == "unload" else set()))
    if unknown:
        raise InvalidArgument(
            f"{action}: zoo serve takes no parameter {', '.join(unknown)}; it loads a model "
            "from its folder as it is"
        )


async def load(repository: Repository, metrics: Metrics, name: str) -> None:
    """A client's load of `name`, in a thread: the event loop keeps answering meanwhile."""
    try:
        await asyncio.to_thread(repository.load_model, name)
    finally:
        metrics.versions_loaded(repository.models)


async def unload(repository: Repository, metrics: Metrics, name: str) -> None:
    """A client's unload of `name`: its requests in flight finish, new ones are refused."""
    await asyncio.to_thread(repository.unload_model, name)
    metrics.versions_loaded(repository.models)
