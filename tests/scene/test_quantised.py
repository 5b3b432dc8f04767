"""8-bit depth maps: found, smoothed within half a level, and decimated about as well as 16-bit ones."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lib_depth3d.camera import Camera
from lib_depth3d.depth.depthmap import DepthMap
from lib_depth3d.scene import SceneOptions, build_scene
from lib_depth3d.scene.grid import sample_grid, sample_inverse_depth
from lib_depth3d.scene.quantised import depth_quantisation, dequantised_inverse_depth
from lib_depth3d.scene.triangulate import TriangulationOptions, triangulate_grid
from tests.support.scene_inputs import decimated_inverse_depth_at_samples, smooth_picture, wavy_zdepth


def room_nearness(camera: Camera) -> np.ndarray:
    """Exact inverse depth of a floor 1.6 below the camera, a slanted wavy wall and a ball in front,
    normalised to [0, 1] (near = 1) as a depth picture stores it."""
    width, height = camera.image_size_px
    rows, columns = np.mgrid[0:height, 0:width] + 0.5
    cx, cy = camera.principal_point_px
    x, y = (columns - cx) / camera.focal_length_px, (cy - rows) / camera.focal_length_px
    floor = np.where(y < 0, -y / 1.6, 0.0)
    wall = np.maximum(1 / 30, 0.05 + 0.03 * x + 0.01 * np.sin(4 * x))
    inverse = np.maximum(floor, wall)
    off_centre = (x - 0.2) ** 2 + (y + 0.1) ** 2
    ball = off_centre < 0.04
    inverse[ball] = 1 / (3 - 2.5 * np.sqrt(0.04 - off_centre[ball]))
    return (inverse - inverse.min()) / (inverse.max() - inverse.min())


def stored(nearness: np.ndarray, bits: int) -> np.ndarray:
    """The nearness as a depth picture of ``bits`` reads back (:func:`depth_image_nearness`)."""
    top = 2**bits - 1
    return (np.round(nearness * top) / top).astype(np.float32)


def total_triangles(scene) -> int:
    return len(scene.faces) + (0 if scene.background is None else len(scene.background.faces))


# fSpy's box photo is 400×364: the default grid is then one vertex per pixel.
@pytest.mark.parametrize("size", [(400, 364), (640, 480), (1024, 768)])
def test_an_8_bit_map_gives_about_the_triangles_of_the_same_map_in_16_bits(size):
    camera = Camera.from_fov(*size, 70.0)
    picture, nearness = smooth_picture(*size), room_nearness(camera)
    finer = build_scene(picture, DepthMap(stored(nearness, 16), "disparity"), camera)
    coarser = build_scene(picture, DepthMap(stored(nearness, 8), "disparity"), camera)
    assert total_triangles(coarser) <= 1.5 * total_triangles(finer)
    assert len(coarser.faces) <= 1.5 * len(finer.faces)
    assert coarser.background is not None  # the ball's edge is still cut
    assert len(coarser.background.faces) <= 1.5 * len(finer.background.faces)
    assert any("levels" in warning for warning in coarser.warnings)
    assert not any("levels" in warning for warning in finer.warnings)


def test_the_8_bit_surface_stays_within_the_tolerance_plus_the_maps_own_precision():
    camera = Camera.from_fov(200, 150, 70.0)
    nearness = room_nearness(camera)
    options = SceneOptions(resolution=None, fill_occlusions=False, pixel_edges=False)  # the grid surface alone
    scene = build_scene(smooth_picture(200, 150), DepthMap(stored(nearness, 8), "disparity"), camera, options)
    # Near/far 1 to 10: one level of 8 bits is this much inverse depth.
    level = (1.0 - 0.1) / 255
    true_inverse = 0.1 + 0.9 * nearness
    grid = sample_grid(200, 150, 150, 200)
    # The scene's zdepth is at the picture's pixels; the grid samples at full resolution are those.
    smoothed_inverse = sample_inverse_depth(scene.zdepth.values, grid)
    # Each vertex's grid sample, from its texture coordinates.
    column = np.abs(scene.uvs[:, :1] * 200 - grid.x_px[None, :]).argmin(axis=1)
    row = np.abs(scene.uvs[:, 1:] * 150 - grid.y_px[None, :]).argmin(axis=1)
    faces = (row * 200 + column)[scene.faces]
    surface, coverage, _ = decimated_inverse_depth_at_samples(faces, grid, smoothed_inverse)
    covered = coverage > 0
    assert covered.mean() > 0.98  # only the ball's cut rim is uncovered
    reference = sample_inverse_depth(1.0 / true_inverse, grid).ravel()
    error = np.abs(surface - reference)[covered]
    # Decimation (half the relative tolerance plus half a level), smoothing (half a level) and
    # the rounding to 8 bits (half a level) at most.
    assert np.all(error <= 0.5 * options.max_depth_error * reference[covered] + 1.5 * level + 1e-6)
    rounded_error = np.abs(0.1 + 0.9 * stored(nearness, 8) - true_inverse)
    smoothed_error = np.abs(1.0 / scene.zdepth.values - true_inverse)
    assert smoothed_error.mean() < 0.8 * rounded_error.mean()  # closer to the truth than the stored levels


def test_8_bit_maps_are_found_and_16_bit_float_and_blocky_ones_are_not():
    camera = Camera.from_fov(320, 240, 70.0)
    nearness = room_nearness(camera)
    found = depth_quantisation(stored(nearness, 8))
    assert found is not None
    assert found.step == pytest.approx(1 / 255, rel=1e-5)
    assert found.level_span == 255
    found_16_bit_as_8 = depth_quantisation(np.round(stored(nearness, 8) * 255) * 257)
    assert found_16_bit_as_8 is not None and found_16_bit_as_8.step == pytest.approx(257)
    assert depth_quantisation(stored(nearness, 16)) is None
    assert depth_quantisation(nearness.astype(np.float32)) is None
    shuffled_levels = np.random.default_rng(0).permutation(20).astype(np.float32).reshape(4, 5) / 19
    blocks = np.kron(shuffled_levels, np.ones((60, 64), dtype=np.float32))
    assert depth_quantisation(blocks) is None  # flat regions, not a staircase
    assert depth_quantisation(stored(nearness, 3)) is None  # too few levels to be a surface


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["affine", "reciprocal"]))
def test_smoothing_keeps_every_pixel_within_half_a_level(seed, mapping):
    values = stored(1.0 - (wavy_zdepth(96, 64, seed) - 2.0) / 2.0, 8)
    quantisation = depth_quantisation(values)
    # Five seeds in 10 001 make a wave so steep that most neighbours differ by five levels or
    # more: terraces narrower than a pixel, rightly not taken for a staircase.
    assume(quantisation is not None)
    to_inverse = {"affine": lambda v: 0.1 + 0.9 * v, "reciprocal": lambda v: 1.0 / (4.0 - 3.0 * v)}[mapping]
    inverse = to_inverse(values.astype(np.float64))
    smoothed, half_level = dequantised_inverse_depth(inverse, values, quantisation)
    step = quantisation.step
    below, above = to_inverse(values - step / 2), to_inverse(values + step / 2)
    # Half levels are interpolated between levels: exact for an affine map, to second order otherwise.
    slack = 1e-6 if mapping == "affine" else 0.02 * np.abs(above - below)
    assert np.all(smoothed >= np.minimum(below, above) - slack)
    assert np.all(smoothed <= np.maximum(below, above) + slack)
    assert np.allclose(half_level, np.abs(above - below) / 2, rtol=0.02, atol=1e-7)
    def roughness(surface):  # mean second difference across rows and columns: a staircase's kinks
        return np.abs(np.diff(surface, 2, axis=0)).mean() + np.abs(np.diff(surface, 2, axis=1)).mean()

    assert roughness(smoothed) < 0.7 * roughness(inverse)  # 0.20 typical, 0.53 the worst of 200 seeds


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([0.002, 0.01]), st.floats(1e-4, 1e-2))
def test_decimation_stays_within_its_tolerance_plus_the_allowance(seed, tolerance, allowance):
    rows, columns = 25, 33
    grid = sample_grid(columns, rows, rows, columns)
    inverse = sample_inverse_depth(wavy_zdepth(columns, rows, seed), grid)
    options = TriangulationOptions(max_depth_error=tolerance, max_texture_shift_px=1e9)
    allowed = np.full((rows, columns), allowance)
    plain = triangulate_grid(inverse, grid.x_px, grid.y_px, 30.0, (columns / 2, rows / 2), options)
    result = triangulate_grid(inverse, grid.x_px, grid.y_px, 30.0, (columns / 2, rows / 2), options,
                              depth_allowance=allowed)
    surface, coverage, area = decimated_inverse_depth_at_samples(result.faces, grid, inverse)
    assert area == pytest.approx(columns * rows)
    assert np.all(coverage >= 1)
    error = np.abs(surface - inverse.ravel())
    assert np.all(error <= 0.5 * tolerance * inverse.ravel() + allowance + 1e-12)
    assert len(result.faces) <= len(plain.faces)
