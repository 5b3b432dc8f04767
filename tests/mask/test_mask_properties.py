"""Properties of invert and the cut-offs over many depth maps and bands (hypothesis)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lib_depth3d.mask import MaskOptions, depth_mask
from lib_depth3d.mask.filters import dilate, erode, gaussian_blur

LEVELS = 64

# Nearness on a grid of k/64 and cut-offs half-way between grid points: no value sits exactly on
# a cut-off, and 1 - x is exact in floating point, so mirrored bands must agree to the bit.
grid_nearness = arrays(np.int64, st.tuples(st.integers(1, 12), st.integers(1, 12)), elements=st.integers(0, LEVELS)).map(
    lambda steps: (steps / LEVELS).astype(np.float32)
)
half_steps = st.integers(0, LEVELS - 1).map(lambda k: (k + 0.5) / LEVELS)


def band(draw_low: float, draw_high: float) -> tuple[float, float]:
    return min(draw_low, draw_high), max(draw_low, draw_high)


def mask_of(nearness, **options) -> np.ndarray:
    return np.asarray(depth_mask(nearness, MaskOptions(**options)).mask).astype(np.int32)


@settings(max_examples=60, deadline=None)
@given(grid_nearness, half_steps, half_steps, st.booleans(), st.integers(-2, 2))
def test_hard_invert_is_the_exact_complement_even_after_grow(nearness, a, b, hard, grow):
    low, high = band(a, b)
    plain = mask_of(nearness, near_min=low, near_max=high, hard=hard, grow_px=-grow)
    inverted = mask_of(nearness, near_min=low, near_max=high, hard=hard, invert=True, grow_px=grow)
    if hard:
        np.testing.assert_array_equal(inverted, 255 - plain)
    else:
        assert np.abs(inverted - (255 - plain)).max() <= 1  # 255 is odd: a half level rounds one way


@settings(max_examples=60, deadline=None)
@given(grid_nearness, half_steps, half_steps, st.booleans())
def test_mirroring_depth_and_band_gives_the_same_mask(nearness, a, b, invert):
    low, high = band(a, b)
    original = mask_of(nearness, near_min=low, near_max=high, hard=True, invert=invert)
    mirrored = mask_of(1.0 - nearness, near_min=1.0 - high, near_max=1.0 - low, hard=True, invert=invert)
    np.testing.assert_array_equal(original, mirrored)


@settings(max_examples=60, deadline=None)
@given(grid_nearness, half_steps)
def test_keeping_the_near_side_repaints_exactly_what_keeping_the_far_side_keeps(nearness, cut):
    keep_near = mask_of(nearness, near_min=cut, near_max=1.0, hard=True)
    keep_far = mask_of(nearness, near_min=0.0, near_max=cut, hard=True)
    np.testing.assert_array_equal(keep_near, 255 - keep_far)
    repaint_near = mask_of(nearness, near_min=cut, near_max=1.0, hard=True, invert=True)
    np.testing.assert_array_equal(repaint_near, keep_far)


@settings(max_examples=60, deadline=None)
@given(grid_nearness, half_steps, half_steps, half_steps, half_steps)
def test_a_wider_band_never_repaints_more(nearness, a, b, c, d):
    inner_low, inner_high = band(a, b)
    outer_low, outer_high = min(inner_low, c), max(inner_high, d)
    inner = mask_of(nearness, near_min=inner_low, near_max=inner_high, ramp=0.1)
    outer = mask_of(nearness, near_min=outer_low, near_max=outer_high, ramp=0.1)
    assert (outer <= inner).all()


@settings(max_examples=60, deadline=None)
@given(grid_nearness, half_steps, half_steps, st.floats(0.3, 3.0))
def test_feathered_masks_stay_complementary_under_invert(nearness, a, b, sigma):
    low, high = band(a, b)
    plain = mask_of(nearness, near_min=low, near_max=high, hard=True, feather_px=sigma)
    inverted = mask_of(nearness, near_min=low, near_max=high, hard=True, invert=True, feather_px=sigma)
    assert np.abs(inverted - (255 - plain)).max() <= 1


small_fields = arrays(np.float32, st.tuples(st.integers(1, 9), st.integers(1, 9)),
                      elements=st.floats(0, 1, width=32))


def edge_padded_windows(values: np.ndarray, radius: int) -> np.ndarray:
    """Every pixel's (2r+1)² neighbourhood, edges replicated: shape (H, W, 2r+1, 2r+1)."""
    padded = np.pad(values, radius, mode="edge")
    return np.lib.stride_tricks.sliding_window_view(padded, (2 * radius + 1, 2 * radius + 1))


@settings(max_examples=60, deadline=None)
@given(small_fields, st.integers(1, 4))
def test_dilate_and_erode_equal_the_max_and_min_over_the_square(values, radius):
    windows = edge_padded_windows(values, radius)
    np.testing.assert_array_equal(dilate(values, radius), windows.max(axis=(2, 3)))
    np.testing.assert_array_equal(erode(values, radius), windows.min(axis=(2, 3)))


@settings(max_examples=60, deadline=None)
@given(small_fields, st.floats(0.3, 2.0))
def test_gaussian_blur_equals_the_direct_2d_convolution(values, sigma):
    radius = int(np.ceil(3 * sigma))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    direct = np.einsum("hwij,ij->hw", edge_padded_windows(values.astype(np.float64), radius), np.outer(kernel, kernel))
    np.testing.assert_allclose(gaussian_blur(values, sigma), direct, atol=1e-5)
