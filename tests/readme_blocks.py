"""The README's `<!-- ci: run -->` blocks, run as a new user pastes them into one terminal.

tests/test_readme.py runs them in the clone's environment; tests/test_installed.py runs the first
minute with an installed wheel. The blocks serve on the ports they name, and must stop the servers
they start.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MARKED_BLOCK = re.compile(r"<!-- ci: run -->\n```bash\n(.*?)```", re.DOTALL)
LONG_TRAINING = re.compile(r"^zoo train cnn-mnist(?= +#|$)", re.MULTILINE)
SHORTENED = "zoo train cnn-mnist --limit 8000 --epochs 1"
PORTS = (8501, 8500)
BLOCK_START = "=== README block {} ==="
TIMEOUT = 600


def readme_blocks() -> list[str]:
    """The marked blocks, the long training shortened as the README says CI does."""
    readme = (REPO / "README.md").read_text()
    assert f"`{SHORTENED}`" in readme, "the README says how CI shortens the long training"
    blocks = MARKED_BLOCK.findall(readme)
    shortened = [LONG_TRAINING.subn(SHORTENED, block) for block in blocks]
    assert sum(count for _, count in shortened) == 1, "one full `zoo train cnn-mnist` to shorten"
    return [block for block, _ in shortened]


def script(blocks: list[str]) -> str:
    """One bash script: each block announced, then run; the first failing command stops it."""
    parts = ["set -e -o pipefail"]
    for index, block in enumerate(blocks):
        parts += [f"echo '{BLOCK_START.format(index)}'", block]
    return "\n".join(parts) + "\n"


def busy(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def beside_shared_data(folder: Path, data: Path) -> None:
    """folder/../shared/data -> data: the layout the README's blocks assume beside the clone."""
    (folder.parent / "shared").mkdir()
    (folder.parent / "shared" / "data").symlink_to(data)


def answered(lines: list[str], label: str) -> bool:
    """`zoo predict`'s answer: the label alone, then its top-k lines, the label first."""
    return any(
        line == label and after.split()[:1] == [label] for line, after in itertools.pairwise(lines)
    )


@dataclass
class Ran:
    returncode: int
    output: str
    left_running: bool

    def block_outputs(self) -> list[str]:
        """What each block printed, in order."""
        return re.split(r"=== README block \d+ ===\n", self.output)[1:]


def run(blocks: list[str], cwd: Path, env: dict[str, str], log: Path) -> Ran:
    """Run the blocks in one bash from `cwd`; whatever they leave running is killed, and noted."""
    with log.open("w") as out:  # a file, not a pipe: a server left running would hold a pipe open
        bash = subprocess.Popen(
            ["bash", "-c", script(blocks)],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # bash and its `zoo serve &`: one process group to check and end
        )
    try:
        bash.wait(timeout=TIMEOUT)
        left = _group_alive(bash.pid)
    finally:
        if _group_alive(bash.pid):
            os.killpg(bash.pid, signal.SIGKILL)
    return Ran(bash.returncode, log.read_text(), left)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
