"""Turning a :class:`DepthMap` into z-depth in scene units.

Relative disparity (what MiDaS and Depth Anything output) is an affine function of inverse
depth with unknown scale and shift, so it is mapped onto inverse depth — never onto depth
directly — by two distances the user understands: the nearest and the farthest point.
"""

from __future__ import annotations

import math

import numpy as np

from lib_depth3d.arrays import map_in_blocks
from lib_depth3d.errors import SceneError


def check_not_constant(low: float, high: float) -> None:
    """Refuses a map whose lowest and highest values are equal: it describes no shape."""
    if high - low <= 1e-7 * max(abs(high), abs(low), 1e-30):
        raise SceneError(
            f"The depth map is constant (every value is {low:g}): it describes no shape. "
            "Check that the depth file belongs to this picture."
        )


def disparity_mapping_for_range(low: float, high: float, near: float, far: float) -> tuple[float, float]:
    """(scale, shift) with ``1/z = scale · disparity + shift`` putting disparity ``high`` → ``near``
    and ``low`` → ``far``.

    ``near`` and ``far`` are z-depths in scene units with ``0 < near < far``.
    """
    if not (math.isfinite(near) and math.isfinite(far) and 0 < near < far):
        raise SceneError(
            f"The nearest and farthest distances must satisfy 0 < near < far, got near={near:g}, "
            f"far={far:g}."
        )
    check_not_constant(low, high)
    scale = (1.0 / near - 1.0 / far) / (high - low)
    return scale, 1.0 / far - low * scale


def disparity_mapping(disparity: np.ndarray, near: float, far: float) -> tuple[float, float]:
    """(scale, shift) with ``1/z = scale · disparity + shift`` putting max → ``near``, min → ``far``.

    ``near`` and ``far`` are z-depths in scene units with ``0 < near < far``.
    """
    return disparity_mapping_for_range(float(disparity.min()), float(disparity.max()), near, far)


def zdepth_from_mapping(disparity: np.ndarray, mapping: tuple[float, float]) -> np.ndarray:
    """float32 z-depth ``1 / (scale · disparity + shift)`` of a (scale, shift) ``mapping``,
    computed in float64."""
    scale, shift = mapping

    def zdepth(block: np.ndarray) -> np.ndarray:
        # In place on the block's float64 copy: the same operations, no temporary per step.
        inverse = block.astype(np.float64)
        inverse *= scale
        inverse += shift
        return np.divide(1.0, inverse, out=inverse)

    return map_in_blocks(zdepth, disparity, np.float32)


QUADRANT_PATCH_PX = 3


def _bilinear_inverse_depth(zdepth: np.ndarray, u: float, v: float) -> float:
    height, width = zdepth.shape
    u, v = min(max(u, 0.0), width - 1.0), min(max(v, 0.0), height - 1.0)
    column, row = min(int(u), max(width - 2, 0)), min(int(v), max(height - 2, 0))
    tu, tv = u - column, v - row
    patch = 1.0 / zdepth[row : row + 2, column : column + 2].astype(np.float64)
    if patch.shape != (2, 2):
        patch = np.broadcast_to(patch[:1, :1], (2, 2))
    top = patch[0, 0] * (1 - tu) + patch[0, -1] * tu
    bottom = patch[-1, 0] * (1 - tu) + patch[-1, -1] * tu
    return float(top * (1 - tv) + bottom * tv)


def zdepth_at_pixel(zdepth: np.ndarray, pixel: tuple[float, float]) -> float | None:
    """The z-depth at a continuous pixel position (None outside the picture).

    Inverse depth is affine in pixels over a 3D plane, so each of four small patches around
    the position — one per quadrant — is fitted with a plane and evaluated at the position, and
    the median of the four is kept. A position on a crease or a corner between surfaces (where
    a world origin is usually placed) is so measured on the surfaces themselves rather than
    interpolated across them. Near the picture's border it falls back to bilinear interpolation.
    """
    height, width = zdepth.shape
    x, y = pixel
    if not (0.0 <= x <= width and 0.0 <= y <= height):
        return None
    u, v = x - 0.5, y - 0.5
    left, top = int(math.floor(u)), int(math.floor(v))
    n = QUADRANT_PATCH_PX
    if left - n + 1 < 0 or top - n + 1 < 0 or left + n >= width or top + n >= height:
        return 1.0 / _bilinear_inverse_depth(zdepth, u, v)
    estimates = []
    for first_column in (left - n + 1, left + 1):
        for first_row in (top - n + 1, top + 1):
            rows, columns = np.mgrid[first_row : first_row + n, first_column : first_column + n]
            inverse = 1.0 / zdepth[first_row : first_row + n, first_column : first_column + n].astype(np.float64)
            design = np.stack([columns.ravel() - u, rows.ravel() - v, np.ones(n * n)], axis=1)
            plane = np.linalg.lstsq(design, inverse.ravel(), rcond=None)[0]
            estimates.append(plane[2])  # the plane's value at the position itself
    inverse_depth = float(np.median(estimates))
    if not inverse_depth > 0:
        return 1.0 / _bilinear_inverse_depth(zdepth, u, v)
    return 1.0 / inverse_depth
