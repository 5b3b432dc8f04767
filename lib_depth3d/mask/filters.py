"""Separable image filters on float arrays (H×W), vectorised with numpy.

Each filter runs one pass per axis. A pass combines the ``2r + 1`` shifted views of the
edge-padded array (one array operation per kernel tap), so the cost is O(r) whole-array
operations and the memory one extra array — no per-pixel Python loop and no scipy. Borders
replicate the edge pixel, so a mask that is white up to the border stays white there after a
blur, a dilation or an erosion.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

GAUSSIAN_TRUNCATE_SIGMAS = 3.0


def _shifted_views(values: np.ndarray, radius: int, axis: int) -> Iterator[np.ndarray]:
    """The views of ``values`` shifted by -radius … +radius pixels along ``axis`` (edges replicated)."""
    padding = [(0, 0), (0, 0)]
    padding[axis] = (radius, radius)
    padded = np.pad(values, padding, mode="edge")
    length = values.shape[axis]
    for offset in range(2 * radius + 1):
        yield padded[offset:offset + length] if axis == 0 else padded[:, offset:offset + length]


def _rank_filter(values: np.ndarray, radius: int, combine: Callable) -> np.ndarray:
    result = values
    for axis in (0, 1):
        views = _shifted_views(result, radius, axis)
        accumulated = next(views).copy()
        for view in views:
            combine(accumulated, view, out=accumulated)
        result = accumulated
    return result


def _convolve(values: np.ndarray, taps: np.ndarray) -> np.ndarray:
    radius = (len(taps) - 1) // 2
    result = values
    for axis in (0, 1):
        accumulated = np.zeros(values.shape, dtype=np.float32)
        for tap, view in zip(taps, _shifted_views(result, radius, axis)):
            accumulated += tap * view
        result = accumulated
    return result


def gaussian_blur(values: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur with standard deviation ``sigma_px`` pixels (PIL's and A1111's "radius").

    The kernel is truncated at 3 σ and normalised to sum 1, so a constant image is unchanged
    and ``blur(1 - m) == 1 - blur(m)`` up to float rounding.
    """
    values = values.astype(np.float32, copy=False)
    if sigma_px <= 0:
        return values.copy()
    radius = max(1, int(np.ceil(GAUSSIAN_TRUNCATE_SIGMAS * sigma_px)))
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (offsets / sigma_px) ** 2)
    return _convolve(values, (taps / taps.sum()).astype(np.float32))


def dilate(values: np.ndarray, radius_px: int) -> np.ndarray:
    """Grey-level dilation (maximum) over a square of side ``2 * radius_px + 1`` pixels."""
    if radius_px <= 0:
        return values.copy()
    return _rank_filter(values, radius_px, np.maximum)


def erode(values: np.ndarray, radius_px: int) -> np.ndarray:
    """Grey-level erosion (minimum) over a square of side ``2 * radius_px + 1`` pixels."""
    if radius_px <= 0:
        return values.copy()
    return _rank_filter(values, radius_px, np.minimum)
