"""The README's first minute and Quickstart, run as a new user pastes them, so they stay true.

The blocks marked `<!-- ci: run -->` run in the README's order in one bash, as in one terminal, each
pasted whole, from a temporary folder laid out as the README assumes: the clone (here a folder of
links to this checkout's top-level files) with `shared/data` beside it. They run against the
installed package and venv: the Set-up's `pip install` (and its `pytest`) are not in them. The one
change is the README's own: a full training (`zoo train cnn-mnist`, no options) runs with
`--limit 8000 --epochs 1`. The blocks use the ports they name (8501, 8500) and must stop the
servers they start.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from zoo import data as datasets

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


def clone_layout(root: Path, data: Path) -> Path:
    """root/zoo (links to this checkout's files) beside root/shared/data (a link to the data)."""
    clone = root / "zoo"
    clone.mkdir()
    for entry in REPO.iterdir():
        if entry.name not in (".git", ".venv"):
            (clone / entry.name).symlink_to(entry)
    (root / "shared").mkdir()
    (root / "shared" / "data").symlink_to(data)
    return clone


def answered(lines: list[str], label: str) -> bool:
    """`zoo predict`'s answer: the label alone, then its top-k lines, the label first."""
    return any(
        line == label and after.split()[:1] == [label] for line, after in itertools.pairwise(lines)
    )


def test_the_readme_runs_as_written(tmp_path):
    if any(busy(port) for port in PORTS):
        pytest.skip(f"the README's blocks serve on ports {PORTS}, which something here uses")
    blocks = readme_blocks()
    assert len(blocks) == 3, "the first minute, its kill, the Quickstart"
    data = Path(os.environ["ZOO_DATA_DIR"]).resolve()
    clone = clone_layout(tmp_path, data)
    before = sorted(p.name for p in REPO.iterdir())
    env = {k: v for k, v in os.environ.items() if k != "ZOO_DATA_DIR"}  # the blocks set it
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["ZOO_OFFLINE"] = "1"  # the data must come from ../shared/data, as the README says
    log = (
        tmp_path / "readme.log"
    )  # a file, not a pipe: a server left running would hold a pipe open
    with log.open("w") as out:
        bash = subprocess.Popen(
            ["bash", "-c", script(blocks)],
            cwd=clone,
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
    output = log.read_text()
    assert bash.returncode == 0, output[-6000:]
    assert not left, "a README block left a process running (a server not stopped)"
    assert not any(busy(port) for port in PORTS)

    first_minute, _, quickstart = re.split(r"=== README block \d ===\n", output)[1:]
    label = str(datasets.load("mnist", "test")[1][0])
    assert answered(first_minute.splitlines(), label), first_minute
    lines = quickstart.splitlines()
    (linear,) = (line for line in lines if line.strip().startswith("linear-regression([4]) ="))
    assert float(linear.split("=")[1].split()[0]) == pytest.approx(4.0, abs=0.01), linear
    assert any(line.strip().endswith("= B   (slide: B)") for line in lines), quickstart
    assert answered(lines, "B") and answered(lines, label), quickstart
    assert '"classes":1' in quickstart.replace(" ", "")

    for folder in ("first-minute", "quickstart"):
        assert (tmp_path / folder / "models").is_dir()
    assert sorted(p.name for p in REPO.iterdir()) == before, "the blocks wrote in the clone"
    assert not (REPO.parent / "first-minute").exists() and not (REPO.parent / "quickstart").exists()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
