"""The background layer: what foreground objects hide, extended from the background beside them.

The surface is cut at depth discontinuities, so as soon as the viewer leaves the picture's
camera the areas behind foreground objects are empty. This layer fills a band along every cut
edge, on the near (foreground) side, with the far side's surface and colours continued behind
the foreground:

1. **Edges.** In every cut cell the corners split at the geometric mean of the cell's nearest
   and farthest inverse depth into near and far corners. Far corners that are nobody's near
   corner are the *seeds*: the background at the edge.
2. **Depth.** The seeds' inverse depth grows outwards one grid step at a time, each new sample
   taking the mean of its already filled 4-neighbours, into samples at least ``FRONT_MARGIN``
   nearer than that mean (the foreground; a step never climbs onto a farther surface), for
   ``band_samples`` steps. A plane's inverse depth is affine in pixels, so a wall or floor
   extended along its own rows or columns keeps its shape; elsewhere the fill is the mean of
   the edge it grew from, which is what a viewer glimpses behind a pillar.
3. **Colour.** The picture's colours at the grid samples grow the same way into the band,
   from background samples only: the foreground (the band and one step beyond it) and the
   seeds themselves (their pixels often blend both sides of the edge) are not sources.
4. **Placement.** The layer is pushed back along each ray by ``push_back`` (relative inverse
   depth, more than the main surface's and the layer's decimation errors together), so from
   the picture's camera the main surface hides it wherever the main surface exists; where the
   main surface was cut, the layer shows instead of nothing.

The layer is triangulated like the main surface on the same grid (cells whose four corners
are in the band; decimated with the same tolerances, so its flat fills cost few triangles)
and has its own texture: the filled colours over the band's bounding box of grid samples, one
texel per sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from lib_depth3d.arrays import set_cells
from lib_depth3d.scene.triangulate import TriangulationOptions, triangulate_grid

FRONT_MARGIN = 0.02  # well above depth noise on a surface, well below the jump that gets cut
MIN_PUSH_BACK = 0.005  # more than twice the default decimation error (0.002)
DEFAULT_BAND_FRACTION = 0.08


@dataclass(frozen=True)
class BackgroundBand:
    """The background layer on the vertex grid.

    Attributes:
        sample_ids: (n,) row-major grid indices of the layer's vertices.
        inverse_depth: (n,) the vertices' inverse depth (already pushed back).
        faces: (m, 3) indices into ``sample_ids``, counter-clockwise as seen from the camera.
        texture: the band's colours, one texel per grid sample of its bounding box.
        uvs: (n, 2) texel centres of the vertices in ``texture``.
    """

    sample_ids: np.ndarray
    inverse_depth: np.ndarray
    faces: np.ndarray
    texture: Image.Image
    uvs: np.ndarray


@dataclass(frozen=True)
class BackgroundLayer:
    """The background layer as written to the file.

    Attributes:
        positions: (n, 3) float32 vertices in glTF's Y-up world, scene units.
        uvs: (n, 2) float32 texture coordinates in ``texture``.
        faces: (m, 3) uint32 triangles, counter-clockwise seen from the camera.
        texture: the layer's own RGB texture (the band's bounding box only).
    """

    positions: np.ndarray
    uvs: np.ndarray
    faces: np.ndarray
    texture: Image.Image


def default_band_px(width_px: int, height_px: int) -> float:
    """The band width when none is given: 8 % of the picture's longer side."""
    return DEFAULT_BAND_FRACTION * max(width_px, height_px)


def band_samples_for(band_px: float, width_px: int, height_px: int, rows: int, columns: int) -> int:
    """Grid steps that span ``band_px`` pixels (at least one)."""
    spacing_px = max(width_px / columns, height_px / rows)
    return max(1, math.ceil(band_px / spacing_px))


def edge_samples(inverse_depth: np.ndarray, cut_cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(near, far) boolean grids: corners of cut cells on the near and on the far side."""
    cell_rows, cell_columns = set_cells(cut_cells)
    corner_offsets = ((0, 0), (0, 1), (1, 0), (1, 1))
    corners = [inverse_depth[cell_rows + down, cell_columns + across] for down, across in corner_offsets]
    lowest = np.minimum(np.minimum(corners[0], corners[1]), np.minimum(corners[2], corners[3]))
    highest = np.maximum(np.maximum(corners[0], corners[1]), np.maximum(corners[2], corners[3]))
    split = np.sqrt(lowest * highest)
    near = np.zeros(inverse_depth.shape, dtype=bool)
    far = np.zeros(inverse_depth.shape, dtype=bool)
    for corner, (down, across) in zip(corners, corner_offsets):
        is_near = corner > split
        near[cell_rows[is_near] + down, cell_columns[is_near] + across] = True
        far[cell_rows[~is_near] + down, cell_columns[~is_near] + across] = True
    return near, far


def _grow(
    values: np.ndarray, known: np.ndarray, open_to: np.ndarray, steps: int | None, margin: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Fill ``open_to`` samples outwards from ``known`` ones, one 4-neighbour step at a time.

    ``values`` (rows, columns, channels), finite: each step gives the open samples next to the
    last step's new ones the mean of their known neighbours; with ``margin``, only where the
    sample's own value (channel 0) exceeds that mean by the factor 1 + margin. Only the frontier
    is touched, so a step costs the length of the edges, not the grid's area. Returns the float64
    values (the filled samples' means, the others' own) and the step at which each sample was
    filled (0: known at the start, −1: never).
    """
    rows, columns, channels = values.shape
    stride = columns + 2  # one sample of padding all round: neighbours never wrap to another row

    def padded(grid: np.ndarray, dtype: type) -> np.ndarray:
        flat = np.zeros(((rows + 2) * stride,) + grid.shape[2:], dtype=dtype)
        flat.reshape((rows + 2, stride) + grid.shape[2:])[1:-1, 1:-1] = grid
        return flat

    # A sample's own value until it is filled: the means below weigh unfilled neighbours by 0.
    flat = padded(values, np.float64)
    filled = padded(known, bool)
    # open_now: samples that may still be filled (cleared as they are), one lookup per candidate.
    open_now = padded(open_to, bool)
    open_now &= ~filled
    filled_at = np.full(len(filled), -1, dtype=np.int32)
    filled_at[filled] = 0
    offsets = np.array([-1, 1, -stride, stride])
    # Offsets down a column: adding them to a long row of samples runs along that row (an
    # (n, 4) sum took 3.5× longer). A step's candidates are then listed offset by offset; the
    # order changes no value, as every mean is taken from the state the step started with.
    offset_column = offsets[:, None]
    each_neighbour = np.ones((len(offsets), 1))
    # The first frontier: known samples beside an open one (the others have nothing to fill).
    beside = np.zeros_like(filled)
    for offset in offsets:
        if offset > 0:
            beside[:-offset] |= open_now[offset:]
        else:
            beside[-offset:] |= open_now[:offset]
    beside &= filled
    frontier = np.flatnonzero(beside)
    del beside
    # latest[i]: a candidate's position in this step's list, to keep one copy of each (in O(n)).
    latest = np.zeros(len(filled), dtype=np.int32)
    step = 0
    while frontier.size and (steps is None or step < steps):
        step += 1
        candidates = (frontier + offset_column).ravel()
        candidates = candidates[open_now[candidates]]
        positions = np.arange(len(candidates), dtype=np.int32)
        latest[candidates] = positions
        candidates = candidates[latest[candidates] == positions]
        neighbours = np.ascontiguousarray((candidates + offset_column).T)  # (k, 4), as einsum reads them
        # Weights as float64: einsum adds in the same order (the same means bit for bit, one channel
        # or three), 4× faster than when it casts the booleans itself; their product with ones is
        # the count of filled neighbours, exactly (count_nonzero or a sum along an axis of four
        # took a fifth of the growth, a product a sixth of that).
        weights = filled[neighbours].astype(np.float64)
        mean = np.einsum("kn,knc->kc", weights, np.take(flat, neighbours, axis=0))
        mean /= weights @ each_neighbour
        if margin is not None:
            nearer = flat[candidates, 0] > mean[:, 0] * (1.0 + margin)
            candidates, mean = candidates[nearer], mean[nearer]
        flat[candidates] = mean
        filled[candidates] = True
        open_now[candidates] = False
        filled_at[candidates] = step
        frontier = candidates
    inner = (slice(1, -1), slice(1, -1))
    return flat.reshape(rows + 2, stride, channels)[inner], filled_at.reshape(rows + 2, stride)[inner]


def grow_background_depth(
    inverse_depth: np.ndarray, seeds: np.ndarray, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """(filled inverse depth, step at which each sample was filled: 0 seeds, −1 never).

    Each step fills the samples next to filled ones with the mean of their filled
    4-neighbours, when the sample itself is at least ``FRONT_MARGIN`` nearer than that mean.
    Samples never filled keep their own inverse depth.
    """
    values, filled_at = _grow(inverse_depth[..., None], seeds, np.ones_like(seeds), steps, FRONT_MARGIN)
    return values[..., 0], filled_at


def grow_colours(colours: np.ndarray, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``colours`` (rows, columns, 3) with ``targets`` filled outwards from ``sources``.

    Each step gives the target samples next to filled ones the mean of their filled
    4-neighbours; targets that no source reaches through other targets keep their own colour.
    """
    return _grow(colours, sources, targets, None, None)[0]


def _grid_colours(picture: Image.Image, grid_x_px: np.ndarray, grid_y_px: np.ndarray) -> np.ndarray:
    """(rows, columns, 3) uint8 colours of the pixels under the grid samples."""
    width, height = picture.size
    columns = np.clip(np.floor(grid_x_px).astype(np.int64), 0, width - 1)
    rows = np.clip(np.floor(grid_y_px).astype(np.int64), 0, height - 1)
    # Only the samples' bounding box is converted: at full resolution the band's is much of the picture.
    left, top = int(columns.min()), int(rows.min())
    box = picture.crop((left, top, int(columns.max()) + 1, int(rows.max()) + 1))
    pixels = np.asarray(box if box.mode == "RGB" else box.convert("RGB"))  # converting RGB copies it (17 ms at 4096²)
    # At full resolution every pixel of the box is a sample's, in order: the box itself.
    if np.array_equal(rows - top, np.arange(len(rows))) and np.array_equal(columns - left, np.arange(len(columns))):
        return pixels
    # Rows, then columns: two gathers along an axis took a sixth of one over both axes at once.
    return pixels.take(rows - top, axis=0).take(columns - left, axis=1)


def background_band(
    inverse_depth: np.ndarray,
    cut_cells: np.ndarray,
    picture: Image.Image,
    grid_x_px: np.ndarray,
    grid_y_px: np.ndarray,
    focal_length_px: float,
    principal_point_px: tuple[float, float],
    band_samples: int,
    push_back: float,
    decimation: TriangulationOptions,
    depth_allowance: np.ndarray | None = None,
) -> BackgroundBand | None:
    """The background layer behind the near side of every cut edge (None when nothing is cut).

    ``inverse_depth`` (rows, columns) and ``cut_cells`` (rows−1, columns−1) as the main
    surface's triangulation saw them; ``grid_x_px``, ``grid_y_px`` the samples' pixel
    positions and ``focal_length_px``, ``principal_point_px`` the camera's, as for
    :func:`~lib_depth3d.scene.triangulate.triangulate_grid`; ``band_samples`` grid steps wide;
    ``push_back`` the relative inverse depth by which the layer lies behind the surface it
    continues; ``decimation`` the main surface's settings (its cutting is ignored: the layer's
    cells are exactly those whose four corners are in the band) and ``depth_allowance`` the main
    surface's (rows, columns), if any.
    """
    near, far = edge_samples(inverse_depth, cut_cells)
    seeds = far & ~near
    if not seeds.any():
        return None
    rows_with, columns_with = set_cells(seeds | near)
    pad = band_samples + 1
    rows, columns = inverse_depth.shape
    top, bottom = max(rows_with.min() - pad, 0), min(rows_with.max() + pad + 1, rows)
    left, right = max(columns_with.min() - pad, 0), min(columns_with.max() + pad + 1, columns)
    window = (slice(top, bottom), slice(left, right))
    # One step beyond the band: those samples are foreground too and must not lend their colour.
    background, filled_at = grow_background_depth(inverse_depth[window], seeds[window], band_samples + 1)
    layer = (filled_at >= 0) & (filled_at <= band_samples)
    cells = layer[:-1, :-1] & layer[:-1, 1:] & layer[1:, :-1] & layer[1:, 1:]
    if not cells.any():
        return None

    colours = _grid_colours(picture, grid_x_px[left:right], grid_y_px[top:bottom])
    colour_sources = filled_at < 0
    colours = grow_colours(colours, colour_sources, layer)

    # Triangulate only the band's own bounding box: the window also holds the foreground beyond it.
    cell_rows, cell_columns = set_cells(cells)
    box_top, box_bottom = cell_rows.min(), cell_rows.max() + 2
    box_left, box_right = cell_columns.min(), cell_columns.max() + 2
    box = (slice(box_top, box_bottom), slice(box_left, box_right))
    layer_depth = np.where(layer, background * (1.0 - push_back), inverse_depth[window])
    triangles = triangulate_grid(
        layer_depth[box],
        grid_x_px[left + box_left : left + box_right],
        grid_y_px[top + box_top : top + box_bottom],
        focal_length_px,
        principal_point_px,
        replace(decimation, cut_discontinuities=False),
        left_out_cells=~cells[box_top : box_bottom - 1, box_left : box_right - 1],
        depth_allowance=None if depth_allowance is None else depth_allowance[window][box],
    )
    used = np.zeros((box_bottom - box_top) * (box_right - box_left), dtype=bool)
    used[triangles.faces.ravel()] = True
    new_index = np.cumsum(used) - 1
    faces = new_index[triangles.faces]
    used_rows, used_columns = np.divmod(np.flatnonzero(used), box_right - box_left)
    used_rows += box_top
    used_columns += box_left

    box_colours = colours[box_top:box_bottom, box_left:box_right]  # the grown copy: rounded in place
    texture = np.clip(np.round(box_colours, out=box_colours), 0, 255, out=box_colours).astype(np.uint8)
    uvs = np.stack(
        [
            (used_columns - box_left + 0.5) / (box_right - box_left),
            (used_rows - box_top + 0.5) / (box_bottom - box_top),
        ],
        axis=-1,
    ).astype(np.float32)
    sample_ids = (used_rows + top) * columns + used_columns + left
    return BackgroundBand(
        sample_ids=sample_ids,
        inverse_depth=layer_depth[used_rows, used_columns],
        faces=faces.astype(np.uint32),
        texture=Image.fromarray(texture),
        uvs=uvs,
    )
