"""The facing test keeps gentle cells without measuring them, runs in float32 where a tile has
many steep ones and re-tests in float64 only the triangles near the threshold: its result must be
that of the float64 test everywhere, bit for bit, even on surfaces whose triangles all lie close
to the threshold angle, at any scale of the inverse depth."""

import math
from unittest import mock

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lib_depth3d.scene import triangulate


def _float64_facing(inverse_depth, x_image, y_image, main, max_view_angle_deg):
    """The facing test in float64 over the whole grid at once: the reference."""
    x_left, x_right, y_top, y_bottom = x_image[:-1], x_image[1:], y_image[:-1, None], y_image[1:, None]
    w = inverse_depth
    measures = triangulate._facing_measures(
        (w[:-1, :-1], w[:-1, 1:], w[1:, :-1], w[1:, 1:]),
        x_right - x_left, y_bottom - y_top, 2 * x_left + x_right, x_left + 2 * x_right,
        y_top + 2 * y_bottom, 2 * y_top + y_bottom, main, math.cos(math.radians(max_view_angle_deg)) ** 2,
    )
    return np.stack([squared_mean >= bound for squared_mean, bound in measures], axis=-1)


def _viewing_angles_deg(inverse_depth, x_image, y_image, main):
    """Each triangle's angle from facing, from the float64 measures with cos² = 1."""
    x_left, x_right, y_top, y_bottom = x_image[:-1], x_image[1:], y_image[:-1, None], y_image[1:, None]
    w = inverse_depth
    measures = triangulate._facing_measures(
        (w[:-1, :-1], w[:-1, 1:], w[1:, :-1], w[1:, 1:]),
        x_right - x_left, y_bottom - y_top, 2 * x_left + x_right, x_left + 2 * x_right,
        y_top + 2 * y_bottom, 2 * y_top + y_bottom, main, 1.0,
    )
    cosines = [np.sqrt(np.minimum(squared_mean / bound, 1.0)) for squared_mean, bound in measures]
    return np.degrees(np.arccos(np.stack(cosines, axis=-1)))


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(3, 60),
    columns=st.integers(3, 60),
    focal_px=st.floats(20.0, 20000.0),
    slope=st.floats(-40.0, 40.0),
    tilt=st.floats(-40.0, 40.0),
    scale_exponent=st.integers(-30, 30),
    noise=st.sampled_from([0.0, 1e-9, 1e-4]),
    seed=st.integers(0, 2**16),
)
def test_float32_pre_pass_decides_as_float64(rows, columns, focal_px, slope, tilt, scale_exponent, noise, seed):
    rng = np.random.default_rng(seed)
    x_image = (np.arange(columns) + 0.5 - columns / 2) / focal_px
    y_image = (rows / 2 - np.arange(rows) - 0.5) / focal_px
    # A plane w = a·x + b·y + 1 (kept in front of the camera), scaled and roughened.
    plane = 1.0 + slope * x_image[None, :] + tilt * y_image[:, None]
    plane = np.maximum(plane, 1e-3) * (1.0 + noise * rng.standard_normal((rows, columns)))
    inverse_depth = plane * 2.0**scale_exponent
    main = rng.random((rows - 1, columns - 1)) < 0.5
    # The threshold at the median angle puts half the triangles on each side, many of them close.
    max_view_angle_deg = float(np.median(_viewing_angles_deg(inverse_depth, x_image, y_image, main)))
    kept = triangulate._facing_enough(inverse_depth, x_image, y_image, main, max_view_angle_deg)
    np.testing.assert_array_equal(kept, _float64_facing(inverse_depth, x_image, y_image, main, max_view_angle_deg))


def test_triangles_at_the_threshold_are_re_tested():
    """Not vacuous: on a plane at the threshold angle triangles within 0.05° of it (well inside the
    float32 pass's margin, about 0.2° here) are kept and dropped, so the re-test decides them."""
    rows = columns = 64
    focal_px = 4096.0
    x_image = (np.arange(columns) + 0.5 - columns / 2) / focal_px
    y_image = (rows / 2 - np.arange(rows) - 0.5) / focal_px
    inverse_depth = 1.0 + 30.0 * x_image[None, :] + 0.0 * y_image[:, None]
    main = np.ones((rows - 1, columns - 1), dtype=bool)
    angles = _viewing_angles_deg(inverse_depth, x_image, y_image, main)
    threshold = float(np.median(angles))
    near = np.abs(angles - threshold) < 0.05
    kept = triangulate._facing_enough(inverse_depth, x_image, y_image, main, threshold)
    assert near.any() and kept[near].any() and not kept[near].all()
    np.testing.assert_array_equal(kept, _float64_facing(inverse_depth, x_image, y_image, main, threshold))


@settings(max_examples=60, deadline=None)
@given(
    focal_px=st.floats(50.0, 20000.0),
    half_fov_tan=st.floats(0.05, 2.0),
    max_view_angle_deg=st.floats(30.0, 89.9),
    corner_x=st.floats(-1.0, 1.0),
    corner_y=st.floats(-1.0, 1.0),
    spread=st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4),
    main=st.booleans(),
    scale_exponent=st.integers(-30, 30),
)
def test_gentle_cells_are_seen_within_the_angle(
    focal_px, half_fov_tan, max_view_angle_deg, corner_x, corner_y, spread, main, scale_exponent
):
    """A cell whose inverse depths span at most the gentle limit times their lowest keeps both
    triangles in the float64 test, wherever it lies in the picture and whatever its diagonal."""
    columns = max(3, int(2 * half_fov_tan * focal_px))
    x_image = (np.arange(columns) + 0.5 - columns / 2) / focal_px
    y_image = -x_image
    limit = triangulate._gentle_cell_limit(x_image, y_image, max_view_angle_deg)
    if limit is None:
        return
    column = int((corner_x + 1) / 2 * (columns - 2))
    row = int((corner_y + 1) / 2 * (columns - 2))
    lowest = 2.0**scale_exponent
    corners = lowest * (1.0 + min(limit, 1e6) * np.array(spread) / max(max(spread), 1e-300))
    inverse_depth = np.full((2, 2), lowest)
    inverse_depth[0, 0], inverse_depth[0, 1], inverse_depth[1, 0], inverse_depth[1, 1] = corners
    kept = _float64_facing(
        inverse_depth, x_image[column : column + 2], y_image[row : row + 2], np.array([[main]]), max_view_angle_deg
    )
    assert kept.all()


@settings(max_examples=20, deadline=None)
@given(
    rows=st.integers(3, 80),
    columns=st.integers(3, 80),
    focal_px=st.floats(20.0, 8000.0),
    jumps=st.integers(0, 40),
    max_view_angle_deg=st.floats(45.0, 89.5),
    seed=st.integers(0, 2**16),
)
def test_gentle_shortcut_decides_as_float64(rows, columns, focal_px, jumps, max_view_angle_deg, seed):
    """Surfaces of gentle cells with a few steps in depth: the sparse exact test of the steep
    cells gives the float64 test's result."""
    rng = np.random.default_rng(seed)
    x_image = (np.arange(columns) + 0.5 - columns / 2) / focal_px
    y_image = (rows / 2 - np.arange(rows) - 0.5) / focal_px
    inverse_depth = 1.0 + 0.3 * x_image[None, :] - 0.2 * y_image[:, None]
    inverse_depth[rng.integers(0, rows, jumps), rng.integers(0, columns, jumps)] *= rng.uniform(0.2, 5.0, jumps)
    main = rng.random((rows - 1, columns - 1)) < 0.5
    kept = triangulate._facing_enough(inverse_depth, x_image, y_image, main, max_view_angle_deg)
    np.testing.assert_array_equal(kept, _float64_facing(inverse_depth, x_image, y_image, main, max_view_angle_deg))


def test_only_steep_cells_are_measured():
    """Not vacuous: on a full-resolution wall at 45° to the view with one step in depth, only the
    cells beside the step get their measures computed; the rest are gentle."""
    rows = columns = 256
    focal_px = 220.0
    x_image = (np.arange(columns) + 0.5 - columns / 2) / focal_px
    y_image = (rows / 2 - np.arange(rows) - 0.5) / focal_px
    inverse_depth = 1.0 + 1.0 * x_image[None, :] + 0.0 * y_image[:, None]
    inverse_depth[:, columns // 2 :] *= 0.5
    main = np.ones((rows - 1, columns - 1), dtype=bool)
    measured = []
    original = triangulate._facing_measures

    def counting(corners, *rest):
        measured.append(np.broadcast(*corners).size)
        return original(corners, *rest)

    with mock.patch.object(triangulate, "_facing_measures", counting):
        kept = triangulate._facing_enough(inverse_depth, x_image, y_image, main, 88.0)
    assert sum(measured) == rows - 1
    np.testing.assert_array_equal(kept, _float64_facing(inverse_depth, x_image, y_image, main, 88.0))
    assert not kept[:, columns // 2 - 1].any() and kept.sum() == 2 * (rows - 1) * (columns - 2)
