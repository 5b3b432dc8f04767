"""The project's entry points exist and behave as the README promises."""

import subprocess
import sys

import numpy as np
import pytest

from lib_depth3d.camera import Camera, image_plane_to_pixels, pixels_to_image_plane
from lib_depth3d.errors import InputError
from tests.support.paths import REPO_ROOT


def test_command_line_lists_its_subcommands():
    result = subprocess.run(
        [sys.executable, "-m", "lib_depth3d", "--help"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0
    assert "calibrate" in result.stdout


def test_camera_round_trips_pixels_through_depth():
    rotation = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    view = np.eye(4)
    view[:3, :3] = rotation
    view[:3, 3] = [0.5, -2.0, -3.0]
    camera = Camera(640, 480, 500.0, (300.0, 250.0), view)
    pixels = np.array([[0.0, 0.0], [639.5, 479.5], [300.0, 250.0]])
    depth = np.array([1.0, 7.5, 2.0])
    projected, projected_depth = camera.project(camera.unproject(pixels, depth))
    np.testing.assert_allclose(projected, pixels, atol=1e-9)
    np.testing.assert_allclose(projected_depth, depth, atol=1e-12)


def test_image_plane_conversion_matches_fspy_convention():
    plane = pixels_to_image_plane(np.array([[0.0, 0.0], [993.0, 577.0]]), 993, 577)
    np.testing.assert_allclose(plane, [[-1.0, 577 / 993], [1.0, -577 / 993]])
    np.testing.assert_allclose(image_plane_to_pixels(plane, 993, 577), [[0.0, 0.0], [993.0, 577.0]])


def test_camera_from_fov_has_that_field_of_view():
    camera = Camera.from_fov(1920, 1080, 60.0)
    assert camera.horizontal_fov_rad == pytest.approx(np.radians(60.0))
    assert camera.focal_length_mm(36.0) == pytest.approx(18.0 / np.tan(np.radians(30.0)))


@pytest.mark.parametrize("fov", [0.0, 180.0, -5.0])
def test_camera_rejects_impossible_fields_of_view(fov):
    with pytest.raises(InputError, match="field of view"):
        Camera.from_fov(100, 100, fov)
