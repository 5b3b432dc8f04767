"""Vanishing points from line segments, and the triangle helpers of the two-VP solver.

Segments are ``N×2×2`` arrays ``[[x0, y0], [x1, y1]]`` in **pixels**. Two segments are
intersected exactly as fSpy does (in relative coordinates, with its 1e-8 tolerances) so that
fSpy projects solve to the same bits; more than two segments give the least-squares point.
Results are in fSpy's **image plane** (y up, the longer side spans [-1, 1]).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lib_depth3d.camera.model import image_plane_to_pixels, pixels_to_image_plane
from lib_depth3d.errors import CalibrationError

FSPY_EPSILON = 1e-8
NEAR_PARALLEL_COSINE = 0.99995
VANISHING_POINT_FAILURE = "Failed to compute vanishing point"


@dataclass(frozen=True)
class VanishingPoint:
    """A vanishing point on the image plane and how well its segments agree on it.

    Attributes:
        image_plane: (x, y) in fSpy image-plane coordinates.
        residual_px: root mean square distance (pixels) from the segment endpoints to the lines
            joining each segment's midpoint to the vanishing point; 0 for two segments.
    """

    image_plane: tuple[float, float]
    residual_px: float


def relative_to_image_plane(points_relative: np.ndarray, width: int, height: int) -> np.ndarray:
    """N×2 relative coordinates (u, v in [0, 1], v down) → image plane, as fSpy converts them."""
    points = np.asarray(points_relative, dtype=np.float64)
    long_side = max(width, height)
    return np.stack(
        [(2.0 * points[..., 0] - 1.0) * width / long_side, (1.0 - 2.0 * points[..., 1]) * height / long_side],
        axis=-1,
    )


def image_plane_to_relative(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Image plane → relative coordinates (inverse of :func:`relative_to_image_plane`)."""
    points = np.asarray(points, dtype=np.float64)
    long_side = max(width, height)
    return np.stack(
        [(points[..., 0] * long_side / width + 1.0) / 2.0, (1.0 - points[..., 1] * long_side / height) / 2.0],
        axis=-1,
    )


def intersect_two_segments_relative(first: np.ndarray, second: np.ndarray) -> np.ndarray | None:
    """Intersection of two infinite lines given by 2×2 relative-coordinate segments (fSpy's rule).

    Returns None when a segment is shorter than 1e-8 or the lines are parallel (|denominator| < 1e-8).
    """
    (x1, y1), (x2, y2) = (float(v) for v in first[0]), (float(v) for v in first[1])
    (x3, y3), (x4, y4) = (float(v) for v in second[0]), (float(v) for v in second[1])
    if np.hypot(x1 - x2, y1 - y2) < FSPY_EPSILON or np.hypot(x3 - x4, y3 - y4) < FSPY_EPSILON:
        return None
    denominator = (x1 - x2) * (y3 - y4) - (y1 - y2) * (x3 - x4)
    if abs(denominator) < FSPY_EPSILON:
        return None
    cross_first = x1 * y2 - y1 * x2
    cross_second = x3 * y4 - y3 * x4
    return np.array(
        [
            (cross_first * (x3 - x4) - (x1 - x2) * cross_second) / denominator,
            (cross_first * (y3 - y4) - (y1 - y2) * cross_second) / denominator,
        ]
    )


def least_squares_point_image_plane(segments_plane: np.ndarray) -> np.ndarray | None:
    """Point minimising the squared distances to N ≥ 2 lines given as N×2×2 image-plane segments.

    Homogeneous lines ``l = p0 × p1`` scaled to unit normals; the point is the right singular
    vector of the smallest singular value. None when that point lies at infinity (parallel lines)
    or a segment has no length.
    """
    starts = np.concatenate([segments_plane[:, 0], np.ones((len(segments_plane), 1))], axis=1)
    ends = np.concatenate([segments_plane[:, 1], np.ones((len(segments_plane), 1))], axis=1)
    lines = np.cross(starts, ends)
    normal_lengths = np.hypot(lines[:, 0], lines[:, 1])
    if np.any(normal_lengths < FSPY_EPSILON):
        return None
    lines = lines / normal_lengths[:, None]
    point = np.linalg.svd(lines)[2][-1]
    if abs(point[2]) < FSPY_EPSILON * np.hypot(point[0], point[1]):
        return None
    return point[:2] / point[2]


def segment_residual_px(segments_px: np.ndarray, vanishing_point_px: np.ndarray) -> float:
    """RMS distance (pixels) of segment endpoints from the lines through their midpoints and the VP."""
    midpoints = segments_px.mean(axis=1)
    directions = vanishing_point_px[None, :] - midpoints
    lengths = np.hypot(directions[:, 0], directions[:, 1])
    normals = np.stack([-directions[:, 1], directions[:, 0]], axis=-1) / np.maximum(lengths, 1e-300)[:, None]
    offsets = np.einsum("nkc,nc->nk", segments_px - midpoints[:, None, :], normals)
    return float(np.sqrt(np.mean(offsets**2)))


def vanishing_point(segments_px: np.ndarray, width: int, height: int) -> VanishingPoint:
    """The vanishing point of N ≥ 2 pixel segments, on the image plane.

    Raises :class:`CalibrationError` ("Failed to compute vanishing point") for zero-length
    segments and parallel lines.
    """
    segments_px = np.asarray(segments_px, dtype=np.float64)
    if len(segments_px) == 2:
        scale = np.array([width, height], dtype=np.float64)
        relative = segments_px / scale
        point = intersect_two_segments_relative(relative[0], relative[1])
        if point is None:
            raise CalibrationError(VANISHING_POINT_FAILURE)
        plane = relative_to_image_plane(point, width, height)
        return VanishingPoint((float(plane[0]), float(plane[1])), 0.0)
    plane_segments = pixels_to_image_plane(segments_px, width, height)
    point = least_squares_point_image_plane(plane_segments)
    if point is None or not np.all(np.isfinite(point)):
        raise CalibrationError(VANISHING_POINT_FAILURE)
    point_px = image_plane_to_pixels(np.asarray(point, dtype=np.float64), width, height)
    return VanishingPoint((float(point[0]), float(point[1])), segment_residual_px(segments_px, point_px))


def lines_nearly_parallel(segments_px: np.ndarray, width: int, height: int) -> bool:
    """fSpy's reliability warning: every pair of segment directions has |cos| > 0.99995.

    Directions are measured in relative coordinates, as fSpy does, so two segments give fSpy's
    answer exactly.
    """
    relative = np.asarray(segments_px, dtype=np.float64) / np.array([width, height], dtype=np.float64)
    directions = relative[:, 1] - relative[:, 0]
    lengths = np.hypot(directions[:, 0], directions[:, 1])
    unit = np.where(lengths[:, None] > 0, directions / np.where(lengths > 0, lengths, 1.0)[:, None], 0.0)
    cosines = np.abs(unit @ unit.T)
    upper = np.triu_indices(len(unit), k=1)
    return bool(np.min(cosines[upper]) > NEAR_PARALLEL_COSINE)


def largest_triangle_angle_rad(first: np.ndarray, second: np.ndarray, third: np.ndarray) -> float:
    """The largest interior angle (radians) of the triangle of three image-plane points.

    π for collinear points, also when two of them coincide.
    """
    vertices = np.array([first, second, third], dtype=np.float64)
    largest = 0.0
    for index in range(3):
        to_next = vertices[(index + 1) % 3] - vertices[index]
        to_previous = vertices[(index + 2) % 3] - vertices[index]
        lengths = float(np.linalg.norm(to_next) * np.linalg.norm(to_previous))
        if lengths == 0.0:
            return float(np.pi)
        cosine = float(np.clip(np.dot(to_next, to_previous) / lengths, -1.0, 1.0))
        largest = max(largest, float(np.arccos(cosine)))
    return largest


def triangle_orthocenter(first: np.ndarray, second: np.ndarray, third: np.ndarray) -> np.ndarray | None:
    """Orthocentre of a triangle; None when the vertices are collinear."""
    a, b = first
    c, d = second
    e, f = third
    determinant = b * c + d * e + f * a - c * f - b * e - a * d
    if determinant == 0.0:
        return None
    x = (
        (d - f) * b * b + (f - b) * d * d + (b - d) * f * f
        + a * b * (c - e) + c * d * (e - a) + e * f * (a - c)
    ) / determinant
    y = (
        (e - c) * a * a + (a - e) * c * c + (c - a) * e * e
        + a * b * (f - d) + c * d * (b - f) + e * f * (d - b)
    ) / determinant
    point = np.array([x, y])
    return point if np.all(np.isfinite(point)) else None


def third_triangle_vertex(first: np.ndarray, second: np.ndarray, orthocenter: np.ndarray) -> np.ndarray | None:
    """The vertex that makes ``orthocenter`` the orthocentre of (first, second, vertex).

    None when that vertex lies at infinity (the orthocentre is on the line first–second).
    """
    side = second - first
    side_length = np.hypot(side[0], side[1])
    if side_length == 0.0:
        return None
    side_unit = side / side_length
    foot = first + np.dot(side_unit, orthocenter - first) * side_unit
    normal = np.array([side_unit[1], -side_unit[0]])
    denominator = np.dot(normal, orthocenter - second)
    if denominator == 0.0:
        return None
    height = np.dot(first - foot, orthocenter - second) / denominator
    vertex = foot + height * normal
    return vertex if np.all(np.isfinite(vertex)) else None
