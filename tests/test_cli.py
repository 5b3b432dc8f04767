"""The `depth3d` command: its console-script entry, its usage line, and output into a closed pipe."""

import os
import subprocess
import sys

import pytest

from lib_depth3d import cli
from tests.support.paths import EXAMPLES_DIR, REPO_ROOT


def run_module(*args, stdout=subprocess.PIPE):
    return subprocess.run(
        [sys.executable, "-m", "lib_depth3d", *args],
        cwd=REPO_ROOT, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=120,
    )


def test_console_script_depth3d_runs_the_cli():
    tomllib = pytest.importorskip("tomllib")
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"depth3d": "lib_depth3d.cli:main"}


def test_usage_names_the_program_the_way_it_was_started(capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["--help"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.startswith("usage: depth3d ")
    assert run_module("--help").stdout.startswith("usage: python -m lib_depth3d ")


@pytest.mark.parametrize(
    "args", [["calibrate", "--lines", str(EXAMPLES_DIR / "room" / "room_lines.json")], ["models"]], ids=["calibrate", "models"]
)
def test_output_into_a_pipe_whose_reader_has_gone_ends_quietly(args):
    """What `depth3d models | head -0` does: the reader closed the pipe before the first write."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = run_module(*args, stdout=write_end)
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode == cli.EXIT_BROKEN_PIPE == 141
