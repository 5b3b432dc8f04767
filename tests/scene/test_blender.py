"""Blender (Debian's 3.4, and 4.x where ``DEPTH3D_BLENDER4_PYTHON`` names it) imports the .glb with
its glTF importer alone and renders the input picture back from the file's camera (PSNR ≥ 35 dB)."""

import math

import numpy as np
import pytest
from PIL import Image

from lib_depth3d.camera import Camera
from lib_depth3d.depth.depthmap import DepthMap
from lib_depth3d.scene import build_scene, write_scene
from tests.support.blender import render_glb
from tests.support.scene_inputs import smooth_picture, wavy_zdepth

WIDTH, HEIGHT = 160, 120


def _off_centre_calibrated_camera() -> Camera:
    pitch = math.radians(70)
    camera_to_world = np.eye(4)
    camera_to_world[:3, :3] = [[1, 0, 0], [0, math.cos(pitch), -math.sin(pitch)], [0, math.sin(pitch), math.cos(pitch)]]
    camera_to_world[:3, 3] = [0.5, -4.0, 1.5]
    return Camera(WIDTH, HEIGHT, 140.0, (100.0, 45.0), np.linalg.inv(camera_to_world))


def _psnr_over_covered_pixels(render: np.ndarray, picture: np.ndarray) -> tuple[float, float]:
    covered = render[..., 3] == 255
    error = np.mean((render[..., :3].astype(np.float64) - picture.astype(np.float64))[covered] ** 2)
    return 10 * math.log10(255.0**2 / max(error, 1e-12)), float(covered.mean())


@pytest.mark.blender
@pytest.mark.parametrize(
    "principal, mode",
    [("centred", "picture"), ("off-centre", "picture"), ("off-centre", "frustum")],
)
def test_blender_renders_the_picture_from_the_file_camera(tmp_path, artifacts_dir, blender, principal, mode):
    picture = smooth_picture(WIDTH, HEIGHT)
    camera = Camera.from_fov(WIDTH, HEIGHT, 60.0) if principal == "centred" else _off_centre_calibrated_camera()
    scene = build_scene(picture, DepthMap(wavy_zdepth(WIDTH, HEIGHT, 7), "depth"), camera)
    files = write_scene(scene, tmp_path / "scene.glb")
    major = blender.version.split(".")[0]
    output = render_glb(files.glb, artifacts_dir / f"scene_blender{major}_{principal}_{mode}.png", mode, tmp_path,
                        blender)
    render = np.asarray(Image.open(output).convert("RGBA"))
    if mode == "frustum":
        left, top = (int(round(v)) for v in scene.gltf_camera.picture_offset_px)
        assert render.shape[:2] == tuple(int(round(v)) for v in scene.gltf_camera.frustum_size_px[::-1])
        outside = render[..., 3].copy()
        outside[max(top - 1, 0) : top + HEIGHT + 1, max(left - 1, 0) : left + WIDTH + 1] = 0
        assert outside.max() == 0  # nothing of the scene beyond the picture's crop (±1 px of filter)
        render = render[top : top + HEIGHT, left : left + WIDTH]
    assert render.shape[:2] == (HEIGHT, WIDTH)
    psnr, coverage = _psnr_over_covered_pixels(render, np.asarray(picture))
    print(f"Blender {blender.version} {principal} {mode}: {psnr:.1f} dB over {coverage:.1%} of the picture")
    assert coverage > 0.97
    assert psnr >= 35.0
    # The measure is sharp enough to see a one-pixel misalignment.
    shifted, _ = _psnr_over_covered_pixels(render[:, 1:], np.asarray(picture)[:, :-1])
    assert shifted < 35.0
