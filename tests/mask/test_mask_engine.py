"""depth_mask on synthetic depth maps whose regions are known: every option gives the exact mask."""

import numpy as np
import pytest
from PIL import Image

from lib_depth3d.depth.depthmap import DepthMap
from lib_depth3d.errors import InputError
from lib_depth3d.mask import MaskOptions, cutout_rgba, depth_mask
from lib_depth3d.mask.filters import dilate, erode, gaussian_blur

FAR, MIDDLE, NEAR = 0.1, 0.5, 0.9


def three_stripes(width: int = 30, height: int = 8) -> np.ndarray:
    """Nearness in three vertical stripes of 10 px: far (left), middle, near (right)."""
    nearness = np.full((height, width), FAR, dtype=np.float32)
    nearness[:, 10:20] = MIDDLE
    nearness[:, 20:] = NEAR
    return nearness


def stripes_mask(far: int, middle: int, near: int, width: int = 30, height: int = 8) -> np.ndarray:
    expected = np.empty((height, width), dtype=np.uint8)
    expected[:, :10], expected[:, 10:20], expected[:, 20:] = far, middle, near
    return expected


def mask_array(depth, **options) -> np.ndarray:
    result = depth_mask(depth, MaskOptions(**options))
    assert result.mask.mode == "L"
    return np.asarray(result.mask)


@pytest.mark.parametrize(
    ("band", "invert", "expected"),
    [
        ((0.7, 1.0), False, (255, 255, 0)),  # keep the subject, repaint the rest
        ((0.7, 1.0), True, (0, 0, 255)),  # repaint the subject only
        ((0.3, 0.7), False, (255, 0, 255)),  # keep the middle ground
        ((0.3, 0.7), True, (0, 255, 0)),
        ((0.0, 0.3), False, (0, 255, 255)),  # keep the background
        ((0.0, 1.0), False, (0, 0, 0)),  # everything kept
    ],
)
@pytest.mark.parametrize("hard", [True, False])
def test_band_and_invert_select_the_known_stripes(band, invert, expected, hard):
    low, high = band
    got = mask_array(three_stripes(), near_min=low, near_max=high, invert=invert, hard=hard)
    np.testing.assert_array_equal(got, stripes_mask(*expected))


def test_a_cut_off_at_a_value_keeps_it_in_the_band():
    got = mask_array(three_stripes(), near_min=MIDDLE, near_max=1.0, hard=True)
    np.testing.assert_array_equal(got, stripes_mask(255, 0, 0))


def test_soft_ramp_is_linear_and_centred_on_each_cut_off():
    nearness = np.tile(np.arange(0, 1.0001, 0.05, dtype=np.float32), (2, 1))
    got = mask_array(nearness, near_min=0.3, near_max=0.7, ramp=0.2)[0]
    repaint = 1 - np.minimum(np.clip((nearness[0] - 0.3) / 0.2 + 0.5, 0, 1), np.clip((0.7 - nearness[0]) / 0.2 + 0.5, 0, 1))
    np.testing.assert_array_equal(got, np.floor(repaint * 255 + 0.5).astype(np.uint8))
    assert got[6] == 128 and got[14] == 128  # exactly at 0.3 and 0.7: half repainted
    assert got[4] == 255 and got[8] == 0  # one half-ramp away: fully out / fully in


def test_percentiles_follow_the_picture_not_the_values():
    nearness = np.tile(np.linspace(0.2, 0.4, 100, dtype=np.float32), (4, 1))
    result = depth_mask(nearness, MaskOptions(percentiles=(50, 100), hard=True))
    low, high = result.cutoffs
    assert low == pytest.approx(0.3, abs=1e-6) and high == pytest.approx(0.4)
    got = np.asarray(result.mask)
    assert (got[:, :50] == 255).all() and (got[:, 50:] == 0).all()


def test_percentile_ends_are_open():
    nearness = three_stripes()
    got = mask_array(nearness, percentiles=(0, 100), ramp=0.01)
    assert not got.any()


def test_grow_and_shrink_move_the_repainted_edge_by_whole_pixels():
    nearness = three_stripes()
    grown = mask_array(nearness, near_min=0.7, near_max=1.0, hard=True, grow_px=3)
    np.testing.assert_array_equal(grown[:, :23], 255)
    np.testing.assert_array_equal(grown[:, 23:], 0)
    shrunk = mask_array(nearness, near_min=0.7, near_max=1.0, hard=True, grow_px=-3)
    np.testing.assert_array_equal(shrunk[:, :17], 255)
    np.testing.assert_array_equal(shrunk[:, 17:], 0)
    inverted_grown = mask_array(nearness, near_min=0.7, near_max=1.0, hard=True, invert=True, grow_px=3)
    np.testing.assert_array_equal(inverted_grown[:, 17:], 255)
    np.testing.assert_array_equal(inverted_grown[:, :17], 0)


def test_grow_then_feather_order():
    nearness = three_stripes(width=30, height=4)
    got = mask_array(nearness, near_min=0.7, near_max=1.0, hard=True, grow_px=2, feather_px=1.5)
    edge = np.zeros(30, dtype=np.float32)
    edge[:22] = 1.0
    blurred = gaussian_blur(np.tile(edge, (4, 1)), 1.5)[0]
    np.testing.assert_array_equal(got[0], np.floor(blurred * 255 + 0.5).astype(np.uint8))
    assert got[0, 21] > 128 > got[0, 22]


def test_gaussian_blur_matches_the_analytic_kernel_and_keeps_constants():
    impulse = np.zeros((41, 41), dtype=np.float32)
    impulse[20, 20] = 1.0
    blurred = gaussian_blur(impulse, 2.0)
    offsets = np.arange(-6, 7)
    kernel = np.exp(-0.5 * (offsets / 2.0) ** 2)
    kernel /= kernel.sum()
    np.testing.assert_allclose(blurred[14:27, 14:27], np.outer(kernel, kernel), atol=1e-7)
    assert blurred.sum() == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(gaussian_blur(np.full((5, 7), 0.25, np.float32), 3.0), 0.25, atol=1e-6)


def test_dilate_and_erode_use_a_square_and_replicate_borders():
    values = np.zeros((9, 9), dtype=np.float32)
    values[4, 4] = 1.0
    grown = dilate(values, 2)
    assert grown.sum() == 25 and (grown[2:7, 2:7] == 1).all()
    np.testing.assert_array_equal(erode(grown, 2), values)
    edge = np.zeros((5, 5), dtype=np.float32)
    edge[:, 0] = 1.0
    np.testing.assert_array_equal(erode(edge, 1)[:, 0], 0.0)
    np.testing.assert_array_equal(erode(np.ones((5, 5), np.float32), 2), 1.0)


def test_depth_map_is_normalised_and_z_depth_reversed():
    disparity = DepthMap(np.array([[2.0, 4.0, 6.0]] * 2, dtype=np.float32), "disparity")
    zdepth = DepthMap(np.array([[3.0, 1.5, 1.0]] * 2, dtype=np.float32), "depth")  # 1/z = 1/3, 2/3, 1
    expected = np.array([[255, 0, 0]] * 2, dtype=np.uint8)
    np.testing.assert_array_equal(mask_array(disparity, near_min=0.4, hard=True), expected)
    np.testing.assert_array_equal(mask_array(zdepth, near_min=0.4, hard=True), expected)


def test_a_depth_map_of_another_size_is_resized_to_the_picture():
    small = three_stripes(width=30, height=8)
    same_shape = depth_mask(small, MaskOptions(near_min=0.7, hard=True), size=(60, 16))
    assert same_shape.mask.size == (60, 16) and same_shape.warnings == []
    got = np.asarray(same_shape.mask)
    assert (got[:, :38] == 255).all() and (got[:, 42:] == 0).all()
    stretched = depth_mask(small, MaskOptions(near_min=0.7, hard=True), size=(30, 30))
    assert stretched.mask.size == (30, 30)
    assert "stretched" in stretched.warnings[0]


@pytest.mark.parametrize(("invert", "value"), [(False, 0), (True, 255)])
def test_constant_depth_map_gives_a_uniform_mask_and_a_warning(invert, value):
    result = depth_mask(DepthMap(np.full((6, 9), 2.5, np.float32), "depth"), MaskOptions(invert=invert), (18, 12))
    assert result.mask.size == (18, 12)
    assert (np.asarray(result.mask) == value).all()
    assert len(result.warnings) == 1 and "constant" in result.warnings[0]


def test_constant_nearness_is_judged_by_its_value():
    far = depth_mask(np.full((4, 4), 0.2, np.float32), MaskOptions(near_min=0.5))
    near = depth_mask(np.full((4, 4), 0.8, np.float32), MaskOptions(near_min=0.5))
    assert (np.asarray(far.mask) == 255).all() and "outside" in far.warnings[0]
    assert (np.asarray(near.mask) == 0).all() and "inside" in near.warnings[0]


def test_an_empty_mask_is_reported():
    result = depth_mask(three_stripes(), MaskOptions(near_min=0.0, near_max=1.0))
    assert not np.asarray(result.mask).any()
    assert "repaints nothing" in result.warnings[0]


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"near_min": 0.8, "near_max": 0.2}, "min ≤ max"),
        ({"near_max": 1.5}, "min ≤ max"),
        ({"near_min": float("nan")}, "finite"),
        ({"percentiles": (90, 10)}, "Percentiles"),
        ({"percentiles": (10, 50, 90)}, "two numbers"),
        ({"feather_px": -1}, "Feather"),
        ({"grow_px": 2.5}, "whole number"),
        ({"ramp": 0}, "ramp"),
    ],
)
def test_bad_options_are_refused_by_name(options, words):
    with pytest.raises(InputError, match=words):
        MaskOptions(**options)


@pytest.mark.parametrize(
    ("array", "words"),
    [
        (np.array([[0.2, 1.3]], np.float32), r"\[0, 1\]"),
        (np.array([[0.2, np.nan]], np.float32), "NaN"),
        (np.zeros((2, 2, 3), np.float32), "2-D"),
    ],
)
def test_bad_nearness_arrays_are_refused(array, words):
    with pytest.raises(InputError, match=words):
        depth_mask(array)


def test_cutout_makes_repainted_areas_transparent_for_any_picture_mode():
    mask = Image.fromarray(stripes_mask(255, 0, 0), "L")
    rgb = Image.fromarray(np.full((8, 30, 3), 200, np.uint8), "RGB")
    grey16 = Image.fromarray(np.full((8, 30), 65535, np.uint16), "I;16")
    rgba_values = np.full((8, 30, 4), 90, np.uint8)
    rgba_values[:, 25:, 3] = 0
    rgba = Image.fromarray(rgba_values, "RGBA")
    for picture in (rgb, grey16, rgb.convert("L"), rgba):
        cut = cutout_rgba(picture, mask)
        assert cut.mode == "RGBA" and cut.size == picture.size
        alpha = np.asarray(cut)[..., 3]
        assert (alpha[:, :10] == 0).all()
    np.testing.assert_array_equal(np.asarray(cutout_rgba(grey16, mask))[:, 12, :3], 255)
    alpha = np.asarray(cutout_rgba(rgba, mask))[..., 3]
    assert (alpha[:, 10:25] == 90).all() and (alpha[:, 25:] == 0).all()  # existing transparency is kept


def test_cutout_refuses_a_mask_of_another_size():
    with pytest.raises(InputError, match="picture's size"):
        cutout_rgba(Image.new("RGB", (10, 10)), Image.new("L", (5, 5)))
