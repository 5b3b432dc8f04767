"""Depth maps stored in a few levels (8-bit pictures): found, smoothed within one level, decimated to it.

An 8-bit depth picture holds 256 levels. A smooth surface drawn in it is a staircase of
terraces one level apart, and the decimation, which keeps the surface within 0.2 % of every
sample's depth, has to follow each step: fSpy's box photo gave 259 029 triangles from an 8-bit
map against 8 052 from the same map in 16 bits. The stored level says only that the true value
lies within half a level of it, so:

1. **Detection** (:func:`depth_quantisation`): the map's distinct values lie on a grid of one
   step, with at most :data:`MAX_QUANTISED_LEVELS` steps across its range (a 16-bit map has
   65 535, and steps far below the decimation's tolerance), at least
   :data:`MIN_QUANTISED_LEVELS` of them used, and most neighbouring pixels that differ do so by
   a step or a few (a smooth surface in terraces; a map of a few flat planes differs only by
   jumps at their edges).
2. **Smoothing** (:func:`dequantised_inverse_depth`): in the scene's inverse depth ``w``, each
   pixel may move anywhere within its level's half-steps, ``[w(k − ½), w(k + ½)]``
   (``w`` interpolated between the levels' values, so a non-affine mapping such as depth in
   metres is followed too). Box blurs from coarse to fine, each followed by clamping every
   pixel back into its interval (alternating projections), give the smoothest surface that
   still rounds to every stored level. Depth edges move by at most half a level. The widest
   blur spans a few terraces (:data:`SMOOTHING_TERRACES`).
3. **Decimation**: what is left of the terraces after smoothing is below half a level, which
   the data cannot resolve. The decimation may therefore deviate by half a level's inverse
   depth beyond its own tolerance (``depth_allowance`` of
   :func:`~lib_depth3d.scene.triangulate.triangulate_grid`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_QUANTISED_LEVELS = 4096
"""Most steps across the map's range for it to count as quantised (12 bits)."""

MIN_QUANTISED_LEVELS = 16
"""Fewest distinct levels in use for a map to be a staircase rather than a few flat regions."""

SMOOTH_NEIGHBOUR_STEPS = 4
"""Most levels between neighbouring pixels on a smooth surface (a floor seen from above may climb
two levels a pixel)."""

MIN_SMOOTH_FRACTION = 0.5
"""Least fraction of differing neighbour pairs that differ by at most that many levels."""

DETECTION_SAMPLES = 1 << 20
"""Pixels read to find the levels (a regular subsample of larger maps)."""

COARSE_SAMPLES = 1 << 14
"""Pixels of the subset that tells a map of too many levels first."""

SMOOTHING_TERRACES = 2.5
"""The widest box blur spans this many terraces; narrower ones halve it down to 3 pixels, each
applied twice and each pass followed by the clamp (wider blurs smear creases within the clamp,
narrower ones leave the terraces' flats)."""

MAX_SMOOTHING_WINDOW_PX = 65
"""The widest box blur, for maps whose terraces are wider still (far, nearly flat surfaces)."""


@dataclass(frozen=True)
class DepthQuantisation:
    """How a depth map's values are quantised.

    Attributes:
        step: the difference between adjacent levels, in the map's own units.
        origin: the lowest level's value; level k is ``origin + k · step``.
        levels_used: how many distinct levels the map holds.
        level_span: steps from the lowest to the highest level (255 for a full-range 8-bit map).
        terrace_px: mean pixels between level changes along a row or column.
    """

    step: float
    origin: float
    levels_used: int
    level_span: int
    terrace_px: float

    def levels(self, values: np.ndarray) -> np.ndarray:
        """The level index of each value (int32)."""
        return np.rint((values - self.origin) / self.step).astype(np.int32)


def _subsample_stride(values: np.ndarray) -> int:
    return max(1, int(np.ceil(np.sqrt(values.size / DETECTION_SAMPLES))))


def _spans_too_many_steps(sample: np.ndarray) -> bool:
    """Whether the sample's distinct values span more than :data:`MAX_QUANTISED_LEVELS` of their
    smallest gap."""
    levels = np.unique(sample[np.isfinite(sample)].astype(np.float64))
    return len(levels) > 1 and float(levels[-1] - levels[0]) > MAX_QUANTISED_LEVELS * float(np.diff(levels).min())


def depth_quantisation(values: np.ndarray) -> DepthQuantisation | None:
    """The quantisation of a (H, W) depth map's values, or None when they are not few levels one
    step apart (see the module docstring)."""
    stride = _subsample_stride(values)
    # Float and 16-bit maps are told on a coarse subset of the sample: when its levels span too
    # many of its steps, so do the sample's (a smaller or equal step, a span as wide or wider),
    # and sorting the million values is left out (15–30 ms a scene).
    coarse_stride = stride * max(1, int(np.ceil(np.sqrt(values[::stride, ::stride].size / COARSE_SAMPLES))))
    if _spans_too_many_steps(values[::coarse_stride, ::coarse_stride]):
        return None
    sample = values[::stride, ::stride].astype(np.float64)
    levels = np.unique(sample[np.isfinite(sample)])
    if len(levels) < MIN_QUANTISED_LEVELS:
        return None
    gaps = np.diff(levels)
    step = float(gaps.min())
    span = float(levels[-1] - levels[0])
    if span > MAX_QUANTISED_LEVELS * step:
        return None
    steps = gaps / step
    # Levels stored as float32 (an 8-bit grey level divided by 255) sit on the grid to ~1e-7.
    if np.abs(steps - np.rint(steps)).max() > 1e-3:
        return None
    neighbour_steps = np.concatenate([
        np.abs(np.diff(sample, axis=0)).ravel(), np.abs(np.diff(sample, axis=1)).ravel()
    ]) / step
    differing = neighbour_steps[neighbour_steps > 0.5]
    if differing.size == 0 or np.mean(differing < SMOOTH_NEIGHBOUR_STEPS + 0.5) < MIN_SMOOTH_FRACTION:
        return None
    terrace_px = stride * neighbour_steps.size / differing.size
    return DepthQuantisation(step, float(levels[0]), len(levels), int(round(span / step)), terrace_px)


def smoothing_windows_px(terrace_px: float) -> list[int]:
    """Odd box blur widths, coarse to fine, for terraces ``terrace_px`` wide."""
    widest = int(min(MAX_SMOOTHING_WINDOW_PX, max(3.0, SMOOTHING_TERRACES * terrace_px)))
    windows = [widest | 1]
    while windows[-1] > 3:
        windows.append(max(3, (windows[-1] // 2) | 1))
    return windows


def dequantised_inverse_depth(
    inverse_depth: np.ndarray, values: np.ndarray, quantisation: DepthQuantisation
) -> tuple[np.ndarray, np.ndarray]:
    """(smoothed inverse depth, half a level in inverse depth), both (H, W) float32.

    ``inverse_depth``: the scene's inverse depth, a function of the stored ``values`` alone
    (the same value maps to the same inverse depth everywhere). Each pixel stays within half a
    level of its own, in inverse depth: between its level's inverse depth and its neighbour
    levels' (interpolated between the levels in use, extrapolated past the ends).
    """
    import cv2

    levels = quantisation.levels(values)
    levels -= levels.min()
    index = levels.ravel()
    count = int(index.max()) + 1
    # One pixel of each level stands for all of them (a scatter: the last pixel written wins).
    example = np.full(count, -1, dtype=np.int64)
    example[index] = np.arange(index.size)
    used = np.flatnonzero(example >= 0)
    level_inverse_depth = inverse_depth.ravel()[example[used]].astype(np.float64)
    # Inverse depth at every half level from −½ to count − ½, linear past the levels in use (a
    # quantised map has at least MIN_QUANTISED_LEVELS of them).
    positions = np.arange(count + 1) - 0.5
    half_levels = np.interp(positions, used, level_inverse_depth)
    below, above = positions < used[0], positions > used[-1]
    first_slope = (level_inverse_depth[1] - level_inverse_depth[0]) / (used[1] - used[0])
    last_slope = (level_inverse_depth[-1] - level_inverse_depth[-2]) / (used[-1] - used[-2])
    half_levels[below] = level_inverse_depth[0] + (positions[below] - used[0]) * first_slope
    half_levels[above] = level_inverse_depth[-1] + (positions[above] - used[-1]) * last_slope
    half_levels = half_levels.astype(np.float32)
    bound_a, bound_b = np.take(half_levels, levels), np.take(half_levels[1:], levels)
    lower, upper = cv2.min(bound_a, bound_b), cv2.max(bound_a, bound_b)
    smoothed = inverse_depth.astype(np.float32)
    for width_px in smoothing_windows_px(quantisation.terrace_px):
        for _ in range(2):
            smoothed = cv2.blur(smoothed, (width_px, width_px), borderType=cv2.BORDER_REFLECT)
            # OpenCV's min and max in place: np.clip is a few times slower on large maps.
            cv2.max(cv2.min(smoothed, upper, dst=smoothed), lower, dst=smoothed)
    upper -= lower
    upper *= 0.5
    return smoothed, upper
