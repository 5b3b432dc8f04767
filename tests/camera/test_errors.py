"""Each of fSpy's errors and warnings, and our clear errors where fSpy would give NaN."""

import copy
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib_depth3d.camera import calibrate, parse_lines_json
from lib_depth3d.errors import CalibrationError

# A 1024×1024 picture whose lines meet at exactly representable points: VP 1 at (−512, 512),
# VP 2 at (1536, 512) and VP 3 at (512, 512), all on the horizontal line through the centre.
LEVEL = {
    "image": {"width": 1024, "height": 1024},
    "vanishing_points": [
        {"axis": "+x", "segments": [[[0, 256], [512, 0]], [[0, 768], [512, 1024]]]},
        {"axis": "+y", "segments": [[[1024, 256], [512, 0]], [[1024, 768], [512, 1024]]]},
        {"segments": [[[0, 0], [256, 256]], [[1024, 0], [768, 256]]]},
    ],
}
BOX = {
    "image": {"width": 993, "height": 577},
    "vanishing_points": [
        {"axis": "+x", "segments": [[[478.5, 106.9], [314.5, 150.4]], [[524.3, 494.7], [645.3, 399.1]]]},
        {"axis": "+y", "segments": [[[343.8, 380.6], [492.3, 507.3]], [[502.2, 98.5], [697.8, 155.2]]]},
    ],
    "origin": [598.3, 208.2],
}


def solve(data):
    return calibrate(parse_lines_json(data))


def with_changes(base, **changes):
    data = copy.deepcopy(base)
    data.update(changes)
    return data


def test_level_camera_has_its_third_vanishing_point_at_infinity():
    calibration = solve(LEVEL)
    assert calibration.relative_focal_length == 2.0
    assert calibration.vanishing_points_image_plane[2] is None
    parameters = calibration.to_camera_parameters()
    assert parameters["vanishingPoints"][2] is None
    assert "NaN" not in json.dumps(calibration.to_report())


@pytest.mark.parametrize(
    "segments",
    [
        [[[0, 0], [100, 100]], [[0, 50], [100, 150]]],
        [[[10, 10], [10, 10]], [[0, 50], [100, 150]]],
    ],
    ids=["parallel", "zero-length"],
)
@pytest.mark.parametrize("count", [2, 3])
def test_degenerate_segments_fail_to_give_a_vanishing_point(segments, count):
    vps = copy.deepcopy(BOX["vanishing_points"])
    vps[1]["segments"] = segments + ([[[0, 100], [100, 200]]] if count == 3 else [])
    with pytest.raises(CalibrationError, match=r"^Failed to compute vanishing point 2"):
        solve(with_changes(BOX, vanishing_points=vps))


def test_both_vanishing_points_on_one_axis_is_an_invalid_assignment():
    vps = copy.deepcopy(BOX["vanishing_points"])
    vps[1]["axis"] = "-x"
    with pytest.raises(CalibrationError, match=r"^Invalid axis assignment"):
        solve(with_changes(BOX, vanishing_points=vps))


def test_principal_point_far_from_the_horizon_fails_the_focal_length():
    with pytest.raises(CalibrationError, match=r"^Invalid vanishing point configuration. Failed to compute focal length."):
        solve(with_changes(BOX, principal_point={"mode": "manual", "point": [496.5, 5000.0]}))


def test_coincident_vanishing_points_are_refused_clearly():
    vps = copy.deepcopy(BOX["vanishing_points"])
    vps[1]["segments"] = vps[0]["segments"]
    with pytest.raises(CalibrationError, match="coincide"):
        solve(with_changes(BOX, vanishing_points=vps))


def test_collinear_three_vanishing_points_cannot_place_the_principal_point():
    with pytest.raises(CalibrationError, match="on one line"):
        solve(with_changes(LEVEL, principal_point={"mode": "third_vp"}))


@settings(max_examples=30, deadline=None, derandomize=True)
@given(along=st.floats(0.15, 0.85), off_line_px=st.floats(-1.0, 1.0))
def test_nearly_collinear_three_vanishing_points_are_named(along, off_line_px):
    """A third VP up to 1 px off the line through VPs 1 and 2 (1 900 px apart): fSpy only says
    that the focal length failed."""
    first, second = np.array([-400.0, 380.0]), np.array([1500.0, 420.0])
    normal = np.array([-(second - first)[1], (second - first)[0]]) / np.linalg.norm(second - first)
    third = first + along * (second - first) + off_line_px * normal
    data = {
        "image": {"width": 1000, "height": 800},
        "vanishing_points": [
            {"axis": "+x", "segments": segments_toward(first, [(600, 100), (600, 700)])},
            {"axis": "+y", "segments": segments_toward(second, [(300, 100), (300, 700)])},
            {"segments": segments_toward(third, [(150, 50), (850, 750)])},
        ],
        "principal_point": {"mode": "third_vp"},
    }
    with pytest.raises(CalibrationError, match="on one line"):
        solve(data)


def test_rotation_determinant_error_prints_five_decimals():
    # The principal point beyond VP 1 on the horizon: f² > 0 but the directions are not orthogonal.
    data = with_changes(BOX, principal_point={"mode": "manual", "point": [1500.0, -100.0]})
    with pytest.raises(CalibrationError, match=r"^Invalid vanishing point configuration. Rotation determinant 0.61008$"):
        solve(data)


def segments_toward(vanishing_point_px, starts):
    """Segments from each start point a quarter of the way toward a vanishing point (pixels)."""
    vp = np.array(vanishing_point_px, dtype=float)
    return [[list(start), list(np.array(start) + 0.25 * (vp - np.array(start)))] for start in starts]


def test_near_parallel_lines_warn_per_vanishing_point():
    # A camera yawed 0.00625 rad: VP 1 lies 80 000 px to the right, its lines 1/30000 rad apart.
    half = 993 / 2
    far = (half + 160 * half, 288.5)
    near = (half - half / 160, 288.5)
    data = with_changes(
        BOX,
        vanishing_points=[
            {"axis": "+x", "segments": segments_toward(far, [(100, 100), (100, 500)])},
            {"axis": "+z", "segments": segments_toward(near, [(100, 100), (900, 500)])},
        ],
    )
    calibration = solve(data)
    assert calibration.relative_focal_length == pytest.approx(1.0, rel=1e-6)
    assert calibration.warnings == ["Near parallel lines for VP 1"]


ONE_VP = with_changes(BOX, mode="one_vp", vanishing_points=BOX["vanishing_points"][:1])


def test_one_vp_sensor_mismatch_warning():
    assert solve(with_changes(ONE_VP, sensor_mm=[36, 24])).warnings == ["Image/sensor proportions mismatch"]
    assert solve(with_changes(ONE_VP, sensor_mm=[993, 577])).warnings == []


def test_one_vp_vanishing_point_on_the_principal_point():
    vps = [{"axis": "+x", "segments": [[[0, 0], [496.5, 288.5]], [[993, 0], [496.5, 288.5]]]}]
    with pytest.raises(CalibrationError, match=r"^Failed to compute second vanishing point"):
        solve(with_changes(ONE_VP, vanishing_points=vps))


def test_one_vp_zero_length_horizon():
    with pytest.raises(CalibrationError, match=r"^Failed to compute second vanishing point.*no length"):
        solve(with_changes(ONE_VP, horizon=[[100, 100], [100, 100]]))


def test_one_vp_horizon_perpendicular_to_the_vanishing_point():
    data = with_changes(LEVEL, mode="one_vp", vanishing_points=LEVEL["vanishing_points"][:1], horizon=[[10, 100], [10, 900]])
    with pytest.raises(CalibrationError, match=r"^Failed to compute second vanishing point.*perpendicular"):
        solve(data)


def reference(**fields):
    return {"axis": "+x", "distance": 4, "unit": "m"} | fields


def test_equal_handle_offsets_are_refused():
    data = with_changes(BOX, reference=reference(handles=[[640, 200], [640, 200]]))
    with pytest.raises(CalibrationError, match="same place"):
        solve(data)


def test_handle_at_the_axis_vanishing_point_is_refused():
    vp = solve(BOX).to_report()["vanishingPointsPixels"][0]
    data = with_changes(BOX, reference=reference(handles=[[598.3, 208.2], vp]))
    with pytest.raises(CalibrationError, match="parallel to the \\+x axis"):
        solve(data)


def test_anchor_on_the_vanishing_line_of_the_reference_plane_is_refused():
    vp = solve(BOX).to_report()["vanishingPointsPixels"][1]
    data = with_changes(BOX, reference=reference(anchor=vp, handles=[[598.3, 208.2], [640, 200]]))
    with pytest.raises(CalibrationError, match="anchor"):
        solve(data)


def test_results_never_hold_nan():
    for data in (BOX, LEVEL, ONE_VP, with_changes(BOX, reference=reference(handles=[[598.3, 208.2], [640, 200]]))):
        report = solve(data).to_report()
        numbers = [v for v in json.loads(json.dumps(report)).values() if isinstance(v, float)]
        assert all(math.isfinite(v) for v in numbers)
        assert np.isfinite(np.array(report["viewTransform"]["rows"])).all()
