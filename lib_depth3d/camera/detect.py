"""Vanishing lines found automatically: line segments, grouped into orthogonal directions, solved.

The picture's edges come from OpenCV's line segment detector (LSD) on a grey copy whose longer
side is at most :data:`WORKING_LONG_SIDE_PX`; chains of short segments that turn a little at
each join are pieces of curves and dropped (:func:`pieces_of_curves`). Segments are grouped by vanishing point with a
multi-RANSAC weighted by squared segment length on fSpy's **image plane** (y up, the longer
side spans [-1, 1]): vanishing-point hypotheses from random pairs of segments, the
best-supported one refined by least squares on its inliers and its segments removed, up to
:data:`MAX_DIRECTIONS` times. Of these candidate directions the orthogonal set of one camera
with the most support wins: a pair and the third direction it implies with the principal point
at the picture's centre, or three candidates whose orthocentre places the principal point (see
:func:`orthogonal_directions`).
Each direction's VP is then refitted robustly to its segments (endpoint distances, Cauchy
weights) and the segments that agree with it become the lines.

The result is an ordinary :class:`~lib_depth3d.camera.inputs.CalibrationInput` — the chosen
segments per axis, in pixels — solved by :func:`~lib_depth3d.camera.solver.calibrate`, so it
can be saved as lines JSON or an fSpy project and edited like lines the user drew. Its
:class:`DetectionConfidence` also fits the chosen segments to a camera directly (a rotation by
Gauss–Newton at each focal length) for the field-of-view interval they allow and for whether they
fix the principal point or leave it assumed at the centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from itertools import combinations

import numpy as np
from PIL import Image

from lib_depth3d.camera.inputs import CalibrationInput, VanishingPointLines, lines_json
from lib_depth3d.camera.model import pixels_to_image_plane
from lib_depth3d.camera.solver import AXIS_VECTORS, Calibration, calibrate
from lib_depth3d.camera.vanishing import (
    least_squares_point_homogeneous,
    segment_lines_image_plane,
    triangle_orthocenter,
)
from lib_depth3d.errors import CalibrationError
from lib_depth3d.files import to_rgb

WORKING_LONG_SIDE_PX = 1600
MIN_SEGMENT_LENGTH = 0.025  # of the working picture's longer side
MAX_SEGMENTS = 400  # the longest ones; shorter edges add little and cost time
CURVE_JOIN = 0.006  # of the longer side: how near two segments' ends must be to continue one another
CURVE_TURN_DEG = (2.0, 35.0)  # a turn between continuing segments that makes them pieces of one curve
CURVE_MIN_PIECES = 3  # segments continuing one another: two may be edges meeting at a corner
CURVE_PIECE_MAX_LENGTH = 0.1  # of the longer side: longer segments are taken as straight whatever joins them
HYPOTHESES = 600
INLIER_DISTANCE_PX = 1.5  # working pixels an endpoint may lie off the line from its midpoint to the VP
MAX_DIRECTIONS = 6
VP_BEYOND_END = 0.05  # of a segment's length: how far past its nearer end a candidate VP must lie
MIN_SEGMENTS_PER_DIRECTION = 3
MAX_SEGMENTS_PER_AXIS = 30  # the longest inliers go into the lines JSON
THIRD_VP_GAIN = 0.2  # more support an off-centre principal point needs to win outright
THIRD_VP_ABOVE_DEG = 1.0  # the centred set's third-direction miss that lets it win at equal support
FIELD_OF_VIEW_RANGE_DEG = (15.0, 140.0)  # across the longer side
CONTRAST_MIN_GREY = 2.0  # grey levels (standard deviation) below which a picture is textureless
NOISY_SIGMA_GREY = 8.0  # estimated noise (grey levels) above which missing lines are put down to noise
HIGH_CONFIDENCE_MIN_SEGMENTS = 4
HIGH_CONFIDENCE_MAX_MISFIT_PX = 2.0
HIGH_CONFIDENCE_MAX_ORTHOGONALITY_DEG = 2.0
HIGH_CONFIDENCE_MAX_FOV_SENSITIVITY_DEG = 1.0
HIGH_CONFIDENCE_MAX_FOV_INTERVAL_DEG = 5.0
SENSITIVITY_TURN_DEG = 0.1
MISFIT_FLOOR_PX = 0.2  # working pixels: the least endpoint noise assumed (LSD's on rendered rooms: 0.04–0.12)
MISFIT_RISE = 4.0  # rise of the summed squared misfit, in squared noise, that bounds the interval (two sigma)
PERPENDICULAR_WITHIN_DEG = 1.0  # how nearly perpendicular the scene's edges are taken to be
PRINCIPAL_POINT_CHECK = 0.05  # image plane (2.5 % of the longer side): the principal point's largest
# standard deviation, with the camera free, under which the lines check it

TEXTURELESS = (
    "The picture is almost uniform, so it has no edges to find vanishing lines on; "
    "use a picture with visible straight edges or draw the lines by hand."
)
NOISY = (
    "The picture is too noisy for straight edges to be found (estimated noise {sigma:.0f} grey levels); "
    "denoise it or draw the lines by hand."
)
NO_LINES = (
    "No straight edges long enough to give vanishing lines were found in the picture; "
    "draw the lines by hand along edges that are parallel in the scene."
)
ONE_DIRECTION = (
    "Only one direction of parallel edges was found in the picture; "
    "a camera needs edges along two perpendicular directions, so draw the second set of lines by hand."
)
DISAGREE = (
    "The detected lines disagree: no two of their directions fit one camera with perpendicular edges; "
    "draw the lines by hand along edges you know are perpendicular."
)


@dataclass(frozen=True)
class DetectionConfidence:
    """How far the detected lines can be trusted.

    Attributes:
        segments_per_direction: segments assigned to each direction, in the order of the
            calibration input's vanishing points (2 or 3 numbers).
        misfit_px: the largest per-VP RMS misfit of the chosen segments (pixels of the picture).
        orthogonality_residual_deg: with a third direction found, the angle between its own
            vanishing direction and the one the first two imply; None with two directions, and
            when the third VP placed the principal point (it is then 0 by construction).
        fov_sensitivity_deg: how far the field of view moves (degrees) when either VP's
            direction turns by 0.1°; large when a VP is nearly at infinity (edges nearly
            parallel in the picture), which leaves the focal length barely determined.
        fov_interval_deg: the true horizontal fields of view (degrees, low and high) the
            segments allow, about the same principal point: those whose best rotation fits the
            chosen segments of every direction within :data:`MISFIT_RISE` squared noise of the
            best one, and those at which the two solved VPs point within
            :data:`PERPENDICULAR_WITHIN_DEG` of perpendicular (the scene's edges are only so
            perpendicular; with both VPs far outside the picture this is the wider). A third
            direction counts in the first, so a field of view outside the interval means the third
            direction disagrees with the two solved. Edges of different objects that are not
            parallel yet were grouped as one direction make it too narrow.
        principal_point_from_third_vp: the principal point is the orthocentre of the three VPs,
            not the centre; nothing is left to check it against, so confidence is never high.
        principal_point_checked: with the principal point free too, the segments fix it to
            within :data:`PRINCIPAL_POINT_CHECK` in every direction, so a centred one is checked;
            False with two directions, and with a third whose VP is at infinity (a level camera:
            no line fixes the principal point's column, and a sideways lens shift looks like a
            turned camera).
    """

    segments_per_direction: tuple[int, ...]
    misfit_px: float
    orthogonality_residual_deg: float | None
    fov_sensitivity_deg: float
    fov_interval_deg: tuple[float, float]
    principal_point_from_third_vp: bool = False
    principal_point_checked: bool = False

    @property
    def principal_point_assumed_at_centre(self) -> bool:
        """The principal point is the picture's centre and nothing in the picture checks it."""
        return not self.principal_point_from_third_vp and not self.principal_point_checked

    @property
    def high(self) -> bool:
        """A centred principal point, enough segments per direction, a small misfit, a
        well-determined focal length (its interval at most
        :data:`HIGH_CONFIDENCE_MAX_FOV_INTERVAL_DEG` wide), and a third direction orthogonal to
        the first two.

        Two directions always fit some focal length, so without a third nothing checks it: on
        sixty random rendered room views, every confident camera more than 1° off had two.
        """
        return (
            not self.principal_point_from_third_vp
            and min(self.segments_per_direction[:2]) >= HIGH_CONFIDENCE_MIN_SEGMENTS
            and self.misfit_px <= HIGH_CONFIDENCE_MAX_MISFIT_PX
            and self.fov_sensitivity_deg <= HIGH_CONFIDENCE_MAX_FOV_SENSITIVITY_DEG
            and self.fov_interval_deg[1] - self.fov_interval_deg[0] <= HIGH_CONFIDENCE_MAX_FOV_INTERVAL_DEG
            and self.orthogonality_residual_deg is not None
            and self.orthogonality_residual_deg <= HIGH_CONFIDENCE_MAX_ORTHOGONALITY_DEG
        )

    def to_report(self) -> dict:
        return {
            "segmentsPerDirection": list(self.segments_per_direction),
            "misfitPixels": self.misfit_px,
            "orthogonalityResidualDegrees": self.orthogonality_residual_deg,
            # JSON has no infinity: null says a 0.1° turn leaves no focal length at all.
            "fieldOfViewSensitivityDegrees": self.fov_sensitivity_deg if math.isfinite(self.fov_sensitivity_deg) else None,
            "fieldOfViewIntervalDegrees": list(self.fov_interval_deg),
            "principalPointFromThirdVanishingPoint": self.principal_point_from_third_vp,
            "principalPointAssumedAtCentre": self.principal_point_assumed_at_centre,
            "high": self.high,
        }


@dataclass(frozen=True)
class LineDetection:
    """Vanishing lines detected in a picture and the camera solved from them.

    Attributes:
        input: the calibration input (chosen segments per axis, pixels); save it with
            :meth:`lines_json` or ``write_fspy``.
        calibration: ``calibrate(input)``.
        confidence: the figures that say whether to trust it.
        segments_px: every segment the detector kept (N×2×2 pixels), chosen or not.
    """

    input: CalibrationInput
    calibration: Calibration
    confidence: DetectionConfidence
    segments_px: np.ndarray

    def lines_json(self) -> dict:
        return lines_json(self.input)

    def to_report(self) -> dict:
        """The calibration report plus ``detection``: the confidence and the lines used."""
        report = self.calibration.to_report()
        report["detection"] = {
            "confidence": self.confidence.to_report(),
            "segmentsDetected": int(len(self.segments_px)),
            "lines": self.lines_json(),
        }
        return report


# --- segments --------------------------------------------------------------------------------
def grey_levels(picture: Image.Image) -> np.ndarray:
    """The picture as an H×W uint8 grey array (any PIL mode, through :func:`~lib_depth3d.files.to_rgb`)."""
    return np.asarray(to_rgb(picture).convert("L"), dtype=np.uint8)


def noise_sigma_grey(grey: np.ndarray) -> float:
    """Immerkær's estimate of the standard deviation of white noise (grey levels)."""
    import cv2

    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
    response = cv2.filter2D(grey.astype(np.float32), -1, kernel)[1:-1, 1:-1]
    if response.size == 0:  # a picture under 3 pixels across has no interior to estimate from
        return 0.0
    return float(math.sqrt(math.pi / 2.0) * np.mean(np.abs(response)) / 6.0)


def detect_segments_px(grey: np.ndarray) -> tuple[np.ndarray, float]:
    """LSD segments of an H×W grey picture: (N×2×2 pixel endpoints, longest first; working scale).

    The working scale is picture pixels per working pixel (≥ 1). Segments shorter than
    :data:`MIN_SEGMENT_LENGTH` of the working picture's longer side are dropped, and so are the
    pieces of curves among the :data:`MAX_SEGMENTS` longest.
    """
    import cv2

    height, width = grey.shape
    scale = max(1.0, max(width, height) / WORKING_LONG_SIDE_PX)
    working = grey
    if scale > 1.0:
        size = (max(1, round(width / scale)), max(1, round(height / scale)))
        working = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    found = cv2.createLineSegmentDetector(cv2.LSD_REFINE_STD).detect(working)[0]
    if found is None:
        return np.zeros((0, 2, 2)), scale
    # LSD puts pixel centres at whole numbers; ours are at +0.5.
    working_px = found.reshape(-1, 2, 2).astype(np.float64) + 0.5
    lengths = np.linalg.norm(working_px[:, 1] - working_px[:, 0], axis=1)
    keep = np.argsort(-lengths)
    keep = keep[lengths[keep] >= MIN_SEGMENT_LENGTH * max(working.shape)][:MAX_SEGMENTS]
    keep = keep[~pieces_of_curves(working_px[keep], max(working.shape))]
    return working_px[keep] * np.array([width / working.shape[1], height / working.shape[0]]), scale


def pieces_of_curves(segments_px: np.ndarray, long_side_px: float) -> np.ndarray:
    """N booleans: which of N×2×2 pixel segments are pieces of a curve, not straight edges.

    LSD follows a curved edge (an arch, a floor pattern's bands, a barrel-distorted column) as a
    chain of short segments, each turned a few degrees from the one it continues. Such a piece
    points at no vanishing point, yet a set of them drifts through one often enough to outvote a
    few true edges: on fSpy's ``quad-problem`` photo seventeen pieces of the floor pattern's
    curves made the lateral direction, and the camera 90° wide instead of 59°.

    A segment continues another when one of its ends lies within :data:`CURVE_JOIN` of the
    longer side of the other's end and it goes on beyond it, turned by :data:`CURVE_TURN_DEG`
    (less is one edge that LSD split; more, or folding back, a corner). Two edges meeting at a
    corner seen nearly edge-on continue one another too, so only chains of at least
    :data:`CURVE_MIN_PIECES` count, and only their segments shorter than
    :data:`CURVE_PIECE_MAX_LENGTH` of the longer side are pieces (LSD checks a long one straight
    along its whole length).
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    count = len(segments_px)
    vectors = segments_px[:, 1] - segments_px[:, 0]
    lengths = np.hypot(vectors[:, 0], vectors[:, 1])
    along = vectors / np.maximum(lengths, 1e-12)[:, None]
    outward = np.stack([-along, along], axis=1).reshape(-1, 2)  # per end: the way out of its segment
    ends = segments_px.reshape(-1, 2)
    end_a, end_b = cKDTree(ends).query_pairs(CURVE_JOIN * long_side_px, output_type="ndarray").T.reshape(2, -1)
    # The next segment goes on along the way out of this end: against the way out of its own.
    cosine = -np.einsum("ij,ij->i", outward[end_a], outward[end_b])
    turning = (cosine <= math.cos(math.radians(CURVE_TURN_DEG[0]))) & (cosine >= math.cos(math.radians(CURVE_TURN_DEG[1])))
    continues = turning & (end_a // 2 != end_b // 2)
    joined = csr_matrix((np.ones(int(continues.sum())), (end_a[continues] // 2, end_b[continues] // 2)), shape=(count, count))
    short = lengths < CURVE_PIECE_MAX_LENGTH * long_side_px
    chains, chain_of = connected_components(joined, directed=False)
    return short & (np.bincount(chain_of, minlength=chains)[chain_of] >= CURVE_MIN_PIECES)


# --- grouping --------------------------------------------------------------------------------
def endpoint_distances(points: np.ndarray, midpoints: np.ndarray, directions: np.ndarray, half_lengths: np.ndarray) -> np.ndarray:
    """M×N distances of segment endpoints from the lines joining each midpoint to each point.

    ``points`` are M homogeneous image-plane points (w = 0 at infinity); segments are given by
    N midpoints, unit directions and half-lengths; the result is in image-plane units.
    """
    toward = points[:, None, :2] - midpoints[None, :, :] * points[:, None, 2:3]
    norms = np.hypot(toward[..., 0], toward[..., 1])
    cross = np.abs(toward[..., 0] * directions[None, :, 1] - toward[..., 1] * directions[None, :, 0])
    with np.errstate(invalid="ignore", divide="ignore"):
        sine = np.where(norms > 0, cross / norms, 1.0)
    return sine * half_lengths[None, :]


def beyond_segment_ends(points: np.ndarray, midpoints: np.ndarray, directions: np.ndarray, half_lengths: np.ndarray) -> np.ndarray:
    """M×N: whether each homogeneous image-plane point lies past the ends of each segment's span
    by more than :data:`VP_BEYOND_END` of its length (a point at infinity always does).

    The picture of a finite edge never reaches its vanishing point, and ends within 5 % of its
    length of it only when the edge reaches 21 times as deep as its nearer end; edges that meet
    at a corner all end there, and the corner is no vanishing point.
    """
    toward = points[:, None, :2] - midpoints[None, :, :] * points[:, None, 2:3]
    along = np.abs(toward[..., 0] * directions[None, :, 0] + toward[..., 1] * directions[None, :, 1])
    return along > (1.0 + 2.0 * VP_BEYOND_END) * half_lengths[None, :] * np.abs(points[:, None, 2])


@dataclass(frozen=True)
class _Segments:
    """N segments on the image plane, with what the grouping needs of them precomputed."""

    lines: np.ndarray  # N×3 unit-normal homogeneous lines
    midpoints: np.ndarray
    directions: np.ndarray
    half_lengths: np.ndarray

    @classmethod
    def of(cls, plane: np.ndarray) -> "_Segments":
        vectors = plane[:, 1] - plane[:, 0]
        lengths = np.hypot(vectors[:, 0], vectors[:, 1])
        return cls(segment_lines_image_plane(plane), plane.mean(axis=1), vectors / lengths[:, None], lengths / 2)

    @property
    def weights(self) -> np.ndarray:
        """What each segment adds to a direction's support: its squared length.

        A segment's direction is known to within endpoint noise over its length, so its
        information about a vanishing point grows as the square of the length; counting length
        alone let ten short texture or grid pieces that happen to pass one point outweigh three
        long edges that meet at one exactly.
        """
        return (2.0 * self.half_lengths) ** 2

    def distances(self, points: np.ndarray) -> np.ndarray:
        return endpoint_distances(np.atleast_2d(points), self.midpoints, self.directions, self.half_lengths)

    def fits(self, points: np.ndarray, tolerance: float) -> np.ndarray:
        """M×N: whether each segment can converge to each candidate point: its endpoints within
        ``tolerance`` of the line to the point, and the point past its ends."""
        points = np.atleast_2d(points)
        return (self.distances(points) <= tolerance) & beyond_segment_ends(points, self.midpoints, self.directions, self.half_lengths)


def _refine(segments: _Segments, point: np.ndarray, usable: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares point of the usable inliers of ``point``, twice; (point, inlier mask)."""
    members = usable & segments.fits(point, tolerance)[0]
    for _ in range(2):
        if members.sum() < 2:
            break
        point = least_squares_point_homogeneous(segments.lines[members])
        members = usable & segments.fits(point, tolerance)[0]
    return point, members


def candidate_directions(segments: _Segments, tolerance: float, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Up to :data:`MAX_DIRECTIONS` (homogeneous VP, inlier mask) pairs, best supported first.

    Support is the summed :attr:`_Segments.weights` of the segments a hypothesis fits. A
    hypothesis whose refit keeps fewer than :data:`MIN_SEGMENTS_PER_DIRECTION` is dropped and
    the search goes on: a long stray edge (a picture's border, say) can outweigh the next real
    direction's hypotheses without making one.
    """
    count = len(segments.lines)
    lengths = 2 * segments.half_lengths
    first = rng.choice(count, HYPOTHESES, p=lengths / lengths.sum())
    second = rng.choice(count, HYPOTHESES, p=lengths / lengths.sum())
    distinct = first != second
    hypotheses = np.cross(segments.lines[first[distinct]], segments.lines[second[distinct]])
    norms = np.linalg.norm(hypotheses, axis=1)
    hypotheses = hypotheses[norms > 1e-12] / norms[norms > 1e-12, None]
    support = segments.fits(hypotheses, tolerance)
    usable = np.ones(count, dtype=bool)
    open_hypotheses = np.ones(len(hypotheses), dtype=bool)
    found = []
    while len(found) < MAX_DIRECTIONS:
        open_hypotheses &= support @ usable.astype(np.int64) >= MIN_SEGMENTS_PER_DIRECTION
        if not open_hypotheses.any():
            break
        best = int(np.argmax(np.where(open_hypotheses, support @ (segments.weights * usable), -1.0)))
        point, members = _refine(segments, hypotheses[best], usable, tolerance)
        if members.sum() < MIN_SEGMENTS_PER_DIRECTION:
            open_hypotheses[best] = False
            continue
        found.append((point, members))
        usable &= ~members
    return found


def _camera_direction(point: np.ndarray, focal: float, principal=(0.0, 0.0)) -> np.ndarray:
    """Unit camera-frame direction toward a homogeneous image-plane VP (principal point on the image plane).

    Toward the VP as fSpy takes it: in front of the camera (z < 0), whatever the sign of ``point``.
    """
    direction = np.array([point[0] - principal[0] * point[2], point[1] - principal[1] * point[2], -focal * point[2]])
    return direction / np.linalg.norm(direction) * (1.0 if point[2] >= 0 else -1.0)


def _angle_deg(first: np.ndarray, second: np.ndarray) -> float:
    """Angle between two lines through the origin (undirected), degrees."""
    return math.degrees(math.acos(min(1.0, abs(float(np.dot(first, second))))))


def _pair_focal(first: np.ndarray, second: np.ndarray, principal=(0.0, 0.0)) -> float | None:
    """Relative focal length making two finite VPs orthogonal about ``principal``, if plausible."""
    if min(abs(first[2]), abs(second[2])) < 1e-9:
        return None
    principal = np.asarray(principal, dtype=np.float64)
    f_squared = -float(np.dot(first[:2] / first[2] - principal, second[:2] / second[2] - principal))
    if not f_squared > 0:
        return None
    focal = math.sqrt(f_squared)
    fov = math.degrees(2 * math.atan(1 / focal))
    return focal if FIELD_OF_VIEW_RANGE_DEG[0] <= fov <= FIELD_OF_VIEW_RANGE_DEG[1] else None


@dataclass(frozen=True)
class OrthogonalSet:
    """Three mutually orthogonal vanishing directions of one camera (image plane, homogeneous VPs).

    ``principal`` is the centre (0, 0), or the orthocentre of three candidate VPs when
    ``from_third_vp``; ``support`` is the summed weight (squared length) of the segments that fit
    one of the three.
    """

    points: tuple[np.ndarray, np.ndarray, np.ndarray]
    focal: float
    principal: np.ndarray
    from_third_vp: bool
    support: float = 0.0


def _centred_sets(candidates) -> list[OrthogonalSet]:
    """Per pair of finite candidates: the focal about the centre, and the third direction it implies."""
    found = []
    for a, b in combinations(range(len(candidates)), 2):
        first, second = candidates[a][0], candidates[b][0]
        focal = _pair_focal(first, second)
        if focal is None:
            continue
        normal = np.cross(_camera_direction(first, focal), _camera_direction(second, focal))
        third = np.array([normal[0], normal[1], -normal[2] / focal])
        found.append(OrthogonalSet((first, second, third / np.linalg.norm(third)), focal, np.zeros(2), False))
    return found


def _orthocentre_sets(candidates, half_extent: np.ndarray) -> list[OrthogonalSet]:
    """Per triple of finite candidates whose orthocentre lies in the picture: that principal point."""
    found = []
    for triple in combinations(range(len(candidates)), 3):
        points = [candidates[i][0] for i in triple]
        if min(abs(p[2]) for p in points) < 1e-9:
            continue
        principal = triangle_orthocenter(*(p[:2] / p[2] for p in points))
        if principal is None or np.any(np.abs(principal) > half_extent):
            continue
        focal = _pair_focal(points[0], points[1], principal)
        if focal is not None:
            found.append(OrthogonalSet(tuple(points), focal, principal, True))
    return found


def orthogonal_directions(segments: _Segments, candidates, tolerance: float, half_extent: np.ndarray) -> OrthogonalSet | None:
    """The orthogonal set of vanishing points with the most support, or None when none fits.

    Each pair of finite candidate VPs fixes the focal length (principal point at the centre) and
    with it the third orthogonal direction; the set's support is the summed
    :attr:`_Segments.weights` of all segments within ``tolerance`` of one of the three. Three
    candidates whose orthocentre lies in the picture (``half_extent``: half its size on the
    image plane) place the principal point there instead; they win with :data:`THIRD_VP_GAIN`
    more support than the best centred set, or with as much support when the centred set's own
    third direction, refitted to its segments, misses the one its pair implies by more than
    :data:`THIRD_VP_ABOVE_DEG`. An off-centre principal point is rare, and three noisy VPs
    place it less precisely than the centre of an uncropped photo.
    """
    def best_of(sets: list[OrthogonalSet]) -> OrthogonalSet | None:
        scored = [
            replace(s, support=float(segments.weights[(segments.distances(np.array(s.points)) <= tolerance).any(axis=0)].sum()))
            for s in sets
        ]
        return max(scored, key=lambda s: s.support, default=None)

    centred = best_of(_centred_sets(candidates))
    moved = best_of(_orthocentre_sets(candidates, half_extent))
    if moved is None or (centred is not None and moved.support < centred.support):
        return centred
    if centred is None or moved.support > (1.0 + THIRD_VP_GAIN) * centred.support:
        return moved
    return moved if _third_residual_deg(segments, centred, tolerance) > THIRD_VP_ABOVE_DEG else centred


def _third_residual_deg(segments: _Segments, centred: OrthogonalSet, tolerance: float) -> float:
    """Angle between the third VP refitted to its segments and the one its refitted pair implies (0 if unseen)."""
    masks, points = _assign(segments, list(centred.points), tolerance)
    focal = _pair_focal(points[0], points[1])
    if masks[2].sum() < 2 or focal is None:
        return 0.0
    implied = np.cross(_camera_direction(points[0], focal), _camera_direction(points[1], focal))
    return _angle_deg(implied, _camera_direction(points[2], focal))


def geometric_point(segments: _Segments, mask: np.ndarray, point: np.ndarray, scale: float, iterations: int = 5) -> np.ndarray:
    """Unit homogeneous VP minimising the segments' endpoint distances, robustly (reweighted least squares).

    Each line's algebraic residual is scaled by half its length over its midpoint's distance to
    the current VP, which turns it into the endpoint distance, so long segments count more; a
    Cauchy weight of scale ``scale`` (image-plane units) keeps stray segments from pulling it.
    """
    lines, midpoints, half_lengths = segments.lines[mask], segments.midpoints[mask], segments.half_lengths[mask]
    for _ in range(iterations):
        toward = point[None, :2] - midpoints * point[2]
        reach = np.maximum(np.hypot(toward[:, 0], toward[:, 1]), 1e-12)
        weights = half_lengths / reach
        distances = np.abs(lines @ point) * weights
        point = least_squares_point_homogeneous(lines * (weights / (1.0 + (distances / scale) ** 2))[:, None])
    return point


def _assign(segments: _Segments, points: list[np.ndarray], tolerance: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Segments within tolerance of exactly one VP, per VP, and the VPs refitted to them; twice."""
    for _ in range(2):
        within = np.concatenate([segments.distances(p) for p in points]) <= tolerance
        alone = within.sum(axis=0) == 1
        masks = [row & alone for row in within]
        points = [geometric_point(segments, m, p, tolerance / 3) if m.sum() >= 2 else p for p, m in zip(points, masks)]
    return masks, points


def calibration_pair(points: list[np.ndarray], counts: list[int]) -> tuple[int, int] | None:
    """The two VPs that fix the focal length best, or None when no pair gives a plausible one.

    A VP at distance r from the centre moves by (f/r + r/f)·r per radian of direction error, and
    that error shrinks as one over the square root of its number of segments, so a pair costs
    the sum of (f/r + r/f)/√n over its two VPs: well-supported VPs near one focal length from
    the centre are the most precise, far ones (nearly parallel edges) the least.
    """
    best = None
    for a, b in combinations(range(len(points)), 2):
        focal = _pair_focal(points[a], points[b])
        if focal is None:
            continue
        cost = 0.0
        for index in (a, b):
            distance = float(np.hypot(points[index][0], points[index][1]) / abs(points[index][2]))
            cost += (focal / distance + distance / focal) / math.sqrt(counts[index])
        if best is None or cost < best[0]:
            best = (cost, (a, b))
    return None if best is None else best[1]


def solver_segments(segments: _Segments, mask: np.ndarray, point: np.ndarray, tolerance: float) -> np.ndarray:
    """Indices of up to :data:`MAX_SEGMENTS_PER_AXIS` of the longest masked segments for the solver.

    Only segments whose endpoints lie within half the inlier tolerance of the robust ``point``
    are used (at least the two closest). The solver's plain least squares gives every line the
    same weight at the VP, so a short segment whose line passes far from the VP pulls it away:
    lines farther from ``point`` than three times the median of the longest ones are left out.
    """
    indices = np.where(mask)[0]
    distances = segments.distances(point)[0][indices]
    close = distances <= tolerance / 2
    indices = indices[close] if close.sum() >= 2 else indices[np.argsort(distances)[:2]]
    indices = indices[np.argsort(-segments.half_lengths[indices])]
    residuals = np.abs(segments.lines[indices] @ point)
    limit = 3.0 * float(np.median(residuals[:10])) + 1e-12
    return indices[residuals <= limit][:MAX_SEGMENTS_PER_AXIS]


# --- axes, origin, input ---------------------------------------------------------------------
def _axis_names(directions: list[np.ndarray]) -> tuple[list[int], tuple[str, str]]:
    """Order of the two calibration directions and their axes, so that world +z is the picture's up.

    The direction nearest the picture's vertical (camera y) is the up axis: the cross product
    of the two when neither is.
    """
    u, v = directions
    third = np.cross(u, v)
    uprightness = [abs(u[1]), abs(v[1]), abs(third[1])]
    up = int(np.argmax(uprightness))
    if up == 2:
        return [0, 1], ("+x", "+y" if third[1] > 0 else "-y")
    horizontal, vertical = (1, 0) if up == 0 else (0, 1)
    return [horizontal, vertical], ("+x", "+z" if directions[vertical][1] > 0 else "-z")


def _floor_point_px(calibration: Calibration) -> tuple[float, float]:
    """Halfway between the horizon (or the top) and the bottom edge on the centre column."""
    camera = calibration.camera
    up = calibration.view_transform[:3, 2]  # world +z in the camera frame
    cx, cy = camera.principal_point_px
    height = camera.image_height_px
    horizon = cy - camera.focal_length_px * up[2] / up[1] if abs(up[1]) > 1e-9 else -math.inf
    top = min(max(horizon, 0.0), float(height))
    return cx, (top + height) / 2.0


def _raise_for_missing_lines(grey: np.ndarray) -> None:
    sigma = noise_sigma_grey(grey)
    if sigma > NOISY_SIGMA_GREY:
        raise CalibrationError(NOISY.format(sigma=sigma))
    raise CalibrationError(NO_LINES)


def detect_calibration(picture: Image.Image, *, seed: int = 0) -> LineDetection:
    """Detect vanishing lines in ``picture`` and solve its camera (two-VP mode).

    The principal point is the picture's centre, unless three detected directions agree on
    another one much better (then their orthocentre, fSpy's ``third_vp`` mode).

    Raises :class:`CalibrationError` with one sentence when the picture is textureless or too
    noisy, has no usable lines, shows only one direction, or its lines fit no camera.
    """
    grey = grey_levels(picture)
    width, height = picture.size
    if float(grey.std()) < CONTRAST_MIN_GREY:
        raise CalibrationError(TEXTURELESS)
    segments_px, scale = detect_segments_px(grey)
    if len(segments_px) < 2 * MIN_SEGMENTS_PER_DIRECTION:
        _raise_for_missing_lines(grey)
    segments = _Segments.of(pixels_to_image_plane(segments_px, width, height))
    tolerance = INLIER_DISTANCE_PX * scale * 2.0 / max(width, height)
    candidates = candidate_directions(segments, tolerance, np.random.default_rng(seed))
    if len(candidates) < 2:
        raise CalibrationError(ONE_DIRECTION if candidates else NO_LINES)
    chosen = orthogonal_directions(segments, candidates, tolerance, np.array([width, height]) / max(width, height))
    if chosen is None:
        raise CalibrationError(DISAGREE)
    masks, points = _assign(segments, list(chosen.points), tolerance)
    if min(int(m.sum()) for m in masks[:2]) < MIN_SEGMENTS_PER_DIRECTION:
        raise CalibrationError(DISAGREE)
    if chosen.from_third_vp:
        if masks[2].sum() < 2:
            raise CalibrationError(DISAGREE)
        found, pair = [0, 1, 2], [0, 1]
    else:
        found = [i for i in range(3) if masks[i].sum() >= MIN_SEGMENTS_PER_DIRECTION]
        pair = calibration_pair([points[i] for i in found], [int(masks[i].sum()) for i in found])
        if pair is None:
            raise CalibrationError(DISAGREE)
        pair = [found[i] for i in pair]
    order, axes = _axis_names([_camera_direction(points[i], chosen.focal, chosen.principal) for i in pair])
    vanishing_points = [
        VanishingPointLines(segments_px[solver_segments(segments, masks[pair[i]], points[pair[i]], tolerance)], axis)
        for i, axis in zip(order, axes)
    ]
    for i in set(found) - set(pair):
        vanishing_points.append(VanishingPointLines(segments_px[solver_segments(segments, masks[i], points[i], tolerance)]))
    principal_point_mode = "third_vp" if chosen.from_third_vp else "center"
    inp = CalibrationInput(width, height, tuple(vanishing_points), principal_point_mode=principal_point_mode)
    try:
        calibration = calibrate(inp)
    except CalibrationError:
        raise CalibrationError(DISAGREE) from None
    calibration = calibrate(replace(calibration.input, origin_px=_floor_point_px(calibration)))
    counts = tuple(int(len(v.segments_px)) for v in vanishing_points)
    noise_floor = MISFIT_FLOOR_PX * scale * 2.0 / max(width, height)
    fit = SegmentFit.of(calibration, noise_floor)
    return LineDetection(
        input=calibration.input,
        calibration=calibration,
        confidence=DetectionConfidence(
            counts,
            max(calibration.vanishing_point_residuals_px),
            None if chosen.from_third_vp else _orthogonality(calibration),
            fov_sensitivity_deg(calibration),
            fit.fov_interval_deg(),
            chosen.from_third_vp,
            not chosen.from_third_vp and fit.principal_point_deviation() <= PRINCIPAL_POINT_CHECK,
        ),
        segments_px=segments_px,
    )


def _orthogonality(calibration: Calibration) -> float | None:
    """Angle (degrees) between the third set's own VP direction and the one the calibration implies."""
    inp = calibration.input
    if len(inp.vanishing_points) < 3:
        return None
    plane = pixels_to_image_plane(inp.vanishing_points[2].segments_px, inp.image_width_px, inp.image_height_px)
    point = least_squares_point_homogeneous(segment_lines_image_plane(plane))
    principal = np.array(calibration.principal_point_image_plane)
    own = np.array([point[0] - principal[0] * point[2], point[1] - principal[1] * point[2],
                    -calibration.relative_focal_length * point[2]])
    first, second = (np.array(AXIS_VECTORS[a]) for a in calibration.vanishing_point_axes[:2])
    implied = calibration.view_transform[:3, :3] @ np.cross(first, second)
    return _angle_deg(own / np.linalg.norm(own), implied)


def fov_sensitivity_deg(calibration: Calibration) -> float:
    """Largest change of the field of view (degrees) when VP 1 or VP 2 turns by 0.1°; inf if one breaks it.

    Each VP's camera direction is turned about two axes perpendicular to it, and the focal length
    solved again from the turned pair about the same principal point.
    """
    principal = np.array(calibration.principal_point_image_plane)
    focal = calibration.relative_focal_length
    points = [np.array(p) - principal for p in calibration.vanishing_points_image_plane[:2]]
    turn = math.radians(SENSITIVITY_TURN_DEG)
    fov = 2 * math.atan(1 / focal)
    worst = 0.0
    for index in range(2):
        direction = np.array([*points[index], -focal])
        direction /= np.linalg.norm(direction)
        across = np.cross(direction, [0.0, 0.0, 1.0])
        across /= np.linalg.norm(across)
        for axis in (across, np.cross(direction, across)):
            turned = math.cos(turn) * direction + math.sin(turn) * np.cross(axis, direction)
            moved = list(points)
            moved[index] = -focal * turned[:2] / turned[2]
            f_squared = -float(np.dot(moved[0], moved[1]))
            if not f_squared > 0:
                return math.inf
            worst = max(worst, abs(math.degrees(2 * math.atan(1 / math.sqrt(f_squared)) - fov)))
    return worst


# --- how firmly the segments fix the camera -----------------------------------------------------
def _rotation(vector: np.ndarray) -> np.ndarray:
    """Rotation matrix of a rotation vector (Rodrigues)."""
    angle = float(np.linalg.norm(vector))
    if angle < 1e-15:
        return np.eye(3)
    x, y, z = vector / angle
    cross = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + math.sin(angle) * cross + (1.0 - math.cos(angle)) * cross @ cross


def true_horizontal_fov_interval_deg(fov_range_rad: tuple[float, float], half_width: float,
                                     principal_x: float) -> tuple[float, float]:
    """(low, high) true horizontal fields of view (degrees) of the cameras whose field of view
    across the longer side lies in ``fov_range_rad``, for a picture ``half_width`` wide on each
    side of its centre (image plane) and a principal point at ``principal_x`` (image plane).

    With the principal point beyond the picture's edge the true field of view first rises, then
    falls as the focal length shrinks, so the range's ends alone would not bound it (nor keep
    low ≤ high): it is taken over the whole range."""
    fovs = np.linspace(fov_range_rad[0], fov_range_rad[1], 257)
    focals = 1.0 / np.tan(fovs / 2.0)
    true = np.degrees(np.arctan((half_width - principal_x) / focals) + np.arctan((half_width + principal_x) / focals))
    return float(true.min()), float(true.max())


@dataclass(frozen=True)
class SegmentFit:
    """The calibration's chosen segments of every direction against one camera model.

    A camera (rotation, relative focal length, principal point on the image plane) puts each
    direction's VP where its columns point; a segment's misfit is its endpoints' distance from the
    line joining its midpoint to its direction's VP (image plane), as the solver reports it.
    """

    segments: _Segments
    direction_of_segment: np.ndarray  # per segment: the index of its direction (column of the rotation)
    rotation: np.ndarray  # columns: camera-frame directions of the calibration's three VPs
    focal: float
    principal: np.ndarray
    half_width: float  # half the picture's width on the image plane
    noise: float  # image plane: the least endpoint noise assumed

    @classmethod
    def of(cls, calibration: Calibration, noise_floor: float) -> "SegmentFit":
        inp = calibration.input
        plane = [pixels_to_image_plane(v.segments_px, inp.image_width_px, inp.image_height_px) for v in inp.vanishing_points]
        world_to_camera = calibration.view_transform[:3, :3]
        first, second = (world_to_camera @ np.array(AXIS_VECTORS[a]) for a in calibration.vanishing_point_axes[:2])
        return cls(
            _Segments.of(np.concatenate(plane)),
            np.concatenate([np.full(len(p), i) for i, p in enumerate(plane)]),
            np.stack([first, second, np.cross(first, second)], axis=1),
            calibration.relative_focal_length,
            np.array(calibration.principal_point_image_plane),
            inp.image_width_px / max(inp.image_width_px, inp.image_height_px),
            noise_floor,
        )

    def misfits(self, rotation: np.ndarray, focal: float, principal: np.ndarray) -> np.ndarray:
        """Signed endpoint distances of every segment (image plane) for one camera."""
        towards = rotation[:, self.direction_of_segment]
        depth = -towards[2] / focal  # homogeneous w of each segment's VP
        toward = towards[:2].T + (principal[None, :] - self.segments.midpoints) * depth[:, None]
        cross = toward[:, 0] * self.segments.directions[:, 1] - toward[:, 1] * self.segments.directions[:, 0]
        return cross / np.maximum(np.hypot(toward[:, 0], toward[:, 1]), 1e-300) * self.segments.half_lengths

    def best_rotation(self, rotation: np.ndarray, focal: float, iterations: int = 3) -> tuple[np.ndarray, float]:
        """The rotation (Gauss–Newton from ``rotation``) that fits the segments best with this focal
        length about the principal point, and its summed squared misfit."""
        step_size = 1e-7
        for _ in range(iterations):
            misfits = self.misfits(rotation, focal, self.principal)
            jacobian = np.stack([
                (self.misfits(rotation @ _rotation(step), focal, self.principal) - misfits) / step_size
                for step in np.eye(3) * step_size
            ], axis=1)
            rotation = rotation @ _rotation(np.linalg.lstsq(jacobian, -misfits, rcond=None)[0])
        return rotation, float(np.sum(self.misfits(rotation, focal, self.principal) ** 2))

    def fov_interval_deg(self) -> tuple[float, float]:
        """The true horizontal fields of view (degrees) that the segments allow: those of
        :meth:`misfit_fov_range_rad` and of :meth:`perpendicular_fov_range_rad`, and all between."""
        ranges = self.misfit_fov_range_rad() + self.perpendicular_fov_range_rad()
        return true_horizontal_fov_interval_deg((min(ranges), max(ranges)), self.half_width, float(self.principal[0]))

    def perpendicular_fov_range_rad(self) -> tuple[float, float]:
        """Fields of view across the longer side (radians, low and high) at which the two solved
        VPs, where they are, point within :data:`PERPENDICULAR_WITHIN_DEG` of perpendicular.

        Scenes hold edges parallel and perpendicular only so well, and lenses bend them a little;
        when both VPs lie far outside the picture, the angle between their directions hardly
        depends on the focal length (with fSpy's ``fspy_github_bug_5`` photo it turns by 3°
        between 28° and 57°), so that degree of the scene decides the field of view, not the misfit.
        """
        low, high = (math.radians(d) for d in FIELD_OF_VIEW_RANGE_DEG)
        solved = 2.0 * math.atan(1.0 / self.focal)
        fovs = np.sort(np.append(np.linspace(low, high, 1001), solved))
        focals = 1.0 / np.tan(fovs / 2.0)
        directions = []
        for column in self.rotation[:, :2].T:
            point = np.array([self.focal * column[0] - self.principal[0] * column[2],
                              self.focal * column[1] - self.principal[1] * column[2], -column[2]])
            towards = np.stack([np.full_like(focals, point[0] - self.principal[0] * point[2]),
                                np.full_like(focals, point[1] - self.principal[1] * point[2]), -focals * point[2]])
            directions.append(towards / np.linalg.norm(towards, axis=0))
        cosines = np.minimum(1.0, np.abs(np.sum(directions[0] * directions[1], axis=0)))
        within = 90.0 - np.degrees(np.arccos(cosines)) <= PERPENDICULAR_WITHIN_DEG
        at = int(np.searchsorted(fovs, solved))  # perpendicular there by construction
        below, above = np.flatnonzero(~within[:at]), np.flatnonzero(~within[at:])
        first = below[-1] + 1 if len(below) else 0
        last = at + above[0] - 1 if len(above) else len(fovs) - 1
        return float(fovs[first]), float(fovs[last])

    def misfit_fov_range_rad(self) -> tuple[float, float]:
        """Fields of view across the longer side (radians, low and high) whose best rotation keeps
        the summed squared misfit within :data:`MISFIT_RISE` squared noise of the least one (the
        noise: the RMS misfit there, at least :attr:`noise`), in :data:`FIELD_OF_VIEW_RANGE_DEG`.

        The profile is sampled at steps that double away from the solved field of view until it
        rises past that bound, then each end is bisected.
        """
        low, high = (math.radians(d) for d in FIELD_OF_VIEW_RANGE_DEG)
        solved = 2.0 * math.atan(1.0 / self.focal)
        rotations, costs = {}, {}

        def cost(fov: float) -> float:
            nearest = min(rotations, key=lambda done: abs(done - fov), default=None)
            start = self.rotation if nearest is None else rotations[nearest]
            rotations[fov], costs[fov] = self.best_rotation(start, 1.0 / math.tan(fov / 2.0), iterations=2)
            return costs[fov]

        def limit() -> float:
            least = min(costs.values())
            return least + MISFIT_RISE * max(least / max(1, len(self.direction_of_segment) - 4), self.noise**2)

        cost(solved)
        for sign in (-1.0, 1.0):
            for doubling in range(10):
                fov = min(high, max(low, solved + sign * math.radians(0.25) * 2.0**doubling))
                if cost(fov) > limit() or fov in (low, high):
                    break
        fovs = sorted(costs)
        best = min(costs, key=costs.get)
        bound = limit()
        ends = []
        for outward in (fovs[: fovs.index(best)][::-1], fovs[fovs.index(best) + 1:]):
            inside = best
            for fov in outward:
                if costs[fov] > bound:
                    for _ in range(5):
                        middle = (inside + fov) / 2.0
                        inside, fov = (middle, fov) if cost(middle) <= bound else (inside, middle)
                    break
                inside = fov
            ends.append(inside)
        return min(ends), max(ends)

    def principal_point_deviation(self) -> float:
        """Largest standard deviation (image plane) of the principal point when it is fitted with
        the rotation and focal length: the segments' noise (their RMS misfit, at least
        :attr:`noise`) through the inverse of the misfits' Gauss–Newton normal matrix; infinite
        when the segments leave it free along some direction."""
        rotation, _ = self.best_rotation(self.rotation, self.focal)

        def misfits(parameters: np.ndarray) -> np.ndarray:
            return self.misfits(rotation @ _rotation(parameters[:3]), self.focal * math.exp(parameters[3]),
                                self.principal + parameters[4:])

        step_size = 1e-7
        at = misfits(np.zeros(6))
        jacobian = np.stack([(misfits(step) - at) / step_size for step in np.eye(6) * step_size], axis=1)
        normal = jacobian.T @ jacobian
        if np.linalg.cond(normal) > 1e12:
            return math.inf
        noise_squared = max(float(np.sum(at**2)) / max(1, len(at) - 6), self.noise**2)
        covariance = noise_squared * np.linalg.inv(normal)[4:, 4:]
        return math.sqrt(float(np.linalg.eigvalsh(covariance)[-1]))
