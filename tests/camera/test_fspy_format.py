"""`.fspy` projects and camera-parameters JSON: reading, writing, legacy variants, bad files."""

import io
import json
import struct

import numpy as np
import pytest
from PIL import Image

from lib_depth3d.camera import (
    calibrate,
    calibrate_file,
    camera_from_parameters,
    camera_parameters_json,
    parse_lines_json,
    read_camera_parameters,
    read_fspy,
    write_camera_parameters,
    write_fspy,
)
from lib_depth3d.camera.fspy import fspy_project_bytes
from lib_depth3d.errors import CalibrationError, FspyFormatError, InputError
from tests.support.fspy_reference import written_reference_project_bytes
from tests.support.json_paths import leaf_paths

LINES = {
    "image": {"width": 64, "height": 48},
    "vanishing_points": [
        {"axis": "+x", "segments": [[[31, 10], [21, 12]], [[34, 41], [42, 36]], [[30, 25], [20, 26.5]]]},
        {"axis": "+y", "segments": [[[22, 32], [32, 40]], [[32, 8], [45, 11]]]},
        {"segments": [[[21, 31], [20, 16]], [[44, 31], [45, 17]]]},
    ],
    "origin": [38.5, 17.0],
    "reference": {"axis": "+x", "distance": 2.5, "unit": "ft", "handles": [[38.5, 17.0], [44.0, 15.5]]},
}


def png_bytes(width, height, exif_orientation=None):
    buffer = io.BytesIO()
    picture = Image.new("RGB", (width, height), (90, 120, 150))
    if exif_orientation is None:
        picture.save(buffer, "PNG")
    else:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        picture.save(buffer, "JPEG", exif=exif.tobytes())
    return buffer.getvalue()


def header(version, state_length, image_length):
    return b"fspy" + struct.pack("<III", version, state_length, image_length)


def test_written_project_reads_back_with_the_same_state_and_camera(tmp_path):
    inp = parse_lines_json(LINES)
    picture = png_bytes(64, 48)
    path = tmp_path / "room.fspy"
    write_fspy(path, inp, picture)
    project = read_fspy(path)
    assert project.image_bytes == picture
    assert (project.image_width_px, project.image_height_px) == (64, 48)
    again = project.calibration_input()
    rewritten = read_fspy(fspy_project_bytes(again, picture))
    assert rewritten.state == project.state
    expected = calibrate(inp)
    np.testing.assert_array_equal(calibrate_file(path).view_transform, expected.view_transform)
    assert project.camera_parameters == read_camera_parameters(expected.to_camera_parameters())


def test_written_project_solves_from_fspy_keys_alone(tmp_path):
    """What fSpy itself (which drops our `depth3d` key) solves: the first two segments per VP."""
    two_segment_lines = json.loads(json.dumps(LINES))
    two_segment_lines["vanishing_points"][0]["segments"].pop()
    # fSpy's handles lie on the line from the origin toward the axis's vanishing point.
    unscaled = dict(two_segment_lines, reference=None)
    vp = np.array(calibrate(parse_lines_json(unscaled)).to_report()["vanishingPointsPixels"][0])
    origin = np.array(LINES["origin"])
    two_segment_lines["reference"]["handles"] = [list(origin + 0.1 * (vp - origin)), list(origin + 0.3 * (vp - origin))]
    inp = parse_lines_json(two_segment_lines)
    data = fspy_project_bytes(inp, png_bytes(64, 48))
    project = read_fspy(data)
    state = dict(project.state)
    del state["depth3d"]
    stripped = json.dumps(state).encode()
    fspy_only = read_fspy(header(1, len(stripped), len(project.image_bytes)) + stripped + project.image_bytes)
    ours, theirs = calibrate(inp), calibrate(fspy_only.calibration_input())
    np.testing.assert_allclose(theirs.view_transform, ours.view_transform, atol=1e-9)
    assert theirs.relative_focal_length == pytest.approx(ours.relative_focal_length, abs=1e-12)


def test_written_header_and_keys_are_what_fspy_blender_reads(tmp_path):
    data = fspy_project_bytes(parse_lines_json(LINES), png_bytes(64, 48))
    magic_number, version, state_length, image_length = struct.unpack("<IIII", data[:16])
    assert magic_number == 2037412710 and version == 1
    assert 16 + state_length + image_length == len(data) and image_length > 0
    state = json.loads(data[16 : 16 + state_length].decode("utf-8"))
    parameters = state["cameraParameters"]
    assert set(parameters["principalPoint"]) == {"x", "y"}
    assert len(parameters["cameraTransform"]["rows"]) == 4
    assert parameters["imageWidth"] == 64 and parameters["imageHeight"] == 48
    assert state["calibrationSettingsBase"]["referenceDistanceUnit"] == "Feet"
    assert len(state["controlPointsStateBase"]["firstVanishingPoint"]["lineSegments"]) == 2


def test_unsolvable_lines_are_saved_without_camera_parameters():
    data = json.loads(json.dumps(LINES))
    data["vanishing_points"][1]["axis"] = "-x"
    project = read_fspy(fspy_project_bytes(parse_lines_json(data), png_bytes(64, 48)))
    assert project.state["cameraParameters"] is None and project.camera_parameters is None


def test_picture_of_another_size_is_refused():
    with pytest.raises(InputError, match="64×48"):
        fspy_project_bytes(parse_lines_json(LINES), png_bytes(48, 64))


def test_exif_orientation_swaps_the_displayed_size():
    rotated = png_bytes(48, 64, exif_orientation=6)  # stored portrait, displayed landscape
    inp = parse_lines_json(LINES)
    project = read_fspy(fspy_project_bytes(inp, rotated))
    assert (project.image_width_px, project.image_height_px) == (64, 48)
    assert project.calibration_input().image_width_px == 64


def test_reference_project_round_trips_through_our_writer(reference_project):
    project = reference_project("shifted_landscape")
    inp = project.calibration_input()
    again = read_fspy(fspy_project_bytes(inp, project.image_bytes))
    np.testing.assert_allclose(
        again.state["cameraParameters"]["cameraTransform"]["rows"],
        project.state["cameraParameters"]["cameraTransform"]["rows"],
        atol=1e-9,
    )


def test_legacy_state_variants_are_upgraded(reference_project):
    project = reference_project("defaults")
    state = json.loads(json.dumps(project.state))
    horizon = state["controlPointsState1VP"]["horizon"]
    state["controlPointsState1VP"]["horizon"] = {"0": horizon[0], "1": horizon[1]}
    state["calibrationSettingsBase"].update(
        referenceDistanceAxis="xPositive", referenceDistance=2, referenceDistanceUnit="Yards"
    )
    state["calibrationSettingsBase"]["cameraData"] = {"presetId": "no_such_camera", "customSensorWidth": 20,
                                                      "customSensorHeight": 10}
    del state["cameraParameters"]
    del state["resultDisplaySettings"]
    encoded = json.dumps(state).encode()
    legacy = read_fspy(header(1, len(encoded), len(project.image_bytes)) + encoded + project.image_bytes)
    assert legacy.state["cameraParameters"] is None
    assert legacy.state["calibrationSettingsBase"]["referenceDistanceUnit"] == "Feet"
    assert legacy.state["calibrationSettingsBase"]["referenceDistance"] == 6
    assert legacy.state["calibrationSettingsBase"]["cameraData"]["presetId"] is None
    inp = legacy.calibration_input()
    assert inp.reference.unit == "ft" and inp.reference.distance == 6
    assert inp.sensor_mm == (20.0, 10.0)
    np.testing.assert_allclose(inp.horizon_px, [(0.2 * 993, 0.5 * 577), (0.8 * 993, 0.5 * 577)])


def test_camera_preset_gives_the_sensor_size(fspy_fixtures):
    assert read_fspy(fspy_fixtures / "defaults.fspy").calibration_input().sensor_mm == (36.0, 24.0)


@pytest.mark.parametrize("preset, sensor_mm", [("35_mm_film", (36.0, 24.0)), ("micro_4_3rds", (17.3, 14.0))])
def test_camera_preset_overrides_the_custom_sensor_size(preset, sensor_mm):
    project = read_fspy(written_reference_project_bytes("defaults"))
    state = json.loads(json.dumps(project.state))
    state["calibrationSettingsBase"]["cameraData"].update(presetId=preset, customSensorWidth=20, customSensorHeight=10)
    encoded = json.dumps(state).encode()
    preset_project = read_fspy(header(1, len(encoded), len(project.image_bytes)) + encoded + project.image_bytes)
    assert preset_project.calibration_input().sensor_mm == sensor_mm


def test_truncated_at_every_header_byte_is_a_clear_error(reference_project_bytes):
    data = reference_project_bytes("defaults")
    for length in range(0, 17):
        with pytest.raises(FspyFormatError, match="not an fSpy project|truncated"):
            read_fspy(data[:length])


@pytest.mark.parametrize(
    "data, message",
    [
        (b"PK\x03\x04" + bytes(40), "not an fSpy project"),
        (header(2, 2, 0) + b"{}", "Unsupported fSpy project file version 2"),
        (header(153, 2, 0) + b"{}", "Unsupported fSpy project file version 153"),
        (header(1, 500, 0) + b"{}", "truncated.*500 bytes of state"),
        (header(1, 2, 9) + b"{}abc", "truncated.*9 bytes of image"),
        (header(1, 3, 0) + b"{x}", "not valid JSON"),
        (header(1, 2, 0) + b"\xff\xfe", "not valid JSON"),
        (header(1, 6, 0) + b"[1, 2]", "not a JSON object"),
        (header(1, 2, 0) + b"{}", "no globalSettings"),
    ],
)
def test_malformed_projects_name_the_problem(data, message):
    with pytest.raises(FspyFormatError, match=message):
        read_fspy(data)


def test_invalid_version_fixture(fspy_fixtures):
    with pytest.raises(FspyFormatError, match="Unsupported fSpy project file version 153"):
        read_fspy(fspy_fixtures / "invalid_project_version.fspy")


@pytest.mark.parametrize(
    "path, message",
    [
        ("controlPointsStateBase.firstVanishingPoint", "controlPointsStateBase.firstVanishingPoint"),
        ("calibrationSettingsBase.firstVanishingPointAxis", "firstVanishingPointAxis"),
        ("globalSettings.calibrationMode", "globalSettings.calibrationMode"),
        ("controlPointsStateBase.origin", "controlPointsStateBase.origin"),
    ],
)
def test_missing_nested_keys_are_named(reference_project, path, message):
    project = reference_project("defaults")
    state = json.loads(json.dumps(project.state))
    *parents, last = path.split(".")
    target = state
    for key in parents:
        target = target[key]
    del target[last]
    encoded = json.dumps(state).encode()
    damaged = read_fspy(header(1, len(encoded), len(project.image_bytes)) + encoded + project.image_bytes)
    with pytest.raises(FspyFormatError, match=message):
        damaged.calibration_input()


def test_project_without_picture_has_no_size():
    project = read_fspy(fspy_project_bytes(parse_lines_json(LINES), png_bytes(64, 48)))
    state = dict(project.state)
    del state["depth3d"]
    encoded = json.dumps(state).encode()
    empty = read_fspy(header(1, len(encoded), 0) + encoded)
    with pytest.raises(FspyFormatError, match="no picture"):
        empty.calibration_input()


@pytest.fixture(params=["written", "fspy"])
def camera_parameters_export(request, tmp_path):
    """A camera-parameters export of a landscape picture: fSpy's own (json_export.json, where
    ../shared has it) or the one the tests write of the defaults reference project's solution."""
    if request.param == "fspy":
        return request.getfixturevalue("fspy_fixtures") / "json_export.json"
    project = read_fspy(written_reference_project_bytes("defaults"))
    path = tmp_path / "export.json"
    path.write_text(json.dumps(calibrate(project.calibration_input()).to_camera_parameters(), indent=2))
    return path


def test_json_export_reads_writes_and_builds_its_camera(camera_parameters_export, tmp_path):
    exported = json.loads(camera_parameters_export.read_text())
    parameters = read_camera_parameters(camera_parameters_export)
    assert parameters == exported
    path = tmp_path / "camera.json"
    write_camera_parameters(path, parameters)
    assert json.loads(path.read_text()) == exported
    assert json.loads(camera_parameters_json(exported)) == exported
    camera = camera_from_parameters(exported)
    assert camera.relative_focal_length == pytest.approx(exported["relativeFocalLength"], abs=1e-12)
    np.testing.assert_allclose(camera.camera_to_world, exported["cameraTransform"]["rows"], atol=1e-9)
    # fSpy's horizontal FOV spans the long side of this landscape picture.
    assert 2 * np.arctan(camera.image_width_px / 2 / camera.focal_length_px) == pytest.approx(
        exported["horizontalFieldOfView"], abs=1e-9
    )


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("viewTransform", {"rows": [[1, 0, 0]]}, "viewTransform"),
        ("relativeFocalLength", -1, "relativeFocalLength"),
        ("imageWidth", 12.5, "imageWidth"),
        ("vanishingPointAxes", ["up", "xPositive", "yPositive"], "vanishingPointAxes"),
        ("vanishingPoints", [{"x": 1}, None, None], r"vanishingPoints\[0\]"),
        ("principalPoint", None, "principalPoint"),
    ],
)
def test_bad_camera_parameters_are_named(camera_parameters_export, key, value, message):
    exported = json.loads(camera_parameters_export.read_text())
    exported[key] = value
    with pytest.raises(FspyFormatError, match=message):
        read_camera_parameters(exported)
    del exported[key]
    with pytest.raises(FspyFormatError, match=f"{key} is missing"):
        read_camera_parameters(exported)


def test_camera_parameters_text_must_be_an_object():
    with pytest.raises(FspyFormatError, match="JSON object"):
        read_camera_parameters(b"[1]")
    with pytest.raises(FspyFormatError, match="not valid JSON"):
        read_camera_parameters(b"{")


def test_any_damaged_state_field_gives_a_clear_error_or_a_finite_camera(reference_project):
    project = reference_project("fspy_github_bug_5")
    image = png_bytes(403, 302)
    original = json.loads(json.dumps(project.state))
    outcomes = {"solved": 0, "refused": 0}
    paths = [path for path in leaf_paths(original) if path and path[0] not in ("cameraParameters", "resultDisplaySettings")]
    for path in paths:
        for replacement in (None, "x", [], {}, -1, 1e308, True):
            state = json.loads(json.dumps(original))
            target = state
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = replacement
            encoded = json.dumps(state).encode()
            try:
                damaged = read_fspy(header(1, len(encoded), len(image)) + encoded + image)
                calibration = calibrate(damaged.calibration_input())
            except (FspyFormatError, InputError, CalibrationError):
                outcomes["refused"] += 1
                continue
            assert np.isfinite(calibration.view_transform).all(), path
            assert np.isfinite(calibration.relative_focal_length)
            outcomes["solved"] += 1
    assert outcomes["solved"] > 0 and outcomes["refused"] > 0


def test_calibrate_file_tells_projects_and_lines_apart(tmp_path):
    lines_path, project_path = tmp_path / "lines.json", tmp_path / "project.fspy"
    lines_path.write_text(json.dumps(LINES))
    project_path.write_bytes(fspy_project_bytes(parse_lines_json(LINES), png_bytes(64, 48)))
    np.testing.assert_array_equal(
        calibrate_file(lines_path).view_transform, calibrate_file(project_path).view_transform
    )
    with pytest.raises(InputError, match="not found"):
        calibrate_file(tmp_path / "missing.json")
    (tmp_path / "fake.fspy").write_text("{}")
    with pytest.raises(FspyFormatError, match="not an fSpy project"):
        calibrate_file(tmp_path / "fake.fspy")


def test_a_file_announcing_a_huge_picture_is_refused_before_reading_it(tmp_path):
    path = tmp_path / "damaged.fspy"
    path.write_bytes(header(1, 2, 2**32 - 1) + b"{}abc")
    with pytest.raises(FspyFormatError, match="truncated.*4294967295 bytes of image, only 3 follow"):
        read_fspy(path)


def test_a_file_and_its_bytes_read_alike(tmp_path):
    data = fspy_project_bytes(parse_lines_json(LINES), png_bytes(64, 48))
    path = tmp_path / "room.fspy"
    path.write_bytes(data)
    assert read_fspy(path) == read_fspy(data)
