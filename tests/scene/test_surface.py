"""The surface: disparity→depth, the vertex grid, edge cutting and bounded-error decimation."""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lib_depth3d.camera import Camera
from lib_depth3d.depth.depthmap import DepthMap
from lib_depth3d.errors import SceneError
from lib_depth3d.scene import SceneOptions, build_scene
from lib_depth3d.scene.grid import grid_shape, sample_grid, sample_inverse_depth
from lib_depth3d.scene.triangulate import TriangulationOptions, triangulate_grid
from lib_depth3d.scene.zdepth import disparity_mapping, zdepth_at_pixel, zdepth_from_mapping
from tests.support.scene_inputs import decimated_inverse_depth_at_samples, plane_zdepth, smooth_picture, wavy_zdepth

Z_UP_TO_Y_UP = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])


@given(
    st.lists(st.floats(-5, 5), min_size=4, max_size=40).filter(lambda v: max(v) - min(v) > 1e-3),
    st.floats(0.1, 5),
    st.floats(1.5, 50),
)
def test_disparity_maps_to_inverse_depth_between_near_and_far(values, near, ratio):
    disparity = np.array(values, dtype=np.float32).reshape(1, -1)
    far = near * ratio
    zdepth = zdepth_from_mapping(disparity, disparity_mapping(disparity, near, far)).astype(np.float64)
    assert zdepth.min() == pytest.approx(near, rel=1e-5)
    assert zdepth.max() == pytest.approx(far, rel=1e-5)
    # Affine in inverse depth, not in depth: 1/z is a linear function of the disparity.
    design = np.stack([disparity.ravel().astype(np.float64), np.ones(disparity.size)], axis=1)
    fit, residual, *_ = np.linalg.lstsq(design, 1.0 / zdepth.ravel(), rcond=None)
    assert np.allclose(design @ fit, 1.0 / zdepth.ravel(), rtol=1e-4)
    assert fit[0] > 0


@pytest.mark.parametrize("kind", ["disparity", "depth", "metric"])
def test_constant_depth_is_refused_with_a_message(kind):
    picture = smooth_picture(8, 6)
    with pytest.raises(SceneError, match="constant"):
        build_scene(picture, DepthMap(np.full((6, 8), 2.0), kind), Camera.from_fov(8, 6, 60))


def test_full_resolution_vertices_sit_at_pixel_centres_and_cover_the_picture():
    grid = sample_grid(7, 5, 5, 7)
    assert grid.x_px.tolist() == [0.0, 1.5, 2.5, 3.5, 4.5, 5.5, 7.0]
    assert grid.y_px.tolist() == [0.0, 1.5, 2.5, 3.5, 5.0]


@settings(max_examples=25, deadline=None)
@given(
    st.floats(-0.6, 0.6),
    st.floats(-0.6, 0.6),
    st.floats(0.5, 20),
    st.floats(-15, 15),
    st.floats(-15, 15),
    st.sampled_from([None, 16, 24]),
)
def test_planes_stay_planar_through_grid_border_and_decimation(nx, ny, distance, shift_x, shift_y, resolution):
    assume(abs(nx) + abs(ny) > 0.05)  # a plane facing the camera squarely has constant depth, refused
    camera = Camera(40, 30, 35.0, (20 + shift_x, 15 + shift_y))
    normal = np.array([nx, ny, 1.0]) / np.linalg.norm([nx, ny, 1.0])
    zdepth = plane_zdepth(camera, normal, distance)
    scene = build_scene(
        smooth_picture(40, 30),
        DepthMap(zdepth, "depth"),
        camera,
        SceneOptions(resolution=resolution, max_texture_shift_px=1e9),
    )
    assert scene.world_up == "y"
    residual = scene.positions.astype(np.float64) @ normal + distance
    assert np.abs(residual).max() <= 2e-5 * distance * (1 + np.abs(scene.positions).max() / distance)


def test_a_plane_on_a_power_of_two_grid_collapses_to_a_few_triangles():
    camera = Camera(65, 33, 40.0, (30.0, 18.0))
    zdepth = plane_zdepth(camera, np.array([0.3, -0.4, 0.866]), 2.0)
    scene = build_scene(
        smooth_picture(65, 33), DepthMap(zdepth, "depth"), camera,
        SceneOptions(resolution=None, max_texture_shift_px=1e9),
    )
    assert scene.full_triangles == 2 * 64 * 32
    assert len(scene.faces) <= 16


@pytest.mark.parametrize("width, height", [(64, 32), (66, 34), (67, 35)])
def test_a_plane_on_a_grid_with_remainders_collapses_to_a_few_triangles(width, height):
    """63×31, 65×33 (a one-cell remainder on both axes) and 66×34 cells: the last block of each
    level runs to the border, so the remainder costs no strip of small blocks."""
    camera = Camera(width, height, 40.0, (30.0, 18.0))
    zdepth = plane_zdepth(camera, np.array([0.3, -0.4, 0.866]), 2.0)
    scene = build_scene(
        smooth_picture(width, height), DepthMap(zdepth, "depth"), camera,
        SceneOptions(resolution=None, max_texture_shift_px=1e9),
    )
    assert scene.cut_triangles == 0
    assert len(scene.faces) <= 16


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([0.002, 0.01, 0.05]))
def test_decimation_stays_within_its_depth_tolerance_and_leaves_no_cracks(seed, tolerance):
    rows, columns = 25, 33
    zdepth = wavy_zdepth(columns, rows, seed)
    grid = sample_grid(columns, rows, rows, columns)
    inverse = sample_inverse_depth(zdepth, grid)
    options = TriangulationOptions(max_depth_error=tolerance, max_texture_shift_px=1e9)
    result = triangulate_grid(inverse, grid.x_px, grid.y_px, 30.0, (columns / 2, rows / 2), options)
    surface, coverage, area = decimated_inverse_depth_at_samples(result.faces, grid, inverse)
    assert area == pytest.approx(columns * rows)  # the whole picture, no holes, no overlaps
    assert np.all(coverage >= 1)
    relative_error = np.abs(surface - inverse.ravel()) / inverse.ravel()
    assert relative_error.max() <= tolerance * (1 + 1e-9)
    assert len(result.faces) <= result.full_triangles


def test_texture_shift_bound_limits_merging_on_slanted_surfaces():
    camera = Camera(64, 64, 50.0, (32, 32))
    zdepth = plane_zdepth(camera, np.array([0.0, 0.8, 0.6]), 1.0)
    loose = build_scene(smooth_picture(64, 64), DepthMap(zdepth, "depth"), camera, SceneOptions(max_texture_shift_px=1e9))
    strict = build_scene(smooth_picture(64, 64), DepthMap(zdepth, "depth"), camera, SceneOptions(max_texture_shift_px=0.05))
    assert len(strict.faces) > 2 * len(loose.faces)


def _step_scene(cut: bool):
    zdepth = np.full((30, 40), 2.0, dtype=np.float32)
    zdepth[:, 20:] = 4.0
    return build_scene(
        smooth_picture(40, 30), DepthMap(zdepth, "depth"), Camera.from_fov(40, 30, 20),
        SceneOptions(cut_discontinuities=cut, decimate=False),
    )


def test_triangles_across_a_depth_step_are_cut_unless_kept():
    cut, kept = _step_scene(True), _step_scene(False)
    for scene, expect_bridge in ((cut, False), (kept, True)):
        depth = -scene.positions[:, 2].astype(np.float64)
        per_triangle = depth[scene.faces.astype(np.int64)]
        bridges = per_triangle.max(axis=1) / per_triangle.min(axis=1) > 1.5
        assert bridges.any() == expect_bridge
    assert cut.cut_triangles == 2 * 29
    assert kept.cut_triangles == 0


def test_cutting_is_scale_free():
    zdepth = np.full((30, 40), 2.0, dtype=np.float32)
    zdepth[:, 20:] = 3.0
    counts = []
    for scale in (0.01, 1.0, 1000.0):
        scene = build_scene(
            smooth_picture(40, 30), DepthMap(zdepth * scale, "depth"), Camera.from_fov(40, 30, 60),
            SceneOptions(decimate=False),
        )
        counts.append((scene.cut_triangles, len(scene.faces)))
    assert counts[0] == counts[1] == counts[2]


def test_vertices_project_to_their_uv_pixels_through_a_calibrated_off_centre_camera():
    angle = math.radians(30)
    rotation = np.array([[1, 0, 0], [0, math.cos(angle), -math.sin(angle)], [0, math.sin(angle), math.cos(angle)]])
    world_to_camera = np.eye(4)
    world_to_camera[:3, :3] = rotation
    world_to_camera[:3, 3] = [0.3, -0.2, -5.0]
    camera = Camera(48, 36, 40.0, (27.0, 14.0), world_to_camera)
    scene = build_scene(
        smooth_picture(48, 36), DepthMap(wavy_zdepth(48, 36, 3), "depth"), camera,
        SceneOptions(world_up="z", depth_scale=1.0),
    )
    points_world = scene.positions.astype(np.float64) @ Z_UP_TO_Y_UP  # back to the Z-up world
    pixels, depth = camera.project(points_world)
    assert np.all(depth > 0)
    np.testing.assert_allclose(pixels, scene.uvs * [48, 36], atol=2e-3)


def test_triangles_face_the_camera():
    scene = build_scene(
        smooth_picture(40, 30), DepthMap(wavy_zdepth(40, 30, 5), "depth"), Camera(40, 30, 30.0, (15.0, 18.0)),
    )
    positions = scene.positions.astype(np.float64)
    a, b, c = (positions[scene.faces[:, i].astype(np.int64)] for i in range(3))
    normals = np.cross(b - a, c - a)
    # The camera sits at the origin: a front face's normal points back toward it.
    assert np.all(np.einsum("ij,ij->i", normals, a) < 0)


def test_calibrated_depth_is_scaled_to_meet_the_world_origin():
    world_to_camera = np.eye(4)
    world_to_camera[:3, 3] = [0.0, 0.0, -4.0]  # the world origin lies 4 units ahead, on the axis
    camera = Camera(40, 30, 30.0, (20.0, 15.0), world_to_camera)
    zdepth = np.full((30, 40), 2.0, dtype=np.float32)
    zdepth[:, :5] = 2.5
    scene = build_scene(smooth_picture(40, 30), DepthMap(zdepth, "depth"), camera, SceneOptions(world_up="z"))
    assert scene.depth_range == pytest.approx((4.0, 5.0))
    metric = build_scene(smooth_picture(40, 30), DepthMap(zdepth, "metric"), camera, SceneOptions(world_up="z"))
    assert metric.depth_range == pytest.approx((2.0, 2.5))
    assert metric.camera.world_to_camera[2, 3] == pytest.approx(-2.0)
    assert (scene.units, metric.units) == ("scene units", "m")


def test_units_follow_a_calibration_with_a_reference_distance():
    world_to_camera = np.eye(4)
    world_to_camera[:3, 3] = [0.0, 0.0, -400.0]  # 400 cm ahead
    camera = Camera(40, 30, 30.0, (20.0, 15.0), world_to_camera)
    disparity = DepthMap(wavy_zdepth(40, 30, 4), "disparity")
    in_cm = SceneOptions(world_up="z", calibrated_unit="cm")
    assert build_scene(smooth_picture(40, 30), disparity, camera, in_cm).units == "cm"
    chosen = SceneOptions(world_up="z", calibrated_unit="cm", near=100.0, far=900.0)
    assert build_scene(smooth_picture(40, 30), disparity, camera, chosen).depth_range == pytest.approx((100, 900))
    metric = build_scene(
        smooth_picture(40, 30), DepthMap(np.full((30, 40), 3.0) + wavy_zdepth(40, 30, 4), "metric"), camera, in_cm
    )
    assert metric.units == "m"
    assert metric.camera.world_to_camera[2, 3] == pytest.approx(-4.0)  # the calibration, in metres


@pytest.mark.parametrize(
    "options, words",
    [
        (SceneOptions(max_view_angle_deg=120), "edge angle"),
        (SceneOptions(max_depth_error=0), "decimation error"),
        (SceneOptions(max_texture_shift_px=-1), "texture shift"),
        (SceneOptions(near=2.0), "both"),
        (SceneOptions(near=5.0, far=2.0), "0 < near < far"),
        (SceneOptions(depth_scale=-1.0), "depth scale"),
        (SceneOptions(resolution=1), "at least 2"),
        (SceneOptions(animation="spin"), "Unknown animation"),
        (SceneOptions(texture_format="gif"), "texture format"),
        (SceneOptions(texture_format="jpeg", jpeg_quality=0), "JPEG quality"),
    ],
)
def test_settings_out_of_range_are_refused_by_name(options, words):
    picture, depth = smooth_picture(40, 30), DepthMap(wavy_zdepth(40, 30, 1), "disparity")
    with pytest.raises(SceneError, match=words):
        build_scene(picture, depth, Camera.from_fov(40, 30, 60), options)


@pytest.mark.parametrize(
    "kind, options, words",
    [("metric", SceneOptions(depth_scale=2.0), "metres already"), ("depth", SceneOptions(near=1.0, far=3.0), "already has distances")],
)
def test_scaling_options_that_do_not_fit_the_depth_kind_are_refused(kind, options, words):
    with pytest.raises(SceneError, match=words):
        build_scene(smooth_picture(40, 30), DepthMap(wavy_zdepth(40, 30, 1), kind), Camera.from_fov(40, 30, 60), options)


def test_depth_at_a_crease_is_measured_on_the_surfaces_not_across_them():
    camera = Camera(40, 30, 30.0, (20.0, 15.0))
    left = plane_zdepth(camera, np.array([0.6, 0.0, 0.8]), 3.0)
    right = plane_zdepth(camera, np.array([-0.6, 0.0, 0.8]), 3.0)
    crease = np.where(np.arange(40)[None, :] < 20, left, right)  # the planes meet at x = 20 px
    # Both planes reach 3 / 0.8 on the optical axis, where they meet.
    assert zdepth_at_pixel(crease, (20.0, 15.0)) == pytest.approx(3.0 / 0.8, rel=1e-6)
    assert zdepth_at_pixel(crease, (41.0, 15.0)) is None


def _edges_without_a_twin_inside_the_grid(faces, rows, columns):
    """Directed edges whose reverse no other triangle has, leaving out edges along the grid's border.

    A closed, consistently oriented surface has every interior edge once in each direction; a
    T-junction (a vertex in the middle of a neighbour's edge) leaves edges without their twin.
    """
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]).astype(np.int64)
    present = set(map(tuple, directed.tolist()))
    lonely = []
    for a, b in directed.tolist():
        (row_a, column_a), (row_b, column_b) = divmod(a, columns), divmod(b, columns)
        on_border = (
            (row_a == row_b and row_a in (0, rows - 1)) or (column_a == column_b and column_a in (0, columns - 1))
        )
        if not on_border and (b, a) not in present:
            lonely.append((a, b))
    assert len(present) == len(directed), "an edge is used twice in the same direction (overlap)"
    return lonely


@settings(max_examples=30, deadline=None)
@given(
    st.integers(2, 40),
    st.integers(2, 40),
    st.integers(0, 10_000),
    st.sampled_from(["wavy", "plane"]),
    st.sampled_from([0.002, 0.01, 0.05]),
)
def test_decimation_of_any_grid_size_keeps_its_bounds_and_is_watertight(rows, columns, seed, surface, tolerance):
    """Grids whose cell counts are not powers of two (remainders of one cell included) keep
    every guarantee: within tolerance, the picture covered exactly once, no T-junctions."""
    if surface == "wavy":
        zdepth = wavy_zdepth(columns, rows, seed)
    else:
        camera = Camera(columns, rows, 30.0, (columns / 2, rows / 2))
        rng = np.random.default_rng(seed)
        normal = np.array([*rng.uniform(-0.5, 0.5, 2), 1.0])
        zdepth = plane_zdepth(camera, normal / np.linalg.norm(normal), 2.0)
    grid = sample_grid(columns, rows, rows, columns)
    inverse = sample_inverse_depth(zdepth, grid)
    options = TriangulationOptions(max_depth_error=tolerance, max_texture_shift_px=1e9, cut_discontinuities=False)
    result = triangulate_grid(inverse, grid.x_px, grid.y_px, 30.0, (columns / 2, rows / 2), options)
    surface_values, coverage, area = decimated_inverse_depth_at_samples(result.faces, grid, inverse)
    assert area == pytest.approx(columns * rows)
    assert np.all(coverage >= 1)
    relative_error = np.abs(surface_values - inverse.ravel()) / inverse.ravel()
    assert relative_error.max() <= tolerance * (1 + 1e-9)
    assert _edges_without_a_twin_inside_the_grid(result.faces, rows, columns) == []


def _plane_triangles(width, height, rows, columns):
    """Decimated triangles of a slanted plane (inverse depth affine in pixels) on a rows × columns grid."""
    grid = sample_grid(width, height, rows, columns)
    inverse = 1.0 + 0.0006 * grid.x_px[None, :] + 0.0004 * grid.y_px[:, None]
    result = triangulate_grid(inverse, grid.x_px, grid.y_px, 500.0, (width / 2, height / 2), TriangulationOptions())
    return result.faces, grid


@pytest.mark.parametrize(
    "picture, resolution, square_side",
    [((768, 512), 512, 768), ((451, 300), None, 513)],
    ids=["768x512 picture, 512 grid", "451x300 picture, full resolution"],
)
def test_grids_of_any_size_decimate_about_as_well_as_power_of_two_ones(picture, resolution, square_side):
    """The default grid (512 samples: 511 cells) and full-resolution grids are rarely powers of
    two; a plane on them needs at most 1.3× the triangles that a power-of-two grid of the same
    spacing (512 × 512 cells) spends on the same part of the picture."""
    width, height = picture
    faces, _ = _plane_triangles(width, height, *grid_shape(width, height, resolution))
    square_faces, square_grid = _plane_triangles(square_side, square_side, 513, 513)
    rows, columns = np.divmod(square_faces, 513)
    centroid_x = square_grid.x_px[columns].mean(axis=1)
    centroid_y = square_grid.y_px[rows].mean(axis=1)
    matching = np.count_nonzero((centroid_x < width) & (centroid_y < height))
    assert len(faces) <= 1.3 * matching


def _bilinear_along(values: np.ndarray, positions_px: np.ndarray, axis: int) -> np.ndarray:
    """The grid's interpolation written plainly over every line: x then y, the outermost
    samples limited to ½–1½ times the nearest pixel."""
    size = values.shape[axis]
    if size == 1:
        return np.repeat(values, len(positions_px), axis=axis)
    coordinate = positions_px - 0.5
    left = np.clip(np.floor(coordinate).astype(np.int64), 0, size - 2)
    shape = [1, 1]
    shape[axis] = -1
    fraction = (coordinate - left).reshape(shape)
    first, second = np.take(values, left, axis=axis), np.take(values, left + 1, axis=axis)
    interpolated = first + (second - first) * fraction
    nearest = np.where(fraction < 0.5, first, second)
    outside = (fraction < 0) | (fraction > 1)
    return np.where(outside, np.clip(interpolated, 0.5 * nearest, 1.5 * nearest), interpolated)


@settings(max_examples=80, deadline=None)
@given(height=st.integers(1, 40), width=st.integers(1, 40), data=st.data())
def test_grid_samples_equal_plain_bilinear_interpolation_of_the_whole_map_bit_for_bit(height, width, data):
    rows = data.draw(st.integers(2, max(2, height)))
    columns = data.draw(st.integers(2, max(2, width)))
    seed = data.draw(st.integers(0, 2**32 - 1))
    zdepth = np.random.default_rng(seed).uniform(0.5, 20.0, (height, width)).astype(np.float32)
    grid = sample_grid(width, height, rows, columns)
    inverse = (1.0 / zdepth).astype(np.float64)
    expected = _bilinear_along(_bilinear_along(inverse, grid.x_px, 1), grid.y_px, 0)
    np.testing.assert_array_equal(sample_inverse_depth(zdepth, grid), expected)


@pytest.mark.parametrize("factor", [2, 3, 4, 8])
@pytest.mark.parametrize("columns, rows", [(16, 16), (24, 10)])
def test_grids_a_whole_factor_coarser_sample_the_plain_bilinear_values_bit_for_bit(factor, columns, rows):
    # The default grid of a 1024² or 4096² picture: both neighbours read as strided views.
    zdepth = np.random.default_rng(factor).uniform(0.5, 20.0, (rows * factor, columns * factor)).astype(np.float32)
    grid = sample_grid(columns * factor, rows * factor, rows, columns)
    inverse = (1.0 / zdepth).astype(np.float64)
    expected = _bilinear_along(_bilinear_along(inverse, grid.x_px, 1), grid.y_px, 0)
    np.testing.assert_array_equal(sample_inverse_depth(zdepth, grid), expected)
