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


def decimated_inverse_depth_at_samples(faces, grid, values):
    """Inverse depth of the triangulated surface at every grid sample, and how many triangles cover it.

    Over a 3D triangle inverse depth is affine in pixel coordinates, so barycentric
    interpolation in pixels gives the surface exactly.
    """
    rows, columns = grid.shape
    grid_rows, grid_columns = np.divmod(np.arange(rows * columns), columns)
    sample_x, sample_y = grid.x_px[grid_columns], grid.y_px[grid_rows]
    flat = values.ravel()
    surface = np.full(rows * columns, np.nan)
    coverage = np.zeros(rows * columns, dtype=int)
    total_area = 0.0
    for a, b, c in faces:
        corners = np.array([[grid_columns[i], grid_rows[i]] for i in (a, b, c)])
        (x0, y0), (x1, y1), (x2, y2) = ((sample_x[i], sample_y[i]) for i in (a, b, c))
        determinant = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
        total_area += abs(determinant) / 2
        low, high = corners.min(axis=0), corners.max(axis=0)
        ys, xs = np.mgrid[low[1] : high[1] + 1, low[0] : high[0] + 1]
        ids = (ys * columns + xs).ravel()
        px, py = sample_x[ids], sample_y[ids]
        l1 = ((px - x0) * (y2 - y0) - (x2 - x0) * (py - y0)) / determinant
        l2 = ((x1 - x0) * (py - y0) - (px - x0) * (y1 - y0)) / determinant
        l0 = 1 - l1 - l2
        inside = (l0 >= -1e-9) & (l1 >= -1e-9) & (l2 >= -1e-9)
        l1, l2, l0, ids = l1[inside], l2[inside], l0[inside], ids[inside]
        surface[ids] = l0 * flat[a] + l1 * flat[b] + l2 * flat[c]
        coverage[ids] += 1
    return surface, coverage, total_area
