"""Version labels (`stable`, `canary`): names a client uses instead of a version number.

TF Serving reads them from its model config (`version_labels { key: "stable" value: 1 }`), and so
does `zoo serve` (model_config.py); it also takes the same mapping on its command line,
`--version-labels cnn-mnist:stable=1,cnn-mnist:canary=2`, so that no file has to be kept beside a
--model-dir repository. A label is
only a pointer: when its version is not being served, a request for it is TF Serving's NOT_FOUND for
that version, and a label the model does not have is its INVALID_ARGUMENT.
"""

from __future__ import annotations

import re

from zoo.serving.core.errors import ServerError

VersionLabels = dict[str, dict[str, int]]  # model name -> label -> version
ENTRY = re.compile(r"(?P<model>[^:=,\s]+):(?P<label>[^:=,\s]+)=(?P<version>\d+)")


def parse(text: str | None) -> VersionLabels:
    """`name:label=version,...` as a mapping; anything else is a one-line start-up error."""
    labels: VersionLabels = {}
    for entry in filter(None, (e.strip() for e in (text or "").split(","))):
        match = ENTRY.fullmatch(entry)
        if match is None:
            raise ServerError(
                f"--version-labels: {entry!r} is not MODEL:LABEL=VERSION (e.g. cnn-mnist:stable=1)"
            )
        model, label = match["model"], match["label"]
        if label.isdigit():
            raise ServerError(f"--version-labels: label {label!r} of {model} must not be a number")
        if label in labels.get(model, {}):
            raise ServerError(f"--version-labels: {model}:{label} is given twice")
        labels.setdefault(model, {})[label] = int(match["version"])
    return labels
