"""fSpy measures the reference distance from the project's stored anchor, not from the origin."""

import io
import json
import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from PIL import Image

from lib_depth3d.camera import calibrate, parse_lines_json, read_fspy
from lib_depth3d.camera.fspy import fspy_state
from tests.camera.test_synthetic import cameras, lines_for, make_camera, vanishing_point_px

REFERENCE_LENGTH = 1.5
# A point of the ground plane y = 0 away from the origin, where the ruler stands.
ANCHOR_WORLD = np.array([0.7, 0.0, -0.4])


def project_without_our_lines(lines: dict, picture_size: tuple[int, int]) -> bytes:
    """A `.fspy` holding only fSpy's keys (as fSpy saves it), so the reader takes its anchor from them."""
    state = fspy_state(parse_lines_json(lines), None)
    del state["depth3d"]
    encoded = json.dumps(state).encode()
    buffer = io.BytesIO()
    Image.new("RGB", picture_size).save(buffer, "PNG")
    picture = buffer.getvalue()
    return b"fspy" + struct.pack("<III", 1, len(encoded), len(picture)) + encoded + picture


def vertical_ruler_lines(truth) -> dict:
    """Lines of a box seen by ``truth`` and a vertical ruler of known length standing at ANCHOR_WORLD,

    described as fSpy stores it: the anchor where the ruler meets the ground, the two handles as
    signed offsets (relative coordinates) from the anchor toward the vertical vanishing point.
    """
    width, height = truth.image_width_px, truth.image_height_px
    size = np.array([width, height], dtype=np.float64)
    origin_px, _ = truth.project(np.zeros((1, 3)))
    ruler_px, _ = truth.project(np.array([ANCHOR_WORLD, ANCHOR_WORLD + [0.0, REFERENCE_LENGTH, 0.0]]))
    anchor_relative = ruler_px[0] / size
    toward_vp = np.array(vanishing_point_px(truth, 1)) / size - anchor_relative
    toward_vp /= np.linalg.norm(toward_vp)
    offsets = [float(np.dot(p / size - anchor_relative, toward_vp)) for p in ruler_px]
    return {
        "image": {"width": width, "height": height},
        "vanishing_points": lines_for(truth, [0, 2], 2),
        "origin": origin_px[0].tolist(),
        "reference": {
            "axis": "+y", "distance": REFERENCE_LENGTH, "unit": "m",
            "anchor": ruler_px[0].tolist(), "fspy_handle_offsets": offsets,
        },
    }


@settings(max_examples=20, deadline=None, derandomize=True)
@given(params=cameras)
def test_stored_anchor_away_from_the_origin_gives_the_true_camera_position(params):
    truth = make_camera(params)
    lines = vertical_ruler_lines(truth)
    project = read_fspy(project_without_our_lines(lines, (truth.image_width_px, truth.image_height_px)))
    stored = project.state["controlPointsStateBase"]
    assert stored["referenceDistanceAnchor"] != stored["origin"]

    inp = project.calibration_input()
    np.testing.assert_allclose(inp.reference.anchor_px, lines["reference"]["anchor"], rtol=1e-12)
    calibration = calibrate(inp)
    np.testing.assert_allclose(calibration.camera.position_world, truth.position_world, rtol=1e-7, atol=1e-8)


def test_measuring_from_the_origin_instead_gives_another_scale():
    params = {"azimuth": math.radians(40), "elevation": math.radians(25), "roll": 0.1,
              "relative_focal_length": 1.4, "quadrant": 1, "portrait": False}
    truth = make_camera(params)
    lines = vertical_ruler_lines(truth)
    lines["reference"]["anchor"] = lines["origin"]
    at_origin = calibrate(parse_lines_json(lines)).camera.position_world
    ratio = np.linalg.norm(at_origin) / np.linalg.norm(truth.position_world)
    assert abs(ratio - 1) > 0.05


def test_quad_problem_matches_fspy_with_its_stored_anchor(fspy_fixtures):
    """Spec value G: fSpy's own solution of a project whose anchor is not its origin."""
    project = read_fspy(fspy_fixtures / "quad-problem.fspy")
    stored = project.state["controlPointsStateBase"]
    assert stored["referenceDistanceAnchor"] != stored["origin"]
    calibration = calibrate(project.calibration_input())
    assert calibration.relative_focal_length == pytest.approx(1.7638580921742537, abs=1e-9)
    np.testing.assert_allclose(
        calibration.camera.position_world,
        [-25.238294104413516, 2.2773737940389345, 4.059947538882129],
        atol=1e-9,
        rtol=0,
    )
