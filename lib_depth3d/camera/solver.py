"""The fSpy camera solver: focal length, rotation and translation from vanishing points.

All maths runs on fSpy's image plane (y up, the longer picture side spans [-1, 1]) with the
relative focal length ``f`` (pixels / half the longer side), exactly as fSpy computes it, so
that fSpy projects reproduce fSpy's numbers. Where fSpy returns NaN we raise a
:class:`~lib_depth3d.errors.CalibrationError` saying what to change instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lib_depth3d.camera.inputs import FSPY_AXIS_NAMES, METERS_PER_UNIT, CalibrationInput
from lib_depth3d.camera.model import Camera, image_plane_to_pixels, pixels_to_image_plane
from lib_depth3d.camera.vanishing import (
    VANISHING_POINT_FAILURE,
    image_plane_to_relative,
    lines_nearly_parallel,
    relative_to_image_plane,
    third_triangle_vertex,
    largest_triangle_angle_rad,
    triangle_orthocenter,
    vanishing_point,
)
from lib_depth3d.errors import CalibrationError, InputError

DEFAULT_CAMERA_DISTANCE = 10.0
DETERMINANT_TOLERANCE = 1e-7
FOCAL_LENGTH_FAILURE = "Invalid vanishing point configuration. Failed to compute focal length."
SECOND_VP_FAILURE = "Failed to compute second vanishing point"
SENSOR_MISMATCH_WARNING = "Image/sensor proportions mismatch"
# Three orthogonal directions vanish at the corners of an acute triangle; a triangle with an angle
# within this of a straight one gets the cause after fSpy's "Failed to compute focal length".
COLLINEAR_TOLERANCE_RAD = math.radians(1.0)
AXIS_VECTORS = {
    "+x": (1.0, 0.0, 0.0), "-x": (-1.0, 0.0, 0.0),
    "+y": (0.0, 1.0, 0.0), "-y": (0.0, -1.0, 0.0),
    "+z": (0.0, 0.0, 1.0), "-z": (0.0, 0.0, -1.0),
}


@dataclass(frozen=True)
class Calibration:
    """A solved camera and what it was solved from.

    Attributes:
        camera: the :class:`Camera` (pixels, world→camera transform = fSpy's viewTransform).
        input: the :class:`CalibrationInput` it was solved from.
        relative_focal_length: fSpy's f (focal length in pixels / half the longer side).
        principal_point_image_plane: P on fSpy's image plane.
        vanishing_points_image_plane: the three VPs on the image plane; the third is None when
            it lies at infinity (the principal point is on the line through the first two).
        vanishing_point_axes: world axes of the three VPs ('+x' … '-z').
        vanishing_point_residuals_px: per VP computed from lines, the RMS misfit (pixels) of
            its segments; 0 for two segments.
        fspy_horizontal_fov_rad, fspy_vertical_fov_rad: fSpy's fields of view (for portrait
            pictures its "horizontal" one spans the long, vertical side).
        reference_handles_px: the two reference-distance handles in pixels, or None.
        warnings: fSpy's warnings, in fSpy's order.
    """

    camera: Camera
    input: CalibrationInput
    relative_focal_length: float
    principal_point_image_plane: tuple[float, float]
    vanishing_points_image_plane: tuple[tuple[float, float], tuple[float, float], tuple[float, float] | None]
    vanishing_point_axes: tuple[str, str, str]
    vanishing_point_residuals_px: tuple[float, ...]
    fspy_horizontal_fov_rad: float
    fspy_vertical_fov_rad: float
    reference_handles_px: tuple[tuple[float, float], tuple[float, float]] | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def view_transform(self) -> np.ndarray:
        """fSpy's viewTransform: world → camera."""
        return self.camera.world_to_camera

    @property
    def camera_transform(self) -> np.ndarray:
        """fSpy's cameraTransform: camera → world (the camera's matrix_world in Blender)."""
        return self.camera.camera_to_world

    @property
    def true_horizontal_fov_rad(self) -> float:
        """Angle between the rays through the left and right picture edges on the principal row."""
        cx = self.camera.principal_point_px[0]
        f = self.camera.focal_length_px
        return math.atan(cx / f) + math.atan((self.camera.image_width_px - cx) / f)

    @property
    def true_vertical_fov_rad(self) -> float:
        """Angle between the rays through the top and bottom picture edges on the principal column."""
        cy = self.camera.principal_point_px[1]
        f = self.camera.focal_length_px
        return math.atan(cy / f) + math.atan((self.camera.image_height_px - cy) / f)

    @property
    def sensor_long_side_mm(self) -> float:
        return max(self.input.sensor_mm)

    def to_camera_parameters(self) -> dict:
        """fSpy's camera-parameters JSON object (the `cameraParameters` of a `.fspy` project)."""
        third = self.vanishing_points_image_plane[2]
        return {
            "principalPoint": _xy(self.principal_point_image_plane),
            "viewTransform": {"rows": self.view_transform.tolist()},
            "cameraTransform": {"rows": self.camera_transform.tolist()},
            "horizontalFieldOfView": self.fspy_horizontal_fov_rad,
            "verticalFieldOfView": self.fspy_vertical_fov_rad,
            "vanishingPoints": [
                _xy(self.vanishing_points_image_plane[0]),
                _xy(self.vanishing_points_image_plane[1]),
                _xy(third) if third is not None else None,
            ],
            "vanishingPointAxes": [FSPY_AXIS_NAMES[a] for a in self.vanishing_point_axes],
            "relativeFocalLength": self.relative_focal_length,
            "imageWidth": self.camera.image_width_px,
            "imageHeight": self.camera.image_height_px,
        }

    def to_report(self) -> dict:
        """The camera parameters plus our extras: true FOVs, focal lengths, residuals, warnings."""
        camera = self.camera
        width, height = camera.image_size_px
        vanishing_points_px = [
            None if vp is None else image_plane_to_pixels(np.asarray(vp), width, height).tolist()
            for vp in self.vanishing_points_image_plane
        ]
        reference = self.input.reference
        report = self.to_camera_parameters()
        report.update(
            {
                "calibrationMode": self.input.mode,
                "focalLengthPixels": camera.focal_length_px,
                "focalLengthMillimeters": camera.focal_length_mm(self.sensor_long_side_mm),
                "sensorMillimeters": list(self.input.sensor_mm),
                "trueHorizontalFieldOfView": self.true_horizontal_fov_rad,
                "trueVerticalFieldOfView": self.true_vertical_fov_rad,
                "trueHorizontalFieldOfViewDegrees": math.degrees(self.true_horizontal_fov_rad),
                "trueVerticalFieldOfViewDegrees": math.degrees(self.true_vertical_fov_rad),
                "principalPointPixels": list(camera.principal_point_px),
                "vanishingPointsPixels": vanishing_points_px,
                "vanishingPointResidualsPixels": list(self.vanishing_point_residuals_px),
                "cameraPosition": camera.position_world.tolist(),
                "referenceDistance": None if reference is None else reference.distance,
                "referenceDistanceUnit": None if reference is None else reference.unit,
                "metersPerSceneUnit": (
                    None if reference is None else METERS_PER_UNIT.get(reference.unit)
                ),
                "warnings": list(self.warnings),
            }
        )
        return report


def _xy(point) -> dict:
    return {"x": float(point[0]), "y": float(point[1])}


def _normalized(vector: np.ndarray) -> np.ndarray:
    length = float(np.linalg.norm(vector))
    return vector / length if length > 0 else np.zeros_like(vector)


# --- focal length and second vanishing point -------------------------------------------------
def focal_length_from_two_vanishing_points(fu: np.ndarray, fv: np.ndarray, principal: np.ndarray) -> float:
    """fSpy's relative focal length from two orthogonal VPs and the principal point (image plane).

    Raises :class:`CalibrationError` when f² ≤ 0 (fSpy's message) or the VPs coincide (ours).
    """
    if np.array_equal(fu, fv):
        raise CalibrationError(
            "Invalid vanishing point configuration: the two vanishing points coincide. "
            "Draw the second set of lines along edges perpendicular to the first."
        )
    direction = _normalized(fu - fv)
    foot = np.dot(direction, principal - fv) * direction + fv
    to_principal = float(np.linalg.norm(principal - foot))
    f_squared = float(np.linalg.norm(fv - foot)) * float(np.linalg.norm(fu - foot)) - to_principal * to_principal
    if not f_squared > 0:
        raise CalibrationError(FOCAL_LENGTH_FAILURE)
    return math.sqrt(f_squared)


def second_vanishing_point(fu: np.ndarray, f: float, principal: np.ndarray, horizon_direction: np.ndarray) -> np.ndarray:
    """fSpy's one-VP construction of the second VP on the horizon through the first."""
    if float(np.linalg.norm(fu - principal)) < 1e-7:
        raise CalibrationError(
            SECOND_VP_FAILURE + ": the vanishing point lies on the principal point. "
            "Draw lines that converge away from the picture centre."
        )
    fup = fu - principal
    along = float(np.dot(fup, horizon_direction))
    if along == 0.0:
        raise CalibrationError(
            SECOND_VP_FAILURE + ": the horizon is perpendicular to the direction of the "
            "vanishing point. Tilt the horizon line."
        )
    k = -(float(np.dot(fup, fup)) + f * f) / along
    fv = fup + k * horizon_direction + principal
    if not np.all(np.isfinite(fv)):
        raise CalibrationError(SECOND_VP_FAILURE + ": the horizon is almost perpendicular to it.")
    return fv


def camera_rotation(fu: np.ndarray, fv: np.ndarray, f: float, principal: np.ndarray) -> np.ndarray:
    """3×3 matrix with columns u, v, u×v: the VP directions in the camera frame (fSpy's Moc)."""
    u = _normalized(np.array([fu[0] - principal[0], fu[1] - principal[1], -f]))
    v = _normalized(np.array([fv[0] - principal[0], fv[1] - principal[1], -f]))
    return np.column_stack([u, v, np.cross(u, v)])


def axis_assignment(first_axis: str, second_axis: str) -> tuple[np.ndarray, str]:
    """fSpy's matrix A with rows a1, a2, a1×a2, and the third axis; 'Invalid axis assignment' if singular."""
    first = np.array(AXIS_VECTORS[first_axis])
    second = np.array(AXIS_VECTORS[second_axis])
    third = np.cross(first, second)
    matrix = np.array([first, second, third])
    if abs(1.0 - np.linalg.det(matrix)) > DETERMINANT_TOLERANCE:
        raise CalibrationError(
            f"Invalid axis assignment: {first_axis} and {second_axis} are the same axis. "
            "Give the two vanishing points perpendicular axes."
        )
    third_name = next(name for name, vector in AXIS_VECTORS.items() if np.array_equal(vector, third))
    return matrix, third_name


# --- the solver ------------------------------------------------------------------------------
def _to_image_plane(inp: CalibrationInput, point_px) -> np.ndarray:
    return pixels_to_image_plane(np.array(point_px, dtype=np.float64), inp.image_width_px, inp.image_height_px)


def _solve_vanishing_points(inp: CalibrationInput, warnings: list[str]):
    """VP1, VP2, principal point and f on the image plane, with fSpy's errors and warnings."""
    width, height = inp.image_width_px, inp.image_height_px
    first_segments = inp.vanishing_points[0].segments_px
    residuals = []
    if inp.mode == "one_vp":
        sensor_width, sensor_height = inp.sensor_mm
        f = 2.0 * inp.focal_length_mm / (sensor_width if sensor_width / sensor_height > 1 else sensor_height)
        if not (
            abs(width / height - sensor_width / sensor_height) < 0.01
            or abs(width / height - sensor_height / sensor_width) < 0.01
        ):
            warnings.append(SENSOR_MISMATCH_WARNING)
        first = _vanishing_point_or_fail(first_segments, width, height, 1)
        residuals.append(first.residual_px)
        if lines_nearly_parallel(first_segments, width, height):
            warnings.append("Near parallel lines for VP 1")
        principal = (
            _to_image_plane(inp, inp.principal_point_px)
            if inp.principal_point_mode == "manual"
            else np.zeros(2)
        )
        horizon_px = inp.horizon_px or ((0.2 * width, 0.5 * height), (0.8 * width, 0.5 * height))
        horizon = pixels_to_image_plane(np.array(horizon_px, dtype=np.float64), width, height)
        direction = horizon[1] - horizon[0]
        if not float(np.linalg.norm(direction)) > 0:
            raise CalibrationError(
                SECOND_VP_FAILURE + ": the horizon line has no length. Drag its two ends apart."
            )
        fu = np.array(first.image_plane)
        fv = second_vanishing_point(fu, f, principal, _normalized(direction))
        return fu, fv, principal, f, residuals

    second_segments = inp.second_vanishing_point_segments_px()
    first = _vanishing_point_or_fail(first_segments, width, height, 1)
    second = _vanishing_point_or_fail(second_segments, width, height, 2)
    residuals += [first.residual_px, second.residual_px]
    fu, fv = np.array(first.image_plane), np.array(second.image_plane)
    principal = np.zeros(2)
    if inp.principal_point_mode == "manual":
        principal = _to_image_plane(inp, inp.principal_point_px)
    elif inp.principal_point_mode == "third_vp":
        third = _vanishing_point_or_fail(inp.vanishing_points[2].segments_px, width, height, 3)
        residuals.append(third.residual_px)
        third_plane = np.array(third.image_plane)
        collinear = largest_triangle_angle_rad(fu, fv, third_plane) > math.pi - COLLINEAR_TOLERANCE_RAD
        orthocenter = None if collinear else triangle_orthocenter(fu, fv, third_plane)
        if orthocenter is None:
            raise CalibrationError(
                f"{FOCAL_LENGTH_FAILURE} The three vanishing points are on one line (within 1°), so the "
                "principal point cannot be placed: draw the third set of lines along edges perpendicular "
                "to the other two."
            )
        principal = orthocenter
    f = focal_length_from_two_vanishing_points(fu, fv, principal)
    checked = [first_segments, second_segments]
    if inp.principal_point_mode == "third_vp":
        checked.append(inp.vanishing_points[2].segments_px)
    for index, segments in enumerate(checked):
        if lines_nearly_parallel(segments, width, height):
            warnings.append(f"Near parallel lines for VP {index + 1}")
    return fu, fv, principal, f, residuals


def _vanishing_point_or_fail(segments_px: np.ndarray, width: int, height: int, number: int):
    try:
        return vanishing_point(segments_px, width, height)
    except CalibrationError:
        raise CalibrationError(
            f"{VANISHING_POINT_FAILURE} {number}: its lines are parallel or a segment has no "
            "length. Lay the segments along edges that converge in the picture."
        ) from None


def _reference_handles_image_plane(
    inp: CalibrationInput,
    vanishing_points: list[np.ndarray | None],
    axes: tuple[str, str, str],
) -> np.ndarray:
    """The two reference handles on the image plane (2×2)."""
    reference = inp.reference
    width, height = inp.image_width_px, inp.image_height_px
    if reference.handles_px is not None:
        return pixels_to_image_plane(np.array(reference.handles_px, dtype=np.float64), width, height)
    letter = reference.axis[1]
    index = next((i for i, axis in enumerate(axes) if axis[1] == letter), 0)
    vp = vanishing_points[index]
    if vp is None:
        raise CalibrationError(
            f"The reference axis {reference.axis} has its vanishing point at infinity, so fSpy's "
            "handle offsets do not place the handles; give the handles as pixel points."
        )
    anchor_relative = np.array(reference.anchor_px) / np.array([width, height], dtype=np.float64)
    vp_relative = image_plane_to_relative(vp, width, height)
    direction = _normalized(vp_relative - anchor_relative)
    offsets = np.array(reference.fspy_handle_offsets)
    handles_relative = anchor_relative[None, :] + offsets[:, None] * direction[None, :]
    return relative_to_image_plane(handles_relative, width, height)


def _reference_scale(
    inp: CalibrationInput,
    view: np.ndarray,
    principal: np.ndarray,
    f: float,
    handles_plane: np.ndarray,
) -> float:
    """Factor that makes the 3D distance between the handles equal the reference distance."""
    reference = inp.reference
    rotation = view[:3, :3]
    centre = -rotation.T @ view[:3, 3]

    def ray(point_plane: np.ndarray) -> np.ndarray:
        return rotation.T @ np.array([point_plane[0] - principal[0], point_plane[1] - principal[1], -f])

    axis = np.array(AXIS_VECTORS[reference.axis])
    anchor = _to_image_plane(inp, reference.anchor_px)
    anchor_ray = ray(anchor)
    across = float(np.dot(axis, anchor_ray))
    if abs(across) < 1e-12 * float(np.linalg.norm(anchor_ray)):
        raise CalibrationError(
            f"The reference anchor's ray is parallel to the plane normal to {reference.axis}; "
            "move the anchor."
        )
    on_plane = centre - float(np.dot(axis, centre)) / across * anchor_ray
    handles = []
    for handle in handles_plane:
        direction = ray(handle)
        along = float(np.dot(direction, axis))
        denominator = float(np.dot(direction, direction)) - along * along
        if denominator < 1e-12 * float(np.dot(direction, direction)):
            raise CalibrationError(
                f"A reference handle's ray is parallel to the {reference.axis} axis; "
                "move the handles along the axis line."
            )
        offset = centre - on_plane
        mu = (along * float(np.dot(axis, offset)) - float(np.dot(direction, offset))) / denominator
        handles.append(centre + mu * direction)
    length = float(np.linalg.norm(handles[0] - handles[1]))
    if not length > 1e-12 * max(1.0, float(np.linalg.norm(handles[0]))):
        raise CalibrationError(
            "The two reference-distance handles are at the same place (equal offsets); move them apart."
        )
    return reference.distance / length


def calibrate(inp: CalibrationInput) -> Calibration:
    """Solve the camera of ``inp`` as fSpy does (with our least squares for 3+ segments per VP).

    Raises :class:`CalibrationError` with fSpy's message (and what to do) when the lines do not
    determine a camera; never returns NaN.
    """
    if inp.mode not in ("one_vp", "two_vp"):
        raise InputError(f"Unknown calibration mode {inp.mode!r}; use 'two_vp' or 'one_vp'.")
    if inp.mode == "one_vp" and inp.principal_point_mode == "third_vp":
        raise InputError("The principal point from a third vanishing point needs two-VP mode.")
    if not min(inp.sensor_mm) > 0 or (inp.mode == "one_vp" and not inp.focal_length_mm > 0):
        raise InputError("The focal length and the sensor size (mm) must be greater than 0.")
    # Overflow on absurd coordinates is caught by the finiteness checks, not reported as warnings.
    with np.errstate(all="ignore"):
        return _calibrate(inp)


def _calibrate(inp: CalibrationInput) -> Calibration:
    warnings: list[str] = []
    fu, fv, principal, f, residuals = _solve_vanishing_points(inp, warnings)
    width, height = inp.image_width_px, inp.image_height_px

    assignment, third_axis = axis_assignment(inp.first_axis, inp.second_axis)
    third = third_triangle_vertex(fu, fv, principal)
    horizontal_fov = 2.0 * math.atan(1.0 / f)
    vertical_fov = 2.0 * math.atan((height / width) / f)

    rotation = camera_rotation(fu, fv, f, principal)
    determinant = float(np.linalg.det(rotation))
    if abs(determinant - 1.0) > DETERMINANT_TOLERANCE:
        raise CalibrationError(
            f"Invalid vanishing point configuration. Rotation determinant {determinant:.5f}"
        )
    view = np.eye(4)
    view[:3, :3] = rotation @ assignment
    origin = _to_image_plane(inp, inp.origin_or_centre_px)
    k = math.tan(0.5 * horizontal_fov)
    translation = DEFAULT_CAMERA_DISTANCE * np.array(
        [k * (origin[0] - principal[0]), k * (origin[1] - principal[1]), -1.0]
    )
    view[:3, 3] = translation
    axes = (inp.first_axis, inp.second_axis, third_axis)
    handles_px = None
    if inp.reference is not None:
        handles_plane = _reference_handles_image_plane(inp, [fu, fv, third], axes)
        view[:3, 3] = translation * _reference_scale(inp, view, principal, f, handles_plane)
        handles_px = tuple(tuple(image_plane_to_pixels(np.asarray(p, dtype=np.float64), width, height).tolist())
                           for p in handles_plane)
    if not (np.all(np.isfinite(view)) and np.all(np.isfinite(principal)) and math.isfinite(f)):
        raise CalibrationError(
            "The calibration produced a non-finite camera: a coordinate or distance is far out of range. "
            "Check the lines, the origin and the reference distance."
        )

    camera = Camera.from_image_plane(width, height, f, (float(principal[0]), float(principal[1])), view)
    return Calibration(
        camera=camera,
        input=inp,
        relative_focal_length=f,
        principal_point_image_plane=(float(principal[0]), float(principal[1])),
        vanishing_points_image_plane=(
            (float(fu[0]), float(fu[1])),
            (float(fv[0]), float(fv[1])),
            None if third is None else (float(third[0]), float(third[1])),
        ),
        vanishing_point_axes=axes,
        vanishing_point_residuals_px=tuple(residuals),
        fspy_horizontal_fov_rad=horizontal_fov,
        fspy_vertical_fov_rad=vertical_fov,
        reference_handles_px=handles_px,
        warnings=warnings,
    )

