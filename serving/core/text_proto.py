"""TF Serving's configuration files: a protobuf message in text format, named by a flag.

`--monitoring_config_file` and `--ssl_config_file` are read alike: an unreadable file or a field
the proto does not have is one start-up error naming the flag, the file and protobuf's line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from google.protobuf import text_format
from google.protobuf.message import Message

from zoo.serving.core.errors import ServerError

M = TypeVar("M", bound=Message)


def read(path: Path, message: M, flag: str) -> M:
    """`message` filled from the text-format file at `path`, which the option `flag` named."""
    try:
        text_format.Parse(path.read_text(), message)
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ServerError(f"{flag} {path}: cannot read it: {reason}") from None
    except text_format.ParseError as exc:
        raise ServerError(f"{flag} {path}: line {exc}") from None
    return message
