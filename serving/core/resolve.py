"""A request's model, version or label, resolved into a servable in one place.

Every front end reads its protocol's way of naming a model (a REST path, TF Serving's ModelSpec
proto, KServe v2's `model_version` string) into one `ServableRequest` and asks `servable` or
`status` here, as TF Serving's front ends all go through ServerCore::GetServableHandle(ModelSpec).
So the version's text, its labels and the meaning of version 0 are read the same way everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from zoo.export.repository import MAX_VERSION
from zoo.serving.core.errors import InvalidArgument, ServingError
from zoo.serving.core.repository import Repository, VersionStatus
from zoo.serving.core.request_record import note_model
from zoo.serving.core.servables import Backend
from zoo.serving.core.signature import ModelSignature, signature_named


def version_number(text: str) -> int:
    """A version as a REST path or KServe v2's `model_version` writes it: ASCII digits, within
    int64. Anything else is an INVALID_ARGUMENT, not the ValueError of `int`, which reads other
    scripts' digits and refuses more than 4,300 of them (a 500 for a 5,000-digit version)."""
    digits = text.lstrip("0") or "0"
    if not (text.isascii() and text.isdigit()) or len(digits) > 19 or int(digits) > MAX_VERSION:
        shown = text if len(text) <= 40 else f"{text[:40]}... ({len(text):,} characters)"
        raise InvalidArgument(
            f"model version must be an integer from 0 to {MAX_VERSION}, got {shown!r}"
        )
    return int(digits)


@dataclass(frozen=True, slots=True)
class ServableRequest:
    """A model, and one of its versions by number or by label (neither: the latest)."""

    name: str
    version: int | None = None
    label: str | None = None

    @classmethod
    def parse(
        cls, name: str, version: str | None = None, label: str | None = None
    ) -> ServableRequest:
        """A request whose version is text (a REST path, v2's `model_version`): "" is none."""
        return cls(name, version_number(version) if version else None, label)


def servable(repository: Repository, request: ServableRequest) -> Backend:
    """The version a request names, the latest by default; NotFound as TF Serving words it."""
    try:
        found = repository.servable(request.name, _version(repository, request))
    except ServingError:
        note_model(request.name)  # the access log names the model even when it is refused
        raise
    note_model(request.name, found.version)
    return found


def signature(found: Backend, name: str | None, predict: bool = True) -> ModelSignature:
    """The signature of `found` that a request names ("" or None: `serving_default`), or TF
    Serving's INVALID_ARGUMENT for a name the servable lacks (worded for Predict, or with
    `predict` False for the Example-based methods)."""
    return signature_named(found.signatures, name, predict)


def status(repository: Repository, request: ServableRequest) -> list[VersionStatus]:
    """The versions of a model (or the one a request names) with their states, newest first."""
    note_model(request.name)
    return repository.status(request.name, _version(repository, request))


def _version(repository: Repository, request: ServableRequest) -> int | None:
    """The version a request names by number or by label (None: the latest).

    Version 0 means the latest too, unless a version 0 is being served: some TF Serving clients
    send 0 for "latest", and OpenVINO Model Server reads it so.
    """
    name, version, label = request.name, request.version, request.label
    if label is None:
        if version == 0 and not repository.serves(name, 0):
            return None
        return version
    labels = repository.version_labels.get(name, {})
    if label not in labels:
        raise InvalidArgument(f"Unrecognized servable version label: {label}")
    return labels[label]
