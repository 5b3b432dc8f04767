"""Relative disparity fitted to a calibrated camera: the scale and shift of inverse depth, and the
network's smooth bias, that put the floor and walls where the calibration says they are.

A network's relative disparity is ``d = a/z + b + e(u, v)`` with unknown ``a`` and ``b`` and a
bias ``e`` that varies slowly over the picture, so inverse depth is ``w = s·(d − e − β)`` with
``β = b`` the disparity of points at infinity and ``s = 1/a``. On a plane whose normal ``n``
(camera frame) is known, ``1/z = (n·r)/c`` for the ray ``r = ((u − cx)/f, (cy − v)/f, −1)`` of
pixel ``(u, v)`` and the plane's offset ``c``, so its pixels satisfy ``d = α·(n·r) + β + e``
with one unknown ``α`` per plane and ``β`` and ``e`` shared by all planes. The calibration gives
the normals: the world's up axis (fSpy's world is Z up) for the floor and the horizontal axes
x, y for walls; the floor passes through the world origin, so its offset ``c`` is known too and
fixes ``s``. ``e`` is a Legendre series in the pixel (BIAS_TERMS): ``α·(n·r)`` is affine in the
pixel, so a plane's curvature is bias, and planes of different normals disagree on the bias's
tilt unless it is removed; what no plane fixes, a prior keeps at zero.

Planes are found in the depth itself, by consensus, on a grid of small cells (block means of the
map; a block mean of a plane's disparity is its value at the block centre):

1. ``β``: on a plane of normal ``n`` the disparity gradient is ``(d − β)/(n·r)·∇(n·r)``; the
   ``β`` for which the most cells' measured gradients agree with that of some calibrated normal
   is searched in one dimension (in the scene's depth ratio it implies).
2. Planes: given ``β``, each normal's cells whose ``α = (d − e − β)/(n·r)`` agree form a plane;
   the largest is taken, its cells removed, and so on.
3. ``β``, ``e`` and every ``α`` are refined together by robust least squares over the planes'
   cells, and the planes found again with the new ``β`` and ``e``.
4. ``s``: from the floor's ``α`` (``s = 1/(α·c_floor)``); without a floor the caller scales the
   result to the world origin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from lib_depth3d.camera import Camera

CELLS_ON_LONG_SIDE = 128
WINDOW_CELLS = 5
WINDOW_SUM_SQUARES = WINDOW_CELLS * sum(k * k for k in range(-(WINDOW_CELLS // 2), WINDOW_CELLS // 2 + 1))
GRADIENT_TOLERANCE = 0.1  # relative disagreement of a cell's gradient with a plane's, allowed for network bias
INLIER_FRACTION_OF_RANGE = 0.01  # a plane's cells lie within this fraction of the disparity range of it
MIN_PLANE_FRACTION = 0.01  # of the picture's cells
QUANTIZATION_OF_RANGE = 1e-5
MAX_PLANES = 8
HYPOTHESES = 64  # values of α tried per normal, quantiles of the cells' own
ROUNDS = 3
DEPTH_RATIO_SEARCH = (1.02, 1.0e4)
FARTHEST_IN_MEDIAN_DEPTHS = 100.0
# The bias is assumed to vary over no less than about the picture's size: a Legendre series of
# degree 5 follows a wave of one period across the picture to within 6 % of its amplitude (4: 21 %).
BIAS_DEGREE = 5
BIAS_TERMS = tuple((i, total - i) for total in range(1, BIAS_DEGREE + 1) for i in range(total, -1, -1))
BIAS_PRIOR_OF_RANGE = 0.01  # expected size of a network's smooth bias, as a fraction of the disparity range
# The series is fixed by the planes' cells and extrapolated over the rest: over a picture that is
# mostly something else (a close object) it would bend that object, so below this share of the
# picture's cells on planes only scale and shift are fitted.
BIAS_MIN_PLANE_SHARE = 0.25
WORLD_AXES = ("x", "y", "z")
UP_AXIS = 2


@dataclass(frozen=True)
class FittedPlane:
    """A plane of calibrated orientation found in the depth.

    Attributes:
        axis: the world axis the plane is perpendicular to ('z': horizontal; 'x', 'y': walls).
        is_ground: True for the floor through the world origin (the plane that fixed the scale).
        coverage: fraction of the picture the plane's cells cover.
        angle_deg: angle between the plane of the depth's points and its calibrated orientation.
        flatness: RMS distance of the plane's points (means over cells of about 1/128 of the
            picture's longer side) from their own best-fit plane, as a fraction of the scene's
            depth range.
        angle_before_deg, flatness_before: the same with the depth as mapped without the fit
            (None when nothing was fitted, only checked).
    """

    axis: Literal["x", "y", "z"]
    is_ground: bool
    coverage: float
    angle_deg: float
    flatness: float
    angle_before_deg: float | None
    flatness_before: float | None

    def as_json(self) -> dict:
        figures = {
            "axis": self.axis,
            "ground": self.is_ground,
            "coverage": round(self.coverage, 4),
            "angleDeg": round(self.angle_deg, 3),
            "flatness": round(self.flatness, 5),
        }
        if self.angle_before_deg is not None:
            figures["angleBeforeDeg"] = round(self.angle_before_deg, 3)
            figures["flatnessBefore"] = round(self.flatness_before, 5)
        return figures


@dataclass(frozen=True)
class CalibrationFit:
    """How a depth map agrees with a calibration, and the inverse-depth map that makes it agree.

    Attributes:
        scale, shift: inverse depth in 1/world units = ``scale · value + shift``, where value is
            the disparity (fitted) or, when only checked, the map's own inverse depth (1, 0).
        fitted: True when the scale and shift were fitted; False when the map was only checked.
        scale_from: 'ground' (the floor through the origin), 'origin' (the depth at the world
            origin's pixel, set by :meth:`scaled`) or 'map' (the map's own scale: nearest point
            at 1 for disparity, unchanged when checked).
        planes: the planes found, largest first.
        bias: coefficients of the network's smooth bias removed from the value before the scale
            and shift, one per term ``(i, j)`` of BIAS_TERMS: ``Σ c·Pᵢ(x)·Pⱼ(y)`` with ``Pᵢ`` the
            Legendre polynomials and ``x, y`` the pixel centre's position across the picture's
            width and height from −1 to 1 (empty when only checked).
        bias_peak: the largest size of that bias over the picture's cells, as a fraction of the
            map's range (1st to 99th percentile).
    """

    scale: float
    shift: float
    fitted: bool
    scale_from: Literal["ground", "origin", "map"]
    planes: tuple[FittedPlane, ...]
    bias: tuple[float, ...]
    bias_peak: float

    @property
    def horizon_value(self) -> float:
        """The value at infinite depth (``−shift/scale``)."""
        return -self.shift / self.scale

    def scaled(self, factor: float) -> "CalibrationFit":
        """The same fit with depth multiplied by ``factor``, its scale then set at the origin."""
        return replace(self, scale=self.scale / factor, shift=self.shift / factor, scale_from="origin")

    def zdepth(self, values: np.ndarray) -> tuple[np.ndarray, float]:
        """(float32 z-depth for ``values``, fraction of pixels beyond the fitted horizon).

        Values at or beyond the horizon (noise, sky) are put at 100 median depths.
        """
        inverse = self.scale * np.asarray(values, dtype=np.float64)
        inverse += self.shift
        if self.bias:
            height, width = inverse.shape
            scaled = np.multiply(self.scale, self.bias)
            inverse -= bias_field(scaled, np.arange(width) + 0.5, np.arange(height) + 0.5, width, height)
        positive = inverse[inverse > 0]
        floor = (np.median(positive) if positive.size else 1.0) / FARTHEST_IN_MEDIAN_DEPTHS
        beyond = inverse < floor
        return (1.0 / np.maximum(inverse, floor)).astype(np.float32), float(beyond.mean())

    def as_json(self) -> dict:
        figures = {
            "fitted": self.fitted,
            "scale": self.scale,
            "shift": self.shift,
            "scaleFrom": self.scale_from,
            "planes": [plane.as_json() for plane in self.planes],
        }
        if self.bias:
            figures["bias"] = {
                "legendreTerms": [list(term) for term in BIAS_TERMS],
                "coefficients": list(self.bias),
                "peakOfRange": round(self.bias_peak, 5),
            }
        return figures

    def summary(self) -> str:
        """One line for the user: the worst angles before and after, and the flatness."""
        if not self.planes:
            return "no floor or wall of the calibrated orientations was found in the depth"
        parts = []
        for label, axes in (("floor", ("z",)), ("walls", ("x", "y"))):
            planes = [p for p in self.planes if p.axis in axes]
            if not planes:
                continue
            after = max(p.angle_deg for p in planes)
            if self.fitted and planes[0].angle_before_deg is not None:
                before = max(p.angle_before_deg for p in planes)
                parts.append(f"{label} {before:.1f}° → {after:.1f}° off")
            else:
                parts.append(f"{label} {after:.1f}° off")
        flatness = max(p.flatness for p in self.planes)
        if self.fitted:
            source = {"ground": "the floor", "origin": "the origin", "map": "the map's nearest point at 1"}
            verb = f"fitted to the calibration (scale from {source[self.scale_from]}) on"
        else:
            verb = "checked against the calibration on"
        shown = self.bias and round(100 * self.bias_peak, 1) > 0
        removed = f"; a smooth bias of up to {100 * self.bias_peak:.1f} % of its range removed" if shown else ""
        return (
            f"{verb} {len(self.planes)} planes: " + ", ".join(parts)
            + f"; flat within {100 * flatness:.2f} % of the depth range" + removed
        )


def _legendre(pixels: np.ndarray, length: int) -> np.ndarray:
    """P₀ … P_BIAS_DEGREE at pixel coordinates along a side of ``length`` px, mapped to [−1, 1]:
    (N, BIAS_DEGREE + 1)."""
    t = 2.0 * np.asarray(pixels, dtype=np.float64) / length - 1.0
    table = [np.ones_like(t), t]
    for k in range(1, BIAS_DEGREE):
        table.append(((2 * k + 1) * t * table[k] - k * table[k - 1]) / (k + 1))
    return np.stack(table[: BIAS_DEGREE + 1], -1)


def bias_field(coefficients, u_px: np.ndarray, v_px: np.ndarray, width: int, height: int) -> np.ndarray:
    """The smooth bias ``Σ c·Pᵢ(x)·Pⱼ(y)`` (terms BIAS_TERMS) on the grid of rows ``v_px`` and
    columns ``u_px`` of a ``width × height`` picture, (V, U)."""
    return _legendre(v_px, height) @ _by_term(coefficients) @ _legendre(u_px, width).T


def _by_term(coefficients) -> np.ndarray:
    """The coefficients as a matrix [j, i] of the terms Pᵢ(x)·Pⱼ(y)."""
    matrix = np.zeros((BIAS_DEGREE + 1, BIAS_DEGREE + 1))
    for coefficient, (i, j) in zip(coefficients, BIAS_TERMS):
        matrix[j, i] = coefficient
    return matrix


@dataclass(frozen=True)
class _Cells:
    """Block means of a map over a grid of square cells, with each cell centre's ray."""

    values: np.ndarray  # (rows, columns)
    size_px: int
    rays: np.ndarray  # (rows, columns, 3), camera frame, z = −1
    along_normal: np.ndarray  # (rows, columns, 3): n_axis · ray for each world axis
    normal_gradient_px: np.ndarray  # (3, 2): ∂(n·r)/∂(u, v) per pixel, per world axis
    legendre_across: np.ndarray  # (columns, BIAS_DEGREE + 1): Pᵢ(x) at each column of cell centres
    legendre_down: np.ndarray  # (rows, BIAS_DEGREE + 1): Pⱼ(y) at each row of cell centres

    def bias(self, coefficients) -> np.ndarray:
        """The smooth bias with these coefficients at the cell centres, (rows, columns)."""
        return self.legendre_down @ _by_term(coefficients) @ self.legendre_across.T


def _cells(values: np.ndarray, camera: Camera) -> _Cells:
    height, width = values.shape
    size = max(1, math.ceil(max(height, width) / CELLS_ON_LONG_SIDE))
    rows, columns = height // size, width // size
    blocks = np.asarray(values[: rows * size, : columns * size], dtype=np.float64)
    means = blocks.reshape(rows, size, columns, size).mean(axis=(1, 3))
    v = (np.arange(rows) + 0.5) * size
    u = (np.arange(columns) + 0.5) * size
    cx, cy = camera.principal_point_px
    f = camera.focal_length_px
    rays = np.stack(np.broadcast_arrays((u[None, :] - cx) / f, (cy - v[:, None]) / f, -1.0), -1)
    normals = camera.world_to_camera[:3, :3]  # column k: world axis k in the camera frame
    along = rays @ normals
    gradient = np.stack([normals[0] / f, -normals[1] / f], -1)
    return _Cells(means, size, rays, along, gradient, _legendre(u, width), _legendre(v, height))


def _window_gradients(cells: _Cells) -> tuple[np.ndarray, np.ndarray, float]:
    """(gradient per pixel (rows, columns, 2), planar-window mask, noise std of a cell value).

    An affine fit over each cell's WINDOW_CELLS² neighbourhood; windows that cross a crease or an
    edge fit badly and are masked out; border cells have no full window.
    """
    half = WINDOW_CELLS // 2
    rows, columns = cells.values.shape
    gradient = np.zeros((rows, columns, 2))
    planar = np.zeros((rows, columns), dtype=bool)
    if rows < WINDOW_CELLS or columns < WINDOW_CELLS:
        return gradient, planar, 0.0
    windows = np.lib.stride_tricks.sliding_window_view(cells.values, (WINDOW_CELLS, WINDOW_CELLS))
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    centred = windows - windows.mean(axis=(2, 3), keepdims=True)
    sum_squares = WINDOW_SUM_SQUARES
    along_u = np.einsum("ijkl,l->ij", centred, offsets) / sum_squares
    along_v = np.einsum("ijkl,k->ij", centred, offsets) / sum_squares
    residual = (
        np.einsum("ijkl,ijkl->ij", centred, centred) - (along_u**2 + along_v**2) * sum_squares
    ) / (WINDOW_CELLS**2 - 3)
    spread = np.sqrt(np.maximum(residual, 0.0))
    noise = float(np.median(spread))
    inner = (slice(half, rows - half), slice(half, columns - half))
    gradient[inner] = np.stack([along_u, along_v], -1) / cells.size_px
    # A lower bound, since rounding alone (a float32 map's, a 16-bit PNG's) differs between near
    # and far values, and must not make an exact map's planes look rough.
    low, high = np.percentile(cells.values, [1.0, 99.0])
    planar[inner] = spread <= 3.0 * noise + QUANTIZATION_OF_RANGE * (high - low)
    return gradient, planar, noise


@dataclass(frozen=True)
class _GradientTerms:
    """What the agreement of each planar cell's gradient with each calibrated normal needs,
    computed once for every ``β`` tried: with ``k = ∇(n·r)/(n·r)`` a plane's gradient is
    ``(d − β)·k``, so the miss ``|g − (d − β)·k|²`` expands into these dot products."""

    planar: np.ndarray  # (rows, columns) bool
    values: np.ndarray  # (P,)
    g_dot_k: np.ndarray  # (P, 3)
    k_dot_k: np.ndarray  # (P, 3)
    g_dot_g: np.ndarray  # (P,)
    noise_squared: float  # (3 × the gradient noise)², per pixel²


def _gradient_terms(cells: _Cells, gradient: np.ndarray, planar: np.ndarray, noise: float) -> _GradientTerms:
    with np.errstate(divide="ignore", invalid="ignore"):
        k = cells.normal_gradient_px[None] / cells.along_normal[planar][..., None]  # (P, 3, 2)
    g = gradient[planar]
    gradient_noise = noise / math.sqrt(WINDOW_SUM_SQUARES) / cells.size_px
    return _GradientTerms(
        planar=planar,
        values=cells.values[planar],
        g_dot_k=np.einsum("pj,paj->pa", g, k),
        k_dot_k=np.einsum("paj,paj->pa", k, k),
        g_dot_g=np.einsum("pj,pj->p", g, g),
        noise_squared=9.0 * gradient_noise**2,
    )


def _gradient_agreement(terms: _GradientTerms, beta: float) -> np.ndarray:
    """Per planar cell and world axis (P, 3): how well the cell's gradient is that of a plane of
    that normal through the cell, given ``beta`` (1 = exactly, → 0 = not at all)."""
    above = (terms.values - beta)[:, None]
    predicted_squared = above**2 * terms.k_dot_k
    miss = np.maximum(terms.g_dot_g[:, None] - 2.0 * above * terms.g_dot_k + predicted_squared, 0.0)
    tolerance = terms.noise_squared + GRADIENT_TOLERANCE**2 * predicted_squared
    with np.errstate(divide="ignore", invalid="ignore"):
        agreement = 1.0 / (1.0 + miss / np.maximum(tolerance, 1e-300))
    return np.where(np.isfinite(agreement), agreement, 0.0)


def _search_beta(cells: _Cells, terms: _GradientTerms) -> float:
    """The disparity at infinity on which most cells' gradients agree with a calibrated plane."""
    low, high = np.percentile(cells.values, [1.0, 99.0])
    spread = max(high - low, 1e-12)

    def beta_of(log_excess):  # log(ρ − 1) for the depth ratio ρ = far/near the β implies
        return low - spread * math.exp(-log_excess)

    def score(beta):
        return float(np.sum(np.max(_gradient_agreement(terms, beta), axis=-1)))

    grid = np.linspace(math.log(DEPTH_RATIO_SEARCH[0] - 1.0), math.log(DEPTH_RATIO_SEARCH[1] - 1.0), 48)
    best = int(np.argmax([score(beta_of(g)) for g in grid]))
    step = grid[1] - grid[0]
    for _ in range(2):
        grid = np.linspace(grid[best] - step, grid[best] + step, 9)
        best = int(np.argmax([score(beta_of(g)) for g in grid]))
        step /= 4.0
    return beta_of(grid[best])


def _eroded(mask: np.ndarray) -> np.ndarray:
    inner = mask.copy()
    inner[1:, :] &= mask[:-1, :]
    inner[:-1, :] &= mask[1:, :]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return inner


@dataclass(frozen=True)
class _Plane:
    axis: int
    alpha: float
    cells: np.ndarray  # bool mask (eroded inliers)


def _inlier_counts(above: np.ndarray, along: np.ndarray, hypotheses: np.ndarray, tolerance: float) -> np.ndarray:
    """For each hypothesis α, the number of cells with ``|above − α·along| < tolerance``.

    Each cell admits the open interval of α between ``(above ∓ tolerance)/along``; sorted
    interval ends count them all in O(cells·log cells) rather than O(cells·hypotheses).
    """
    sloped = along != 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        ends = np.stack([(above - tolerance) / along, (above + tolerance) / along])[:, sloped]
    starts, stops = np.sort(ends.min(axis=0)), np.sort(ends.max(axis=0))
    level = np.count_nonzero(np.abs(above[~sloped]) < tolerance)  # these admit every α
    opened = np.searchsorted(starts, hypotheses, side="left")
    closed = np.searchsorted(stops, hypotheses, side="right")
    return level + opened - closed


def _find_planes(cells: _Cells, terms: _GradientTerms, noise: float, beta: float) -> list[_Plane]:
    """Planes of calibrated orientation, greedily, largest first, given ``beta``."""
    values = cells.values
    low, high = np.percentile(values, [1.0, 99.0])
    tolerance = max(4.0 * noise, INLIER_FRACTION_OF_RANGE * (high - low))
    agreement = np.zeros(values.shape + (3,))
    agreement[terms.planar] = _gradient_agreement(terms, beta)
    remaining = np.ones(values.shape, dtype=bool)
    min_cells = max(16, int(MIN_PLANE_FRACTION * values.size))
    planes: list[_Plane] = []
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = (values - beta)[..., None] / cells.along_normal
    for _ in range(2 * MAX_PLANES):
        if len(planes) == MAX_PLANES:
            break
        best = None
        for axis in range(3):
            candidates = ratios[..., axis][remaining & (agreement[..., axis] > 0.5)]
            candidates = candidates[np.isfinite(candidates)]
            if candidates.size < min_cells:
                continue
            hypotheses = np.quantile(candidates, np.linspace(0.005, 0.995, HYPOTHESES))
            along = cells.along_normal[..., axis][remaining]
            counts = _inlier_counts((values - beta)[remaining], along, hypotheses, tolerance)
            index = int(np.argmax(counts))
            if best is None or counts[index] > best[0]:
                best = (int(counts[index]), axis, float(hypotheses[index]))
        if best is None or best[0] < min_cells:
            break
        _, axis, alpha = best
        for _ in range(2):
            inliers = remaining & (np.abs(values - beta - alpha * cells.along_normal[..., axis]) < tolerance)
            alpha = float(np.median(ratios[..., axis][inliers]))
        core = _eroded(inliers)
        # A plane must stand out from the noise: its disparity above the horizon, α·(n·r), varies
        # over its cells by more than the tolerance (else any noise field is "a plane at infinity").
        span = np.ptp(alpha * cells.along_normal[..., axis][core]) if core.any() else 0.0
        if core.sum() >= min_cells and span >= 4.0 * tolerance:
            planes.append(_Plane(axis, alpha, core))
        remaining &= ~inliers
    return planes


def _refine(
    cells: _Cells, planes: list[_Plane], beta: float | None
) -> tuple[float, list[_Plane], np.ndarray]:
    """Robust least squares of ``value = α_j·(n_j·r) + β + Σ c·Pᵢ(x)·Pⱼ(y)`` over the planes'
    cells: (β, the planes with their α, the bias coefficients c).

    With ``beta`` given (a true inverse depth, only checked) β is that and there is no bias.
    Otherwise the bias's coefficients have a Gaussian prior of BIAS_PRIOR_OF_RANGE of the map's
    range: the planes' own shapes fix them where they can (a plane's disparity is affine in the
    pixel, so its curvature is bias, and planes of different normals fix the bias's tilt), and
    where they cannot (one plane alone cannot tell a tilt of the bias from its own α) the prior
    keeps the bias at zero; and where the planes' cells are less than BIAS_MIN_PLANE_SHARE of the
    picture there is no bias. The normal equations are summed over the cell grid, where the
    Legendre terms are products of a row's and a column's factor.
    """
    fit_bias = beta is None
    count = len(planes)
    target = cells.values - (0.0 if fit_bias else beta)
    on_plane = [(p.cells, cells.along_normal[..., p.axis] * p.cells) for p in planes]
    inliers = np.logical_or.reduce([mask for mask, _ in on_plane])
    bias_terms = BIAS_TERMS if fit_bias and inliers.mean() >= BIAS_MIN_PLANE_SHARE else ()
    terms = len(bias_terms)
    size = count + fit_bias + terms
    term_rows = np.array([j for _, j in bias_terms], dtype=int)
    term_columns = np.array([i for i, _ in bias_terms], dtype=int)
    down, across = cells.legendre_down, cells.legendre_across
    degree = BIAS_DEGREE + 1
    squares_down = (down[:, :, None] * down[:, None, :]).reshape(len(down), -1)
    squares_across = (across[:, :, None] * across[:, None, :]).reshape(len(across), -1)

    def projected(grid):  # Σ grid·Pᵢ(x)·Pⱼ(y) per term
        return (down.T @ grid @ across)[term_rows, term_columns]

    low, high = np.percentile(cells.values, [1.0, 99.0])
    value_range = max(float(high - low), 1e-300)
    spread = value_range * QUANTIZATION_OF_RANGE
    weights = inliers.astype(np.float64)
    for _ in range(4):
        normal, right = np.zeros((size, size)), np.zeros(size)
        for index, (_, along) in enumerate(on_plane):
            weighted = weights * along
            normal[index, index] = np.sum(weighted * along)
            right[index] = np.sum(weighted * target)
            if fit_bias:
                normal[index, count] = normal[count, index] = np.sum(weighted)
                normal[index, count + 1 :] = normal[count + 1 :, index] = projected(weighted)
        if fit_bias:
            normal[count, count] = np.sum(weights)
            right[count] = np.sum(weights * target)
            normal[count, count + 1 :] = normal[count + 1 :, count] = projected(weights)
            products = (squares_down.T @ (weights @ squares_across)).reshape(degree, degree, degree, degree)
            normal[count + 1 :, count + 1 :] = products[
                term_rows[:, None], term_rows[None, :], term_columns[:, None], term_columns[None, :]
            ]
            # Weighted by 1/σ of the residuals (spread), the prior weighs 1/(prior σ).
            normal[count + 1 :, count + 1 :] += (spread / (BIAS_PRIOR_OF_RANGE * value_range)) ** 2 * np.eye(terms)
            right[count + 1 :] = projected(weights * target)
        solution = np.linalg.lstsq(normal, right, rcond=None)[0]
        model = sum(a * along for a, (_, along) in zip(solution, on_plane))
        if fit_bias:
            model = model + solution[count] + cells.bias(solution[count + 1 :])
        residual = np.abs(target - model)[inliers]
        spread = max(float(np.median(residual)) / 0.6745, spread)
        threshold = 1.5 * max(spread, 1e-300)
        weights = np.zeros_like(weights)
        weights[inliers] = np.minimum(1.0, threshold / np.maximum(residual, 1e-300))  # Huber
    refined_beta = float(solution[count]) if fit_bias else beta
    refined = [replace(p, alpha=float(a)) for p, a in zip(planes, solution[:count])]
    return refined_beta, refined, solution[count + 1 :] if fit_bias else np.zeros(0)


def _plane_figures(
    cells: _Cells, planes: list[_Plane], scale: float, shift: float, normals: np.ndarray
) -> list[tuple[float, float]]:
    """(angle to the calibrated normal in degrees, flatness) per plane for ``w = scale·value + shift``;
    a plane with fewer than three cells in front of the camera is reported perpendicular (90°)."""
    inverse = scale * cells.values + shift
    valid = inverse > 0
    depth = np.where(valid, 1.0 / np.where(valid, inverse, 1.0), np.nan)
    depth_range = float(np.nanmax(depth) - np.nanmin(depth)) if valid.any() else 1.0
    figures = []
    for plane in planes:
        mask = plane.cells & valid
        if mask.sum() < 3:
            figures.append((90.0, 1.0))
            continue
        points = cells.rays[mask] * depth[mask][:, None]
        centred = points - points.mean(axis=0)
        normal = np.linalg.svd(centred, full_matrices=False)[2][2]
        cosine = min(1.0, abs(float(normal @ normals[:, plane.axis])))
        rms = float(np.sqrt(np.mean((centred @ normal) ** 2)))
        figures.append((math.degrees(math.acos(cosine)), rms / max(depth_range, 1e-300)))
    return figures


def _ground_offset(camera: Camera) -> float:
    """``c`` of the floor ``n·X = c`` in the camera frame (minus the camera's height, world units)."""
    return float(camera.world_to_camera[:3, UP_AXIS] @ camera.world_to_camera[:3, 3])


def _ground_index(cells: _Cells, planes: list[_Plane], camera: Camera, scale_sign: float) -> int | None:
    """The horizontal plane through the world origin: the one at the origin's pixel, else the
    largest one on the floor's side of the camera (the one a positive scale can put there)."""
    horizontal = [
        i for i, p in enumerate(planes) if p.axis == UP_AXIS and p.alpha * _ground_offset(camera) * scale_sign > 0
    ]
    if not horizontal:
        return None
    pixel, depth = camera.project(np.zeros((1, 3)))
    if depth[0] > 0:
        row, column = (pixel[0, ::-1] / cells.size_px).astype(int)
        reach = 3
        for index in horizontal:
            around = (slice(max(row - reach, 0), row + reach + 1), slice(max(column - reach, 0), column + reach + 1))
            if planes[index].cells[around].any():
                return index
    return max(horizontal, key=lambda i: planes[i].cells.sum())


def fit_disparity(
    disparity: np.ndarray, camera: Camera, before: tuple[float, float]
) -> CalibrationFit | None:
    """Fit ``inverse depth = scale·disparity + shift`` (world units) so the calibrated planes hold.

    ``disparity``: (H, W) relative disparity, near = large. ``camera``: the calibrated camera
    (world Z up, floor ``z = 0`` through the origin). ``before``: (scale, shift) of the mapping
    used without the fit, for the figures before. Returns None when no floor or wall of a
    calibrated orientation is found.
    """
    cells = _cells(disparity, camera)
    gradient, planar, noise = _window_gradients(cells)
    if not planar.any():
        return None
    terms = _gradient_terms(cells, gradient, planar, noise)
    beta = _search_beta(cells, terms)
    planes: list[_Plane] = []
    bias = np.zeros(len(BIAS_TERMS))
    unbiased = cells
    for _ in range(ROUNDS):
        found = _find_planes(unbiased, terms, noise, beta)
        if not found:
            break
        beta, planes, bias = _refine(cells, found, None)
        unbiased = replace(cells, values=cells.values - cells.bias(bias))
        gradient, planar, _ = _window_gradients(unbiased)
        terms = _gradient_terms(unbiased, gradient, planar, noise)
    if not planes:
        return None
    scale_sign = 1.0 if np.median(unbiased.values) > beta else -1.0
    ground = _ground_index(unbiased, planes, camera, scale_sign)
    if ground is not None:
        scale, scale_from = 1.0 / (planes[ground].alpha * _ground_offset(camera)), "ground"
    else:
        scale, scale_from = scale_sign / max(abs(float(unbiased.values.max()) - beta), 1e-300), "map"
    normals = camera.world_to_camera[:3, :3]
    after = _plane_figures(unbiased, planes, scale, -scale * beta, normals)
    prior = _plane_figures(cells, planes, before[0], before[1], normals)
    low, high = np.percentile(cells.values, [1.0, 99.0])
    return CalibrationFit(
        scale=scale,
        shift=-scale * beta,
        fitted=True,
        scale_from=scale_from,
        planes=_fitted_planes(planes, ground, cells, after, prior),
        bias=tuple(float(c) for c in bias),
        bias_peak=float(np.abs(cells.bias(bias)).max()) / max(float(high - low), 1e-300),
    )


def check_inverse_depth(inverse_depth: np.ndarray, camera: Camera) -> CalibrationFit | None:
    """The calibrated planes found in a true (metric or scaled) inverse depth, and how well it
    agrees with them; nothing is fitted. None when no such plane is found."""
    cells = _cells(inverse_depth, camera)
    gradient, planar, noise = _window_gradients(cells)
    found = _find_planes(cells, _gradient_terms(cells, gradient, planar, noise), noise, 0.0)
    if not found:
        return None
    _, planes, _ = _refine(cells, found, 0.0)
    ground = _ground_index(cells, planes, camera, 1.0)
    figures = _plane_figures(cells, planes, 1.0, 0.0, camera.world_to_camera[:3, :3])
    return CalibrationFit(1.0, 0.0, False, "map", _fitted_planes(planes, ground, cells, figures, None), (), 0.0)


def _fitted_planes(planes, ground, cells, figures, prior) -> tuple[FittedPlane, ...]:
    return tuple(
        FittedPlane(
            axis=WORLD_AXES[plane.axis],
            is_ground=index == ground,
            coverage=float(plane.cells.sum()) / cells.values.size,
            angle_deg=figures[index][0],
            flatness=figures[index][1],
            angle_before_deg=None if prior is None else prior[index][0],
            flatness_before=None if prior is None else prior[index][1],
        )
        for index, plane in enumerate(planes)
    )
