"""Separable image filters on float arrays (H×W), vectorised with numpy.

Each filter runs one pass per axis; a pass adds (or takes the maximum of) shifted views of the
edge-padded array, one per kernel tap, so the cost is O(taps) array operations and the memory
one extra array — no per-pixel Python loop and no scipy. Borders replicate the edge pixel, so a
mask that is white up to the border stays white there after a blur, a dilation or an erosion.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

GAUSSIAN_TRUNCATE_SIGMAS = 3.0


def _separable(
    values: np.ndarray, radius: int, combine: Callable[[np.ndarray, np.ndarray], np.ndarray], taps: np.ndarray | None
) -> np.ndarray:
    """Apply a 1-D filter of ``2 * radius + 1`` taps along axis 0, then along axis 1."""
    result = values
    for axis in (0, 1):
        length = result.shape[axis]
        padding = [(0, 0), (0, 0)]
        padding[axis] = (radius, radius)
        padded = np.pad(result, padding, mode="edge")

        def shifted(offset: int) -> np.ndarray:
            return padded[offset : offset + length] if axis == 0 else padded[:, offset : offset + length]

        if taps is None:
            accumulated = shifted(0).copy()
            for offset in range(1, 2 * radius + 1):
                combine(accumulated, shifted(offset), out=accumulated)
        else:
            accumulated = shifted(0) * taps[0]
            for offset in range(1, 2 * radius + 1):
                accumulated += shifted(offset) * taps[offset]
        result = accumulated
    return result


def gaussian_blur(values: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur with standard deviation ``sigma_px`` pixels (PIL's and A1111's "radius").

    The kernel is truncated at 3 σ and normalised to sum 1, so a constant image is unchanged
    and ``blur(1 - m) == 1 - blur(m)`` up to float rounding.
    """
    if sigma_px <= 0:
        return values.astype(np.float32, copy=True)
    radius = max(1, int(np.ceil(GAUSSIAN_TRUNCATE_SIGMAS * sigma_px)))
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (offsets / sigma_px) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)
    return _separable(values.astype(np.float32, copy=False), radius, np.add, taps)


def dilate(values: np.ndarray, radius_px: int) -> np.ndarray:
    """Grey-level dilation (maximum) over a square of side ``2 * radius_px + 1`` pixels."""
    if radius_px <= 0:
        return values.copy()
    return _separable(values, radius_px, np.maximum, None)


def erode(values: np.ndarray, radius_px: int) -> np.ndarray:
    """Grey-level erosion (minimum) over a square of side ``2 * radius_px + 1`` pixels."""
    if radius_px <= 0:
        return values.copy()
    return _separable(values, radius_px, np.minimum, None)
