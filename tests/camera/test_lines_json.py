"""Our lines JSON: a valid file solves, every malformed field is named, and it round-trips."""

import copy
import json

import numpy as np
import pytest

from lib_depth3d.camera import calibrate, lines_json, parse_lines_json
from lib_depth3d.errors import InputError
from tests.support.json_paths import leaf_paths

VALID = {
    "version": 1,
    "image": {"width": 993, "height": 577},
    "mode": "two_vp",
    "rectangle": False,
    "vanishing_points": [
        {"axis": "+x", "segments": [[[478.5, 106.9], [314.5, 150.4]], [[524.3, 494.7], [645.3, 399.1]]]},
        {"axis": "+y", "segments": [[[343.8, 380.6], [492.3, 507.3]], [[502.2, 98.5], [697.8, 155.2]]]},
        {"segments": [[[333.9, 350.1], [306.8, 181.3]], [[672.7, 351.7], [702.1, 202.3]]]},
    ],
    "principal_point": {"mode": "center"},
    "origin": [598.3, 208.2],
    "horizon": None,
    "focal_length_mm": 24,
    "sensor_mm": [36, 24],
    "reference": {"axis": "+x", "distance": 4, "unit": "m", "handles": [[598.3, 208.2], [700.0, 180.0]]},
}


def edited(path, value):
    """A copy of VALID with the field at ``path`` (keys and indices) set to ``value`` (or deleted)."""
    data = copy.deepcopy(VALID)
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


DELETE = object()


def test_valid_lines_solve_in_every_encoding():
    for encoded in (VALID, json.dumps(VALID), json.dumps(VALID).encode()):
        calibration = calibrate(parse_lines_json(encoded))
        assert 0.5 < calibration.relative_focal_length < 3
    assert np.isfinite(calibration.camera.world_to_camera).all()


def test_lines_json_round_trips():
    inp = parse_lines_json(VALID)
    again = parse_lines_json(json.loads(json.dumps(lines_json(inp))))
    assert lines_json(again) == lines_json(inp)
    np.testing.assert_array_equal(calibrate(again).view_transform, calibrate(inp).view_transform)


def test_defaults_fill_in_optional_fields():
    minimal = {
        "image": {"width": 993, "height": 577},
        "vanishing_points": [{"segments": VALID["vanishing_points"][0]["segments"]},
                             {"segments": VALID["vanishing_points"][1]["segments"]}],
    }
    inp = parse_lines_json(minimal)
    assert (inp.first_axis, inp.second_axis, inp.mode, inp.principal_point_mode) == ("+x", "+y", "two_vp", "center")
    assert inp.origin_or_centre_px == (496.5, 288.5)
    assert inp.reference is None


@pytest.mark.parametrize(
    "path, value, named",
    [
        (("version",), 2, "version"),
        (("image",), DELETE, "image"),
        (("image",), [993, 577], "image"),
        (("image", "width"), 0, "image.width"),
        (("image", "height"), 57.7, "image.height"),
        (("image", "width"), True, "image.width"),
        (("mode",), "three_vp", "mode"),
        (("rectangle",), "yes", "rectangle"),
        (("vanishing_points",), DELETE, "vanishing_points"),
        (("vanishing_points",), [], "vanishing_points"),
        (("vanishing_points", 0), "lines", "vanishing_points[0]"),
        (("vanishing_points", 0, "axis"), "up", "vanishing_points[0].axis"),
        (("vanishing_points", 1, "segments"), DELETE, "vanishing_points[1].segments"),
        (("vanishing_points", 1, "segments"), [[[1, 2], [3, 4]]], "vanishing_points[1].segments"),
        (("vanishing_points", 0, "segments", 1), [[1, 2]], "vanishing_points[0].segments[1]"),
        (("vanishing_points", 0, "segments", 1, 0), [1, "2"], "vanishing_points[0].segments[1][0][1]"),
        (("vanishing_points", 0, "segments", 0, 1), [1, float("nan")], "vanishing_points[0].segments[0][1][1]"),
        (("vanishing_points", 2, "axis"), "+z", "vanishing_points[2]"),
        (("principal_point",), "center", "principal_point"),
        (("principal_point", "mode"), "auto", "principal_point.mode"),
        (("principal_point",), {"mode": "manual"}, "principal_point.point"),
        (("principal_point",), {"mode": "manual", "point": [1]}, "principal_point.point"),
        (("origin",), [1, 2, 3], "origin"),
        (("horizon",), [[0, 0]], "horizon"),
        (("focal_length_mm",), -1, "focal_length_mm"),
        (("sensor_mm",), [36], "sensor_mm"),
        (("sensor_mm",), [36, 0], "sensor_mm[1]"),
        (("reference",), "4 m", "reference"),
        (("reference", "axis"), "-x", "reference.axis"),
        (("reference", "distance"), 0, "reference.distance"),
        (("reference", "distance"), DELETE, "reference.distance"),
        (("reference", "unit"), "parsec", "reference.unit"),
        (("reference", "handles"), DELETE, "reference"),
        (("reference", "handles"), [[1, 2]], "reference.handles"),
        (("reference", "fspy_handle_offsets"), [0.1, 0.2], "reference"),
    ],
)
def test_each_malformed_field_is_named(path, value, named):
    with pytest.raises(InputError) as raised:
        parse_lines_json(edited(path, value))
    assert named in str(raised.value)


def test_rectangle_and_mode_constraints_are_named():
    rectangle_three = edited(("rectangle",), True)
    rectangle_three["vanishing_points"][0]["segments"].append([[1, 1], [2, 3]])
    with pytest.raises(InputError, match=r"exactly 2 segments in rectangle mode"):
        parse_lines_json(rectangle_three)
    with pytest.raises(InputError, match=r"third_vp.*two_vp"):
        parse_lines_json(edited(("mode",), "one_vp") | {"principal_point": {"mode": "third_vp"}})
    two_only = copy.deepcopy(VALID)
    del two_only["vanishing_points"][2]
    with pytest.raises(InputError, match=r"vanishing_points\[2\]"):
        parse_lines_json(two_only | {"principal_point": {"mode": "third_vp"}})


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", "null", b"\xff\xfe"])
def test_text_that_is_not_a_json_object_is_refused(text):
    with pytest.raises(InputError, match="Lines JSON"):
        parse_lines_json(text)


def test_rectangle_mode_needs_no_second_segments():
    data = edited(("rectangle",), True)
    del data["vanishing_points"][1]["segments"]
    inp = parse_lines_json(data)
    first = np.array(VALID["vanishing_points"][0]["segments"])
    np.testing.assert_array_equal(
        inp.second_vanishing_point_segments_px(), [[first[0][0], first[1][0]], [first[0][1], first[1][1]]]
    )


def test_documented_example_solves():
    from tests.support.paths import REPO_ROOT

    text = (REPO_ROOT / "docs" / "calibration.md").read_text()
    example = text.split("```json\n", 1)[1].split("```", 1)[0]
    calibration = calibrate(parse_lines_json(example))
    assert len(calibration.vanishing_point_residuals_px) == 2
    assert calibration.vanishing_point_residuals_px[0] > 0
    assert calibration.to_report()["referenceDistanceUnit"] == "m"


def test_any_damaged_field_gives_a_clear_error_or_a_finite_camera():
    from lib_depth3d.errors import CalibrationError

    solved = refused = 0
    for path in list(leaf_paths(VALID))[:-1]:
        for replacement in (None, "x", [], {}, -1, 0, 1e308, True, [1e308, 1e308]):
            try:
                calibration = calibrate(parse_lines_json(edited(path, replacement)))
            except (InputError, CalibrationError):
                refused += 1
                continue
            assert np.isfinite(calibration.view_transform).all(), path
            assert np.isfinite(calibration.camera.focal_length_px)
            solved += 1
    assert solved > 0 and refused > 0
