"""The vertex grid: where the samples lie in the picture and their inverse depth.

Samples sit at the pixel centres of a regular grid of ``columns × rows`` cells laid over the
picture (pixel convention of :class:`~lib_depth3d.camera.Camera`: the centre of pixel (c, r)
is (c + 0.5, r + 0.5)); at full resolution they are exactly the picture's pixel centres. The
outermost samples are pushed out to the picture's border so that the mesh covers the whole
picture. Inverse depth is interpolated bilinearly (a plane's inverse depth is affine in pixel
coordinates, so planes stay exactly planar) and extrapolated linearly over the last half cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lib_depth3d.camera.model import Camera
from lib_depth3d.errors import SceneError
from lib_depth3d.options import MIN_RESOLUTION

MAX_GRID_VERTICES = 4096 * 4096


@dataclass(frozen=True)
class SampleGrid:
    """Sample positions of the vertex grid.

    Attributes:
        x_px: (columns,) pixel x of each grid column, from 0 to the picture width.
        y_px: (rows,) pixel y of each grid row, from 0 to the picture height.
    """

    x_px: np.ndarray
    y_px: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return len(self.y_px), len(self.x_px)


def grid_shape(width_px: int, height_px: int, resolution: int | None) -> tuple[int, int]:
    """(rows, columns) of a grid with ``resolution`` samples on the longer side (None: full)."""
    long_side = max(width_px, height_px)
    if resolution is None or resolution >= long_side:
        rows, columns = height_px, width_px
    else:
        if resolution < MIN_RESOLUTION:
            raise SceneError(f"The grid resolution must be at least {MIN_RESOLUTION} samples, got {resolution}.")
        scale = resolution / long_side
        rows, columns = max(2, round(height_px * scale)), max(2, round(width_px * scale))
    if rows * columns > MAX_GRID_VERTICES:
        raise SceneError(
            f"A {columns}×{rows} vertex grid is too large for one mesh (at most "
            f"{MAX_GRID_VERTICES} vertices); choose a resolution of at most 4096 samples."
        )
    return rows, columns


def sample_grid(width_px: int, height_px: int, rows: int, columns: int) -> SampleGrid:
    """Cell-centre sample positions, with the outermost ones moved onto the picture border."""
    x_px = (np.arange(columns) + 0.5) * (width_px / columns)
    y_px = (np.arange(rows) + 0.5) * (height_px / rows)
    x_px[0], x_px[-1] = 0.0, float(width_px)
    y_px[0], y_px[-1] = 0.0, float(height_px)
    return SampleGrid(x_px, y_px)


def _interpolation_along(positions_px: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Left sample index and fraction (may leave [0, 1] at the border) for pixel positions."""
    coordinate = positions_px - 0.5
    left = np.clip(np.floor(coordinate).astype(np.int64), 0, max(size - 2, 0))
    return left, coordinate - left


def _pixels_read(positions_px: np.ndarray, size: int) -> np.ndarray | None:
    """Sorted indices of the pixels that interpolation at ``positions_px`` reads along an axis of
    ``size`` pixels (None: every one)."""
    if size == 1:
        return None
    left, _ = _interpolation_along(positions_px, size)
    read = np.unique(np.concatenate([left, left + 1]))
    return None if len(read) == size else read


def _progression(indices: np.ndarray) -> slice | None:
    """``indices`` as a slice when they step evenly forwards (None otherwise)."""
    if len(indices) < 2:
        return None
    step = int(indices[1] - indices[0])
    if step <= 0 or not np.array_equal(np.diff(indices), np.full(len(indices) - 1, step)):
        return None
    return slice(int(indices[0]), int(indices[-1]) + 1, step)


def _resample_axis(values: np.ndarray, positions_px: np.ndarray, axis: int, size: int,
                   stored: np.ndarray | None) -> np.ndarray:
    """Interpolate along ``axis`` of ``values``, which holds the pixels ``stored`` (sorted indices
    out of ``size``; None: all of them) of that axis. The arithmetic is float64 whatever the
    values' own type (a float32 value converts exactly)."""
    if size == 1:
        return np.repeat(values.astype(np.float64, copy=False), len(positions_px), axis=axis)
    left, fraction = _interpolation_along(positions_px, size)
    # Each left pixel's right neighbour is stored too, so it is the next one held.
    at = left if stored is None else np.searchsorted(stored, left)
    shape = [1, 1]
    shape[axis] = -1
    evenly = _progression(at)
    if evenly is not None and np.all(fraction != 0):
        # Samples evenly spaced between the pixels they read (every grid coarser than the
        # pixels by a whole factor, as the default 512 grid of a 1024² or 4096² picture):
        # both neighbours are strided views, and nothing is gathered or converted whole.
        along = [slice(None), slice(None)]
        along[axis] = evenly
        first = values[tuple(along)]
        along[axis] = slice(evenly.start + 1, evenly.stop + 1, evenly.step)
        second = values[tuple(along)]
        interpolated = np.subtract(second, first, dtype=np.float64)
        interpolated *= fraction.reshape(shape)
        np.add(first, interpolated, out=interpolated)
        _limit_extrapolation(interpolated, first, second, fraction, axis)
        return interpolated
    values = values.astype(np.float64, copy=False)
    result = np.take(values, at, axis=axis)
    # A sample on a pixel centre (every inner one at full resolution) is that pixel's value: only
    # the others are interpolated, so a full-resolution grid makes no full-size temporaries.
    between = np.flatnonzero(fraction != 0)
    if between.size == 0:
        return result
    every_line = between.size == len(positions_px)  # any grid coarser than the pixels: no copy, no scatter
    along = [slice(None), slice(None)]
    along[axis] = between
    fraction = fraction[between]
    first = result if every_line else result[tuple(along)]
    second = np.take(values, at[between] + 1, axis=axis)
    interpolated = first + (second - first) * fraction.reshape(shape)
    _limit_extrapolation(interpolated, first, second, fraction, axis)
    if every_line:
        return interpolated
    result[tuple(along)] = interpolated
    return result


def _limit_extrapolation(interpolated: np.ndarray, first: np.ndarray, second: np.ndarray, fraction: np.ndarray,
                         axis: int) -> None:
    """Keep the lines extrapolated past the outermost pixel centres (fraction outside [0, 1])
    within ½ to 1½ times the nearer pixel, in place."""
    outside = np.flatnonzero((fraction < 0) | (fraction > 1))
    if not outside.size:
        return
    # Only the outermost lines extrapolate: they alone are limited (at 4096², three whole-grid
    # passes of the 512 grid's x resampling were 15 ms of its 30).
    shape = [1, 1]
    shape[axis] = -1
    lines = [slice(None), slice(None)]
    lines[axis] = outside
    lines = tuple(lines)
    nearest = np.where(fraction[outside].reshape(shape) < 0.5, first[lines], second[lines]).astype(np.float64)
    interpolated[lines] = np.clip(interpolated[lines], 0.5 * nearest, 1.5 * nearest)


def _sample(values: np.ndarray, grid: SampleGrid, convert) -> np.ndarray:
    """(rows, columns) float64 bilinear samples of ``convert(values)`` at the grid's samples;
    ``convert`` (elementwise) runs only on the pixels the interpolation reads."""
    height, width = values.shape
    rows, columns = _pixels_read(grid.y_px, height), _pixels_read(grid.x_px, width)
    # Rows, then columns: two gathers along an axis took two thirds of one through np.ix_.
    read = values if rows is None else values.take(rows, axis=0)
    read = read if columns is None else read.take(columns, axis=1)
    along_x = _resample_axis(convert(read), grid.x_px, 1, width, columns)
    return _resample_axis(along_x, grid.y_px, 0, height, rows)


def sample_map(values: np.ndarray, grid: SampleGrid) -> np.ndarray:
    """(rows, columns) float64 samples of an (H, W) map of non-negative values at the grid's samples
    (bilinear; past the outermost pixel centres kept within ½ to 1½ times the nearest one)."""
    return _sample(values, grid, lambda read: read)


def sample_inverse_depth(zdepth: np.ndarray, grid: SampleGrid) -> np.ndarray:
    """(rows, columns) inverse depth at the grid's samples, from an (H, W) z-depth map."""
    # Sample first, convert after: at 4096² the 512 grid reads 1 024² pixels, and inverting all
    # 4 096² of them took a full-size float32 and a float64 map (200 MB) for the same values.
    return _sample(zdepth, grid, lambda read: 1.0 / read)


def unproject_samples(
    grid: SampleGrid,
    inverse_depth: np.ndarray,
    camera: Camera,
    sample_ids: np.ndarray | None = None,
) -> np.ndarray:
    """(n, 3) camera-frame points (x right, y up, looking down −z) of grid samples
    (:meth:`Camera.unproject` at their pixels and z-depths).

    ``sample_ids``: row-major indices of the samples to lift (default: all of them).
    """
    rows, columns = inverse_depth.shape
    if sample_ids is None:
        sample_ids = np.arange(rows * columns)
    row, column = np.divmod(sample_ids, columns)
    pixels = np.stack([grid.x_px[column], grid.y_px[row]], axis=-1)
    return camera.unproject(pixels, 1.0 / inverse_depth.reshape(-1)[sample_ids], frame="camera")
