"""`calibrate --fspy X --write-fspy Y`: a rewritten project keeps every fSpy key it does not change."""

import io
import json
import struct
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from lib_depth3d.camera import calibrate, parse_lines_json, read_fspy
from lib_depth3d.camera.fspy import fspy_project_bytes, fspy_state
from lib_depth3d.cli import main
from tests.support.json_paths import leaf_paths

WIDTH, HEIGHT = 993, 577
LINES = {
    "image": {"width": WIDTH, "height": HEIGHT},
    "vanishing_points": [
        {"axis": "+x", "segments": [[[478.5, 106.9], [314.5, 150.4]], [[524.3, 494.7], [645.3, 399.1]]]},
        {"axis": "+y", "segments": [[[343.8, 380.6], [492.3, 507.3]], [[502.2, 98.5], [697.8, 155.2]]]},
        {"segments": [[[333.9, 350.1], [306.8, 181.3]], [[672.7, 351.7], [702.1, 202.3]]]},
    ],
    "origin": [598.3, 208.2],
}
SOLVABLE_FIXTURES = [
    "1_vp_control_test", "defaults", "fspy_github_bug_5", "quad-problem", "shifted_landscape", "shifted_portrait",
]


def state_of(data: bytes) -> dict:
    """The state JSON of `.fspy` bytes exactly as stored (no legacy upgrade)."""
    _, _, state_length, _ = struct.unpack_from("<4sIII", data)
    return json.loads(data[16 : 16 + state_length])


def project_bytes(state: dict, picture: bytes) -> bytes:
    encoded = json.dumps(state).encode()
    return b"fspy" + struct.pack("<III", 1, len(encoded), len(picture)) + encoded + picture


def picture_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (WIDTH, HEIGHT), (120, 110, 100)).save(buffer, "PNG")
    return buffer.getvalue()


def value_at(document, path):
    for key in path:
        document = document[key]
    return document


def changed_leaves(before: dict, after: dict, ignored=("cameraParameters",)) -> list:
    """Every leaf of ``before`` (outside ``ignored``) that ``after`` lacks or holds another value at."""
    changed = []
    for path in leaf_paths(before):
        if not path or path[0] in ignored or isinstance(value_at(before, path), (dict, list)):
            continue
        try:
            value = value_at(after, path)
        except (KeyError, IndexError, TypeError):
            changed.append((path, "missing"))
            continue
        if value != value_at(before, path) or type(value) is not type(value_at(before, path)):
            changed.append((path, value_at(before, path), value))
    return changed


def fspy_saved_state() -> dict:
    """A project as fSpy saves it, with every setting we do not use away from our writer's defaults."""
    state = json.loads(json.dumps(fspy_state(parse_lines_json(LINES), None)))
    del state["depth3d"]
    state["cameraParameters"] = None
    state["globalSettings"].update(imageOpacity=1, overlay3DGuide="XYGridFloor")
    state["calibrationSettingsBase"].update(referenceDistanceAxis=None, referenceDistance=0.2,
                                             referenceDistanceUnit="Feet")
    state["calibrationSettingsBase"]["cameraData"] = {
        "presetId": "canon_5d", "presetData": {"sensorWidth": 36, "sensorHeight": 24},
        "customSensorWidth": 20, "customSensorHeight": 10,
    }
    state["calibrationSettings1VP"] = {"principalPointMode": "Manual", "upAxis": "yPositive",
                                       "horizonMode": "Manual", "absoluteFocalLength": 50}
    state["controlPointsStateBase"].update(
        referenceDistanceAnchor={"x": 0.7259883125553981, "y": 0.24259079874854464},
        referenceDistanceHandleOffsets=[-0.23375314706563075, -0.30559697904626376],
    )
    state["controlPointsState1VP"]["horizon"] = {"0": {"x": 0.3559976954337173, "y": 0.6906600772845796},
                                                 "1": {"x": 0.5341396658191695, "y": 0.6629536210344221}}
    state["resultDisplaySettings"] = {"orientationFormat": "AxisAngleRadians", "principalPointFormat": "Relative",
                                      "fieldOfViewFormat": "Radians", "displayAbsoluteFocalLength": True}
    return state


def rewrite_with_the_command(capsys, source, target):
    code = main(["calibrate", "--fspy", str(source), "--write-fspy", str(target)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_rewrite_keeps_every_setting_fspy_saved(capsys, tmp_path):
    saved = fspy_saved_state()
    source, target = tmp_path / "saved.fspy", tmp_path / "rewritten.fspy"
    source.write_bytes(project_bytes(saved, picture_bytes()))
    report = rewrite_with_the_command(capsys, source, target)

    rewritten = state_of(target.read_bytes())
    assert changed_leaves(saved, rewritten) == []
    assert rewritten["cameraParameters"]["relativeFocalLength"] == report["relativeFocalLength"]
    assert rewritten["cameraParameters"]["viewTransform"] == report["viewTransform"]
    assert "depth3d" in rewritten
    again = calibrate(read_fspy(target).calibration_input())
    np.testing.assert_allclose(again.view_transform, report["viewTransform"]["rows"], atol=1e-12)


def test_an_edited_rewrite_changes_what_was_edited_and_keeps_the_rest():
    saved = fspy_saved_state()
    project = read_fspy(project_bytes(saved, picture_bytes()))
    moved_origin = (412.0, 300.5)
    edited = replace(project.calibration_input(), origin_px=moved_origin)
    rewritten = state_of(fspy_project_bytes(edited, project.image_bytes, based_on=project))

    new_origin = {"x": moved_origin[0] / WIDTH, "y": moved_origin[1] / HEIGHT}
    assert rewritten["controlPointsStateBase"]["origin"] == pytest.approx(new_origin, abs=1e-15)
    # Without a reference distance the hidden anchor follows the origin, as when it is moved in fSpy.
    assert rewritten["controlPointsStateBase"]["referenceDistanceAnchor"] == pytest.approx(new_origin, abs=1e-15)
    changed = {path[:2] for path, *_ in changed_leaves(saved, rewritten)}
    assert changed == {("controlPointsStateBase", "origin"), ("controlPointsStateBase", "referenceDistanceAnchor")}
    assert rewritten["depth3d"]["lines"]["origin"] == list(moved_origin)


@pytest.mark.parametrize("name", SOLVABLE_FIXTURES)
def test_rewriting_a_fixture_keeps_its_state_and_its_camera(capsys, tmp_path, fspy_fixtures, name):
    source = fspy_fixtures / f"{name}.fspy"
    target = tmp_path / "rewritten.fspy"
    report = rewrite_with_the_command(capsys, source, target)
    stored, rewritten = state_of(source.read_bytes()), state_of(target.read_bytes())
    assert changed_leaves(stored, rewritten) == []
    assert read_fspy(target).image_bytes == read_fspy(source).image_bytes
    if stored.get("cameraParameters"):
        np.testing.assert_allclose(
            rewritten["cameraParameters"]["cameraTransform"]["rows"],
            stored["cameraParameters"]["cameraTransform"]["rows"],
            atol=1e-9,
        )
    np.testing.assert_allclose(
        calibrate(read_fspy(target).calibration_input()).view_transform, report["viewTransform"]["rows"], atol=1e-12
    )
