"""The `depth3d` command: its console-script entry, its usage line, and output into a closed pipe."""

import json
import os
import subprocess
import sys

import numpy as np
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


HEAVY_MODULES = ("pygltflib", "http.client", "cv2", "torch", "scipy", "lib_depth3d.camera.detect",
                 "lib_depth3d.depth.estimate", "lib_depth3d.scene.fit", "lib_depth3d.scene.animation",
                 "lib_depth3d.depth.registry", "lib_depth3d.depth.weights")

_MODULES_AFTER = """
import json, sys
from lib_depth3d.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after(*args) -> set[str]:
    done = subprocess.run([sys.executable, "-c", _MODULES_AFTER, *args], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120, check=True)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_scene_from_a_depth_file_and_the_help_import_only_what_they_use(tmp_path):
    """The default-grid scene from a picture and a depth file loads no network, model table, weights
    downloader, line detection, calibration fit, HTTP client or glTF library; the help loads no
    engine at all."""
    from tests.support.scene_inputs import smooth_picture, wavy_zdepth

    smooth_picture(48, 36).save(tmp_path / "picture.png")
    np.save(tmp_path / "depth.npy", wavy_zdepth(48, 36, 3))
    scene = _modules_after("scene", str(tmp_path / "picture.png"), "--depth", str(tmp_path / "depth.npy"),
                           "--depth-kind", "depth", "--fov", "55", "-o", str(tmp_path / "scene.glb"))
    assert (tmp_path / "scene.glb").stat().st_size > 0
    assert scene.isdisjoint(HEAVY_MODULES), scene & set(HEAVY_MODULES)
    commands = {name for name in scene if name.startswith("lib_depth3d.commands.")}
    assert commands == {"lib_depth3d.commands.scene", "lib_depth3d.commands.model_options"}, commands
    assert "PIL.ImageOps" not in scene  # only a turned picture needs it
    helped = _modules_after("--help")
    assert not {name for name in helped if name.startswith(("lib_depth3d.scene", "lib_depth3d.depth", "numpy"))}


@pytest.mark.parametrize("command", ["scene", "depth"])
def test_a_commands_help_quotes_the_model_table_it_no_longer_loads_to_parse(command, capsys):
    """The scene command parses without the model table; its help (and the depth command's) still
    names the default model and every model family's network size, filled in when printed."""
    from lib_depth3d.depth.registry import DEFAULT_MODEL, net_size_help

    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    text = "".join(capsys.readouterr().out.split())  # the help wraps lines, within names too
    assert f"(default{DEFAULT_MODEL}" in text
    assert "".join(net_size_help().split()) in text
