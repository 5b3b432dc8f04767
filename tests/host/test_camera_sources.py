"""Camera sources from the picture itself: detected lines and the automatic choice, through the
composer, the command line and the API; every result says which source gave the camera."""

import base64
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from lib_depth3d import pipeline
from lib_depth3d.camera.sources import AutomaticCamera, DetectedLinesCamera, FieldOfViewCamera
from lib_depth3d.depth.depthmap import DepthMap
from lib_depth3d.errors import CalibrationError
from tests.support.detection import detections  # noqa: F401
from tests.support.paths import REPO_ROOT
from tests.support.rooms import render_room, room_camera

TRUE_FOV_DEG = 70.0


@pytest.fixture(scope="module")
def room():
    return render_room(room_camera(640, 480, TRUE_FOV_DEG, 35, 0), seed=0)


def slope(width=640, height=480) -> np.ndarray:
    """A z-depth that rises from the bottom row to the top: some shape, no lines to detect."""
    return np.tile(np.linspace(5.0, 2.0, height, dtype=np.float32)[:, None], (1, width))


def blank(width=320, height=240):
    return Image.new("RGB", (width, height), (120, 120, 120))


def test_detected_lines_give_the_rooms_field_of_view(room):
    choice = pipeline.choose_camera(room.picture, DetectedLinesCamera())
    assert choice.source == "detected lines" and choice.calibration is not None
    assert math.degrees(choice.camera.horizontal_fov_rad) == pytest.approx(TRUE_FOV_DEG, abs=0.5)
    assert choice.fspy_bytes[:4] == b"fspy"  # the detected lines are kept as an ordinary project
    with pytest.raises(CalibrationError):
        pipeline.choose_camera(blank(), DetectedLinesCamera())


def test_automatic_uses_trusted_lines_and_otherwise_the_field_of_view_saying_why(room):
    trusted = pipeline.choose_camera(room.picture, AutomaticCamera())
    assert trusted.source == "detected lines" and not trusted.notes
    fallback = pipeline.choose_camera(blank(), AutomaticCamera(FieldOfViewCamera(40.0)))
    assert fallback.source == "field of view" and fallback.calibration is None
    assert math.degrees(fallback.camera.horizontal_fov_rad) == pytest.approx(40.0)
    (note,) = fallback.notes
    assert note.startswith("No camera could be found from the picture's lines:") and "40° horizontal" in note


def test_the_camera_json_and_the_summary_name_the_source(room, tmp_path):
    depth = DepthMap(slope(), "depth")
    build = pipeline.build_scene_files(blank(640, 480), depth=depth,
                                       camera=pipeline.choose_camera(blank(640, 480), AutomaticCamera()),
                                       glb_path=tmp_path / "s.glb")
    camera_json = json.loads(build.files.camera_json.read_text())
    assert camera_json["depth3dCamera"]["source"] == "field of view"
    assert "No camera could be found" in build.summary()
    assert any("No camera could be found" in warning for warning in build.files.warnings)


def test_the_scene_command_detects_the_lines(room, tmp_path):
    picture, depth = tmp_path / "room.png", tmp_path / "room.npy"
    room.picture.save(picture)
    np.save(depth, slope())
    result = subprocess.run([sys.executable, "-m", "lib_depth3d", "scene", str(picture), "--depth", str(depth),
                             "--depth-kind", "depth", "--detect-lines", "--no-fit", "-o", str(tmp_path / "s.glb")],
                            cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "camera: calibrated from lines detected in the picture; 70." in result.stdout
    assert json.loads((tmp_path / "s_camera.json").read_text())["depth3dCamera"]["source"] == "detected lines"
    assert (tmp_path / "s.fspy").read_bytes()[:4] == b"fspy"


def test_the_scene_command_detects_the_lines_once(room, tmp_path, detections):
    from lib_depth3d.cli import main

    picture, depth = tmp_path / "room.png", tmp_path / "room.npy"
    room.picture.save(picture)
    np.save(depth, slope())
    assert main(["scene", str(picture), "--depth", str(depth), "--depth-kind", "depth", "--detect-lines", "--no-fit",
                 "--resolution", "64", "-o", str(tmp_path / "s.glb")]) == 0
    assert detections == [(640, 480)]


@pytest.mark.parametrize("camera", ["auto", "detect"])
def test_the_api_takes_the_automatic_camera(room, camera, detections):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from lib_depth3d.api import router
    from lib_depth3d.files import png_bytes

    app = FastAPI()
    app.include_router(router)
    depth = Image.fromarray(np.round(DepthMap(slope(), "depth").nearness() * 255).astype(np.uint8), "L")
    answer = TestClient(app).post("/depth3d/v1/scene", json={
        "image": base64.b64encode(png_bytes(room.picture)).decode(),
        "depth_image": base64.b64encode(png_bytes(depth)).decode(), "camera": camera, "resolution": 64})
    assert answer.status_code == 200, answer.text
    assert detections == [(640, 480)]
    camera = answer.json()["camera"]
    assert camera["depth3dCamera"]["source"] == "detected lines"
    assert math.degrees(camera["horizontalFieldOfView"]) == pytest.approx(TRUE_FOV_DEG, abs=0.5)


class CameraGivingDepth:
    """A depth source that estimates a camera with the depth, as Depth Anything 3 and MoGe-2 do."""

    name = "camera-giving network"

    def __init__(self, focal_px=(500.0, 500.0)):
        self.focal_px = focal_px

    def estimate_with_camera(self, picture, progress=None, known_camera=None):
        from lib_depth3d.depth.depthmap import DepthWithCamera
        from lib_depth3d.depth.registry import NetworkCamera

        # Estimated at half the picture's size: the camera is carried over to the picture's pixels.
        half = (picture.width // 2, picture.height // 2)
        camera = NetworkCamera(half, (self.focal_px[0] / 2, self.focal_px[1] / 2), (half[0] / 2, half[1] / 2))
        return DepthWithCamera(DepthMap(slope(picture.width, picture.height), "depth"), camera)


def test_the_network_camera_gives_the_scene_its_focal_length(tmp_path):
    from lib_depth3d.camera.sources import EstimatedCamera

    build = pipeline.run_scene(blank(640, 480), depth=CameraGivingDepth(), camera=EstimatedCamera(),
                               glb_path=tmp_path / "s.glb")
    assert build.camera.source == "network" and not build.camera.notes
    assert build.camera.camera.focal_length_px == pytest.approx(500.0)
    assert build.camera.camera.principal_point_px == pytest.approx((320.0, 240.0))
    assert json.loads(build.files.camera_json.read_text())["depth3dCamera"]["source"] == "network"
    stretched = pipeline.run_scene(blank(640, 480), depth=CameraGivingDepth((520.0, 480.0)),
                                   camera=EstimatedCamera(), glb_path=tmp_path / "t.glb")
    assert stretched.camera.camera.focal_length_px == pytest.approx(math.sqrt(520.0 * 480.0))
    assert "non-square pixels" in stretched.camera.notes[0]


def test_automatic_takes_the_network_camera_when_the_lines_are_not_trusted(tmp_path):
    build = pipeline.run_scene(blank(640, 480), depth=CameraGivingDepth(), camera=AutomaticCamera(),
                               glb_path=tmp_path / "s.glb")
    assert build.camera.source == "network"
    assert build.camera.camera.focal_length_px == pytest.approx(500.0)
    assert "the one the depth network estimated" in build.camera.notes[-1]


class RecordingDepth(CameraGivingDepth):
    """A camera-giving network that records the camera it was told."""

    def __init__(self):
        super().__init__()
        self.told = []

    def estimate_with_camera(self, picture, progress=None, known_camera=None):
        self.told.append(known_camera)
        return super().estimate_with_camera(picture, progress, known_camera)


def test_confidently_detected_lines_reach_the_network_before_it_runs(room, tmp_path, detections):
    """Metric-Large makes metres with the picture's focal length and MoGe-2 keeps a given field of
    view: with the automatic camera the network is told the detected camera, once, so the depth and
    the scene's camera agree."""
    network = RecordingDepth()
    build = pipeline.run_scene(room.picture, depth=network, camera=AutomaticCamera(), glb_path=tmp_path / "s.glb")
    assert build.camera.source == "detected lines" and detections == [(640, 480)]
    (told,) = network.told
    assert told is not None and told.focal_length_px[0] == pytest.approx(build.camera.camera.focal_length_px)
    untrusted = RecordingDepth()
    pipeline.run_scene(blank(640, 480), depth=untrusted, camera=AutomaticCamera(), glb_path=tmp_path / "t.glb")
    assert untrusted.told == [None] and detections == [(640, 480)] * 2
