"""Synthetic pictures and exact depth maps for the scene tests."""

from __future__ import annotations

import numpy as np
from PIL import Image

from lib_depth3d.camera import Camera


def smooth_picture(width: int, height: int) -> Image.Image:
    """An RGB picture of gradients and waves, with a fine ripple (periods of 7 and 9 pixels)
    so that a one-pixel misalignment costs many decibels of PSNR."""
    rows, columns = np.mgrid[0:height, 0:width] + 0.5
    x, y = columns / width, rows / height
    ripple = 35 * np.sin(2 * np.pi * columns / 7) * np.sin(2 * np.pi * rows / 9)
    rgb = np.stack(
        [
            40 + 140 * x + 25 * np.sin(9 * y) + ripple,
            40 + 140 * y + 25 * np.sin(11 * x) - ripple,
            128 + 70 * np.sin(6 * (x + y)) + ripple,
        ],
        axis=-1,
    )
    return Image.fromarray(np.clip(np.round(rgb), 0, 255).astype(np.uint8))


def plane_zdepth(camera: Camera, normal_camera, distance: float) -> np.ndarray:
    """Exact z-depth at each pixel centre of the plane n·X = −distance (camera frame, n facing the camera)."""
    width, height = camera.image_size_px
    rows, columns = np.mgrid[0:height, 0:width] + 0.5
    cx, cy = camera.principal_point_px
    f = camera.focal_length_px
    n = np.asarray(normal_camera, dtype=np.float64)
    # X = z·((u−cx)/f, (cy−v)/f, −1) on n·X = −d  ⇒  z = −d / (n·ray).
    ray_dot = n[0] * (columns - cx) / f + n[1] * (cy - rows) / f - n[2]
    return (-distance / ray_dot).astype(np.float32)


def wavy_zdepth(width: int, height: int, seed: int) -> np.ndarray:
    """A smooth, non-planar z-depth map between about 2 and 4."""
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[0:height, 0:width] / max(width, height)
    inverse = 0.35 + sum(
        amplitude * np.sin(frequency_x * columns + frequency_y * rows + phase)
        for amplitude, frequency_x, frequency_y, phase in zip(
            rng.uniform(0.01, 0.04, 3), rng.uniform(1, 8, 3), rng.uniform(1, 8, 3), rng.uniform(0, 6, 3)
        )
    )
    return (1.0 / inverse).astype(np.float32)
