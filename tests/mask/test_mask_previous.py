"""The OpenCV strip pipeline against the previous numpy implementation, kept here as the oracle.

Masks must stay within one 8-bit level (1/255) of what the previous release made, for every
combination of band, hard/soft, invert, grow and feather, on maps of flat areas and edges, and
whatever the strip height (seams between strips must not show).
"""

from unittest import mock

import cv2
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lib_depth3d.mask import MaskOptions, band_cutoffs, depth_mask
from lib_depth3d.mask import build
from lib_depth3d.mask.build import band_selection
from lib_depth3d.mask.filters import gaussian_blur

LEVELS = 64


def previous_shifted_views(values, radius, axis):
    padding = [(0, 0), (0, 0)]
    padding[axis] = (radius, radius)
    padded = np.pad(values, padding, mode="edge")
    length = values.shape[axis]
    for offset in range(2 * radius + 1):
        yield padded[offset:offset + length] if axis == 0 else padded[:, offset:offset + length]


def previous_rank_filter(values, radius, combine):
    result = values
    for axis in (0, 1):
        views = previous_shifted_views(result, radius, axis)
        accumulated = next(views).copy()
        for view in views:
            combine(accumulated, view, out=accumulated)
        result = accumulated
    return result


def previous_gaussian_blur(values, sigma_px):
    radius = max(1, int(np.ceil(3.0 * sigma_px)))
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (offsets / sigma_px) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)
    result = values.astype(np.float32)
    for axis in (0, 1):
        accumulated = np.zeros(values.shape, dtype=np.float32)
        for tap, view in zip(taps, previous_shifted_views(result, radius, axis)):
            accumulated += tap * view
        result = accumulated
    return result


def previous_levels(nearness, options):
    """Steps 2–7 exactly as the previous release computed them (non-constant maps)."""
    low, high, close_low, close_high = band_cutoffs(nearness, options)
    selection = band_selection(nearness, low, high, (close_low, close_high), options.hard, options.ramp)
    repaint = selection if options.invert else 1.0 - selection
    if options.grow_px > 0:
        repaint = previous_rank_filter(repaint, options.grow_px, np.maximum)
    elif options.grow_px < 0:
        repaint = previous_rank_filter(repaint, -options.grow_px, np.minimum)
    if options.feather_px > 0:
        repaint = previous_gaussian_blur(repaint, options.feather_px)
    return np.floor(np.clip(repaint, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


@st.composite
def flat_areas_and_edges(draw):
    """Nearness of rectangular cells (k/64 levels), some with fine noise: wide flat areas, edges, ragged parts."""
    height, width = draw(st.integers(1, 90)), draw(st.integers(1, 160))
    rows, columns = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    generator = np.random.default_rng(seed)
    cells = generator.integers(0, LEVELS + 1, size=(rows, columns))
    row_of = np.minimum(np.arange(height) * rows // height, rows - 1)
    column_of = np.minimum(np.arange(width) * columns // width, columns - 1)
    steps = cells[row_of][:, column_of]
    if draw(st.booleans()):
        noisy = generator.random((height, width)) < 0.05
        steps = np.where(noisy, generator.integers(0, LEVELS + 1, size=(height, width)), steps)
    return (steps / LEVELS).astype(np.float32)


@st.composite
def mask_options(draw):
    low, high = sorted(draw(st.integers(0, LEVELS)) / LEVELS for _ in range(2))
    percentiles = draw(st.none() | st.tuples(st.floats(0, 100), st.floats(0, 100)).map(sorted).map(tuple))
    return MaskOptions(
        near_min=low, near_max=high, percentiles=percentiles, invert=draw(st.booleans()),
        hard=draw(st.booleans()), ramp=draw(st.sampled_from([0.01, 0.05, 0.3])),
        feather_px=draw(st.sampled_from([0.0, 0.0, 0.4, 1.0, 1.5, 2.5, 4.0, 6.0])),
        grow_px=draw(st.integers(-6, 6)),
    )


@settings(max_examples=150, deadline=None)
@given(flat_areas_and_edges(), mask_options(), st.sampled_from([1, 512, 1 << 18]))
def test_masks_stay_within_one_level_of_the_previous_implementation(nearness, options, strip_pixels):
    assume(np.ptp(nearness) > 0)
    with mock.patch.object(build, "STRIP_PIXELS", strip_pixels):
        got = np.asarray(depth_mask(nearness, options).mask, dtype=np.int16)
    expected = previous_levels(nearness, options)
    if options.hard and options.feather_px == 0:
        np.testing.assert_array_equal(got, expected)
    else:
        assert np.abs(got - expected).max() <= 1


def test_a_feathered_disc_cut_into_many_strips_matches_the_previous_implementation():
    y, x = np.mgrid[0:300, 0:257].astype(np.float32)
    nearness = np.where((x - 120) ** 2 + (y - 160) ** 2 < 80**2, 0.9, 0.2 + 0.1 * np.sin(x / 9)).astype(np.float32)
    options = MaskOptions(near_min=0.5, hard=True, grow_px=8, feather_px=4.0)
    with mock.patch.object(build, "STRIP_PIXELS", 1):
        got = np.asarray(depth_mask(nearness, options).mask, dtype=np.int16)
    expected = previous_levels(nearness, options)
    assert np.abs(got - expected).max() <= 1
    assert (got != expected).mean() < 0.001


@pytest.mark.parametrize("shape", [(4, 1), (1, 4), (1, 1), (4, 4)])
@pytest.mark.parametrize("hard", [True, False])
@pytest.mark.parametrize("band", [(0.5, 1.0), (0.0, 0.5), (0.3, 0.7)])
def test_thin_maps_whose_shape_opencv_could_read_as_a_scalar(shape, hard, band):
    nearness = np.linspace(0.05, 0.95, shape[0] * shape[1], dtype=np.float32).reshape(shape)
    for invert in (False, True):
        options = MaskOptions(near_min=band[0], near_max=band[1], hard=hard, invert=invert, ramp=0.3)
        got = np.asarray(depth_mask(nearness, options).mask, dtype=np.int16)
        assert got.shape == shape
        if np.ptp(nearness) > 0:
            assert np.abs(got - previous_levels(nearness, options)).max() <= 1


def whole_picture_levels(nearness, options):
    """Grow and feather on the whole picture at once: what the strips and runs must reproduce exactly."""
    low, high, close_low, close_high = band_cutoffs(nearness, options)
    repaint = build._repaint(nearness, low, high, (close_low, close_high), options)
    grown = build._grown(repaint, options.grow_px)
    if options.feather_px == 0:
        return grown
    return cv2.convertScaleAbs(gaussian_blur(grown, options.feather_px))


@settings(max_examples=150, deadline=None)
@given(flat_areas_and_edges(), mask_options(), st.sampled_from([1, 512]))
def test_strips_and_skipped_flat_columns_equal_the_whole_picture_computation(nearness, options, strip_pixels):
    assume(np.ptp(nearness) > 0)
    with mock.patch.object(build, "STRIP_PIXELS", strip_pixels):
        got = np.asarray(depth_mask(nearness, options).mask)
    np.testing.assert_array_equal(got, whole_picture_levels(nearness, options))
