"""lib_depth3d.pipeline: the composition every caller uses, on the shipped room."""

import base64
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from lib_depth3d import pipeline
from lib_depth3d.camera.sources import FieldOfViewCamera, FspyCamera, LinesCamera, calibration_source, camera_for_size
from lib_depth3d.depth.depthmap import DepthMap, load_depth
from lib_depth3d.depth.sources import UserDepth
from lib_depth3d.errors import InputError
from lib_depth3d.options import DEFAULT_FOV_DEG
from tests.support.paths import EXAMPLES_DIR, REPO_ROOT

ROOM = EXAMPLES_DIR / "room"
TRUTH = json.loads((ROOM / "truth.json").read_text())


@pytest.fixture(scope="module")
def room():
    with Image.open(ROOM / "room.png") as picture:
        return picture.convert("RGB"), DepthMap(np.load(ROOM / "room_depth.npy").astype(np.float32), "depth")


def test_calibrate_lines_reports_the_true_camera_in_pixels_and_degrees():
    report = pipeline.calibrate_lines((ROOM / "room_lines.json").read_text())
    assert report["trueHorizontalFieldOfViewDegrees"] == pytest.approx(TRUTH["camera"]["horizontal_fov_deg"], abs=0.01)
    assert report["focalLengthPixels"] == pytest.approx(TRUTH["camera"]["focal_length_px"], rel=1e-4)
    assert report["principalPointPixels"] == pytest.approx(TRUTH["camera"]["principal_point_px"])
    assert report["cameraPosition"] == pytest.approx(TRUTH["camera"]["position"], abs=1e-3)


def test_calibrate_lines_names_the_bad_field():
    lines = json.loads((ROOM / "room_lines.json").read_text())
    del lines["image"]
    with pytest.raises(InputError, match="image"):
        pipeline.calibrate_lines(lines)


def test_a_calibration_carries_over_to_the_same_aspect_and_not_to_another(room):
    picture, _ = room
    source = calibration_source((ROOM / "room.fspy").read_bytes(), "room.fspy")
    assert isinstance(source, FspyCamera)
    calibration = source.choose(picture).calibration
    half = camera_for_size(calibration, 320, 240)
    assert half.horizontal_fov_rad == pytest.approx(calibration.camera.horizontal_fov_rad)
    assert half.principal_point_px == pytest.approx((160.0, 120.0))
    np.testing.assert_array_equal(half.world_to_camera, calibration.camera.world_to_camera)
    assert source.choose(picture.resize((320, 240))).camera.focal_length_px == pytest.approx(half.focal_length_px)
    with pytest.raises(InputError, match="another aspect ratio"):
        source.choose(picture.resize((480, 480)))


def test_build_scene_files_from_lines_writes_every_file_with_the_base_name(room, tmp_path):
    picture, depth = room
    camera = calibration_source((ROOM / "room_lines.json").read_bytes())
    assert isinstance(camera, LinesCamera)
    build = pipeline.build_scene_files(picture, depth=depth, camera=pipeline.choose_camera(picture, camera),
                                       glb_path=tmp_path / "00001-5-room.glb")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".00001-5-room.glb.depth3d-set.json",  # the set's record of its .fspy, which a later set may lack
        "00001-5-room.fspy", "00001-5-room.glb", "00001-5-room_camera.json", "00001-5-room_depth.png"]
    assert build.files.calibration_report["trueHorizontalFieldOfViewDegrees"] == pytest.approx(70.0, abs=0.01)
    assert build.camera.source == "lines" and build.camera.description == "calibrated from vanishing lines"
    stored = load_depth(build.files.depth_png).values
    assert np.corrcoef(stored.ravel(), depth.nearness().ravel())[0, 1] > 0.999


def test_build_scene_files_with_a_field_of_view(room, tmp_path):
    picture, depth = room
    build = pipeline.build_scene_files(picture, depth=depth,
                                       camera=pipeline.choose_camera(picture, FieldOfViewCamera(assumed=True)),
                                       glb_path=tmp_path / "plain.glb")
    assert math.degrees(build.camera.camera.horizontal_fov_rad) == pytest.approx(DEFAULT_FOV_DEG)
    assert build.files.fspy is None and build.files.calibration_report is None
    assert "assumed" in build.camera.description
    given = pipeline.build_scene_files(picture, depth=depth, camera=pipeline.choose_camera(picture, FieldOfViewCamera(40.0)),
                                       glb_path=tmp_path / "given.glb")
    assert math.degrees(given.camera.camera.horizontal_fov_rad) == pytest.approx(40.0)
    for bad in (float("nan"), 0.5, 179.5, True):
        with pytest.raises(InputError, match="field of view must be between 1 and 179 degrees"):
            FieldOfViewCamera(bad)


def test_estimate_takes_an_uploaded_depth_at_the_pictures_size(room):
    picture, depth = room
    nearness = depth.nearness()
    upload = Image.fromarray(np.round(nearness * 65535).astype(np.uint16), "I;16")
    result = pipeline.estimate(picture, UserDepth(upload))
    assert (result.width, result.height) == picture.size
    assert np.abs(result.nearness() - nearness).max() < 1e-4
    for size in ((320, 240), (100, 100)):
        with pytest.raises(InputError, match="give the depth at the picture's size"):
            pipeline.estimate(picture, UserDepth(upload.resize(size)))


def test_make_mask_is_at_the_pictures_size(room):
    picture, depth = room
    small = depth.resized(160, 120)
    result = pipeline.make_mask(picture, small.nearness())
    assert result.mask.size == picture.size and result.mask.mode == "L"
    values = np.asarray(result.mask)
    assert values.min() == 0 and values.max() == 255


def test_the_command_line_and_the_api_build_byte_identical_scenes(tmp_path):
    """One composer: the same picture, depth and lines give the same .glb through both entry points."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from lib_depth3d.api import router

    depth_png = tmp_path / "room_depth.png"
    nearness = DepthMap(np.load(ROOM / "room_depth.npy").astype(np.float32), "depth").nearness()
    Image.fromarray(np.round(nearness * 65535).astype(np.uint16), "I;16").save(depth_png)
    glb = tmp_path / "cli.glb"
    subprocess.run([sys.executable, "-m", "lib_depth3d", "scene", str(ROOM / "room.png"), "--depth", str(depth_png),
                    "--lines", str(ROOM / "room_lines.json"), "-o", str(glb)], cwd=REPO_ROOT, check=True,
                   capture_output=True)
    app = FastAPI()
    app.include_router(router)
    response = TestClient(app).post("/depth3d/v1/scene", json={
        "image": base64.b64encode((ROOM / "room.png").read_bytes()).decode(),
        "depth_image": base64.b64encode(depth_png.read_bytes()).decode(),
        "lines": json.loads((ROOM / "room_lines.json").read_text()),
    })
    assert response.status_code == 200, response.text
    assert base64.b64decode(response.json()["glb"]) == glb.read_bytes()


def test_lines_for_another_picture_are_refused_by_size_before_they_are_solved(room):
    """Lines that would not solve anyway (here: parallel segments) drawn on another picture name
    the sizes, not the solver's complaint."""
    picture, _ = room
    lines = json.loads((ROOM / "room_lines.json").read_text())
    lines["vanishing_points"][0]["segments"] = [[[0, 0], [10, 0]], [[0, 5], [10, 5]]]
    with pytest.raises(InputError, match="drawn on a 640×480 picture; it does not fit a 480×480 picture"):
        pipeline.choose_camera(picture.resize((480, 480)), calibration_source(lines))
