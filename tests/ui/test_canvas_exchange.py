"""What the canvas and Python exchange: first drawings, settings merged into lines, the solved overlay."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib_depth3d.camera import calibrate, camera_from_parameters, parse_lines_json
from lib_depth3d.camera.inputs import AXES, PRINCIPAL_POINT_MODES
from lib_depth3d.camera.inputs import MODES as CALIBRATION_MODES
from lib_depth3d.canvas import (
    REFERENCE_UNITS,
    calibration_overlay,
    default_lines,
    lines_with_settings,
    picture_data_url,
    settings_of_lines,
)
from lib_depth3d.errors import InputError
from tests.support.paths import EXAMPLES_DIR

ROOM = EXAMPLES_DIR / "room"


def room_lines() -> dict:
    return json.loads((ROOM / "room_lines.json").read_text())


def room_truth() -> dict:
    return json.loads((ROOM / "truth.json").read_text())


@pytest.mark.parametrize("size", [(640, 480), (480, 640), (4000, 3000), (300, 1200)])
def test_first_drawing_lies_in_the_picture_and_solves(size):
    lines = default_lines(*size)
    points = np.array([p for vp in lines["vanishing_points"] for s in vp["segments"] for p in s] + [lines["origin"]])
    assert (points >= 0).all() and (points <= size).all()
    fov = calibrate(parse_lines_json(lines)).to_report()["trueHorizontalFieldOfViewDegrees"]
    assert 20 < fov < 150


def other_axis(first: str) -> st.SearchStrategy:
    return st.sampled_from([axis for axis in AXES if axis[1] != first[1]])


tab_settings = st.sampled_from(AXES).flatmap(lambda first: st.fixed_dictionaries({
    "mode": st.sampled_from(CALIBRATION_MODES),
    "first_axis": st.just(first),
    "second_axis": other_axis(first),
    "principal_point_mode": st.sampled_from(PRINCIPAL_POINT_MODES),
    "focal_length_mm": st.floats(5, 300),
    "reference_axis": st.sampled_from(["none", "+x", "+y", "+z"]),
    "reference_distance": st.floats(0.01, 1000),
    "reference_unit": st.sampled_from(REFERENCE_UNITS),
}))


def applied(lines: dict, tab: dict) -> dict:
    return lines_with_settings(lines, **{**tab, "reference_axis": None if tab["reference_axis"] == "none"
                                         else tab["reference_axis"]})


@settings(max_examples=60, deadline=None)
@given(tab=tab_settings)
def test_settings_merged_into_lines_read_back_and_parse(tab):
    lines = applied(default_lines(640, 480), tab)
    read_back = settings_of_lines(lines)
    expected = dict(tab)
    if tab["reference_axis"] == "none":
        expected.update(reference_distance=0, reference_unit="m")
    assert read_back == expected
    assert applied(lines, tab) == lines
    if tab["mode"] == "one_vp" and tab["principal_point_mode"] == "third_vp":
        with pytest.raises(InputError, match="third_vp"):
            parse_lines_json(lines)
    else:
        assert parse_lines_json(lines).mode == tab["mode"]
    if tab["principal_point_mode"] == "third_vp":
        assert len(lines["vanishing_points"]) == 3
    if tab["mode"] == "one_vp":
        assert len(lines["horizon"]) == 2


def test_settings_keep_the_drawn_handles():
    lines = room_lines()
    merged = lines_with_settings(lines, mode="two_vp", first_axis="-x", second_axis="-y",
                                 principal_point_mode="manual", focal_length_mm=24, reference_axis="+x",
                                 reference_distance=2.5, reference_unit="ft")
    assert merged["vanishing_points"] == lines["vanishing_points"]
    assert merged["reference"]["handles"] == lines["reference"]["handles"]
    assert merged["reference"]["distance"] == 2.5 and merged["reference"]["unit"] == "ft"
    assert merged["principal_point"] == {"mode": "manual", "point": [320.0, 240.0]}
    assert lines["principal_point"] == {"mode": "center"}, "the input was changed in place"


def test_overlay_axes_and_grid_land_on_the_room_truth():
    lines = room_lines()
    report = calibrate(parse_lines_json(lines)).to_report()
    overlay = calibration_overlay(report, lines)
    assert overlay["grid_spacing"] == 1
    by_axis = {axis["axis"]: axis for axis in overlay["axes"]}
    truth = {point["name"]: point["pixel"] for point in room_truth()["points"]}
    np.testing.assert_allclose(by_axis["x"]["from"], truth["origin (floor corner)"], atol=0.05)
    np.testing.assert_allclose(by_axis["x"]["to"], truth["floor, wall y=0 at x=1"], atol=0.05)
    grid_points = np.concatenate([np.array(polyline) for polyline in overlay["grid"]])
    assert len(overlay["grid"]) == 42
    assert np.isfinite(grid_points).all()
    a, b = (np.array(vp) for vp in report["vanishingPointsPixels"][:2])
    h0, h1 = (np.array(p) for p in overlay["horizon"])
    for vp in (a, b):
        cross = np.cross(h1 - h0, vp - h0) / np.linalg.norm(h1 - h0)
        assert abs(cross) < 1e-6 * np.linalg.norm(vp - h0) + 0.05


def test_overlay_drops_grid_behind_the_camera():
    lines = room_lines()
    report = calibrate(parse_lines_json(lines)).to_report()
    overlay = calibration_overlay(report, lines)
    camera = camera_from_parameters(report)
    # Every drawn grid point must come from a world point in front of the camera: lifting it back
    # onto the floor plane (z = 0) along its ray must give a positive depth.
    pixels = np.concatenate([np.array(polyline) for polyline in overlay["grid"]])
    rays = camera.unproject(pixels, np.ones(len(pixels))) - camera.position_world
    t = -camera.position_world[2] / rays[:, 2]
    assert (t > 0).all()


def test_picture_data_url_is_png_for_small_and_jpeg_for_large_pictures():
    from PIL import Image

    assert picture_data_url(Image.new("RGB", (64, 48))).startswith("data:image/png;base64,")
    assert picture_data_url(Image.new("RGBA", (2000, 1500))).startswith("data:image/jpeg;base64,")
