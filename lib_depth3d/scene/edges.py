"""Pixel-exact depth edges: the picture's own pixels where the surface was cut.

The surface is cut at depth discontinuities along the sampling grid (:mod:`.triangulate`), so
its outline is stepped along grid cells: from the picture's camera the pixels whose centres fall
in a cut strip saw through to the background layer or to nothing. This module covers exactly
those pixels, at their own depth, in a narrow band one grid cell wide; the decimated grid
elsewhere is untouched:

1. **Pixels.** A pixel needs covering when its footprint overlaps a cut cell and does not lie
   strictly inside the triangle of that cell the cut kept (centres alone would do for a render at
   the picture's size; a viewer's canvas of another size samples between them). Where the
   rectangle overlaps a kept triangle, both show the same texels.
   Single cells beside a cut that are steep but not cut would show a neighbour's texel (glTF's
   perspective-correct UVs slide over a deep triangle): their triangles are dropped when they
   slide it by more than the decimation's texture tolerance, and their pixels covered too.
2. **Sides.** Neighbouring pixels belong to one surface unless their inverse depths jump by more
   than a surface seen at the cut's edge angle would (``tan(angle) / f`` relative, per pixel);
   so the band splits between the foreground's pixels and the background's along pixel
   boundaries.
3. **Rectangles.** Runs of connected pixels along a row, then runs of equal runs down the
   columns, are merged into rectangles with their corners on pixel corners; each corner takes the
   mean inverse depth of the pixels around it on the rectangle's side (on a plane, exactly its
   depth there). A rectangle is halved until its two triangles stay within half the decimation's
   relative tolerance of every pixel it covers and slide the texture by no more than the
   decimation's texture tolerance, as a decimated block does.
4. **The layer behind.** The background layer (:mod:`.occlusion`) starts at far corners of cut
   cells, which between pixel centres may interpolate across the edge; the scene holds its
   vertices behind the farthest pixel near them (:func:`farthest_inverse_depth_near`).

Every vertex lies on the ray of its pixel corner and its UV is that corner, so from the
picture's camera each pixel's centre, half a pixel inside its rectangle's outline, shows its
own colour; from elsewhere the foreground's outline follows the pixels' and the background's
pixels stay at the background's depth, in front of the background layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lib_depth3d.arrays import set_cells
from lib_depth3d.camera import Camera
from lib_depth3d.scene.triangulate import texture_shift_px


@dataclass(frozen=True)
class EdgeStrips:
    """The band of pixel rectangles along the cut edges, in the file's world.

    Attributes:
        positions: (4·n, 3) float32 corners of n rectangles in glTF's Y-up world, scene units.
        uvs: (4·n, 2) float32 their pixel corners / picture size.
        faces: (2·n, 3) uint32 two triangles a rectangle, counter-clockwise seen from the camera,
            indexing ``positions``.
    """

    positions: np.ndarray
    uvs: np.ndarray
    faces: np.ndarray


def _pixel_span(low_px: np.ndarray, high_px: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last pixel index whose footprint ``[i, i + 1]`` overlaps ``[low_px, high_px]``."""
    first = np.maximum(np.floor(low_px).astype(np.int64), 0)
    last = np.minimum(np.ceil(high_px).astype(np.int64) - 1, size - 1)
    return first, np.maximum(last, first)


def _strictly_inside(tx: np.ndarray, ty: np.ndarray, sx: np.ndarray, sy: np.ndarray) -> np.ndarray:
    """Whether points (n, k) lie strictly inside triangles (n, 3): a point on an outline may slip
    past the triangle in a render."""
    area = (tx[:, 1] - tx[:, 0]) * (ty[:, 2] - ty[:, 0]) - (tx[:, 2] - tx[:, 0]) * (ty[:, 1] - ty[:, 0])
    inside = np.ones(sx.shape, dtype=bool)
    for a, b in ((0, 1), (1, 2), (2, 0)):
        edge = (tx[:, b, None] - tx[:, a, None]) * (sy - ty[:, a, None]) - (
            ty[:, b, None] - ty[:, a, None]
        ) * (sx - tx[:, a, None])
        inside &= edge * np.sign(area)[:, None] > 1e-6 * np.abs(area)[:, None]
    return inside


def triangle_cells(faces: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column) of the top-left corner of each triangle of ``faces`` (ids into a row-major
    grid of ``columns`` samples), and whether its corners span a single cell."""
    rows_of, columns_of = np.divmod(faces.astype(np.int64), columns)
    top, left = _least_of_three(rows_of), _least_of_three(columns_of)
    single = (_most_of_three(rows_of) - top == 1) & (_most_of_three(columns_of) - left == 1)
    return top, left, single


# Along a row of three, two elementwise passes: a reduction along so short an axis took 4× longer.
def _least_of_three(values: np.ndarray) -> np.ndarray:
    """(n,) the least of each row of an (n, 3) array."""
    return np.minimum(np.minimum(values[:, 0], values[:, 1]), values[:, 2])


def _most_of_three(values: np.ndarray) -> np.ndarray:
    """(n,) the largest of each row of an (n, 3) array."""
    return np.maximum(np.maximum(values[:, 0], values[:, 1]), values[:, 2])


def sliding_cell_triangles(
    faces: np.ndarray, inverse_depth: np.ndarray, grid_x_px: np.ndarray, grid_y_px: np.ndarray,
    max_texture_shift_px: float,
) -> np.ndarray:
    """(M,) bool: the triangles of ``faces`` (grid vertex ids) that span a single cell and slide
    the texture by more than ``max_texture_shift_px`` (glTF's perspective-correct UVs over a
    triangle L px wide whose z ranges over [z₁, z₂]: up to L·(√z₂ − √z₁)/(√z₂ + √z₁)). The
    decimation bounds this for merged blocks; a single cell beside a cut, steep but not cut, can
    show a neighbour's texel at a pixel centre."""
    top, left, single = triangle_cells(faces, len(grid_x_px))
    w = inverse_depth.reshape(-1)[faces[single]]
    width_px = np.maximum(grid_x_px[left[single] + 1] - grid_x_px[left[single]],
                          grid_y_px[top[single] + 1] - grid_y_px[top[single]])
    sliding = np.zeros(len(faces), dtype=bool)
    sliding[single] = texture_shift_px(width_px, _least_of_three(w), _most_of_three(w)) > max_texture_shift_px
    return sliding


def uncovered_pixels(
    cut_cells: np.ndarray,
    faces: np.ndarray,
    grid_x_px: np.ndarray,
    grid_y_px: np.ndarray,
    width_px: int,
    height_px: int,
) -> np.ndarray:
    """(height, width) bool: pixels whose footprint overlaps a cut cell outside the triangle it kept.

    ``faces`` index the row-major vertex grid (as :func:`~.triangulate.triangulate_grid` gives
    them); ``cut_cells`` (rows−1, columns−1): the cells that lost a triangle. Footprints, not
    only centres: a render at another size than the picture's samples between pixel centres.
    """
    columns = len(grid_x_px)
    cell_rows, cell_columns = set_cells(cut_cells)
    first_x, last_x = _pixel_span(grid_x_px[cell_columns], grid_x_px[cell_columns + 1], width_px)
    first_y, last_y = _pixel_span(grid_y_px[cell_rows], grid_y_px[cell_rows + 1], height_px)
    span = int(max(np.max(last_x - first_x, initial=0), np.max(last_y - first_y, initial=0))) + 1
    offset_y, offset_x = np.divmod(np.arange(span * span), span)
    pixel_x = first_x[:, None] + offset_x[None, :]
    pixel_y = first_y[:, None] + offset_y[None, :]
    candidate = (pixel_x <= last_x[:, None]) & (pixel_y <= last_y[:, None])

    top, left, single = triangle_cells(faces, columns)
    kept_of_cell = np.full(cut_cells.shape, -1, dtype=np.int64)
    kept_of_cell[top[single], left[single]] = np.flatnonzero(single)  # a cut cell keeps at most one
    triangle = kept_of_cell[cell_rows, cell_columns]
    has_kept = triangle >= 0
    if np.any(has_kept):
        corner_rows, corner_columns = np.divmod(faces[triangle[has_kept]].astype(np.int64), columns)
        tx, ty = grid_x_px[corner_columns], grid_y_px[corner_rows]
        within = np.ones(pixel_x[has_kept].shape, dtype=bool)
        for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
            within &= _strictly_inside(tx, ty, pixel_x[has_kept] + dx, pixel_y[has_kept] + dy)
        candidate[has_kept] &= ~within
    mask = np.zeros((height_px, width_px), dtype=bool)
    mask[pixel_y[candidate], pixel_x[candidate]] = True
    return mask


def _inverse(zdepth: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """float64 inverse depth of the given pixels (read pixel by pixel: the band is thin, and a
    whole float64 map would cost 128 MiB at 4096²)."""
    return 1.0 / zdepth[rows, columns].astype(np.float64)


def farthest_inverse_depth_near(
    zdepth: np.ndarray, x_px: np.ndarray, y_px: np.ndarray, reach_px: float
) -> np.ndarray:
    """(n,) the smallest inverse depth (the farthest surface) among the pixels whose centres lie
    within ``reach_px`` (along each axis) of each point ``(x_px, y_px)``.

    The background layer starts at the far corners of cut cells, and on a grid between pixel
    centres such a sample interpolates across the edge, so the layer could lie in front of the
    background pixels the edge band puts at their own depth; its vertices are held behind this.
    """
    height, width = zdepth.shape
    span = int(math.ceil(2 * reach_px)) + 1
    first_x = np.ceil(x_px - reach_px - 0.5).astype(np.int64)
    first_y = np.ceil(y_px - reach_px - 0.5).astype(np.int64)
    # A row of the window at a time for every point (at 4096² the 512 grid's window is 17 × 17
    # pixels: 17 passes instead of 289, 36 → 8 ms). The window's columns run along the first
    # axis and the points along the second, so each least value is taken across long rows (along
    # a short last axis, with ``where``, it took five to ten times longer).
    columns = first_x + np.arange(span)[:, None]
    column_near = np.abs(columns + 0.5 - x_px) <= reach_px
    columns = np.clip(columns, 0, width - 1)
    farthest = np.full(len(x_px), np.inf)
    for dy in range(span):
        row = first_y + dy
        near_enough = column_near & (np.abs(row + 0.5 - y_px) <= reach_px)
        value = _inverse(zdepth, np.clip(row, 0, height - 1), columns)
        farthest = np.minimum(farthest, np.where(near_enough, value, np.inf).min(axis=0))
    return farthest


def _offsets_within(lengths: np.ndarray) -> np.ndarray:
    """0, 1, …, n − 1 for each n of ``lengths``, concatenated."""
    return np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def _connected(first: np.ndarray, second: np.ndarray, jump: float) -> np.ndarray:
    """Whether neighbouring pixels' inverse depths belong to one surface."""
    return np.abs(first - second) <= jump * np.minimum(first, second)


def _rectangles(mask: np.ndarray, zdepth: np.ndarray, jump: float) -> np.ndarray:
    """(n, 4) int64 pixel rectangles (top, bottom, left, right; inclusive) covering ``mask``
    exactly: connected runs along rows, merged down the columns where a run repeats."""
    pixel_rows, pixel_columns = set_cells(mask)  # row-major: a pixel's left neighbour comes just before it
    values = _inverse(zdepth, pixel_rows, pixel_columns)
    joins_left = np.zeros(len(values), dtype=bool)
    joins_left[1:] = (pixel_rows[1:] == pixel_rows[:-1]) & (pixel_columns[1:] == pixel_columns[:-1] + 1)
    joins_left[1:] &= _connected(values[1:], values[:-1], jump)
    starts = np.flatnonzero(~joins_left)
    ends = np.append(starts[1:] - 1, len(values) - 1)
    runs = np.stack([pixel_rows[starts], pixel_columns[starts], pixel_columns[ends]], axis=-1)
    order = np.lexsort((runs[:, 0], runs[:, 2], runs[:, 1]))  # by span, then row
    runs = runs[order]
    follows = np.zeros(len(runs), dtype=bool)
    if len(runs) > 1:
        same_span = (runs[1:, 1] == runs[:-1, 1]) & (runs[1:, 2] == runs[:-1, 2]) & (runs[1:, 0] == runs[:-1, 0] + 1)
        pairs = np.flatnonzero(same_span)
        lengths = runs[pairs, 2] - runs[pairs, 1] + 1
        pair_of_pixel = np.repeat(np.arange(len(pairs)), lengths)
        column = runs[pairs, 1][pair_of_pixel] + _offsets_within(lengths)
        row = runs[pairs, 0][pair_of_pixel]
        linked = _connected(_inverse(zdepth, row, column), _inverse(zdepth, row + 1, column), jump)
        whole = np.ones(len(pairs), dtype=bool)
        whole[pair_of_pixel[~linked]] = False  # what logical_and.at does, 25× faster
        follows[pairs[whole] + 1] = True
    group = np.cumsum(~follows) - 1
    starts = np.flatnonzero(~follows)
    bottom = np.zeros(len(starts), dtype=np.int64)
    np.maximum.at(bottom, group, runs[:, 0])
    return np.stack([runs[starts, 0], bottom, runs[starts, 1], runs[starts, 2]], axis=-1)


def _corner_inverse_depth(
    zdepth: np.ndarray, corner_y: np.ndarray, corner_x: np.ndarray, own: np.ndarray, jump: float
) -> np.ndarray:
    """Inverse depth at pixel corners: the mean of the (up to four) pixels around each corner
    that are connected to ``own``, the inverse depth of the pixel the corner belongs to."""
    rows, columns = zdepth.shape
    total = np.zeros(len(own))
    count = np.zeros(len(own))
    for dy in (-1, 0):
        for dx in (-1, 0):
            y, x = corner_y + dy, corner_x + dx
            inside = (y >= 0) & (y < rows) & (x >= 0) & (x < columns)
            value = _inverse(zdepth, np.clip(y, 0, rows - 1), np.clip(x, 0, columns - 1))
            member = inside & _connected(value, own, jump)
            total += np.where(member, value, 0.0)
            count += member
    return total / count


def _corners(zdepth: np.ndarray, boxes: np.ndarray, jump: float) -> np.ndarray:
    """(n, 4) inverse depth at the rectangles' corners: top-left, bottom-left, bottom-right, top-right."""
    top, bottom, left, right = boxes.T
    # The four corners of every rectangle in one pass: four gathers of neighbours, not sixteen.
    pixel_y, pixel_x = np.concatenate([top, bottom, bottom, top]), np.concatenate([left, left, right, right])
    corner_y = np.concatenate([top, bottom + 1, bottom + 1, top])
    corner_x = np.concatenate([left, left, right + 1, right + 1])
    values = _corner_inverse_depth(zdepth, corner_y, corner_x, _inverse(zdepth, pixel_y, pixel_x), jump)
    return np.ascontiguousarray(values.reshape(4, len(boxes)).T)


def _within_tolerance(zdepth: np.ndarray, boxes: np.ndarray, corners: np.ndarray, tolerance: float) -> np.ndarray:
    """Whether each rectangle's two triangles (split top-left to bottom-right) stay within
    ``tolerance`` (relative) of the inverse depth at every pixel centre they cover."""
    heights = boxes[:, 1] - boxes[:, 0] + 1
    widths = boxes[:, 3] - boxes[:, 2] + 1
    areas = heights * widths
    box_of_pixel = np.repeat(np.arange(len(boxes)), areas)
    local = _offsets_within(areas)
    local_y, local_x = np.divmod(local, widths[box_of_pixel])
    v = (local_y + 0.5) / heights[box_of_pixel]
    u = (local_x + 0.5) / widths[box_of_pixel]
    tl, bl, br, tr = corners[box_of_pixel].T
    lower = v >= u
    interpolated = np.where(lower, tl + v * (bl - tl) + u * (br - bl), tl + u * (tr - tl) + v * (br - tr))
    actual = _inverse(zdepth, boxes[box_of_pixel, 0] + local_y, boxes[box_of_pixel, 2] + local_x)
    fits = np.abs(interpolated - actual) <= tolerance * actual
    whole = np.ones(len(boxes), dtype=bool)
    whole[box_of_pixel[~fits]] = False  # what logical_and.at does, 25× faster
    return whole


def _texture_within_tolerance(boxes: np.ndarray, corners: np.ndarray, max_texture_shift_px: float) -> np.ndarray:
    """Whether glTF's perspective-correct UVs slide the texture by at most ``max_texture_shift_px``
    over each rectangle: up to L·(√w_near − √w_far)/(√w_near + √w_far) over L pixels, ``corners``
    the inverse depths w at its corners. Inverse depth affine in the pixel is not enough: a long
    rectangle on a receding wall shows its far end's texel half a pixel away."""
    length_px = np.maximum(boxes[:, 1] - boxes[:, 0], boxes[:, 3] - boxes[:, 2]) + 1
    return texture_shift_px(length_px, corners.min(axis=1), corners.max(axis=1)) <= max_texture_shift_px


def _halved(boxes: np.ndarray) -> np.ndarray:
    """Each rectangle cut in two across its longer side."""
    top, bottom, left, right = boxes.T
    tall = (bottom - top) >= (right - left)
    middle_y, middle_x = (top + bottom) // 2, (left + right) // 2
    first = np.where(
        tall[:, None], np.stack([top, middle_y, left, right], -1), np.stack([top, bottom, left, middle_x], -1)
    )
    second = np.where(
        tall[:, None], np.stack([middle_y + 1, bottom, left, right], -1),
        np.stack([top, bottom, middle_x + 1, right], -1),
    )
    return np.concatenate([first, second])


def edge_strips(
    zdepth: np.ndarray,
    cut_cells: np.ndarray,
    faces: np.ndarray,
    grid_x_px: np.ndarray,
    grid_y_px: np.ndarray,
    camera: Camera,
    camera_to_gltf: np.ndarray,
    max_view_angle_deg: float,
    max_depth_error: float,
    max_texture_shift_px: float,
    surface: np.ndarray | None = None,
) -> EdgeStrips | None:
    """The pixel rectangles that cover what the cut left uncovered (None when nothing was cut).

    ``zdepth`` (height, width): the scene's z-depth at the pixel centres; ``cut_cells`` (the
    cells that lost a triangle) and ``faces`` (grid vertex ids, the triangles kept) as
    :func:`~.triangulate.triangulate_grid` returned them, less any :func:`sliding_cell_triangles`;
    ``camera_to_gltf`` maps the camera frame to the file's world. ``surface`` (height, width),
    when given: False where a pixel shows no surface (the sky), which no rectangle covers.
    """
    if not cut_cells.any():
        return None
    height, width = zdepth.shape
    mask = uncovered_pixels(cut_cells, faces, grid_x_px, grid_y_px, width, height)
    if surface is not None:
        mask &= surface
    if not mask.any():
        return None
    jump = math.tan(math.radians(max_view_angle_deg)) / camera.focal_length_px
    pending = _rectangles(mask, zdepth, jump)
    finished = []
    while len(pending):
        corners = _corners(zdepth, pending, jump)
        single = (pending[:, 0] == pending[:, 1]) & (pending[:, 2] == pending[:, 3])
        good = single | (_within_tolerance(zdepth, pending, corners, 0.5 * max_depth_error)
                         & _texture_within_tolerance(pending, corners, max_texture_shift_px))
        finished.append((pending[good], corners[good]))
        pending = _halved(pending[~good])
    boxes = np.concatenate([b for b, _ in finished])
    corner_depth = np.concatenate([c for _, c in finished])
    top, bottom, left, right = boxes.T
    corner_x = np.stack([left, left, right + 1, right + 1], -1).astype(np.float64)
    corner_y = np.stack([top, bottom + 1, bottom + 1, top], -1).astype(np.float64)
    pixels = np.stack([corner_x.ravel(), corner_y.ravel()], -1)
    points = camera.unproject(pixels, 1.0 / corner_depth.ravel(), frame="camera")
    positions = (points @ camera_to_gltf[:3, :3].T + camera_to_gltf[:3, 3]).astype(np.float32)
    uvs = (pixels / np.array([width, height])).astype(np.float32)
    first = 4 * np.arange(len(boxes))[:, None]
    # Screen y points down: top-left, bottom-left, bottom-right is counter-clockwise as seen.
    faces_out = np.concatenate([first + [0, 1, 2], first + [0, 2, 3]]).astype(np.uint32)
    return EdgeStrips(positions=positions, uvs=uvs, faces=faces_out)
