"""Triangles over the vertex grid: discontinuity cutting and bounded-error decimation.

Cutting. Each grid cell is split into two triangles along the diagonal whose ends have the
closer inverse depth. A triangle is dropped when it is seen edge-on: the angle between its
normal and the ray from the camera to its centroid exceeds ``max_view_angle_deg``. The test
uses only directions, so it is independent of the depth's scale; a depth jump of a fraction
``j`` between samples ``s`` pixels apart looks like a surface at ``atan(j·f/s)`` from facing.

Decimation (adaptive quadtree, vectorised level by level). Level k cuts the grid into blocks
of 2^k × 2^k cells aligned at the origin; along each axis the last block runs to the border,
so grids of any size tile exactly and a remainder costs one narrower row or column of blocks,
not a strip of ever smaller ones (a one-cell remainder joins the block before it, which then
spans 2^k + 1 cells, because a block needs a sample strictly inside). A block whose children
one level down were all merged and whose cells are all uncut is merged when every sample in
it lies within half the tolerance of the block's simplified surface: the fan of four triangles
from the block's centre sample (the middle one, rounded down) to its corners, interpolated in
pixel coordinates. Two tolerances apply, both scale-free:

* depth: |w − ŵ| ≤ ½·max_depth_error·w + a, with w the sample's inverse depth and ŵ the fan's
  (inverse depth is affine in pixels over a 3D plane, so this is the relative z error along
  the sample's ray), and a the sample's ``depth_allowance``: 0 unless the depth is only known
  to within some inverse depth, as an 8-bit map is to half a level
  (:mod:`lib_depth3d.scene.quantised`);
* texture: glTF interpolates UVs perspective-correctly over the 3D triangle, which slides the
  texture by up to L·(√z_max − √z_min)/(√z_max + √z_min) pixels over a triangle L pixels wide;
  this must stay below ``max_texture_shift_px``.

Crack-free stitching without T-junctions: a merged block is triangulated as a fan from its
centre sample to *every* sample on its border that is a corner of some leaf (its own corners
and the corners of smaller neighbouring leaves). Each fan triangle lies inside one of the
four tested triangles and its vertices are original samples within ½·tolerance of it, so the
final surface is within the full tolerance of every sample, and neighbouring leaves share
exactly the same border vertices.

Memory and time at full resolution (a 4096² grid). Every whole-grid pass runs over tiles of
about ``TILE_CELLS`` cells (rows of cells for the diagonal choice and the facing test, chunks of
blocks for each decimation level), so no full-size temporary is made and a tile's temporaries
stay in cache; the results are those of one whole-grid float64 pass, bit for bit. Only the
chosen diagonal's two triangles are tested for facing, in float32 first with a float64 re-test
of those near the threshold; a block's fan is compared with the samples other than its five
anchors, which it passes through exactly; blocks that fail the texture test by their extremes
are not gathered, and large blocks are probed on a sparse lattice of samples first. The first
level (2 × 2 cells, whose tested samples are the middles of their sides) runs over strided views
of the grid, each side once. From the second level on, a block whose children left room enough
in the depth test is merged from a bound on its fan's distance to theirs: through its quadrants
over strided views for all but the last row and column of blocks (those off the grid's first
line, whose samples are evenly spaced), else through a plane, gathering a dozen samples, for
blocks of 9 × 9 samples and more (at 4096² on the box scene, only some 8 000 blocks along the
grid's border are tested in full).
The shortcuts leave a rounding margin and send the blocks within it to the exact test, so every
decision is that test's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lib_depth3d.arrays import set_cells
from lib_depth3d.options import SceneOptions

_DEFAULTS = SceneOptions()


@dataclass(frozen=True)
class TriangulationOptions:
    """Settings of :func:`triangulate_grid` (see the module docstring); the defaults are the scene's."""

    cut_discontinuities: bool = _DEFAULTS.cut_discontinuities
    max_view_angle_deg: float = _DEFAULTS.max_view_angle_deg
    decimate: bool = _DEFAULTS.decimate
    max_depth_error: float = _DEFAULTS.max_depth_error
    max_texture_shift_px: float = _DEFAULTS.max_texture_shift_px


@dataclass(frozen=True)
class GridTriangles:
    """Triangles as indices into the row-major flattened vertex grid.

    Attributes:
        faces: (M, 3) int64, counter-clockwise as seen from the camera (glTF front faces).
        cut_triangles: triangles of the full grid dropped at depth discontinuities.
        full_triangles: triangles the full grid would have without cutting or decimation.
        cut_cells: (rows−1, columns−1) whether a cell lost a triangle at a depth discontinuity.
    """

    faces: np.ndarray
    cut_triangles: int
    full_triangles: int
    cut_cells: np.ndarray


TILE_CELLS = 1 << 16
"""Cells (or block samples) per tile of a whole-grid pass: its float64 temporaries take 512 KiB
each, so a tile's stay in cache (2^14 to 2^16 ran fastest at 4096², 2^18 a third slower) and a
4096² grid never holds a full-size one."""


def _row_tiles(cell_rows: int, cell_columns: int) -> list[slice]:
    """Consecutive cell rows of about ``TILE_CELLS`` cells each, covering ``cell_rows`` rows."""
    step = max(1, TILE_CELLS // max(cell_columns, 1))
    return [slice(start, min(start + step, cell_rows)) for start in range(0, cell_rows, step)]


def _main_diagonals(inverse_depth: np.ndarray) -> np.ndarray:
    """(rows−1, columns−1) whether each cell splits along top-left–bottom-right (the closer ends)."""
    cell_rows, cell_columns = inverse_depth.shape[0] - 1, inverse_depth.shape[1] - 1
    main = np.empty((cell_rows, cell_columns), dtype=bool)
    for tile in _row_tiles(cell_rows, cell_columns):
        w = inverse_depth[tile.start : tile.stop + 1]
        main_jump = np.abs(w[:-1, :-1] - w[1:, 1:]) / np.minimum(w[:-1, :-1], w[1:, 1:])
        anti_jump = np.abs(w[:-1, 1:] - w[1:, :-1]) / np.minimum(w[:-1, 1:], w[1:, :-1])
        main[tile] = main_jump <= anti_jump
    return main


def _cell_triangles(cell_rows: np.ndarray, cell_columns: np.ndarray, main: np.ndarray, columns: int) -> np.ndarray:
    """(n, 2, 3) vertex ids of the given cells' two triangles, counter-clockwise on screen."""
    top_left = cell_rows * columns + cell_columns
    top_right, bottom_left = top_left + 1, top_left + columns
    bottom_right = bottom_left + 1
    # Screen y points down, so "down then right" is counter-clockwise as the viewer sees it.
    main = main[:, None]
    first = np.where(
        main,
        np.stack([top_left, bottom_left, bottom_right], axis=-1),
        np.stack([top_left, bottom_left, top_right], axis=-1),
    )
    second = np.where(
        main,
        np.stack([top_left, bottom_right, top_right], axis=-1),
        np.stack([top_right, bottom_left, bottom_right], axis=-1),
    )
    return np.stack([first, second], axis=1)


def _facing_measures(
    corners: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    dx: np.ndarray,
    dy: np.ndarray,
    x_first: np.ndarray,
    x_second: np.ndarray,
    y_low: np.ndarray,
    y_high: np.ndarray,
    on_main: np.ndarray,
    cos_squared: float,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(w̄², cos²·|(a, b, c)|²·|(x, y, 1)|²) of cells' first and second triangle: a triangle is
    seen at most that far from facing when the first is at least the second.

    ``corners``: the cells' inverse depths (tl, tr, bl, br); ``dx``, ``dy``: their sides on the
    image plane; ``x_first``, ``x_second``, ``y_low``, ``y_high``: three times the centroid
    coordinates of the triangles (2·left + right, left + 2·right, top + 2·bottom, 2·top + bottom).
    All broadcast together; elementwise, so a subset of cells gives the same values as the whole.
    """
    w_tl, w_tr, w_bl, w_br = corners
    slope_top, slope_bottom = (w_tr - w_tl) / dx, (w_br - w_bl) / dx
    # main diagonal: (tl, bl, br) and (tl, br, tr); other: (tl, bl, tr) and (tr, bl, br).
    triangles = (
        (
            np.where(on_main, slope_bottom, slope_top), (w_bl - w_tl) / dy,
            w_tl, w_bl, np.where(on_main, w_br, w_tr),
            x_first, np.where(on_main, y_low, y_high),
        ),
        (
            np.where(on_main, slope_top, slope_bottom), (w_br - w_tr) / dy,
            np.where(on_main, w_tl, w_tr), np.where(on_main, w_br, w_bl), np.where(on_main, w_tr, w_br),
            x_second, np.where(on_main, y_high, y_low),
        ),
    )
    measures = []
    for a, b, w1, w2, w3, x_sum, y_sum in triangles:
        x, y, w_mean = x_sum / 3.0, y_sum / 3.0, (w1 + w2 + w3) / 3.0
        c = w_mean - a * x - b * y
        measures.append((w_mean**2, cos_squared * (a * a + b * b + c * c) * (x * x + y * y + 1.0)))
    return measures


def _float32_margin(x_image: np.ndarray, y_image: np.ndarray) -> float:
    """Relative error bound of :func:`_facing_measures` in float32 against float64.

    With W the largest inverse depth of a triangle, h the smallest sample spacing on the image
    plane and N = |(a, b, c)|, R = |(x, y, 1)|: rounding w costs each slope at most 2·ε·W/h + 3·ε·|a|,
    and c at most that times |x| + |y| plus a few ε·N·R; W ≤ 3·w̄ ≤ 3·N·R (Cauchy–Schwarz on
    w̄ = a·x + b·y + c), so N² is off by at most 2·ε·R·(6·(2 + |x| + |y|)/h + 30) relatively and
    the rest by a few ε. The bound returned is four times that, the worst case over the grid.
    """
    epsilon = float(np.finfo(np.float32).eps)
    spacing = min(np.min(np.abs(np.diff(x_image)), initial=np.inf), np.min(np.abs(np.diff(y_image)), initial=np.inf))
    x_most, y_most = float(np.max(np.abs(x_image))), float(np.max(np.abs(y_image)))
    reach = math.hypot(x_most, y_most, 1.0)
    return 4 * epsilon * (2 * reach * (6 * (2 + x_most + y_most) / spacing + 30) + 30)


def _gentle_cell_limit(x_image: np.ndarray, y_image: np.ndarray, max_view_angle_deg: float) -> float | None:
    """k such that a cell whose inverse depths span at most k times their lowest has both its
    triangles seen within ``max_view_angle_deg`` of facing, whichever its diagonal (None: no
    cell is sure to be).

    A triangle's slopes are at most s = √2·D/h (D the span, h the smallest sample spacing on the
    image plane), w̄ ≥ the lowest inverse depth, and |c| ≤ w̄ + s·r with r = |(x, y)| at most
    ``reach``; so cos² ≥ 1 / ((u² + (1 + u·r)²)·(1 + r²)) with u = s / w̄, which stays above
    cos²θ·(1 + 1 %) while u ≤ (√(L − 1) − r) / (1 + r²), L = 1 / (cos²θ·1.01). Half that keeps
    the float64 rounding of the test and of the span far inside the 1 % (for inverse depths whose
    squares stay finite, as any depth map's do).
    """
    spacing = min(np.min(np.abs(np.diff(x_image)), initial=np.inf), np.min(np.abs(np.diff(y_image)), initial=np.inf))
    if not 0.0 < spacing < math.inf:
        return None
    cos_squared = math.cos(math.radians(max_view_angle_deg)) ** 2
    if cos_squared == 0.0:
        return math.inf
    reach = math.hypot(float(np.max(np.abs(x_image))), float(np.max(np.abs(y_image))))
    room = 1.0 / (cos_squared * 1.01) - 1.0
    if room <= reach * reach:
        return None
    return 0.5 * (math.sqrt(room) - reach) / (1.0 + reach * reach) * spacing / math.sqrt(2.0)


def _facing_enough(
    inverse_depth: np.ndarray,
    x_image: np.ndarray,
    y_image: np.ndarray,
    main: np.ndarray,
    max_view_angle_deg: float,
) -> np.ndarray:
    """(rows−1, columns−1, 2): whether each cell triangle is seen at most that far from facing it.

    ``x_image`` (columns,), ``y_image`` (rows,): the samples on the normalised image plane,
    ((x − cx)/f, (cy − y)/f). A 3D plane has inverse depth w = a·x + b·y + c there, and its
    normal is (a, b, −c); the ray through a point is (x, y, −1). So the cosine of the viewing
    angle is |w| / (|(a, b, c)|·|(x, y, 1)|), computed from the cell's edge slopes alone.
    Every cell triangle is a right triangle with one horizontal and one vertical edge. Only the
    triangles of each cell's chosen diagonal are tested, a tile of rows at a time.

    Most cells are gentle (:func:`_gentle_cell_limit`): their triangles are kept without
    computing their measures, and the few others of a tile are tested exactly in float64. A tile
    where more than a quarter are steep is tested whole in float32 first (half the memory traffic
    and twice the SIMD width) with the inverse depths scaled by a power of two, which changes no
    ratio; where the two measures are within :func:`_float32_margin` of each other the cell is
    tested again in float64. Either way the result is that of the float64 test everywhere, bit
    for bit.
    """
    cell_rows, cell_columns = main.shape
    cos_squared = math.cos(math.radians(max_view_angle_deg)) ** 2
    x_left, x_right, y_top, y_bottom = x_image[:-1], x_image[1:], y_image[:-1], y_image[1:]
    # The float64 terms of every column and row, computed once so the re-test indexes them.
    exact = (
        x_right - x_left, (y_bottom - y_top)[:, None], 2 * x_left + x_right, x_left + 2 * x_right,
        (y_top + 2 * y_bottom)[:, None], (2 * y_top + y_bottom)[:, None],
    )
    single = [term.astype(np.float32) for term in exact]
    margin = _float32_margin(x_image, y_image)
    gentle_limit = _gentle_cell_limit(x_image, y_image, max_view_angle_deg)
    kept = np.empty((cell_rows, cell_columns, 2), dtype=bool)

    def exactly(rows: np.ndarray, columns: np.ndarray) -> None:
        dx, dy, x_first, x_second, y_low, y_high = exact
        measures = _facing_measures(
            (
                inverse_depth[rows, columns], inverse_depth[rows, columns + 1],
                inverse_depth[rows + 1, columns], inverse_depth[rows + 1, columns + 1],
            ),
            dx[columns], dy[rows, 0], x_first[columns], x_second[columns],
            y_low[rows, 0], y_high[rows, 0], main[rows, columns], cos_squared,
        )
        for index, (squared_mean, bound) in enumerate(measures):
            kept[rows, columns, index] = squared_mean >= bound

    for tile in _row_tiles(cell_rows, cell_columns):
        w = inverse_depth[tile.start : tile.stop + 1]
        if gentle_limit is not None:
            lowest = np.minimum(np.minimum(w[:-1, :-1], w[:-1, 1:]), np.minimum(w[1:, :-1], w[1:, 1:]))
            highest = np.maximum(np.maximum(w[:-1, :-1], w[:-1, 1:]), np.maximum(w[1:, :-1], w[1:, 1:]))
            steep = ~(highest - lowest <= gentle_limit * lowest)
            if 4 * np.count_nonzero(steep) <= steep.size:
                kept[tile] = True
                steep_rows, steep_columns = set_cells(steep)
                exactly(steep_rows + tile.start, steep_columns)
                continue
        on_main = main[tile]
        # A power of two near 1/max(w) keeps squares of slopes far from float32's range limits.
        scale = math.ldexp(1.0, -int(np.frexp(np.max(w))[1])) if np.isfinite(np.max(w)) else 1.0
        w32 = np.multiply(w, np.float32(scale), dtype=np.float32)
        dx, dy, x_first, x_second, y_low, y_high = single
        rows = slice(tile.start, tile.stop)
        measures = _facing_measures(
            (w32[:-1, :-1], w32[:-1, 1:], w32[1:, :-1], w32[1:, 1:]),
            dx, dy[rows], x_first, x_second, y_low[rows], y_high[rows], on_main, np.float32(cos_squared),
        )
        unsure = np.zeros(on_main.shape, dtype=bool)
        for index, (squared_mean, bound) in enumerate(measures):
            clear = np.greater_equal(squared_mean, bound * np.float32(1 + margin), out=kept[tile, :, index])
            unsure |= (squared_mean >= bound * np.float32(1 - margin)) & ~clear
        if margin >= 0.25:
            unsure[...] = True
        unsure_rows, unsure_columns = set_cells(unsure)
        exactly(unsure_rows + tile.start, unsure_columns)
    return kept


FAN_CORNERS = ((0, 0), (0, -1), (-1, -1), (-1, 0))  # (row, column) around a block: tl, tr, br, bl


def _fan_weights(x_px: np.ndarray, y_px: np.ndarray, samples: np.ndarray | None = None) -> np.ndarray:
    """Barycentric weights of a block's samples in the fan of four triangles from its centre.

    ``x_px`` (width+1,), ``y_px`` (height+1,): the block's sample positions; ``samples``: the
    row-major indices of the samples wanted (None: all). Returns (samples, 5) weights of the
    corners (tl, tr, br, bl) and the centre sample, each sample's the same whichever others are
    asked for. Interpolation is in pixels, where inverse depth is affine over a 3D triangle;
    blocks on the picture border have uneven spacing, so nothing assumes a regular grid.
    """
    if samples is None:
        px, py = np.tile(x_px, len(y_px)), np.repeat(y_px, len(x_px))
    else:
        sample_rows, sample_columns = np.divmod(samples, len(x_px))
        px, py = x_px[sample_columns], y_px[sample_rows]
    cx, cy = x_px[(len(x_px) - 1) // 2], y_px[(len(y_px) - 1) // 2]
    # The four triangles at once, one row each: triangle i runs from corner i to corner i + 1.
    corner_x = [x_px[column] for _, column in FAN_CORNERS]
    corner_y = [y_px[row] for row, _ in FAN_CORNERS]
    ax, ay = np.array(corner_x)[:, None], np.array(corner_y)[:, None]
    bx, by = np.array(corner_x[1:] + corner_x[:1])[:, None], np.array(corner_y[1:] + corner_y[:1])[:, None]
    # Every position relative to corner a, each difference taken once.
    sample_x, sample_y = px - ax, py - ay
    centre_x, centre_y = cx - ax, cy - ay
    next_x, next_y = bx - ax, by - ay
    determinant = next_x * centre_y - centre_x * next_y
    weight_b = (sample_x * centre_y - centre_x * sample_y) / determinant
    weight_c = (next_x * sample_y - sample_x * next_y) / determinant
    weight_a = 1.0 - weight_b - weight_c
    # Each sample takes the triangle whose least weight is largest (the first of equals): the
    # one it lies in, or the nearest for a sample rounded just outside. The centre is strictly
    # inside the block, so no triangle is degenerate and no weight is NaN.
    smallest = np.minimum(np.minimum(weight_a, weight_b), weight_c)
    chosen = np.argmax(smallest, axis=0)
    each = np.arange(len(px))
    weights = np.zeros((len(px), 5))
    weights[each, chosen] = weight_a[chosen, each]
    weights[each, (chosen + 1) % 4] = weight_b[chosen, each]
    weights[each, 4] = weight_c[chosen, each]
    return weights


BOUND_MIN_SAMPLES = 1 << 6
"""Blocks of at least this many samples (9 × 9) that the strided bound through quadrants left
undecided are first bounded through a plane (a dozen samples gathered): smaller ones cost about
as much to test in full."""
PROBE_STRIDE = 4
PROBE_MIN_SAMPLES = 1 << 10
"""Blocks of at least this many samples (33 × 33) are probed first on every fourth row and column."""
ROUNDING_MARGIN = 1e-9
"""Relative to a block's largest inverse depth: far above the rounding of its fan (a few ε), how far
a probed sample must miss its tolerance to drop its block, and how much room a bound from its
children must leave to merge it without its samples."""


def _fan_room(
    block: np.ndarray,
    allowance: np.ndarray | None,
    weights: dict[int, np.ndarray],
    layout: np.ndarray,
    anchor_count: int,
    options: TriangulationOptions,
    margin: float = 0.0,
) -> np.ndarray:
    """The smallest room (tolerance − deviation) left by the tested samples of each block (a
    column of ``block``: its anchors, then the tested samples) against the block's fan:
    negative where some sample misses the depth tolerance (the sign is exact: a rounded
    difference has the sign of the difference). ``weights``: the fan weights of the tested
    samples for each ``layout`` kind. With ``margin`` > 0 each tolerance is widened by
    ``margin`` times the block's largest inverse depth, so that a probe fails only surely."""
    anchors, tested = block[:anchor_count], block[anchor_count:]
    counts = np.bincount(layout, minlength=16)
    kinds = np.flatnonzero(counts)
    # Most blocks of a chunk lie inside the grid: all are simplified alike, then the few on
    # its first or last lines again with their own weights.
    usual = np.argmax(counts)
    simplified = weights[usual] @ anchors
    for kind in kinds[kinds != usual]:
        alike = np.flatnonzero(layout == kind)
        simplified[:, alike] = weights[kind] @ anchors[:, alike]
    deviation = np.abs(np.subtract(simplified, tested, out=simplified), out=simplified)
    tolerance = 0.5 * options.max_depth_error * tested
    if allowance is not None:
        tolerance += allowance
    if margin:
        tolerance += margin * np.max(np.abs(block), axis=0)
    return np.min(np.subtract(tolerance, deviation, out=tolerance), axis=0, initial=np.inf)


def _texture_within_tolerance(
    grid_x_px: np.ndarray,
    grid_y_px: np.ndarray,
    top: np.ndarray,
    left: np.ndarray,
    height: int,
    width: int,
    lowest: np.ndarray,
    highest: np.ndarray,
    options: TriangulationOptions,
) -> np.ndarray:
    """Whether the texture slides by at most ``max_texture_shift_px`` over each height × width
    block at (top, left) whose inverse depths span [lowest, highest] (see the module docstring)."""
    width_px = np.maximum(grid_x_px[left + width] - grid_x_px[left], grid_y_px[top + height] - grid_y_px[top])
    return texture_shift_px(width_px, lowest, highest) <= options.max_texture_shift_px


def texture_shift_px(length_px: np.ndarray, lowest: np.ndarray, highest: np.ndarray) -> np.ndarray:
    """The most glTF's perspective-correct UVs slide the texture (pixels) over a triangle
    ``length_px`` wide whose inverse depths span [lowest, highest]: L·(√w_near − √w_far)/(√w_near + √w_far)."""
    root_far, root_near = np.sqrt(lowest), np.sqrt(highest)
    return length_px * (root_near - root_far) / (root_near + root_far)


def _room_from_children(
    inverse_depth: np.ndarray,
    grid_x_px: np.ndarray,
    grid_y_px: np.ndarray,
    top: np.ndarray,
    left: np.ndarray,
    height: int,
    width: int,
    row_splits: np.ndarray,
    column_splits: np.ndarray,
    children_room: np.ndarray,
    highest: np.ndarray,
) -> np.ndarray:
    """A lower bound on the room each height × width block at (top, left) (cells) would leave
    in the depth test, from its children's, reading a dozen samples instead of all of them.

    ``row_splits``, ``column_splits``: the children's boundaries in cells from the block's
    corner; ``children_room`` (n, len(row_splits) − 1, len(column_splits) − 1): their rooms;
    ``highest``: the blocks' largest inverse depth. Take the plane A through the block's
    top-left, top-right and bottom-left samples (in pixels, where the fans interpolate). The
    fan of a child minus A is affine over each of the child's fan triangles, so it is at most
    its largest value at the child's anchors, D; the block's fan minus A likewise at most E at
    the block's anchors; so a sample misses the block's fan by at most its miss of its child's
    fan + D + E. The bound is the least over children of (room − D) − E, less the rounding
    margin, so a block whose bound keeps the margin passes the exact test too.
    """
    # A handful of splits: plain integers cost less than arrays of them.
    row_splits, column_splits = row_splits.tolist(), column_splits.tolist()
    row_centres = [start + (end - start) // 2 for start, end in zip(row_splits, row_splits[1:])]
    column_centres = [start + (end - start) // 2 for start, end in zip(column_splits, column_splits[1:])]
    # The plane at the few rows and columns it is read on, one term per row and one per column,
    # and every block's miss of it at each of those rows and columns in one pass.
    downs = sorted({*row_splits, *row_centres, height // 2})
    acrosses = sorted({*column_splits, *column_centres, width // 2})
    grid_columns = inverse_depth.shape[1]
    flat_depth = inverse_depth.reshape(-1)
    base = top * grid_columns + left
    corner = flat_depth[base]
    x_left, y_top = grid_x_px[left], grid_y_px[top]
    slope_x = (flat_depth[base + width] - corner) / (grid_x_px[left + width] - x_left)
    slope_y = (flat_depth[base + height * grid_columns] - corner) / (grid_y_px[top + height] - y_top)
    down_at, across_at = np.array(downs), np.array(acrosses)
    along_x = corner[:, None] + slope_x[:, None] * (grid_x_px[left[:, None] + across_at] - x_left[:, None])
    along_y = slope_y[:, None] * (grid_y_px[top[:, None] + down_at] - y_top[:, None])
    plane = along_x[:, None, :] + along_y[:, :, None]
    sample = flat_depth[base[:, None, None] + (down_at[:, None] * grid_columns + across_at)]
    miss = np.abs(np.subtract(sample, plane, out=plane), out=plane)  # (n, downs, acrosses)
    row_of = {down: index for index, down in enumerate(downs)}
    column_of = {across: index for index, across in enumerate(acrosses)}

    def miss_at(down_list: list[int], across_list: list[int]) -> np.ndarray:
        return miss[:, [row_of[down] for down in down_list]][:, :, [column_of[across] for across in across_list]]

    block_anchors = ((height, width), (0, width), (height, 0), (height // 2, width // 2))
    block_miss = np.max(
        miss[:, [row_of[down] for down, _ in block_anchors], [column_of[across] for _, across in block_anchors]],
        axis=1,
    )
    lattice = miss_at(row_splits, column_splits)
    child_miss = miss_at(row_centres, column_centres)
    for corners in (lattice[:, :-1, :-1], lattice[:, :-1, 1:], lattice[:, 1:, :-1], lattice[:, 1:, 1:]):
        np.maximum(child_miss, corners, out=child_miss)
    bound = np.min(np.subtract(children_room, child_miss, out=child_miss), axis=(1, 2), initial=np.inf)
    bound -= block_miss
    bound -= ROUNDING_MARGIN * highest
    return bound


def _room_from_quadrants(
    at: Callable[[int, int], np.ndarray],
    x_at: Callable[[int], np.ndarray],
    y_at: Callable[[int], np.ndarray],
    size: int,
    children_room: Callable[[int, int], np.ndarray],
    highest: np.ndarray,
) -> np.ndarray:
    """A tighter lower bound than :func:`_room_from_children` for size × size blocks (size a
    multiple of 4) whose children are their quadrants and whose samples are evenly spaced (none
    on the grid's first or last line).

    ``at(down, across)``: the blocks' samples that many cells from their top-left corner;
    ``x_at(across)``, ``y_at(down)``: those samples' pixel positions; ``children_room(row,
    column)``: the room of each block's child there (0 or 1 each); ``highest``: the blocks'
    largest inverse depth; all broadcast together (a list of blocks, or a tile of them).

    The block's fan splits each quadrant along the diagonal from the block's corner to its
    centre, which passes through the quadrant's centre sample, so on each of the child's fan
    triangles both fans are affine: they differ by at most their largest difference at the
    child's anchors. There the block's fan is the sample at its own corners and centre, the
    interpolation along its side at the middles of its sides, and along the diagonal at the
    child's centre. Even spacing holds to a few ε of the positions, which moves these vertices
    by far less than the rounding margin covers.
    """
    half, quarter = size // 2, size // 4

    def miss(sample: np.ndarray, start: np.ndarray, end: np.ndarray, fraction: np.ndarray) -> np.ndarray:
        interpolated = np.subtract(end, start)  # start + fraction·(end − start), in place
        interpolated *= fraction
        interpolated += start
        return np.abs(np.subtract(sample, interpolated, out=interpolated), out=interpolated)

    # Each position read once: the lookups are gathers where the blocks are a list.
    x = {across: x_at(across) for across in (0, quarter, half, half + quarter, size)}
    y = {down: y_at(down) for down in (0, half, size)}
    corners = {(0, 0): at(0, 0), (0, 1): at(0, size), (1, 0): at(size, 0), (1, 1): at(size, size)}
    centre = at(half, half)
    across_fraction = (x[half] - x[0]) / (x[size] - x[0])
    down_fraction = (y[half] - y[0]) / (y[size] - y[0])
    side_miss = {  # the middles of the top, bottom, left and right sides
        (0, None): miss(at(0, half), corners[0, 0], corners[0, 1], across_fraction),
        (1, None): miss(at(size, half), corners[1, 0], corners[1, 1], across_fraction),
        (None, 0): miss(at(half, 0), corners[0, 0], corners[1, 0], down_fraction),
        (None, 1): miss(at(half, size), corners[0, 1], corners[1, 1], down_fraction),
    }
    # Along the diagonal from the block's corner to its centre, where the child's centre lies.
    child_fraction = [
        (x[quarter + child_column * half] - x[child_column * size]) / (x[half] - x[child_column * size])
        for child_column in (0, 1)
    ]
    bound = np.inf
    for child_row in (0, 1):
        for child_column in (0, 1):
            child_miss = miss(
                at(quarter + child_row * half, quarter + child_column * half), corners[child_row, child_column],
                centre, child_fraction[child_column],
            )
            np.maximum(child_miss, side_miss[child_row, None], out=child_miss)
            np.maximum(child_miss, side_miss[None, child_column], out=child_miss)
            bound = np.minimum(bound, np.subtract(children_room(child_row, child_column), child_miss, out=child_miss))
    return bound - ROUNDING_MARGIN * highest


def _blocks_within_tolerance(
    inverse_depth: np.ndarray,
    grid_x_px: np.ndarray,
    grid_y_px: np.ndarray,
    row_bounds: np.ndarray,
    column_bounds: np.ndarray,
    block_rows: np.ndarray,
    block_columns: np.ndarray,
    height: int,
    width: int,
    options: TriangulationOptions,
    depth_allowance: np.ndarray | None,
    children: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(whether each, lowest, highest inverse depth, room) of the given blocks of a level, all
    height × width cells: whether it may be merged, the extremes of its samples, and for merged
    blocks a lower bound on the room left in the depth test (tolerance − miss, least over the
    samples, less ``ROUNDING_MARGIN`` times the block's largest inverse depth; NaN for the
    others).

    ``children``: when the blocks' children were tested, their (lowest, highest) reduced to the
    blocks, the children's boundaries in cells from each block's corner along rows and columns,
    and the rooms of the level below (block j's children start at 2j along each axis); else
    everything is found here. Blocks are tested a chunk of about ``TILE_CELLS`` samples at a
    time, so a level of small blocks over a 4096² grid never gathers all its samples (nor their
    positions) at once.
    """
    grid_rows, grid_columns = inverse_depth.shape
    down, across = np.arange(height + 1), np.arange(width + 1)
    stride = width + 1
    corners_and_centre = [0, width, (height + 1) * stride - 1, height * stride, (height // 2) * stride + width // 2]
    # The fan passes through its five anchors exactly (their weights are 1 and 0), so only the
    # other samples are tested against it; all take part in the texture test. Samples by rows
    # (the anchors first), blocks by columns: every pass below runs along a long axis.
    others = np.ones((height + 1) * stride, dtype=bool)
    others[corners_and_centre] = False
    order = np.concatenate([corners_and_centre, np.flatnonzero(others)])
    offsets = (down[:, None] * grid_columns + across[None, :]).reshape(-1, 1)[order]
    anchor_count = len(corners_and_centre)
    flat_depth = inverse_depth.reshape(-1)
    flat_allowance = None if depth_allowance is None else depth_allowance.reshape(-1)
    half_error = 0.5 * options.max_depth_error
    # Per layout kind: the example block's sample positions, and its fan weights of the tested
    # samples and of the probed ones.
    example_positions: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    weights: dict[int, np.ndarray] = {}
    probe_weights: dict[int, np.ndarray] = {}
    mergeable = np.zeros(len(block_rows), dtype=bool)
    room = np.full(len(block_rows), np.nan)
    if children is None:
        lowest, highest = np.empty(len(block_rows)), np.empty(len(block_rows))
        pending = np.arange(len(block_rows))
    else:
        # With the extremes known the texture test needs no sample: the blocks it fails are not
        # gathered at all; of the others, large ones whose children leave room enough are merged
        # without gathering either (on a plane, every block from the third level on).
        lowest, highest, row_splits, column_splits, children_room = children
        pending = np.flatnonzero(
            _texture_within_tolerance(grid_x_px, grid_y_px, row_bounds[block_rows], column_bounds[block_columns],
                                      height, width, lowest, highest, options)
        )
    if children is not None and len(order) >= BOUND_MIN_SAMPLES and pending.size:
        # Parent j's children start at child 2j along each axis.
        child_rows = 2 * block_rows[pending, None, None] + np.arange(len(row_splits) - 1)[None, :, None]
        child_columns = 2 * block_columns[pending, None, None] + np.arange(len(column_splits) - 1)[None, None, :]
        top, left = row_bounds[block_rows[pending]], column_bounds[block_columns[pending]]
        rooms = children_room[child_rows, child_columns]
        bound = _room_from_children(
            inverse_depth, grid_x_px, grid_y_px, top, left, height, width, row_splits, column_splits,
            rooms, highest[pending],
        )
        if height == width and height % 4 == 0 and np.array_equal(row_splits, [0, height // 2, height]) \
                and np.array_equal(column_splits, row_splits):
            evenly = (top > 0) & (left > 0) & (top + height < grid_rows - 1) & (left + width < grid_columns - 1)
            if evenly.any():
                even_top, even_left, even_rooms = top[evenly], left[evenly], rooms[evenly]
                tighter = _room_from_quadrants(
                    lambda down, across: flat_depth[(even_top + down) * grid_columns + even_left + across],
                    lambda across: grid_x_px[even_left + across], lambda down: grid_y_px[even_top + down],
                    height, lambda child_row, child_column: even_rooms[:, child_row, child_column],
                    highest[pending[evenly]],
                )
                bound[evenly] = np.maximum(bound[evenly], tighter)
        surely = bound >= ROUNDING_MARGIN * highest[pending]
        mergeable[pending[surely]] = True
        room[pending[surely]] = bound[surely]
        pending = pending[~surely]
    # Large blocks are first tested on a sparse lattice of their samples (every PROBE_STRIDE-th
    # row and column): those that surely fail there skip the full gather. "Surely" leaves a
    # margin far above the rounding of the fan (a few ε of the inverse depths), so a block that
    # the full test would pass is never dropped.
    tested_order = order[anchor_count:]
    probe = None
    if children is not None and len(order) >= PROBE_MIN_SAMPLES:
        tested_rows, tested_columns = np.divmod(tested_order, stride)
        probe = np.flatnonzero((tested_rows % PROBE_STRIDE == 0) & (tested_columns % PROBE_STRIDE == 0))
    step = max(1, TILE_CELLS // len(offsets))
    for start in range(0, len(pending), step):
        indices = pending[start : start + step]
        top, left = row_bounds[block_rows[indices]], column_bounds[block_columns[indices]]
        # Blocks whose samples are laid out alike share one weight table. Along each axis only
        # the blocks reaching the first or last grid line differ: those samples were moved onto
        # the picture border, the others are evenly spaced.
        layout = (
            (top == 0).view(np.uint8)
            | (top + height == grid_rows - 1).view(np.uint8) << 1
            | (left == 0).view(np.uint8) << 2
            | (left + width == grid_columns - 1).view(np.uint8) << 3
        )
        kinds = np.flatnonzero(np.bincount(layout, minlength=16))
        for kind in kinds:
            if kind not in example_positions:  # the first block of its kind is the example
                example = np.argmax(layout == kind)
                example_positions[kind] = (grid_x_px[left[example] + across], grid_y_px[top[example] + down])
        base = top * grid_columns + left
        if probe is not None:
            # Only the lattice's weights: the whole table only for kinds of which a block passes.
            for kind in kinds:
                if kind not in probe_weights:
                    probe_weights[kind] = _fan_weights(*example_positions[kind], tested_order[probe])
            probe_offsets = np.concatenate([offsets[:anchor_count], offsets[anchor_count:][probe]])
            probe_ids = probe_offsets + base
            within = _fan_room(
                flat_depth[probe_ids], None if flat_allowance is None else flat_allowance[probe_ids[anchor_count:]],
                probe_weights, layout, anchor_count, options, ROUNDING_MARGIN,
            ) >= 0
            indices, top, left, layout, base = indices[within], top[within], left[within], layout[within], base[within]
            if not indices.size:
                continue
            kinds = np.flatnonzero(np.bincount(layout, minlength=16))
        for kind in kinds:
            if kind not in weights:
                weights[kind] = _fan_weights(*example_positions[kind], tested_order)
        sample_ids = offsets + base
        block = flat_depth[sample_ids]
        block_room = _fan_room(
            block, None if flat_allowance is None else flat_allowance[sample_ids[anchor_count:]],
            weights, layout, anchor_count, options,
        )
        depth_ok = block_room >= 0
        if children is None:
            lowest[indices] = block.min(axis=0)
            highest[indices] = block.max(axis=0)
            depth_ok &= _texture_within_tolerance(
                grid_x_px, grid_y_px, top, left, height, width, lowest[indices], highest[indices], options
            )
        mergeable[indices] = depth_ok
        # The anchors miss the fan by nothing, so their room is their tolerance, at least
        # half_error times the lowest inverse depth.
        room[indices] = np.where(
            depth_ok,
            np.minimum(block_room, half_error * lowest[indices]) - ROUNDING_MARGIN * highest[indices],
            np.nan,
        )
    return mergeable, lowest, highest, room


def _first_level_blocks(
    inverse_depth: np.ndarray,
    grid_x_px: np.ndarray,
    grid_y_px: np.ndarray,
    first_row: int,
    first_column: int,
    candidates: np.ndarray,
    options: TriangulationOptions,
    depth_allowance: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(merged, lowest, highest, room, undecided) of a rectangle of 2 × 2-cell blocks from cell
    (first_row, first_column); ``candidates``: its blocks whose cells are all whole.

    A 2 × 2 block's tested samples are the middles of its sides, where its fan is the
    interpolation between the side's two corners, so each side is computed once for the two
    blocks sharing it, over strided views of tiles of the grid: nothing is gathered. These
    interpolations and the fan weights of :func:`_blocks_within_tolerance` agree to a few ε
    of the inverse depths, far within ``ROUNDING_MARGIN``; a candidate whose room is within
    that margin of 0 is left ``undecided`` for the exact test, so every decision is the exact
    test's. Extremes are those of each block's nine samples; rooms are lower bounds as
    :func:`_blocks_within_tolerance` gives them (NaN where not merged).
    """
    block_rows, block_columns = candidates.shape
    half_error = 0.5 * options.max_depth_error
    columns = slice(first_column, first_column + 2 * block_columns + 1)
    x_px = grid_x_px[columns]
    y_px = grid_y_px[first_row : first_row + 2 * block_rows + 1]
    across_fraction = (x_px[1::2] - x_px[:-1:2]) / (x_px[2::2] - x_px[:-1:2])
    down_fraction = (y_px[1::2] - y_px[:-1:2]) / (y_px[2::2] - y_px[:-1:2])
    room, lowest, highest = (np.empty(candidates.shape) for _ in range(3))
    merged, undecided = np.empty_like(candidates), np.empty_like(candidates)
    top = first_row + 2 * np.arange(block_rows)
    left = first_column + 2 * np.arange(block_columns)

    def side_room(middle, start, end, fraction, allowance):
        # start + fraction·(end − start), and the room it leaves, in place: one temporary each.
        tolerance = half_error * middle
        if allowance is not None:
            tolerance += allowance
        interpolated = np.subtract(end, start)
        interpolated *= fraction
        interpolated += start
        miss = np.abs(np.subtract(interpolated, middle, out=interpolated), out=interpolated)
        return np.subtract(tolerance, miss, out=tolerance)

    for tile in _row_tiles(block_rows, 4 * block_columns):
        rows = slice(first_row + 2 * tile.start, first_row + 2 * tile.stop + 1)
        w = inverse_depth[rows, columns]
        allowance = None if depth_allowance is None else depth_allowance[rows, columns]
        corners = w[::2]
        top_sides = side_room(  # the middles of the blocks' top (and bottom) sides, on the even rows
            corners[:, 1::2], corners[:, :-1:2], corners[:, 2::2], across_fraction,
            None if allowance is None else allowance[::2, 1::2],
        )
        left_sides = side_room(  # the middles of their left (and right) sides, on the odd rows
            w[1::2, ::2], corners[:-1, ::2], corners[1:, ::2], down_fraction[tile, None],
            None if allowance is None else allowance[1::2, ::2],
        )
        tile_room = np.minimum(top_sides[:-1], top_sides[1:])
        np.minimum(tile_room, left_sides[:, :-1], out=tile_room)
        np.minimum(tile_room, left_sides[:, 1:], out=tile_room)
        low, high = lowest[tile], highest[tile]
        for extreme, out in ((np.minimum, low), (np.maximum, high)):
            along = extreme(w[:, :-1:2], w[:, 1::2])
            extreme(along, w[:, 2::2], out=along)
            extreme(along[:-1:2], along[1::2], out=out)
            extreme(out, along[2::2], out=out)
        tested = candidates[tile] & _texture_within_tolerance(
            grid_x_px, grid_y_px, top[tile, None], left[None, :], 2, 2, low, high, options
        )
        margin = ROUNDING_MARGIN * high
        np.logical_and(tested, tile_room >= margin, out=merged[tile])
        np.logical_and(tested, np.abs(tile_room) < margin, out=undecided[tile])
        # The anchors' room is their tolerance (see _blocks_within_tolerance); twice the margin
        # covers the interpolations' rounding as well as the fan's.
        np.minimum(tile_room, half_error * low, out=tile_room)
        tile_room -= 2 * margin
        room[tile] = np.where(merged[tile], tile_room, np.nan)
    return merged, lowest, highest, room, undecided


def _blocks_from_quadrants(
    inverse_depth: np.ndarray,
    grid_x_px: np.ndarray,
    grid_y_px: np.ndarray,
    first_row: int,
    first_column: int,
    size: int,
    candidates: np.ndarray,
    lowest: np.ndarray,
    highest: np.ndarray,
    children_room: np.ndarray,
    options: TriangulationOptions,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(merged, room, undecided) of a rectangle of size × size-cell blocks (size a multiple of
    4, each block's children its quadrants) from cell (first_row, first_column).

    ``candidates``: the blocks whose children all merged; ``lowest``, ``highest``: their extremes
    (from the children); ``children_room`` (2 × rows, 2 × columns): the children's rooms. Each
    block is bounded through its quadrants (:func:`_room_from_quadrants`) over strided views of
    tiles of the grid, gathering nothing: a candidate that passes the texture test, lies off the
    grid's first line (its samples evenly spaced) and keeps the rounding margin is merged; the
    other candidates that pass the texture test are left ``undecided`` for the exact test.
    """
    block_rows, block_columns = candidates.shape
    columns = slice(first_column, first_column + size * block_columns + 1)
    x_px = grid_x_px[columns]
    y_px = grid_y_px[first_row : first_row + size * block_rows + 1]
    top = first_row + size * np.arange(block_rows)
    left = first_column + size * np.arange(block_columns)
    # The rectangle never reaches the grid's last lines: its blocks all have one beyond them.
    evenly = (top > 0)[:, None] & (left > 0)[None, :]
    merged, undecided = np.empty_like(candidates), np.empty_like(candidates)
    room = np.empty(candidates.shape)
    for tile in _row_tiles(block_rows, block_columns):
        count = tile.stop - tile.start
        w = inverse_depth[first_row + size * tile.start : first_row + size * tile.stop + 1, columns]

        def at(down: int, across: int) -> np.ndarray:
            return w[down : down + size * count : size, across : across + size * block_columns : size]

        def x_at(across: int) -> np.ndarray:
            return x_px[across : across + size * block_columns : size]

        def y_at(down: int) -> np.ndarray:
            return y_px[size * tile.start + down : size * tile.stop + down : size, None]

        def child_room_at(child_row: int, child_column: int) -> np.ndarray:
            return children_room[2 * tile.start + child_row : 2 * tile.stop : 2, child_column : 2 * block_columns : 2]

        bound = _room_from_quadrants(at, x_at, y_at, size, child_room_at, highest[tile])
        tested = candidates[tile] & _texture_within_tolerance(
            grid_x_px, grid_y_px, top[tile, None], left[None, :], size, size, lowest[tile], highest[tile], options
        )
        surely = tested & evenly[tile] & (bound >= ROUNDING_MARGIN * highest[tile])
        merged[tile] = surely
        np.logical_and(tested, ~surely, out=undecided[tile])
        room[tile] = np.where(surely, bound, np.nan)
    return merged, room, undecided


def _block_bounds(cells: int, size: int) -> np.ndarray:
    """Cell boundaries of one level's blocks along an axis: the multiples of ``size``, then the
    border. A last block of a single cell has no sample strictly inside to fan from, so it joins
    the block before it (which then spans size + 1 cells)."""
    starts = np.arange(0, cells, size)
    if len(starts) > 1 and cells - starts[-1] < 2:
        starts = starts[:-1]
    return np.append(starts, cells)


@dataclass(frozen=True)
class _Level:
    """One quadtree level: block boundaries (in cells) along rows and columns, and which of
    its blocks are merged (for level 0, the cells: whether they are whole)."""

    row_bounds: np.ndarray
    column_bounds: np.ndarray
    merged: np.ndarray


def _spread_to_children(parent_mask: np.ndarray, child_shape: tuple[int, int]) -> np.ndarray:
    """Each block of the level below takes its parent's flag, by strided copies along each axis:
    parent j's children start at child 2j; the last parent has one child, two or three (one that
    absorbed a one-cell remainder, or the remainder itself)."""
    spread = parent_mask
    for axis, child_count in enumerate(child_shape):
        pairs = min(spread.shape[axis], child_count // 2)
        shape = list(spread.shape)
        shape[axis] = child_count
        children = np.empty(shape, dtype=spread.dtype)
        paired, last = (spread[:, :pairs], spread[:, -1:]) if axis else (spread[:pairs], spread[-1:])
        along = [slice(None), slice(None)]
        for first in (0, 1):
            along[axis] = slice(first, 2 * pairs, 2)
            children[tuple(along)] = paired
        along[axis] = slice(2 * pairs, None)
        children[tuple(along)] = last
        spread = children
    return spread


def _reduce_children(ufunc: np.ufunc, children: np.ndarray, parent_shape: tuple[int, int]) -> np.ndarray:
    """``ufunc`` (minimum, maximum, logical_and) over each parent block's children, the inverse of
    :func:`_spread_to_children`: every parent but the last along an axis has children 2j and
    2j + 1, so they are combined by two strided views (``reduceat`` took 5× longer along rows)."""
    reduced = children
    for axis, parent_count in enumerate(parent_shape):
        pairs = parent_count - 1
        along = [slice(None), slice(None)]
        shape = list(reduced.shape)
        shape[axis] = parent_count
        parents = np.empty(shape, dtype=reduced.dtype)
        first, second, rest, out = (list(along) for _ in range(4))
        first[axis], second[axis] = slice(0, 2 * pairs, 2), slice(1, 2 * pairs, 2)
        rest[axis], out[axis] = slice(2 * pairs, None), slice(0, pairs)
        ufunc(reduced[tuple(first)], reduced[tuple(second)], out=parents[tuple(out)])
        out[axis] = slice(pairs, None)
        ufunc.reduce(reduced[tuple(rest)], axis=axis, keepdims=True, out=parents[tuple(out)])
        reduced = parents
    return reduced


def _uniform_parts(row_bounds: np.ndarray, column_bounds: np.ndarray) -> list[tuple[slice, slice, int, int]]:
    """(block rows, block columns, height, width) of the parts of a level whose blocks share
    one shape: all but the last row and column, the last column, the last row, the last block.
    Each part is then handled by one vectorised call."""
    row_count, column_count = len(row_bounds) - 1, len(column_bounds) - 1
    parts = []
    for rows in (slice(0, row_count - 1), slice(row_count - 1, row_count)):
        for columns in (slice(0, column_count - 1), slice(column_count - 1, column_count)):
            if rows.start < rows.stop and columns.start < columns.stop:
                height = row_bounds[rows.start + 1] - row_bounds[rows.start]
                width = column_bounds[columns.start + 1] - column_bounds[columns.start]
                parts.append((rows, columns, int(height), int(width)))
    return parts


def _blocks_in(mask: np.ndarray, rows: slice, columns: slice) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the set blocks of ``mask`` within one part."""
    block_rows, block_columns = set_cells(mask[rows, columns])
    return block_rows + rows.start, block_columns + columns.start


def _merge_levels(
    inverse_depth: np.ndarray,
    cell_whole: np.ndarray,
    grid_x_px: np.ndarray,
    grid_y_px: np.ndarray,
    options: TriangulationOptions,
    depth_allowance: np.ndarray | None,
) -> list[_Level]:
    """The quadtree, bottom up: level k has blocks of 2^k cells aligned at the origin, the last
    block along each axis running to the border (its remainder), so any grid size tiles exactly."""
    cell_rows, cell_columns = cell_whole.shape
    levels = [_Level(np.arange(cell_rows + 1), np.arange(cell_columns + 1), cell_whole)]
    if cell_rows < 2 or cell_columns < 2:
        return levels
    size = 1
    # The lowest and highest inverse depth of each block of the level below and its room in the
    # depth test (NaN where not merged; all three are read only where every child merged): a
    # merged block's samples are its children's, so its extremes are theirs, and only the first
    # level reads them from the samples (at 4096², 0.4 s of reductions otherwise); its room is
    # bounded from theirs.
    child_lowest = child_highest = child_room = None
    while len(levels[-1].row_bounds) > 2 or len(levels[-1].column_bounds) > 2:
        children = levels[-1]
        size *= 2
        row_bounds, column_bounds = _block_bounds(cell_rows, size), _block_bounds(cell_columns, size)
        parent_shape = (len(row_bounds) - 1, len(column_bounds) - 1)
        candidates = _reduce_children(np.logical_and, children.merged, parent_shape)
        if not candidates.any():
            break
        merged = np.zeros_like(candidates)
        lowest, highest, room = (np.full(candidates.shape, np.nan) for _ in range(3))
        if child_lowest is not None:
            from_children = (
                _reduce_children(np.minimum, child_lowest, parent_shape),
                _reduce_children(np.maximum, child_highest, parent_shape),
            )
        for part_rows, part_columns, height, width in _uniform_parts(row_bounds, column_bounds):
            if child_lowest is None and height == width == 2:
                part = (part_rows, part_columns)
                merged[part], lowest[part], highest[part], room[part], undecided = _first_level_blocks(
                    inverse_depth, grid_x_px, grid_y_px, row_bounds[part_rows.start], column_bounds[part_columns.start],
                    candidates[part], options, depth_allowance,
                )
                block_rows, block_columns = set_cells(undecided)
                block_rows += part_rows.start
                block_columns += part_columns.start
            elif child_lowest is not None and height == width and height % 4 == 0 \
                    and part_rows.stop < parent_shape[0] and part_columns.stop < parent_shape[1]:
                # All but the last row and column of blocks: each has its quadrants as children.
                part = (part_rows, part_columns)
                lowest[part], highest[part] = from_children[0][part], from_children[1][part]
                children_part = (
                    slice(2 * part_rows.start, 2 * part_rows.stop), slice(2 * part_columns.start, 2 * part_columns.stop)
                )
                merged[part], room[part], undecided = _blocks_from_quadrants(
                    inverse_depth, grid_x_px, grid_y_px, row_bounds[part_rows.start], column_bounds[part_columns.start],
                    height, candidates[part], lowest[part], highest[part], child_room[children_part], options,
                )
                block_rows, block_columns = set_cells(undecided)
                block_rows += part_rows.start
                block_columns += part_columns.start
            else:
                block_rows, block_columns = _blocks_in(candidates, part_rows, part_columns)
            if block_rows.size == 0:
                continue
            known = None
            if child_lowest is not None:
                # Every block of a part has its children at the same places: parent j's children
                # start at child 2j, and the last parent's run to the last child.
                row_splits, column_splits = (
                    child_bounds[2 * part.start : 2 * part.start + count + 1] - bounds[part.start]
                    for child_bounds, bounds, part, count in (
                        (children.row_bounds, row_bounds, part_rows,
                         2 if part_rows.stop < parent_shape[0] else len(children.row_bounds) - 1 - 2 * part_rows.start),
                        (children.column_bounds, column_bounds, part_columns,
                         2 if part_columns.stop < parent_shape[1]
                         else len(children.column_bounds) - 1 - 2 * part_columns.start),
                    )
                )
                known = (
                    from_children[0][block_rows, block_columns], from_children[1][block_rows, block_columns],
                    row_splits, column_splits, child_room,
                )
            (
                merged[block_rows, block_columns],
                lowest[block_rows, block_columns],
                highest[block_rows, block_columns],
                room[block_rows, block_columns],
            ) = _blocks_within_tolerance(
                inverse_depth, grid_x_px, grid_y_px,
                row_bounds, column_bounds, block_rows, block_columns, height, width, options, depth_allowance,
                known,
            )
        if not merged.any():
            break
        levels.append(_Level(row_bounds, column_bounds, merged))
        child_lowest, child_highest, child_room = lowest, highest, room
    return levels


def _leaf_masks(levels: list[_Level]) -> list[np.ndarray]:
    """leaf[k]: blocks of level k drawn as one piece — for k ≥ 1 merged blocks that no merged
    block above covers; for k = 0 every cell (whole or partly cut) that no merged block covers."""
    covered = np.zeros_like(levels[-1].merged)
    leaves = []
    for index in range(len(levels) - 1, -1, -1):
        level = levels[index]
        drawn = level.merged if index > 0 else np.ones_like(level.merged)
        leaves.append(drawn & ~covered)
        if index > 0:
            below = levels[index - 1].merged.shape
            above = covered | level.merged
            covered = _spread_to_children(above, below)
    return leaves[::-1]


def _fan_triangles(
    top_rows: np.ndarray, left_columns: np.ndarray, height: int, width: int, corner_used: np.ndarray
) -> np.ndarray:
    """Fans from each height × width block's centre to the used samples on its border,
    counter-clockwise on screen."""
    columns = corner_used.shape[1]
    top, left = top_rows[:, None] * columns, left_columns[:, None]
    down, across = np.arange(height + 1) * columns, np.arange(width + 1)
    # Border walked counter-clockwise on screen: down the left side, right along the bottom,
    # up the right side, left along the top; every block's side after side, one flat list.
    side_ids = [
        top + down + left,
        (top + height * columns) + (left + across),
        (top + height * columns - down) + (left + width),
        top + (left + width - across),
    ]
    lengths = np.array([height + 1, width + 1, height + 1, width + 1])
    side_starts = np.cumsum([0] + [ids.size for ids in side_ids[:-1]])
    ids = np.concatenate([ids.reshape(-1) for ids in side_ids])
    centre = (top_rows + height // 2) * columns + left_columns + width // 2
    # Each used sample but a side's last starts a triangle that ends at the next used one; a
    # side's ends are the block's own corners, always used, so the next used one in the flat
    # list is on the same side.
    used = np.flatnonzero(corner_used.reshape(-1)[ids])
    # Sorted, so each side's used samples are one run of the list.
    per_side = np.diff(np.searchsorted(used, side_starts), append=len(used))
    along = used - np.repeat(side_starts, per_side)
    length = np.repeat(lengths, per_side)
    starts = np.flatnonzero(along[:-1] % length[:-1] != length[:-1] - 1)
    return np.stack([centre[along[starts] // length[starts]], ids[used[starts]], ids[used[starts + 1]]], axis=-1)


def triangulate_grid(
    inverse_depth: np.ndarray,
    grid_x_px: np.ndarray,
    grid_y_px: np.ndarray,
    focal_length_px: float,
    principal_point_px: tuple[float, float],
    options: TriangulationOptions,
    left_out_cells: np.ndarray | None = None,
    depth_allowance: np.ndarray | None = None,
) -> GridTriangles:
    """Triangles over a (rows, columns) grid of inverse depths (see the module docstring).

    ``grid_x_px`` (columns,) and ``grid_y_px`` (rows,) are the samples' pixel positions.
    ``left_out_cells`` (rows−1, columns−1): cells to leave empty whatever their depth, as if cut
    (a layer that covers only part of the grid); they are not counted in ``cut_triangles``.
    ``depth_allowance`` (rows, columns): inverse depth by which the decimated surface may miss
    each sample beyond the relative tolerance (None: none).
    """
    # Blocks and tiles are read through flat indices: a layer's window of a larger grid is copied once.
    inverse_depth = np.ascontiguousarray(inverse_depth)
    if depth_allowance is not None:
        depth_allowance = np.ascontiguousarray(depth_allowance)
    x_image = (grid_x_px - principal_point_px[0]) / focal_length_px
    y_image = (principal_point_px[1] - grid_y_px) / focal_length_px
    rows, columns = inverse_depth.shape
    main = _main_diagonals(inverse_depth)
    full_triangles = main.size * 2
    if options.cut_discontinuities:
        kept = _facing_enough(inverse_depth, x_image, y_image, main, options.max_view_angle_deg)
    else:
        kept = np.ones(main.shape + (2,), dtype=bool)
    cut = int(kept.size - np.count_nonzero(kept))
    cell_whole = kept[..., 0] & kept[..., 1]
    cut_cells = ~cell_whole
    if left_out_cells is not None:
        kept &= ~left_out_cells[..., None]
        cell_whole &= ~left_out_cells
    if not options.decimate:
        cell_rows, cell_columns = np.nonzero(np.ones_like(cell_whole))
        triangles = _cell_triangles(cell_rows, cell_columns, main.ravel(), columns)
        return GridTriangles(triangles[kept.reshape(-1, 2)], cut, full_triangles, cut_cells)

    levels = _merge_levels(inverse_depth, cell_whole, grid_x_px, grid_y_px, options, depth_allowance)
    leaves = _leaf_masks(levels)
    corner_used = np.zeros((rows, columns), dtype=bool)
    for level, leaf in zip(levels, leaves):
        leaf_rows, leaf_columns = set_cells(leaf)
        for row_bounds in (level.row_bounds[leaf_rows], level.row_bounds[leaf_rows + 1]):
            for column_bounds in (level.column_bounds[leaf_columns], level.column_bounds[leaf_columns + 1]):
                corner_used[row_bounds, column_bounds] = True

    # Cells that kept no triangle add none: a layer's box is mostly cells left out.
    single_cells = leaves[0] & (kept[..., 0] | kept[..., 1])
    single_rows, single_columns = set_cells(single_cells)
    single_triangles = _cell_triangles(single_rows, single_columns, main[single_cells], columns)
    pieces = [single_triangles[kept[single_cells]]]
    for level, leaf in zip(levels[1:], leaves[1:]):
        for part_rows, part_columns, height, width in _uniform_parts(level.row_bounds, level.column_bounds):
            leaf_rows, leaf_columns = _blocks_in(leaf, part_rows, part_columns)
            if leaf_rows.size:
                pieces.append(
                    _fan_triangles(
                        level.row_bounds[leaf_rows], level.column_bounds[leaf_columns], height, width, corner_used
                    )
                )
    return GridTriangles(np.concatenate(pieces), cut, full_triangles, cut_cells)
