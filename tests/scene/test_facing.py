"""The facing test runs in float32 and re-tests in float64 only the triangles near the threshold:
its result must be that of the float64 test everywhere, bit for bit, even on surfaces whose
triangles all lie close to the threshold angle, at any scale of the inverse depth."""

import math

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
