"""lib_depth3d.pipeline: the composition every caller uses, on the shipped room."""

import json
import math

import numpy as np
import pytest
from PIL import Image

from lib_depth3d import pipeline
from lib_depth3d.camera import Camera
from lib_depth3d.depth.depthmap import DepthMap, load_depth
from lib_depth3d.errors import InputError
from tests.support.paths import EXAMPLES_DIR

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


def test_a_calibration_carries_over_to_the_same_aspect_and_not_to_another():
    calibration, fspy_bytes = pipeline.load_calibration((ROOM / "room.fspy").read_bytes())
    assert fspy_bytes[:4] == b"fspy"
    half = pipeline.camera_for_size(calibration, 320, 240)
    assert half.horizontal_fov_rad == pytest.approx(calibration.camera.horizontal_fov_rad)
    assert half.principal_point_px == pytest.approx((160.0, 120.0))
    np.testing.assert_array_equal(half.world_to_camera, calibration.camera.world_to_camera)
    with pytest.raises(InputError, match="another aspect ratio"):
        pipeline.camera_for_size(calibration, 480, 480)


def test_build_scene_files_from_lines_writes_every_file_with_the_base_name(room, tmp_path):
    picture, depth = room
    calibration, _ = pipeline.load_calibration((ROOM / "room_lines.json").read_bytes())
    files = pipeline.build_scene_files(picture, depth=depth, calibration=calibration, output_dir=tmp_path,
                                       base_name="00001-5-room")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".00001-5-room.glb.depth3d-set.json",  # the set's record of its .fspy, which a later set may lack
        "00001-5-room.fspy", "00001-5-room.glb", "00001-5-room_camera.json", "00001-5-room_depth.png"]
    assert files.calibration_report["trueHorizontalFieldOfViewDegrees"] == pytest.approx(70.0, abs=0.01)
    assert files.camera.focal_length_px == pytest.approx(calibration.camera.focal_length_px)
    stored = load_depth(files.depth_png).values
    assert np.corrcoef(stored.ravel(), depth.nearness().ravel())[0, 1] > 0.999


def test_build_scene_files_default_camera_and_bad_names(room, tmp_path):
    picture, depth = room
    files = pipeline.build_scene_files(picture, depth=depth, output_dir=tmp_path, base_name="plain")
    assert math.degrees(files.camera.horizontal_fov_rad) == pytest.approx(pipeline.DEFAULT_FOV_DEG)
    assert files.fspy is None and files.calibration_report is None
    given = Camera.from_fov(640, 480, 40.0)
    assert pipeline.build_scene_files(picture, depth=depth, camera=given, output_dir=tmp_path,
                                      base_name="given").camera.focal_length_px == pytest.approx(given.focal_length_px)
    for name in ("../escape", "", "sub/dir"):
        with pytest.raises(InputError, match="plain file name"):
            pipeline.build_scene_files(picture, depth=depth, output_dir=tmp_path, base_name=name)
    with pytest.raises(InputError, match="field of view"):
        pipeline.build_scene_files(picture, depth=depth, fov_deg=float("nan"), output_dir=tmp_path, base_name="nan")


def test_estimate_takes_an_uploaded_depth_at_the_pictures_size(room):
    picture, depth = room
    nearness = depth.nearness()
    upload = Image.fromarray(np.round(nearness * 65535).astype(np.uint16), "I;16").resize((320, 240))
    result = pipeline.estimate(picture, depth_upload=upload)
    assert (result.width, result.height) == picture.size
    assert np.abs(result.nearness() - nearness).mean() < 0.01
    with pytest.raises(InputError, match="aspect ratios differ"):
        pipeline.estimate(picture, depth_upload=Image.new("L", (100, 100)))


def test_make_mask_is_at_the_pictures_size(room):
    picture, depth = room
    small = depth.resized(160, 120)
    result = pipeline.make_mask(picture, small)
    assert result.mask.size == picture.size and result.mask.mode == "L"
    values = np.asarray(result.mask)
    assert values.min() == 0 and values.max() == 255
