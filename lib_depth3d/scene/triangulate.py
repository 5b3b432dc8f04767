"""Triangles over the vertex grid: discontinuity cutting and bounded-error decimation.

Cutting. Each grid cell is split into two triangles along the diagonal whose ends have the
closer inverse depth. A triangle is dropped when it is seen edge-on: the angle between its
normal and the ray from the camera to its centroid exceeds ``max_view_angle_deg``. The test
uses only directions, so it is independent of the depth's scale; a depth jump of a fraction
``j`` between samples ``s`` pixels apart looks like a surface at ``atan(j·f/s)`` from facing.

Decimation (adaptive quadtree, vectorised level by level). A square block of 2^k × 2^k cells
whose four children were merged and whose cells are all uncut is merged when every sample in
it lies within half the tolerance of the block's simplified surface: the fan of four triangles
from the block's centre sample to its corners, interpolated in pixel coordinates. Two tolerances apply, both scale-free:

* depth: |w − ŵ| ≤ ½·max_depth_error·w, with w the sample's inverse depth and ŵ the fan's
  (inverse depth is affine in pixels over a 3D plane, so this is the relative z error along
  the sample's ray);
* texture: glTF interpolates UVs perspective-correctly over the 3D triangle, which slides the
  texture by up to L·(√z_max − √z_min)/(√z_max + √z_min) pixels over a triangle L pixels wide;
  this must stay below ``max_texture_shift_px``.

Crack-free stitching without T-junctions: a merged block is triangulated as a fan from its
centre sample to *every* sample on its border that is a corner of some leaf (its own corners
and the corners of smaller neighbouring leaves). Each fan triangle lies inside one of the
four tested triangles and its vertices are original samples within ½·tolerance of it, so the
final surface is within the full tolerance of every sample, and neighbouring leaves share
exactly the same border vertices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TriangulationOptions:
    """Settings of :func:`triangulate_grid` (see the module docstring)."""

    cut_discontinuities: bool = True
    max_view_angle_deg: float = 88.0
    decimate: bool = True
    max_depth_error: float = 0.002
    max_texture_shift_px: float = 0.25


@dataclass(frozen=True)
class GridTriangles:
    """Triangles as indices into the row-major flattened vertex grid.

    Attributes:
        faces: (M, 3) int64, counter-clockwise as seen from the camera (glTF front faces).
        cut_triangles: triangles of the full grid dropped at depth discontinuities.
        full_triangles: triangles the full grid would have without cutting or decimation.
    """

    faces: np.ndarray
    cut_triangles: int
    full_triangles: int


def _cell_corner_ids(rows: int, columns: int) -> tuple[np.ndarray, ...]:
    ids = np.arange(rows * columns, dtype=np.int64).reshape(rows, columns)
    return ids[:-1, :-1], ids[:-1, 1:], ids[1:, :-1], ids[1:, 1:]


def _cell_triangles(inverse_depth: np.ndarray) -> np.ndarray:
    """(rows−1, columns−1, 2, 3) vertex ids of each cell's two triangles, counter-clockwise on screen."""
    rows, columns = inverse_depth.shape
    top_left, top_right, bottom_left, bottom_right = _cell_corner_ids(rows, columns)
    w = inverse_depth
    main_jump = np.abs(w[:-1, :-1] - w[1:, 1:]) / np.minimum(w[:-1, :-1], w[1:, 1:])
    anti_jump = np.abs(w[:-1, 1:] - w[1:, :-1]) / np.minimum(w[:-1, 1:], w[1:, :-1])
    use_main = (main_jump <= anti_jump)[..., None]
    # Screen y points down, so "down then right" is counter-clockwise as the viewer sees it.
    first = np.where(
        use_main,
        np.stack([top_left, bottom_left, bottom_right], axis=-1),
        np.stack([top_left, bottom_left, top_right], axis=-1),
    )
    second = np.where(
        use_main,
        np.stack([top_left, bottom_right, top_right], axis=-1),
        np.stack([top_right, bottom_left, bottom_right], axis=-1),
    )
    return np.stack([first, second], axis=2)


def _facing_enough(points: np.ndarray, triangles: np.ndarray, max_view_angle_deg: float) -> np.ndarray:
    """Whether each triangle is seen at most ``max_view_angle_deg`` from facing the camera."""
    flat = points.reshape(-1, 3)
    a, b, c = flat[triangles[..., 0]], flat[triangles[..., 1]], flat[triangles[..., 2]]
    normal = np.cross(b - a, c - a)
    ray = a + b + c
    dot = np.abs(np.einsum("...i,...i->...", normal, ray))
    scale = np.linalg.norm(normal, axis=-1) * np.linalg.norm(ray, axis=-1)
    return dot >= math.cos(math.radians(max_view_angle_deg)) * scale


def _fan_surface(
    x_px: np.ndarray, y_px: np.ndarray, values: np.ndarray, size: int
) -> np.ndarray:
    """Values of each block's fan of four triangles (centre sample to corners) at its samples.

    ``x_px``: (n, size+1) and ``y_px``: (n, size+1) sample positions of each block;
    ``values``: (n, size+1, size+1). Interpolation is barycentric in pixels, where inverse depth
    is affine over a 3D triangle. Border blocks have uneven spacing, so nothing assumes a
    regular grid.
    """
    half = size // 2
    px = np.broadcast_to(x_px[:, None, :], values.shape)
    py = np.broadcast_to(y_px[:, :, None], values.shape)
    corners = [(0, 0), (0, size), (size, size), (size, 0)]  # (row, column), around the block
    cx, cy, cv = x_px[:, half, None, None], y_px[:, half, None, None], values[:, half, half, None, None]
    best_weight = np.full(values.shape, -np.inf)
    surface = np.zeros(values.shape)
    for index, (row_a, column_a) in enumerate(corners):
        row_b, column_b = corners[(index + 1) % 4]
        ax, ay = x_px[:, column_a, None, None], y_px[:, row_a, None, None]
        bx, by = x_px[:, column_b, None, None], y_px[:, row_b, None, None]
        av, bv = values[:, row_a, column_a, None, None], values[:, row_b, column_b, None, None]
        determinant = (bx - ax) * (cy - ay) - (cx - ax) * (by - ay)
        weight_b = ((px - ax) * (cy - ay) - (cx - ax) * (py - ay)) / determinant
        weight_c = ((bx - ax) * (py - ay) - (px - ax) * (by - ay)) / determinant
        weight_a = 1.0 - weight_b - weight_c
        smallest = np.minimum(np.minimum(weight_a, weight_b), weight_c)
        inside = smallest > best_weight
        surface = np.where(inside, weight_a * av + weight_b * bv + weight_c * cv, surface)
        best_weight = np.maximum(best_weight, smallest)
    return surface


def _blocks_within_tolerance(
    inverse_depth: np.ndarray,
    grid_x_px: np.ndarray,
    grid_y_px: np.ndarray,
    block_rows: np.ndarray,
    block_columns: np.ndarray,
    size: int,
    options: TriangulationOptions,
) -> np.ndarray:
    offsets = np.arange(size + 1)
    rows = block_rows[:, None] * size + offsets
    columns = block_columns[:, None] * size + offsets
    block = inverse_depth[rows[:, :, None], columns[:, None, :]]
    x_px, y_px = grid_x_px[columns], grid_y_px[rows]
    simplified = _fan_surface(x_px, y_px, block, size)
    depth_ok = np.all(
        np.abs(simplified - block) <= 0.5 * options.max_depth_error * block, axis=(1, 2)
    )
    root_far, root_near = np.sqrt(block.min(axis=(1, 2))), np.sqrt(block.max(axis=(1, 2)))
    width_px = np.maximum(x_px[:, -1] - x_px[:, 0], y_px[:, -1] - y_px[:, 0])
    shift_px = width_px * (root_near - root_far) / (root_near + root_far)
    return depth_ok & (shift_px <= options.max_texture_shift_px)


def _merge_levels(
    inverse_depth: np.ndarray,
    cell_whole: np.ndarray,
    grid_x_px: np.ndarray,
    grid_y_px: np.ndarray,
    options: TriangulationOptions,
) -> list[np.ndarray]:
    """merged[k]: (rows//2^k, columns//2^k) blocks of 2^k cells that form one simplified block."""
    merged = [cell_whole]
    size = 1
    while True:
        children = merged[-1]
        size *= 2
        block_rows, block_columns = children.shape[0] // 2, children.shape[1] // 2
        if block_rows == 0 or block_columns == 0:
            break
        candidates = (
            children[: 2 * block_rows, : 2 * block_columns]
            .reshape(block_rows, 2, block_columns, 2)
            .all(axis=(1, 3))
        )
        candidate_rows, candidate_columns = np.nonzero(candidates)
        if candidate_rows.size == 0:
            break
        level = np.zeros_like(candidates)
        level[candidate_rows, candidate_columns] = _blocks_within_tolerance(
            inverse_depth, grid_x_px, grid_y_px, candidate_rows, candidate_columns, size, options
        )
        if not level.any():
            break
        merged.append(level)
    return merged


def _leaf_masks(merged: list[np.ndarray]) -> list[np.ndarray]:
    """leaf[k]: blocks merged at level k whose parent block was not merged."""
    leaves = []
    for level, blocks in enumerate(merged):
        if level + 1 < len(merged):
            parent = np.zeros_like(blocks)
            above = merged[level + 1]
            expanded = np.repeat(np.repeat(above, 2, axis=0), 2, axis=1)
            parent[: expanded.shape[0], : expanded.shape[1]] = expanded
            leaves.append(blocks & ~parent)
        else:
            leaves.append(blocks.copy())
    return leaves


def _fan_triangles(
    block_rows: np.ndarray, block_columns: np.ndarray, size: int, corner_used: np.ndarray
) -> np.ndarray:
    """Fans from each block's centre to the used samples on its border, counter-clockwise on screen."""
    columns = corner_used.shape[1]
    steps = np.arange(size + 1)
    top, left = block_rows[:, None] * size, block_columns[:, None] * size
    # Border walked counter-clockwise on screen: down the left side, right along the bottom,
    # up the right side, left along the top.
    sides = [
        (top + steps, np.broadcast_to(left, (len(left), size + 1))),
        (np.broadcast_to(top + size, (len(top), size + 1)), left + steps),
        (top + size - steps, np.broadcast_to(left + size, (len(left), size + 1))),
        (np.broadcast_to(top, (len(top), size + 1)), left + size - steps),
    ]
    centre = (top[:, 0] + size // 2) * columns + left[:, 0] + size // 2
    fans = []
    for side_rows, side_columns in sides:
        used = corner_used[side_rows, side_columns]
        ids = side_rows * columns + side_columns
        position = np.where(used, steps, size + 1)
        next_used = np.minimum.accumulate(position[:, ::-1], axis=1)[:, ::-1]
        following = next_used[:, 1:]
        starts = used[:, :-1]
        block_index, start = np.nonzero(starts)
        end = following[block_index, start]
        fans.append(
            np.stack([centre[block_index], ids[block_index, start], ids[block_index, end]], axis=-1)
        )
    return np.concatenate(fans)


def triangulate_grid(
    points_camera: np.ndarray,
    inverse_depth: np.ndarray,
    grid_x_px: np.ndarray,
    grid_y_px: np.ndarray,
    options: TriangulationOptions,
) -> GridTriangles:
    """Triangles over a (rows, columns) grid of camera-frame points (see the module docstring).

    ``grid_x_px`` (columns,) and ``grid_y_px`` (rows,) are the samples' pixel positions.
    """
    rows, columns = inverse_depth.shape
    triangles = _cell_triangles(inverse_depth)
    full_triangles = triangles.shape[0] * triangles.shape[1] * 2
    if options.cut_discontinuities:
        kept = _facing_enough(points_camera, triangles, options.max_view_angle_deg)
    else:
        kept = np.ones(triangles.shape[:3], dtype=bool)
    cut = int(kept.size - np.count_nonzero(kept))
    cell_whole = kept.all(axis=2)
    if not options.decimate:
        return GridTriangles(triangles[kept], cut, full_triangles)

    merged = _merge_levels(inverse_depth, cell_whole, grid_x_px, grid_y_px, options)
    leaves = _leaf_masks(merged)
    single_cells = ~np.zeros_like(cell_whole)
    if len(merged) > 1:
        covered = np.repeat(np.repeat(merged[1], 2, axis=0), 2, axis=1)
        single_cells[: covered.shape[0], : covered.shape[1]] &= ~covered
    corner_used = np.zeros((rows, columns), dtype=bool)
    for size_exponent, leaf in enumerate(leaves[1:], start=1):
        size = 2**size_exponent
        leaf_rows, leaf_columns = np.nonzero(leaf)
        for row_offset in (0, size):
            for column_offset in (0, size):
                corner_used[leaf_rows * size + row_offset, leaf_columns * size + column_offset] = True
    single_rows, single_columns = np.nonzero(single_cells)
    for row_offset in (0, 1):
        for column_offset in (0, 1):
            corner_used[single_rows + row_offset, single_columns + column_offset] = True

    pieces = [triangles[single_cells][kept[single_cells]]]
    for size_exponent, leaf in enumerate(leaves[1:], start=1):
        leaf_rows, leaf_columns = np.nonzero(leaf)
        if leaf_rows.size:
            pieces.append(_fan_triangles(leaf_rows, leaf_columns, 2**size_exponent, corner_used))
    return GridTriangles(np.concatenate(pieces), cut, full_triangles)
