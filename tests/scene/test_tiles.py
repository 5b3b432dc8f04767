"""Whole-grid passes run in tiles (cell rows, chunks of blocks) so that a 4096² grid never makes a
full-size temporary: the tile size must change nothing, down to a single cell or block per tile."""

from unittest import mock

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lib_depth3d.scene import triangulate
from lib_depth3d.scene.grid import sample_grid
from lib_depth3d.scene.triangulate import TriangulationOptions, triangulate_grid

ONE_TILE = 1 << 40


def _surface(rows: int, columns: int, seed: int) -> np.ndarray:
    """Inverse depth of a wavy wall with a nearer box (cut edges) and a little noise (cells that
    do not merge), so that every level of the decimation has some blocks to test."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:columns] / max(rows, columns)
    zdepth = 3.0 + 0.6 * np.sin(5 * x) * np.cos(4 * y) + 1.2 * x + rng.normal(0, 2e-3, (rows, columns))
    zdepth[rows // 4 : rows // 2 + 1, columns // 3 : 2 * columns // 3 + 1] = 1.5
    return 1.0 / zdepth


def _triangulated(inverse_depth, tile_cells, **extra):
    rows, columns = inverse_depth.shape
    grid = sample_grid(columns, rows, rows, columns)
    with mock.patch.object(triangulate, "TILE_CELLS", tile_cells):
        return triangulate_grid(
            inverse_depth, grid.x_px, grid.y_px, 0.8 * columns, (columns / 2, rows / 2),
            TriangulationOptions(max_texture_shift_px=2.0), **extra,
        )


@settings(max_examples=25, deadline=None)
@given(
    rows=st.integers(3, 48),
    columns=st.integers(3, 48),
    seed=st.integers(0, 2**16),
    tile_cells=st.sampled_from([1, 5, 33, 200]),
    with_allowance=st.booleans(),
    with_left_out=st.booleans(),
)
def test_triangles_do_not_depend_on_the_tile_size(rows, columns, seed, tile_cells, with_allowance, with_left_out):
    inverse_depth = _surface(rows, columns, seed)
    extra = {}
    if with_allowance:
        extra["depth_allowance"] = 1e-3 * inverse_depth
    if with_left_out:
        extra["left_out_cells"] = np.random.default_rng(seed).random((rows - 1, columns - 1)) < 0.1
    whole = _triangulated(inverse_depth, ONE_TILE, **extra)
    tiled = _triangulated(inverse_depth, tile_cells, **extra)
    np.testing.assert_array_equal(tiled.faces, whole.faces)
    np.testing.assert_array_equal(tiled.cut_cells, whole.cut_cells)
    assert tiled.cut_triangles == whole.cut_triangles
    assert tiled.full_triangles == whole.full_triangles


def test_a_tiled_grid_still_cuts_and_decimates():
    """The comparison above is not vacuous: the surface has cut cells and merged blocks."""
    inverse_depth = _surface(40, 44, seed=3)
    result = _triangulated(inverse_depth, 5)
    assert result.cut_triangles > 0
    assert len(result.faces) < result.full_triangles - result.cut_triangles


def _smooth_surface(rows: int, columns: int, seed: int) -> np.ndarray:
    """Inverse depth of a noiseless wavy wall: blocks merge up to 32 cells and more, and the
    largest fail the depth test on a few samples."""
    phase = np.random.default_rng(seed).uniform(0, 2 * np.pi)
    y, x = np.mgrid[0:rows, 0:columns] / max(rows, columns)
    return 1.0 / (3.0 + 0.005 * np.sin(7 * x + phase) * np.cos(6 * y) + 0.5 * x)


@settings(max_examples=60, deadline=None)
@given(cell_rows=st.integers(2, 70), cell_columns=st.integers(2, 70), level=st.integers(1, 5), seed=st.integers(0, 9))
def test_a_parent_block_combines_exactly_its_children(cell_rows, cell_columns, level, seed):
    # The children of each parent block (its cells' range), found from the level bounds alone.
    size = 1 << level
    child_bounds = [  # level 0: the cells themselves
        np.arange(cells + 1) if level == 1 else triangulate._block_bounds(cells, size // 2)
        for cells in (cell_rows, cell_columns)
    ]
    parent_bounds = [triangulate._block_bounds(cells, size) for cells in (cell_rows, cell_columns)]
    child_shape = tuple(len(bounds) - 1 for bounds in child_bounds)
    parent_shape = tuple(len(bounds) - 1 for bounds in parent_bounds)
    values = np.random.default_rng(seed).normal(size=child_shape)
    flags = values > -0.5
    low = triangulate._reduce_children(np.minimum, values, parent_shape)
    all_set = triangulate._reduce_children(np.logical_and, flags, parent_shape)
    for row in range(parent_shape[0]):
        for column in range(parent_shape[1]):
            inside = [
                np.flatnonzero((bounds[:-1] >= parent[index]) & (bounds[1:] <= parent[index + 1]))
                for bounds, parent, index in zip(child_bounds, parent_bounds, (row, column))
            ]
            children = np.ix_(*inside)
            assert low[row, column] == values[children].min()
            assert all_set[row, column] == flags[children].all()


@settings(max_examples=6, deadline=None)
@given(
    rows=st.integers(70, 140),
    columns=st.integers(70, 140),
    seed=st.integers(0, 2**16),
    with_allowance=st.booleans(),
)
def test_probing_large_blocks_changes_nothing(rows, columns, seed, with_allowance):
    """Blocks of 33 × 33 samples and more are first tested on a sparse lattice of their samples:
    the triangles are those of testing every sample."""
    inverse_depth = _smooth_surface(rows, columns, seed)
    extra = {"depth_allowance": 1e-4 * inverse_depth} if with_allowance else {}
    probed = _triangulated(inverse_depth, ONE_TILE, **extra)
    with mock.patch.object(triangulate, "PROBE_MIN_SAMPLES", 1 << 40):
        unprobed = _triangulated(inverse_depth, ONE_TILE, **extra)
    np.testing.assert_array_equal(probed.faces, unprobed.faces)


def test_large_blocks_are_probed_and_some_fail():
    """Not vacuous: the surface has blocks large enough to probe, and the probe drops some."""
    inverse_depth = _smooth_surface(130, 130, seed=1)
    calls = []
    original = triangulate._fan_room

    def recording(*arguments, **keywords):
        result = original(*arguments, **keywords)
        calls.append((arguments[-1] if len(arguments) > 6 else keywords.get("margin", 0.0), result))
        return result

    with mock.patch.object(triangulate, "_fan_room", recording):
        _triangulated(inverse_depth, ONE_TILE)
    probes = [room for margin, room in calls if margin]
    assert probes and not all((room >= 0).all() for room in probes)


def _plane(rows: int, columns: int) -> np.ndarray:
    """Inverse depth of a slanted wall (affine in pixels): every block merges as far as the
    texture test allows."""
    grid = sample_grid(columns, rows, rows, columns)
    return 0.3 - 0.04 * grid.x_px[None, :] / columns - 0.02 * grid.y_px[:, None] / rows


def _never_sure(*arguments):
    """A bound that merges nothing (both bounds take the blocks' largest inverse depth last)."""
    return np.full(np.shape(arguments[-1]), -np.inf)


def _all_undecided(inverse_depth, grid_x_px, grid_y_px, first_row, first_column, candidates, options, allowance):
    nothing = np.full(candidates.shape, np.nan)
    return np.zeros_like(candidates), nothing, nothing, nothing, candidates.copy()


@settings(max_examples=20, deadline=None)
@given(
    rows=st.integers(3, 140),
    columns=st.integers(3, 140),
    seed=st.integers(0, 2**16),
    smooth=st.booleans(),
    with_allowance=st.booleans(),
)
def test_shortcuts_change_nothing(rows, columns, seed, smooth, with_allowance):
    """Blocks bounded from their children (through a plane, and through their quadrants) and the
    first level's strided test decide every block as testing all its samples does: the triangles
    are the same with either shortcut off."""
    inverse_depth = (_smooth_surface if smooth else _surface)(rows, columns, seed)
    extra = {"depth_allowance": 1e-4 * inverse_depth} if with_allowance else {}
    reference = _triangulated(inverse_depth, ONE_TILE, **extra)
    with mock.patch.object(triangulate, "_room_from_children", _never_sure), \
            mock.patch.object(triangulate, "_room_from_quadrants", _never_sure):
        without_bound = _triangulated(inverse_depth, ONE_TILE, **extra)
    with mock.patch.object(triangulate, "_room_from_quadrants", _never_sure):
        without_quadrants = _triangulated(inverse_depth, ONE_TILE, **extra)
    with mock.patch.object(triangulate, "_first_level_blocks", _all_undecided):
        without_strides = _triangulated(inverse_depth, ONE_TILE, **extra)
    np.testing.assert_array_equal(without_bound.faces, reference.faces)
    np.testing.assert_array_equal(without_quadrants.faces, reference.faces)
    np.testing.assert_array_equal(without_strides.faces, reference.faces)


def test_children_bound_large_blocks_and_the_first_level_decides_alone():
    """Not vacuous: on a plane every large block is merged from its children's bound, none is
    left undecided at the first level; on the wavy wall some bounds fall short."""
    decided = {}
    bounded, first_level = triangulate._room_from_children, triangulate._first_level_blocks

    def recording_bound(*arguments):
        bound = bounded(*arguments)
        decided.setdefault("sure", []).append(bound >= triangulate.ROUNDING_MARGIN * arguments[-1])
        return bound

    def recording_first_level(*arguments):
        result = first_level(*arguments)
        decided.setdefault("undecided", []).append(result[-1])
        decided.setdefault("merged", []).append(result[0])
        return result

    with mock.patch.object(triangulate, "_room_from_children", recording_bound), \
            mock.patch.object(triangulate, "_first_level_blocks", recording_first_level):
        _triangulated(_plane(130, 130), ONE_TILE)
    assert all(sure.all() for sure in decided["sure"]) and len(decided["sure"]) >= 3
    assert not any(undecided.any() for undecided in decided["undecided"])
    assert all(merged.any() for merged in decided["merged"])
    decided.clear()
    with mock.patch.object(triangulate, "_room_from_children", recording_bound):
        _triangulated(_smooth_surface(130, 130, seed=1), ONE_TILE)
    sure = np.concatenate(decided["sure"])
    assert sure.any() and not sure.all()


def test_quadrants_spare_full_tests_the_plane_does_not():
    """Not vacuous: on the wavy wall the bound through quadrants merges large blocks that the
    bound through a plane leaves to the full test of all their samples."""
    original, quadrants = triangulate._fan_room, triangulate._room_from_quadrants

    def large_blocks_tested(room_from_quadrants):
        tested = []

        def counting(block, allowance, weights, layout, anchor_count, options, margin=0.0):
            if block.shape[0] >= triangulate.BOUND_MIN_SAMPLES and not margin:
                tested.append(block.shape[1])
            return original(block, allowance, weights, layout, anchor_count, options, margin)

        with mock.patch.object(triangulate, "_fan_room", counting), \
                mock.patch.object(triangulate, "_room_from_quadrants", room_from_quadrants):
            faces = _triangulated(_smooth_surface(130, 130, seed=1), ONE_TILE).faces
        return sum(tested), faces

    with_quadrants, faces = large_blocks_tested(quadrants)
    without_quadrants, reference = large_blocks_tested(_never_sure)
    assert with_quadrants < without_quadrants
    np.testing.assert_array_equal(faces, reference)


@settings(max_examples=30, deadline=None)
@given(height=st.integers(2, 40), width=st.integers(2, 40), on_border=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_a_probe_gets_the_fan_weights_of_the_whole_table(height, width, on_border, seed):
    # Probes compute only their lattice's weights: each sample's must be its row of the full table.
    grid = sample_grid(97, 61, 45, 45)
    top, left = (0, 0) if on_border else (45 - 1 - height, 45 - 1 - width)
    x_px, y_px = grid.x_px[left : left + width + 1], grid.y_px[top : top + height + 1]
    table = triangulate._fan_weights(x_px, y_px)
    samples = np.random.default_rng(seed).permutation(len(table))[: max(1, len(table) // 3)]
    np.testing.assert_array_equal(triangulate._fan_weights(x_px, y_px, samples), table[samples])
    np.testing.assert_allclose(table.sum(axis=1), 1.0, atol=1e-9)
