"""Separable image filters on H×W arrays, with OpenCV.

Borders replicate the edge pixel, so a mask that is white up to the border stays white there
after a blur, a dilation or an erosion. The filters accept float32 arrays in [0, 1] and uint8
arrays in 0…255 alike; a blur returns float32 in the units it was given.

cv2 is imported inside the functions: importing it takes about 150 ms, and every command that
imports the mask package (the whole pipeline does) would pay it even when it makes no mask.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

GAUSSIAN_TRUNCATE_SIGMAS = 3.0


def gaussian_radius_px(sigma_px: float) -> int:
    """Half-width in pixels of the Gaussian kernel: truncated at 3 σ, at least 1."""
    return max(1, int(np.ceil(GAUSSIAN_TRUNCATE_SIGMAS * sigma_px)))


@lru_cache(maxsize=16)
def gaussian_taps(sigma_px: float) -> np.ndarray:
    """The 1-D Gaussian kernel (float32, ``2 r + 1`` taps, read-only) of standard deviation ``sigma_px``, summing to 1.

    Cached: a feathered mask blurs many windows with the same kernel.
    """
    radius = gaussian_radius_px(sigma_px)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (offsets / sigma_px) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)
    taps.flags.writeable = False
    return taps


def _filterable(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    return values if values.dtype in (np.uint8, np.float32) else values.astype(np.float32)


def gaussian_blur(values: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur with standard deviation ``sigma_px`` pixels (PIL's and A1111's "radius"), as float32.

    The kernel is truncated at 3 σ and normalised to sum 1, so a constant image is unchanged
    and ``blur(1 - m) == 1 - blur(m)`` up to float rounding. A uint8 image is blurred in float
    (no fixed-point rounding of the kernel) and comes back in 0…255 units.
    """
    import cv2

    values = _filterable(values)
    if sigma_px <= 0:
        return values.astype(np.float32)
    taps = gaussian_taps(sigma_px)
    return cv2.sepFilter2D(values, cv2.CV_32F, taps, taps, borderType=cv2.BORDER_REPLICATE)


def _square(radius_px: int) -> np.ndarray:
    return np.ones((2 * radius_px + 1, 2 * radius_px + 1), dtype=np.uint8)


def dilate(values: np.ndarray, radius_px: int) -> np.ndarray:
    """Grey-level dilation (maximum) over a square of side ``2 * radius_px + 1`` pixels."""
    import cv2

    values = _filterable(values)
    if radius_px <= 0:
        return values.copy()
    return cv2.dilate(values, _square(radius_px), borderType=cv2.BORDER_REPLICATE)


def erode(values: np.ndarray, radius_px: int) -> np.ndarray:
    """Grey-level erosion (minimum) over a square of side ``2 * radius_px + 1`` pixels."""
    import cv2

    values = _filterable(values)
    if radius_px <= 0:
        return values.copy()
    return cv2.erode(values, _square(radius_px), borderType=cv2.BORDER_REPLICATE)
