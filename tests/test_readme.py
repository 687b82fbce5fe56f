"""The README's first minute and Quickstart, run as a new user pastes them, so they stay true.

The blocks marked `<!-- ci: run -->` run in the README's order in one bash, as in one terminal, each
pasted whole, from a temporary folder laid out as the README assumes: the clone (here a folder of
links to this checkout's top-level files) with `shared/data` beside it. They run against the
installed package and venv: the Set-up's `pip install` (and its `pytest`) are not in them. The one
change is the README's own: a full training (`zoo train cnn-mnist`, no options) runs with
`--limit 8000 --epochs 1`. tests/readme_blocks.py runs them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from readme_blocks import PORTS, REPO, answered, beside_shared_data, busy, readme_blocks, run

from zoo import data as datasets


def clone_layout(root: Path, data: Path) -> Path:
    """root/zoo (links to this checkout's files) beside root/shared/data (a link to the data)."""
    clone = root / "zoo"
    clone.mkdir()
    for entry in REPO.iterdir():
        if entry.name not in (".git", ".venv"):
            (clone / entry.name).symlink_to(entry)
    beside_shared_data(clone, data)
    return clone


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
    ran = run(blocks, clone, env, tmp_path / "readme.log")
    assert ran.returncode == 0, ran.output[-6000:]
    assert not ran.left_running, "a README block left a process running (a server not stopped)"
    assert not any(busy(port) for port in PORTS)

    first_minute, _, quickstart = ran.block_outputs()
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
