"""fSpy's reference projects, rebuilt by the tests so that their values are checked on a bare clone.

``fspy_reference_lines.json`` holds, for each public fSpy reference project the tests use
(``<name>.fspy`` in ``../shared/fixtures/fspy``: fSpy's and fSpy-Blender's GPL-3.0 test data), its
control points and settings as our lines JSON, exactly what ``read_fspy(path).calibration_input()``
gives. :func:`written_reference_project_bytes` writes one with our writer on a blank picture of its
size and drops our ``depth3d`` key, so that it is read through fSpy's own keys like a project fSpy saved.
"""

from __future__ import annotations

import functools
import io
import json
from pathlib import Path

from PIL import Image

from lib_depth3d.camera import read_fspy
from lib_depth3d.camera.fspy import HEADER, MAGIC, VERSION, fspy_project_bytes
from lib_depth3d.camera.inputs import parse_lines_json

REFERENCE_LINES: dict[str, dict] = json.loads(Path(__file__).with_name("fspy_reference_lines.json").read_text())


@functools.lru_cache(maxsize=None)
def blank_png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height), 128).save(buffer, "PNG")
    return buffer.getvalue()


def without_depth3d_key(data: bytes) -> bytes:
    """A `.fspy` written by us, less our ``depth3d`` key: what fSpy itself keeps when it saves it."""
    project = read_fspy(data)
    state = {key: value for key, value in project.state.items() if key != "depth3d"}
    encoded = json.dumps(state).encode("utf-8")
    return HEADER.pack(MAGIC, VERSION, len(encoded), len(project.image_bytes)) + encoded + project.image_bytes


@functools.lru_cache(maxsize=None)
def written_reference_project_bytes(name: str) -> bytes:
    """fSpy's reference project ``name`` as the tests write it from its control points."""
    inp = parse_lines_json(REFERENCE_LINES[name])
    return without_depth3d_key(fspy_project_bytes(inp, blank_png(inp.image_width_px, inp.image_height_px)))
