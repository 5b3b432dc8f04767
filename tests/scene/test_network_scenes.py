"""`scene PICTURE --model M` with no lines: the scene's camera is the network's (Depth Anything 3,
MoGe-2), or the field of view the user gives, which MoGe-2 then keeps; MoGe-2's scenes are in
metres. Checkpoints built in the official layouts with seeded weights."""

import json
import math
import subprocess

import numpy as np
import pytest

from lib_depth3d.camera.sources import FieldOfViewCamera
from lib_depth3d.depth.estimate import estimate_depth_and_camera
from lib_depth3d.depth.registry import NetworkCamera, get_model
from lib_depth3d.depth.sources import NetworkDepth
from lib_depth3d import pipeline
from tests.support.depth_weights import write_official_da3_checkpoint
from tests.support.glb import read_glb
from tests.support.moge_cases import write_official_checkpoint
from tests.support.paths import REPO_ROOT, VENV_PYTHON
from tests.support.scene_inputs import smooth_picture

WIDTH, HEIGHT = 112, 84


def scene(tmp_path, picture_path, *arguments):
    """The summary, the camera JSON and the file's camera focal length (px) of one scene command."""
    output = tmp_path / "out"
    output.mkdir(exist_ok=True)
    result = subprocess.run(
        [str(VENV_PYTHON), "-m", "lib_depth3d", "scene", str(picture_path), *arguments, "--device", "cpu",
         "-o", str(output / "s.glb")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    contents = read_glb(output / "s.glb")
    frustum_height = contents.extras["depth3d"]["frustum_size_px"][1]
    focal = frustum_height / 2 / math.tan(contents.yfov_rad / 2)
    return result.stdout, json.loads((output / "s_camera.json").read_text())["depth3dCamera"], focal


@pytest.fixture(scope="module")
def picture_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("picture") / "picture.png"
    smooth_picture(WIDTH, HEIGHT).save(path)
    return path


def test_depth_anything_3_small_gives_the_networks_camera(tmp_path, picture_path):
    weights = write_official_da3_checkpoint(tmp_path / "da3-small.safetensors", seed=5)
    summary, camera, focal = scene(tmp_path, picture_path, "--model", "depth-anything-3-small", "--weights",
                                   str(weights), "--net-size", "112")
    estimate = estimate_depth_and_camera(smooth_picture(WIDTH, HEIGHT), "depth-anything-3-small", weights_path=weights,
                                         device="cpu", input_size=112)
    fx, fy = estimate.camera.focal_length_px
    assert focal == pytest.approx(math.sqrt(fx * fy), rel=1e-4)
    assert camera["source"] == "network" and camera["units"] == "scene units"  # relative depth: no unit
    assert "estimated by the depth network" in summary


def test_moge_2_gives_metres_and_its_camera(tmp_path, picture_path):
    weights = write_official_checkpoint(tmp_path / "moge-2-vitb-normal.pt", "vitb")
    summary, camera, focal = scene(tmp_path, picture_path, "--model", "moge-2-vitb", "--weights", str(weights),
                                   "--net-size", "56")
    estimate = estimate_depth_and_camera(smooth_picture(WIDTH, HEIGHT), "moge-2-vitb", weights_path=weights,
                                         device="cpu", input_size=56)
    fx, fy = estimate.camera.focal_length_px
    assert focal == pytest.approx(math.sqrt(fx * fy), rel=1e-4)
    assert camera == {"source": "network", "description": camera["description"], "units": "m"}
    near, far = estimate.depth.values.min(), estimate.depth.values.max()
    assert f"depth: {near:.3f} to {far:.3f} m" in summary


def test_moge_2_keeps_the_users_field_of_view(tmp_path, picture_path):
    weights = write_official_checkpoint(tmp_path / "moge-2-vitb-normal.pt", "vitb")
    summary, camera, focal = scene(tmp_path, picture_path, "--model", "moge-2-vitb", "--weights", str(weights),
                                   "--net-size", "56", "--fov", "60")
    assert focal == pytest.approx(WIDTH / 2 / math.tan(math.radians(30)), rel=1e-6)
    assert camera["source"] == "field of view" and camera["units"] == "m"
    # The depth is MoGe's with that field of view (only the shift solved), not with its own estimate.
    known = estimate_depth_and_camera(smooth_picture(WIDTH, HEIGHT), "moge-2-vitb", weights_path=weights,
                                      device="cpu", input_size=56,
                                      known_camera=NetworkCamera.from_horizontal_fov(WIDTH, HEIGHT, 60.0))
    own = estimate_depth_and_camera(smooth_picture(WIDTH, HEIGHT), "moge-2-vitb", weights_path=weights,
                                    device="cpu", input_size=56)
    assert known.camera.horizontal_fov_deg == pytest.approx(60.0, abs=1e-3)
    assert abs(own.camera.horizontal_fov_deg - 60.0) > 1.0
    assert not np.allclose(known.depth.values, own.depth.values, rtol=1e-3)
    near, far = known.depth.values.min(), known.depth.values.max()
    assert f"depth: {near:.3f} to {far:.3f} m" in summary


def test_an_assumed_field_of_view_is_not_given_to_the_network(tmp_path):
    """Only a camera somebody chose reaches the network: with the assumed 55°, MoGe-2 keeps its own."""
    weights = write_official_checkpoint(tmp_path / "moge-2-vitb-normal.pt", "vitb")
    source = NetworkDepth(get_model("moge-2-vitb"), input_size=56, weights_path=weights, device="cpu")
    picture = smooth_picture(WIDTH, HEIGHT)
    assumed = pipeline.run_scene(picture, depth=source, camera=FieldOfViewCamera(assumed=True),
                                 glb_path=tmp_path / "a.glb")
    chosen = pipeline.run_scene(picture, depth=source, camera=FieldOfViewCamera(55.0), glb_path=tmp_path / "c.glb")
    own = estimate_depth_and_camera(picture, "moge-2-vitb", weights_path=weights, device="cpu", input_size=56)
    assert np.array_equal(assumed.depth.values, own.depth.values)
    assert not np.allclose(chosen.depth.values, own.depth.values, rtol=1e-3)
