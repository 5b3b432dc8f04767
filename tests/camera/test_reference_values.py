"""The solver reproduces fSpy: the spec's section 6 values and every stored cameraParameters.

Each test runs on the reference project as the tests write it from its control points
(``[written]``) and on fSpy's own file where ../shared has it (``[fspy]``).
"""

from dataclasses import replace

import numpy as np
import pytest

from lib_depth3d.camera import ReferenceDistance, calibrate, read_fspy
from lib_depth3d.camera.inputs import lines_json
from lib_depth3d.errors import CalibrationError
from tests.support.fspy_reference import REFERENCE_LINES

TOLERANCE = 1e-9
# defaults.fspy stores these reference handle offsets although its reference axis is unset.
DEFAULTS_HANDLE_OFFSETS = (0.13108430697783005, 0.065990108556575)


def project_input(reference_project, name):
    return reference_project(name).calibration_input()


@pytest.mark.parametrize("name", sorted(REFERENCE_LINES))
def test_fspy_files_read_to_the_control_points_the_tests_embed(fspy_fixtures, name):
    assert lines_json(read_fspy(fspy_fixtures / f"{name}.fspy").calibration_input()) == REFERENCE_LINES[name]


def test_defaults_fspy_file_holds_the_handle_offsets_the_tests_embed(fspy_fixtures):
    state = read_fspy(fspy_fixtures / "defaults.fspy").state
    assert tuple(state["controlPointsStateBase"]["referenceDistanceHandleOffsets"]) == DEFAULTS_HANDLE_OFFSETS


def test_defaults_two_vp(reference_project):
    calibration = calibrate(project_input(reference_project, "defaults"))
    assert calibration.relative_focal_length == pytest.approx(1.3048894917164935, abs=TOLERANCE)
    assert calibration.fspy_horizontal_fov_rad == pytest.approx(1.30776451644231, abs=TOLERANCE)
    assert calibration.fspy_vertical_fov_rad == pytest.approx(0.8378773036731978, abs=TOLERANCE)
    np.testing.assert_allclose(
        calibration.vanishing_points_image_plane,
        [
            (1.5902379151824961, 0.797241273463772),
            (-1.4792589234875906, 0.8148562581154439),
            (-0.012117964888367909, -2.111614381249537),
        ],
        atol=TOLERANCE,
        rtol=0,
    )
    np.testing.assert_allclose(
        calibration.view_transform[:3],
        [
            [0.7208138021319676, -0.6931115574920118, 0.004881754505730279, 1.5715751473527637],
            [0.3613688920729857, 0.38180353772207354, 0.8506694907100242, 1.239558603831631],
            [-0.5914727267575398, -0.611410195739249, 0.5256782153067537, -10],
        ],
        atol=TOLERANCE,
        rtol=0,
    )
    assert calibration.warnings == []


def test_defaults_with_reference_distance_along_x(reference_project):
    inp = project_input(reference_project, "defaults")
    reference = ReferenceDistance("+x", 4.0, "m", inp.origin_px, fspy_handle_offsets=DEFAULTS_HANDLE_OFFSETS)
    calibration = calibrate(inp.with_reference(reference))
    np.testing.assert_allclose(
        calibration.camera.position_world,
        [-18.93825822690406, -13.891615727742083, 10.598318743841258],
        atol=TOLERANCE,
        rtol=0,
    )
    # fSpy places the handles on the picture of the x axis: the line from the origin to VP 1.
    origin = np.array(inp.origin_px)
    toward_vp = np.array(calibration.to_report()["vanishingPointsPixels"][0]) - origin
    for handle in np.array(calibration.reference_handles_px):
        offset = handle - origin
        assert abs(offset[0] * toward_vp[1] - offset[1] * toward_vp[0]) < 1e-9 * np.linalg.norm(toward_vp) ** 2


def test_defaults_one_vp(reference_project):
    inp = project_input(reference_project, "defaults")
    width, height = inp.image_width_px, inp.image_height_px
    one_vp = replace(
        inp,
        mode="one_vp",
        focal_length_mm=24.0,
        sensor_mm=(36.0, 24.0),
        horizon_px=((0.2 * width, 0.5 * height), (0.8 * width, 0.5 * height)),
        principal_point_mode="center",
    )
    calibration = calibrate(one_vp)
    assert calibration.relative_focal_length == pytest.approx(4 / 3, abs=TOLERANCE)
    assert calibration.fspy_horizontal_fov_rad == pytest.approx(1.2870022175865687, abs=TOLERANCE)
    np.testing.assert_allclose(
        calibration.vanishing_points_image_plane[1], (-1.517616579790173, 0.797241273463772), atol=TOLERANCE
    )
    np.testing.assert_allclose(
        calibration.view_transform[:3],
        [
            [0.7153205686914605, -0.6987964539169653, 0, 1.5380489214175657],
            [0.35861494413743983, 0.36709494494963674, 0.8582753772733572, 1.2131152473799975],
            [-0.5997597901228677, -0.6139420309650557, 0.5131894160700081, -10],
        ],
        atol=TOLERANCE,
        rtol=0,
    )


def test_shifted_landscape(reference_project):
    calibration = calibrate(project_input(reference_project, "shifted_landscape"))
    np.testing.assert_allclose(
        calibration.principal_point_image_plane, (0.3989572393362909, -0.03334410428322157), atol=TOLERANCE
    )
    assert calibration.relative_focal_length == pytest.approx(1.5248656364983055, abs=TOLERANCE)
    assert calibration.fspy_horizontal_fov_rad == pytest.approx(1.1608771847292032, abs=TOLERANCE)
    np.testing.assert_allclose(
        calibration.camera.position_world,
        [2.7543160291473154, -9.933685024072206, 2.974388018353299],
        atol=TOLERANCE,
        rtol=0,
    )


def test_shifted_portrait(reference_project):
    calibration = calibrate(project_input(reference_project, "shifted_portrait"))
    np.testing.assert_allclose(
        calibration.principal_point_image_plane, (-0.031336872895855405, -0.3902268568232556), atol=TOLERANCE
    )
    assert calibration.relative_focal_length == pytest.approx(1.5220240819060893, abs=TOLERANCE)


def test_github_bug_5_reference_distance_in_millimetres(reference_project):
    calibration = calibrate(project_input(reference_project, "fspy_github_bug_5"))
    assert calibration.relative_focal_length == pytest.approx(1.8251018650552107, abs=TOLERANCE)
    np.testing.assert_allclose(
        calibration.camera.position_world,
        [5.681458473888733, -51.04742864909096, 26.944514615808227],
        atol=TOLERANCE,
        rtol=0,
    )
    assert calibration.warnings == ["Near parallel lines for VP 2"]
    assert calibration.to_report()["referenceDistanceUnit"] == "mm"


@pytest.mark.parametrize(
    "name, message",
    [
        ("pp_problem", "Invalid vanishing point configuration. Rotation determinant 0.91824"),
        ("no_camera_parameters", "Invalid vanishing point configuration. Failed to compute focal length."),
    ],
)
def test_fspy_errors(reference_project, name, message):
    with pytest.raises(CalibrationError) as raised:
        calibrate(project_input(reference_project, name))
    assert str(raised.value).startswith(message)


def test_fspy_message_for_nearly_collinear_vanishing_points_is_followed_by_the_cause(reference_project):
    # fSpy's no_camera_parameters project: its three VPs make a 179.4° angle.
    with pytest.raises(CalibrationError) as raised:
        calibrate(project_input(reference_project, "no_camera_parameters"))
    assert str(raised.value).startswith("Invalid vanishing point configuration. Failed to compute focal length. ")
    assert "three vanishing points are on one line" in str(raised.value)


@pytest.mark.parametrize("name", ["shifted_landscape", "shifted_portrait", "fspy_github_bug_5"])
def test_stored_camera_parameters_are_reproduced(reference_project, name):
    project = reference_project(name)
    stored = project.camera_parameters
    ours = calibrate(project.calibration_input()).to_camera_parameters()
    for key in ("viewTransform", "cameraTransform"):
        np.testing.assert_allclose(ours[key]["rows"], stored[key]["rows"], atol=TOLERANCE, rtol=0)
    for key in ("horizontalFieldOfView", "verticalFieldOfView", "relativeFocalLength"):
        assert ours[key] == pytest.approx(stored[key], abs=TOLERANCE)
    for mine, theirs in zip(ours["vanishingPoints"], stored["vanishingPoints"]):
        assert (mine["x"], mine["y"]) == pytest.approx((theirs["x"], theirs["y"]), abs=TOLERANCE)
    assert ours["principalPoint"] == pytest.approx(stored["principalPoint"], abs=TOLERANCE)
    assert ours["vanishingPointAxes"] == stored["vanishingPointAxes"]
    assert (ours["imageWidth"], ours["imageHeight"]) == (stored["imageWidth"], stored["imageHeight"])


def test_one_vp_project_solves_with_fspy_warning(reference_project):
    calibration = calibrate(project_input(reference_project, "1_vp_control_test"))
    assert calibration.relative_focal_length == pytest.approx(2 * 50 / 20, abs=TOLERANCE)
    assert calibration.warnings == ["Image/sensor proportions mismatch"]
    assert calibration.vanishing_point_axes == ("-x", "-z", "-y")
