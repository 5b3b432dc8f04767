"""What the user drew on the picture, in pixels, and our lines JSON format for it.

The format is documented in ``docs/calibration.md``. Every field is validated here and a bad
one raises :class:`~lib_depth3d.errors.InputError` naming it (``vanishing_points[1].segments[0]``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from lib_depth3d.errors import InputError

LINES_FORMAT_VERSION = 1
AXES = ("+x", "-x", "+y", "-y", "+z", "-z")
FSPY_AXIS_NAMES = {
    "+x": "xPositive", "-x": "xNegative",
    "+y": "yPositive", "-y": "yNegative",
    "+z": "zPositive", "-z": "zNegative",
}
"""fSpy's names of the axes (its project and camera-parameters files)."""
REFERENCE_AXES = ("+x", "+y", "+z")
MODES = ("two_vp", "one_vp")
PRINCIPAL_POINT_MODES = ("center", "manual", "third_vp")
DEFAULT_SENSOR_MM = (36.0, 24.0)
DEFAULT_FOCAL_LENGTH_MM = 24.0
# Units fSpy knows, keyed by our short name; the value is fSpy's `referenceDistanceUnit`.
UNITS = {
    "": "No unit",
    "mm": "Millimeters",
    "cm": "Centimeters",
    "m": "Meters",
    "km": "Kilometers",
    "in": "Inches",
    "ft": "Feet",
    "mi": "Miles",
}
METERS_PER_UNIT = {"mm": 0.001, "cm": 0.01, "m": 1.0, "km": 1000.0, "in": 0.0254, "ft": 0.3048, "mi": 1609.344}


@dataclass(frozen=True)
class VanishingPointLines:
    """Segments along edges that are parallel in the scene.

    Attributes:
        segments_px: N×2×2 array, segment endpoints ``[[x0, y0], [x1, y1]]`` in pixels.
        axis: the world axis these edges run along (``'+x'`` … ``'-z'``), or None for the
            third vanishing point, which only places the principal point.
    """

    segments_px: np.ndarray
    axis: str | None = None


@dataclass(frozen=True)
class ReferenceDistance:
    """A known length along a world axis that fixes the scale of the scene.

    Two handles lie on the picture of the axis through ``anchor_px``; their 3D distance becomes
    ``distance``. Give either ``handles_px`` (two pixel points, ours) or
    ``fspy_handle_offsets`` (fSpy's signed offsets from the anchor toward the axis's vanishing
    point, in relative coordinates — kept exactly when a `.fspy` project is read).
    """

    axis: str
    distance: float
    unit: str
    anchor_px: tuple[float, float]
    handles_px: tuple[tuple[float, float], tuple[float, float]] | None = None
    fspy_handle_offsets: tuple[float, float] | None = None


@dataclass(frozen=True)
class CalibrationInput:
    """Everything the solver needs, with coordinates in pixels (origin top-left, y down).

    ``vanishing_points`` holds the first and second vanishing point's lines (with their axes),
    and optionally a third (no axis). In ``one_vp`` mode only the first is used; in rectangle
    mode the second is derived from the first's two segments and its own segments are ignored.
    """

    image_width_px: int
    image_height_px: int
    vanishing_points: tuple[VanishingPointLines, ...]
    mode: str = "two_vp"
    rectangle: bool = False
    principal_point_mode: str = "center"
    principal_point_px: tuple[float, float] | None = None
    origin_px: tuple[float, float] | None = None
    horizon_px: tuple[tuple[float, float], tuple[float, float]] | None = None
    focal_length_mm: float = DEFAULT_FOCAL_LENGTH_MM
    sensor_mm: tuple[float, float] = DEFAULT_SENSOR_MM
    reference: ReferenceDistance | None = None

    @property
    def first_axis(self) -> str:
        return self.vanishing_points[0].axis or "+x"

    @property
    def second_axis(self) -> str:
        if len(self.vanishing_points) > 1 and self.vanishing_points[1].axis:
            return self.vanishing_points[1].axis
        return "+y"

    @property
    def image_centre_px(self) -> tuple[float, float]:
        return self.image_width_px / 2.0, self.image_height_px / 2.0

    @property
    def origin_or_centre_px(self) -> tuple[float, float]:
        return self.origin_px if self.origin_px is not None else self.image_centre_px

    def second_vanishing_point_segments_px(self) -> np.ndarray:
        """The second VP's segments; in rectangle mode, the first VP's endpoints joined pairwise."""
        first = self.vanishing_points[0].segments_px
        if self.rectangle:
            return np.array([[first[0][0], first[1][0]], [first[0][1], first[1][1]]], dtype=np.float64)
        return self.vanishing_points[1].segments_px

    def with_reference(self, reference: ReferenceDistance | None) -> "CalibrationInput":
        return replace(self, reference=reference)


# --- parsing ---------------------------------------------------------------------------------
def _require(obj: dict, key: str, where: str) -> Any:
    if key not in obj:
        raise InputError(f"Lines JSON: {where}{key} is missing.")
    return obj[key]


def _number(value: Any, name: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"Lines JSON: {name} must be a finite number, got {json.dumps(value)}.")
    if positive and value <= 0:
        raise InputError(f"Lines JSON: {name} must be greater than 0, got {value}.")
    return float(value)


def _point(value: Any, name: str) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise InputError(f"Lines JSON: {name} must be a point [x, y] in pixels, got {json.dumps(value)}.")
    return _number(value[0], f"{name}[0]"), _number(value[1], f"{name}[1]")


def _segments(value: Any, name: str, minimum: int) -> np.ndarray:
    if not isinstance(value, list) or len(value) < minimum:
        raise InputError(
            f"Lines JSON: {name} must be a list of at least {minimum} segments [[x0, y0], [x1, y1]]."
        )
    segments = []
    for index, segment in enumerate(value):
        if not isinstance(segment, (list, tuple)) or len(segment) != 2:
            raise InputError(
                f"Lines JSON: {name}[{index}] must be a segment [[x0, y0], [x1, y1]] in pixels."
            )
        segments.append([_point(segment[0], f"{name}[{index}][0]"), _point(segment[1], f"{name}[{index}][1]")])
    return np.array(segments, dtype=np.float64).reshape(-1, 2, 2)


def _choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise InputError(f"Lines JSON: {name} must be one of {listed}, got {json.dumps(value)}.")
    return value


def _decode(obj: dict | str | bytes) -> dict:
    if isinstance(obj, (str, bytes, bytearray)):
        try:
            obj = json.loads(obj)
        except (ValueError, UnicodeDecodeError) as error:
            raise InputError(f"Lines JSON is not valid JSON: {error}.") from error
    if not isinstance(obj, dict):
        raise InputError("Lines JSON must be an object {\"version\": 1, \"image\": …}.")
    return obj


def _parse_reference(value: Any, origin_px: tuple[float, float] | None, centre: tuple[float, float]) -> ReferenceDistance | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InputError("Lines JSON: reference must be null or an object {\"axis\": \"+x\", …}.")
    axis = value.get("axis")
    if axis in ("x", "y", "z"):
        axis = "+" + axis
    axis = _choice(axis, "reference.axis", REFERENCE_AXES)
    distance = _number(_require(value, "distance", "reference."), "reference.distance", positive=True)
    unit = value.get("unit", "m")
    unit = _choice(unit, "reference.unit", tuple(UNITS))
    anchor = _point(value["anchor"], "reference.anchor") if "anchor" in value else (origin_px or centre)
    has_handles = "handles" in value
    has_offsets = "fspy_handle_offsets" in value
    if has_handles == has_offsets:
        raise InputError(
            "Lines JSON: reference needs exactly one of handles [[x, y], [x, y]] (pixels) "
            "or fspy_handle_offsets [a, b]."
        )
    if has_handles:
        handles = value["handles"]
        if not isinstance(handles, list) or len(handles) != 2:
            raise InputError("Lines JSON: reference.handles must be two points [[x, y], [x, y]] in pixels.")
        return ReferenceDistance(
            axis, distance, unit, anchor,
            handles_px=(_point(handles[0], "reference.handles[0]"), _point(handles[1], "reference.handles[1]")),
        )
    offsets = value["fspy_handle_offsets"]
    if not isinstance(offsets, list) or len(offsets) != 2:
        raise InputError("Lines JSON: reference.fspy_handle_offsets must be two numbers [a, b].")
    return ReferenceDistance(
        axis, distance, unit, anchor,
        fspy_handle_offsets=(
            _number(offsets[0], "reference.fspy_handle_offsets[0]"),
            _number(offsets[1], "reference.fspy_handle_offsets[1]"),
        ),
    )


def parse_lines_json(obj: dict | str | bytes) -> CalibrationInput:
    """Validate our lines JSON (a dict, or its text) and return a :class:`CalibrationInput`.

    Raises :class:`InputError` naming the first malformed field.
    """
    data = _decode(obj)
    version = data.get("version", LINES_FORMAT_VERSION)
    if version != LINES_FORMAT_VERSION:
        raise InputError(f"Lines JSON: version must be {LINES_FORMAT_VERSION}, got {json.dumps(version)}.")
    image = _require(data, "image", "")
    if not isinstance(image, dict):
        raise InputError("Lines JSON: image must be an object {\"width\": W, \"height\": H} in pixels.")
    size = []
    for key in ("width", "height"):
        value = _require(image, key, "image.")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"Lines JSON: image.{key} must be a whole number of pixels ≥ 1, got {json.dumps(value)}.")
        size.append(value)
    width, height = size
    mode = _choice(data.get("mode", "two_vp"), "mode", MODES)
    rectangle = data.get("rectangle", False)
    if not isinstance(rectangle, bool):
        raise InputError(f"Lines JSON: rectangle must be true or false, got {json.dumps(rectangle)}.")
    if rectangle and mode != "two_vp":
        raise InputError("Lines JSON: rectangle mode needs mode \"two_vp\".")

    entries = _require(data, "vanishing_points", "")
    needed = 1 if mode == "one_vp" else 2
    if not isinstance(entries, list) or not needed <= len(entries) <= 3:
        raise InputError(
            f"Lines JSON: vanishing_points must be a list of {needed} to 3 objects "
            "{\"axis\": \"+x\", \"segments\": [...]} (mode " + mode + ")."
        )
    vanishing_points = []
    for index, entry in enumerate(entries):
        name = f"vanishing_points[{index}]"
        if not isinstance(entry, dict):
            raise InputError(f"Lines JSON: {name} must be an object {{\"axis\": …, \"segments\": [...]}}.")
        if index < 2:
            axis = _choice(entry.get("axis", "+x" if index == 0 else "+y"), f"{name}.axis", AXES)
        elif "axis" in entry:
            raise InputError(f"Lines JSON: {name} is the third vanishing point and takes no axis.")
        else:
            axis = None
        derived = index == 1 and (rectangle or mode == "one_vp")
        if derived and "segments" not in entry:
            segments = np.zeros((0, 2, 2))
        else:
            segments = _segments(_require(entry, "segments", f"{name}."), f"{name}.segments", 2)
        if rectangle and index == 0 and len(segments) != 2:
            raise InputError(f"Lines JSON: {name}.segments must hold exactly 2 segments in rectangle mode.")
        vanishing_points.append(VanishingPointLines(segments, axis))

    principal = data.get("principal_point", {"mode": "center"})
    if not isinstance(principal, dict):
        raise InputError("Lines JSON: principal_point must be an object {\"mode\": \"center\"|\"manual\"|\"third_vp\"}.")
    pp_mode = _choice(principal.get("mode", "center"), "principal_point.mode", PRINCIPAL_POINT_MODES)
    pp_point = _point(principal["point"], "principal_point.point") if "point" in principal else None
    if pp_mode == "manual" and pp_point is None:
        raise InputError("Lines JSON: principal_point.point [x, y] is needed for mode \"manual\".")
    if pp_mode == "third_vp":
        if mode != "two_vp":
            raise InputError("Lines JSON: principal_point.mode \"third_vp\" needs mode \"two_vp\".")
        if len(vanishing_points) < 3:
            raise InputError("Lines JSON: principal_point.mode \"third_vp\" needs vanishing_points[2].")

    origin = _point(data["origin"], "origin") if data.get("origin") is not None else None
    horizon = None
    if data.get("horizon") is not None:
        value = data["horizon"]
        if not isinstance(value, list) or len(value) != 2:
            raise InputError("Lines JSON: horizon must be two points [[x, y], [x, y]] in pixels.")
        horizon = (_point(value[0], "horizon[0]"), _point(value[1], "horizon[1]"))
    focal = _number(data.get("focal_length_mm", DEFAULT_FOCAL_LENGTH_MM), "focal_length_mm", positive=True)
    sensor = data.get("sensor_mm", list(DEFAULT_SENSOR_MM))
    if not isinstance(sensor, list) or len(sensor) != 2:
        raise InputError(f"Lines JSON: sensor_mm must be [width, height] in mm, got {json.dumps(sensor)}.")
    sensor_mm = (
        _number(sensor[0], "sensor_mm[0]", positive=True),
        _number(sensor[1], "sensor_mm[1]", positive=True),
    )
    reference = _parse_reference(data.get("reference"), origin, (width / 2.0, height / 2.0))
    return CalibrationInput(
        image_width_px=width,
        image_height_px=height,
        vanishing_points=tuple(vanishing_points),
        mode=mode,
        rectangle=rectangle,
        principal_point_mode=pp_mode,
        principal_point_px=pp_point,
        origin_px=origin,
        horizon_px=horizon,
        focal_length_mm=focal,
        sensor_mm=sensor_mm,
        reference=reference,
    )


def lines_json(inp: CalibrationInput) -> dict:
    """The lines JSON object of ``inp`` (the inverse of :func:`parse_lines_json`)."""
    entries = []
    for index, lines in enumerate(inp.vanishing_points):
        entry: dict[str, Any] = {}
        if index < 2:
            entry["axis"] = lines.axis or ("+x" if index == 0 else "+y")
        if len(lines.segments_px):
            entry["segments"] = np.asarray(lines.segments_px, dtype=np.float64).tolist()
        entries.append(entry)
    principal: dict[str, Any] = {"mode": inp.principal_point_mode}
    if inp.principal_point_px is not None:
        principal["point"] = list(inp.principal_point_px)
    data: dict[str, Any] = {
        "version": LINES_FORMAT_VERSION,
        "image": {"width": inp.image_width_px, "height": inp.image_height_px},
        "mode": inp.mode,
        "rectangle": inp.rectangle,
        "vanishing_points": entries,
        "principal_point": principal,
        "origin": list(inp.origin_px) if inp.origin_px is not None else None,
        "horizon": [list(p) for p in inp.horizon_px] if inp.horizon_px is not None else None,
        "focal_length_mm": inp.focal_length_mm,
        "sensor_mm": list(inp.sensor_mm),
        "reference": None,
    }
    reference = inp.reference
    if reference is not None:
        data["reference"] = {
            "axis": reference.axis,
            "distance": reference.distance,
            "unit": reference.unit,
            "anchor": list(reference.anchor_px),
        }
        if reference.handles_px is not None:
            data["reference"]["handles"] = [list(p) for p in reference.handles_px]
        else:
            data["reference"]["fspy_handle_offsets"] = list(reference.fspy_handle_offsets)
    return data
