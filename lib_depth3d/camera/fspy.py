"""fSpy's `.fspy` project files and camera-parameters JSON: read, write, convert.

A project is a little-endian header (``b"fspy"``, uint32 version 1, uint32 state length,
uint32 image length), the UTF-8 state JSON, then the image bytes. Control points in the state
are *relative* coordinates of the displayed picture (EXIF orientation applied); we convert them
to pixels. Projects we write also carry our full lines JSON under the extra state key
``"depth3d"`` (fSpy ignores it) so that more than two segments per VP survive a round trip.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lib_depth3d.camera.inputs import (
    FSPY_AXIS_NAMES,
    UNITS,
    CalibrationInput,
    ReferenceDistance,
    VanishingPointLines,
    lines_json,
    parse_lines_json,
)
from lib_depth3d.camera.model import Camera
from lib_depth3d.errors import CalibrationError, FspyFormatError, InputError
from lib_depth3d.files import picture_header_size, read_input_file, write_bytes_atomic

if TYPE_CHECKING:  # the solver is imported where a project is calibrated: writing camera parameters needs none
    from lib_depth3d.camera.solver import Calibration

MAGIC = b"fspy"
VERSION = 1
HEADER = struct.Struct("<4sIII")
MAX_RELATIVE_COORDINATE = 1e6
STATE_KEYS = (
    "globalSettings",
    "calibrationSettingsBase",
    "calibrationSettings1VP",
    "calibrationSettings2VP",
    "controlPointsStateBase",
    "controlPointsState1VP",
    "controlPointsState2VP",
)
AXES_BY_FSPY_NAME = {name: axis for axis, name in FSPY_AXIS_NAMES.items()}
UNITS_BY_FSPY_NAME = {name: unit for unit, name in UNITS.items()}
PRINCIPAL_POINT_MODE_BY_FSPY_NAME = {"Default": "center", "Manual": "manual", "FromThirdVanishingPoint": "third_vp"}
FSPY_PRINCIPAL_POINT_MODES = {ours: theirs for theirs, ours in PRINCIPAL_POINT_MODE_BY_FSPY_NAME.items()}
# fSpy's camera presets (id → sensor width, height in mm); a project may name one without sizes.
CAMERA_PRESETS = {
    "aps-c": (22.3, 14.9), "canon_1d": (27.9, 18.6), "canon_1ds": (36.0, 24.0),
    "canon_5d": (36.0, 24.0), "canon_7d": (22.3, 14.9), "canon_60d": (22.3, 14.9),
    "canon_500d": (22.3, 14.9), "canon_550d": (22.3, 14.9), "canon_600d": (22.3, 14.9),
    "canon_1100d": (22.2, 14.7), "canon_g7x_mk2": (13.2, 8.8), "35_mm_film": (36.0, 24.0),
    "micro_4_3rds": (17.3, 14.0), "nikon_d3s": (36.0, 23.9), "nikon_d90": (23.6, 15.8),
    "nikon_d300s": (23.6, 15.8), "nikon_d3100": (23.1, 15.4), "nikon_d5000": (23.6, 15.8),
    "nikon_d5100": (23.6, 15.6), "nikon_d7000": (23.6, 15.6), "red_epic": (30.0, 15.0),
    "red_epic_2k": (11.1, 6.24), "red_epic_3k": (16.65, 9.36), "red_epic_4k": (22.2, 12.6),
    "sony_a55": (23.4, 15.6), "iphone_6s": (4.8, 3.6),
}
DEFAULT_RESULT_DISPLAY_SETTINGS = {
    "orientationFormat": "AxisAngleDegrees",
    "principalPointFormat": "Absolute",
    "fieldOfViewFormat": "Degrees",
    "displayAbsoluteFocalLength": False,
}
# Where fSpy places the controls of a mode that is not in use (relative coordinates).
UNUSED_SEGMENTS_RELATIVE = {
    "second": [[[0.35, 0.66], [0.5, 0.88]], [[0.51, 0.17], [0.7, 0.27]]],
    "third": [[[0.34, 0.61], [0.31, 0.31]], [[0.68, 0.61], [0.71, 0.35]]],
}


def image_size_px(image_bytes: bytes) -> tuple[int, int]:
    """Displayed size (width, height) of a project's picture, from its header alone
    (:func:`lib_depth3d.files.picture_header_size`)."""
    return picture_header_size(image_bytes, "The picture")


# --- state access with errors naming the field -------------------------------------------------
def _known(value: Any, names) -> bool:
    """``value`` is one of ``names`` (a damaged file may hold a list or object where a name belongs)."""
    return isinstance(value, str) and value in names


def _field(state: dict, path: str) -> Any:
    value: Any = state
    walked = []
    for key in path.split("."):
        walked.append(key)
        if not isinstance(value, dict) or key not in value:
            raise FspyFormatError(f"The fSpy project has no {'.'.join(walked)}; the file is damaged.")
        value = value[key]
    return value


def _number(state: dict, path: str) -> float:
    value = _field(state, path)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FspyFormatError(f"The fSpy project's {path} must be a number, got {json.dumps(value)}.")
    return float(value)


def _relative_point(value: Any, path: str, size: np.ndarray) -> tuple[float, float]:
    if not isinstance(value, dict) or "x" not in value or "y" not in value:
        raise FspyFormatError(f"The fSpy project's {path} must be a point {{\"x\": …, \"y\": …}}.")
    x, y = value["x"], value["y"]
    for coordinate in (x, y):
        if isinstance(coordinate, bool) or not isinstance(coordinate, (int, float)) or not math.isfinite(coordinate):
            raise FspyFormatError(f"The fSpy project's {path} has a coordinate that is not a number.")
        if abs(coordinate) > MAX_RELATIVE_COORDINATE:
            raise FspyFormatError(f"The fSpy project's {path} lies absurdly far outside the picture ({coordinate}).")
    return float(x) * size[0], float(y) * size[1]


def _segments(state: dict, path: str, size: np.ndarray) -> np.ndarray:
    segments = _field(state, path)
    if not isinstance(segments, list) or len(segments) < 2:
        raise FspyFormatError(f"The fSpy project's {path} must hold two line segments.")
    result = []
    for index, segment in enumerate(segments):
        if not isinstance(segment, list) or len(segment) != 2:
            raise FspyFormatError(f"The fSpy project's {path}[{index}] must be a segment of two points.")
        result.append([_relative_point(p, f"{path}[{index}]", size) for p in segment])
    return np.array(result, dtype=np.float64)


def _axis(state: dict, path: str) -> str:
    value = _field(state, path)
    if not _known(value, AXES_BY_FSPY_NAME):
        raise FspyFormatError(f"The fSpy project's {path} must be an axis like 'xPositive', got {json.dumps(value)}.")
    return AXES_BY_FSPY_NAME[value]


@dataclass(frozen=True)
class FspyProject:
    """A `.fspy` project: its state JSON (legacy variants upgraded), image bytes and image size."""

    state: dict
    image_bytes: bytes
    image_width_px: int | None
    image_height_px: int | None
    version: int = VERSION

    @property
    def camera_parameters(self) -> dict | None:
        """fSpy's stored solution (validated), or None when the project was not solved."""
        stored = self.state.get("cameraParameters")
        return None if stored is None else read_camera_parameters(stored)

    def _size(self) -> np.ndarray:
        if self.image_width_px is None:
            raise FspyFormatError("The fSpy project holds no picture, so its size is unknown.")
        return np.array([self.image_width_px, self.image_height_px], dtype=np.float64)

    def calibration_input(self) -> CalibrationInput:
        """The project's lines and settings as a :class:`CalibrationInput` in pixels."""
        state = self.state
        size = self._size()
        width, height = int(size[0]), int(size[1])
        ours = state.get("depth3d")
        if isinstance(ours, dict) and "lines" in ours:
            inp = parse_lines_json(ours["lines"])
            if (inp.image_width_px, inp.image_height_px) != (width, height):
                raise FspyFormatError(
                    f"The project's depth3d lines were drawn on a {inp.image_width_px}×{inp.image_height_px} "
                    f"picture but it holds a {width}×{height} one."
                )
            return inp
        mode_name = _field(state, "globalSettings.calibrationMode")
        if mode_name not in ("OneVanishingPoint", "TwoVanishingPoints"):
            raise FspyFormatError(f"Unknown fSpy calibrationMode {json.dumps(mode_name)}.")
        mode = "one_vp" if mode_name == "OneVanishingPoint" else "two_vp"
        settings = "calibrationSettings1VP" if mode == "one_vp" else "calibrationSettings2VP"
        pp_name = _field(state, f"{settings}.principalPointMode")
        if not _known(pp_name, PRINCIPAL_POINT_MODE_BY_FSPY_NAME) or (mode == "one_vp" and pp_name == "FromThirdVanishingPoint"):
            raise FspyFormatError(f"Unknown fSpy principalPointMode {json.dumps(pp_name)}.")
        rectangle = mode == "two_vp" and bool(_field(state, "calibrationSettings2VP.quadModeEnabled"))

        vanishing_points = [
            VanishingPointLines(
                _segments(state, "controlPointsStateBase.firstVanishingPoint.lineSegments", size),
                _axis(state, "calibrationSettingsBase.firstVanishingPointAxis"),
            ),
            VanishingPointLines(
                _segments(state, "controlPointsState2VP.secondVanishingPoint.lineSegments", size),
                _axis(state, "calibrationSettingsBase.secondVanishingPointAxis"),
            ),
            VanishingPointLines(_segments(state, "controlPointsState2VP.thirdVanishingPoint.lineSegments", size)),
        ]
        horizon_value = _field(state, "controlPointsState1VP.horizon")
        if isinstance(horizon_value, dict):
            horizon_value = [horizon_value.get("0"), horizon_value.get("1")]
        if not isinstance(horizon_value, list) or len(horizon_value) != 2:
            raise FspyFormatError("The fSpy project's controlPointsState1VP.horizon must be two points.")
        horizon = tuple(_relative_point(p, "controlPointsState1VP.horizon", size) for p in horizon_value)

        camera_data = _field(state, "calibrationSettingsBase.cameraData")
        preset = camera_data.get("presetId") if isinstance(camera_data, dict) else None
        if _known(preset, CAMERA_PRESETS):
            sensor = CAMERA_PRESETS[preset]
        else:
            sensor = (
                _number(state, "calibrationSettingsBase.cameraData.customSensorWidth"),
                _number(state, "calibrationSettingsBase.cameraData.customSensorHeight"),
            )
        if not (sensor[0] > 0 and sensor[1] > 0):
            raise FspyFormatError("The fSpy project's sensor size must be positive.")
        focal_mm = _number(state, "calibrationSettings1VP.absoluteFocalLength")
        if mode == "one_vp" and not focal_mm > 0:
            raise FspyFormatError("The fSpy project's calibrationSettings1VP.absoluteFocalLength must be positive.")

        origin = _relative_point(_field(state, "controlPointsStateBase.origin"), "controlPointsStateBase.origin", size)
        principal = _relative_point(
            _field(state, "controlPointsStateBase.principalPoint"), "controlPointsStateBase.principalPoint", size
        )
        return CalibrationInput(
            image_width_px=width,
            image_height_px=height,
            vanishing_points=tuple(vanishing_points),
            mode=mode,
            rectangle=rectangle,
            principal_point_mode=PRINCIPAL_POINT_MODE_BY_FSPY_NAME[pp_name],
            principal_point_px=principal,
            origin_px=origin,
            horizon_px=horizon,
            focal_length_mm=focal_mm,
            sensor_mm=(float(sensor[0]), float(sensor[1])),
            reference=self._reference(size),
        )

    def _reference(self, size: np.ndarray) -> ReferenceDistance | None:
        state = self.state
        axis_name = _field(state, "calibrationSettingsBase.referenceDistanceAxis")
        if axis_name is None:
            return None
        if axis_name not in ("xPositive", "yPositive", "zPositive"):
            raise FspyFormatError(
                f"The fSpy project's referenceDistanceAxis must be xPositive, yPositive or zPositive, "
                f"got {json.dumps(axis_name)}."
            )
        distance = _number(state, "calibrationSettingsBase.referenceDistance")
        unit_name = _field(state, "calibrationSettingsBase.referenceDistanceUnit")
        if unit_name == "Yards":
            unit_name, distance = "Feet", distance * 3.0
        if not _known(unit_name, UNITS_BY_FSPY_NAME):
            raise FspyFormatError(f"Unknown fSpy referenceDistanceUnit {json.dumps(unit_name)}.")
        if not distance > 0:
            raise FspyFormatError("The fSpy project's referenceDistance must be greater than 0.")
        offsets = _field(state, "controlPointsStateBase.referenceDistanceHandleOffsets")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, (int, float)) and not isinstance(o, bool) and math.isfinite(o) for o in offsets)
        ):
            raise FspyFormatError("The fSpy project's referenceDistanceHandleOffsets must be two numbers.")
        # fSpy restores the stored anchor verbatim on load and measures the reference from it;
        # only moving the origin in the app snaps the anchor to the origin. Projects saved by
        # earlier builds keep anchors away from the origin, and fSpy's camera depends on them.
        anchor = _relative_point(
            _field(state, "controlPointsStateBase.referenceDistanceAnchor"),
            "controlPointsStateBase.referenceDistanceAnchor",
            size,
        )
        return ReferenceDistance(
            AXES_BY_FSPY_NAME[axis_name], distance, UNITS_BY_FSPY_NAME[unit_name], anchor,
            fspy_handle_offsets=(float(offsets[0]), float(offsets[1])),
        )


def _upgrade_legacy_state(state: dict) -> dict:
    """fSpy's own upgrades on load: missing cameraParameters/resultDisplaySettings, yards, presets."""
    state = dict(state)
    state.setdefault("cameraParameters", None)
    state.setdefault("resultDisplaySettings", dict(DEFAULT_RESULT_DISPLAY_SETTINGS))
    base = state["calibrationSettingsBase"]
    if isinstance(base, dict):
        base = state["calibrationSettingsBase"] = dict(base)
        if base.get("referenceDistanceUnit") == "Yards" and isinstance(base.get("referenceDistance"), (int, float)):
            base["referenceDistanceUnit"] = "Feet"
            base["referenceDistance"] = base["referenceDistance"] * 3.0
        camera_data = base.get("cameraData")
        if isinstance(camera_data, dict):
            camera_data = base["cameraData"] = dict(camera_data)
            if camera_data.get("presetId") is not None and not _known(camera_data["presetId"], CAMERA_PRESETS):
                camera_data["presetId"] = None
            if "presetData" not in camera_data:
                preset = CAMERA_PRESETS[camera_data["presetId"]] if camera_data.get("presetId") else None
                camera_data["presetData"] = (
                    None if preset is None else {"sensorWidth": preset[0], "sensorHeight": preset[1]}
                )
    return state


def read_fspy(source: str | os.PathLike | bytes) -> FspyProject:
    """Read a `.fspy` project from a path or bytes.

    A file is read part by part, so its picture is read once and never copied. Raises
    :class:`FspyFormatError` for a wrong magic, another version, lengths past the end of the
    file, a state that is not a JSON object or lacks fSpy's keys.
    """
    if isinstance(source, (bytes, bytearray)):
        return _read_fspy_stream(io.BytesIO(source), "The uploaded file")
    name = str(source)
    try:
        stream = open(source, "rb")
    except FileNotFoundError as error:
        raise FspyFormatError(f"fSpy project not found: {name}.") from error
    except OSError as error:
        raise FspyFormatError(f"Cannot read {name}: {error.strerror or error}.") from error
    with stream:
        try:
            return _read_fspy_stream(stream if stream.seekable() else io.BytesIO(stream.read()), name)
        except OSError as error:
            raise FspyFormatError(f"Cannot read {name}: {error.strerror or error}.") from error


def _read_fspy_stream(stream: io.BufferedIOBase, name: str) -> FspyProject:
    size = stream.seek(0, os.SEEK_END)
    stream.seek(0)
    head = stream.read(HEADER.size)
    if head[: len(MAGIC)] != MAGIC:
        raise FspyFormatError(f"{name} is not an fSpy project (it does not start with 'fspy').")
    if len(head) < HEADER.size:
        raise FspyFormatError(f"{name} is truncated: its header needs {HEADER.size} bytes, the file has {size}.")
    _, version, state_length, image_length = HEADER.unpack(head)
    if version != VERSION:
        raise FspyFormatError(f"Unsupported fSpy project file version {version} in {name}; only version 1 is known.")
    # Lengths are checked against the file before reading, so a damaged header allocates nothing.
    if HEADER.size + state_length > size:
        raise FspyFormatError(
            f"{name} is truncated: the header announces {state_length} bytes of state, "
            f"only {size - HEADER.size} follow."
        )
    image_start = HEADER.size + state_length
    if image_start + image_length > size:
        raise FspyFormatError(
            f"{name} is truncated: the header announces {image_length} bytes of image, "
            f"only {size - image_start} follow."
        )
    try:
        state = json.loads(stream.read(state_length).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise FspyFormatError(f"The state of {name} is not valid JSON ({error}).") from error
    if not isinstance(state, dict):
        raise FspyFormatError(f"The state of {name} is not a JSON object.")
    for key in STATE_KEYS:
        if not isinstance(state.get(key), dict):
            raise FspyFormatError(f"The state of {name} has no {key} object; the file is damaged.")
    image_bytes = stream.read(image_length)
    width = height = None
    if image_bytes:
        try:
            width, height = image_size_px(image_bytes)
        except InputError as error:
            raise FspyFormatError(f"The picture inside {name} cannot be read: {error}") from error
    return FspyProject(_upgrade_legacy_state(state), image_bytes, width, height, version)


# --- writing ---------------------------------------------------------------------------------
def _relative(point_px, size: np.ndarray) -> dict:
    return {"x": float(point_px[0]) / size[0], "y": float(point_px[1]) / size[1]}


def _segments_state(segments_px: np.ndarray, size: np.ndarray, unused: str) -> dict:
    if len(segments_px) < 2:
        return {"lineSegments": [[{"x": p[0], "y": p[1]} for p in segment] for segment in UNUSED_SEGMENTS_RELATIVE[unused]]}
    return {"lineSegments": [[_relative(p, size) for p in segment] for segment in np.asarray(segments_px)[:2]]}


def _fspy_handle_offsets(inp: CalibrationInput, calibration: Calibration | None) -> list[float]:
    """fSpy's relative handle offsets for our pixel handles (along the anchor→VP direction)."""
    reference = inp.reference
    if reference.fspy_handle_offsets is not None:
        return list(reference.fspy_handle_offsets)
    size = np.array([inp.image_width_px, inp.image_height_px], dtype=np.float64)
    anchor = np.array(reference.anchor_px) / size
    handles = np.array(reference.handles_px) / size
    direction = None
    if calibration is not None:
        index = next(i for i, axis in enumerate(calibration.vanishing_point_axes) if axis[1] == reference.axis[1])
        vp = calibration.vanishing_points_image_plane[index]
        if vp is not None:
            from lib_depth3d.camera.vanishing import image_plane_to_relative

            toward = image_plane_to_relative(np.array(vp), inp.image_width_px, inp.image_height_px) - anchor
            if np.linalg.norm(toward) > 0:
                direction = toward / np.linalg.norm(toward)
    if direction is None:
        return [float(np.linalg.norm(h - anchor)) for h in handles]
    return [float(np.dot(h - anchor, direction)) for h in handles]


def fspy_state(
    inp: CalibrationInput, calibration: Calibration | None, based_on: FspyProject | None = None
) -> dict:
    """The `.fspy` state JSON for ``inp`` (fSpy's keys, plus our lines under ``depth3d``).

    ``based_on`` is the project ``inp`` was read from (and perhaps edited since): every value
    that ``inp`` leaves as it was read is kept as stored, and so is every key fSpy keeps that we
    do not use — hidden reference handles and distance, the 1-VP ``upAxis`` / ``horizonMode``, a
    horizon stored as ``{"0": p, "1": p}``, display settings — so that a rewrite changes what
    was changed and adds the solved ``cameraParameters`` and our lines.
    """
    state = _state_of_input(inp, calibration)
    if based_on is None:
        return state
    as_read = _state_of_input(based_on.calibration_input(), None)
    rewritten = dict(_keep_unchanged(state, as_read, based_on.state))
    rewritten["cameraParameters"] = state["cameraParameters"]
    rewritten["depth3d"] = state["depth3d"]
    return rewritten


def _keep_unchanged(ours: Any, ours_as_read: Any, stored: Any) -> Any:
    """``stored`` where ``ours`` equals what we write for the state as read, else ``ours``.

    Objects and equally long lists are merged member by member; keys only ``stored`` has stay.
    """
    if ours == ours_as_read:
        return stored
    if isinstance(ours, dict) and isinstance(ours_as_read, dict) and isinstance(stored, dict):
        merged = dict(stored)
        for key, value in ours.items():
            merged[key] = _keep_unchanged(value, ours_as_read.get(key), stored[key]) if key in stored else value
        return merged
    if (
        isinstance(ours, list) and isinstance(ours_as_read, list) and isinstance(stored, list)
        and len(ours) == len(ours_as_read) == len(stored)
    ):
        return [_keep_unchanged(*members) for members in zip(ours, ours_as_read, stored)]
    return ours


def _state_of_input(inp: CalibrationInput, calibration: Calibration | None) -> dict:
    size = np.array([inp.image_width_px, inp.image_height_px], dtype=np.float64)
    vps = inp.vanishing_points
    second = vps[1].segments_px if len(vps) > 1 else np.zeros((0, 2, 2))
    third = vps[2].segments_px if len(vps) > 2 else np.zeros((0, 2, 2))
    horizon = inp.horizon_px or ((0.2 * size[0], 0.5 * size[1]), (0.8 * size[0], 0.5 * size[1]))
    principal = inp.principal_point_px or inp.image_centre_px
    origin = inp.origin_or_centre_px
    reference = inp.reference
    pp_mode = FSPY_PRINCIPAL_POINT_MODES[inp.principal_point_mode]
    return {
        "globalSettings": {
            "calibrationMode": "OneVanishingPoint" if inp.mode == "one_vp" else "TwoVanishingPoints",
            "imageOpacity": 0.2,
            "overlay3DGuide": "None",
        },
        "calibrationSettingsBase": {
            "referenceDistanceAxis": None if reference is None else FSPY_AXIS_NAMES[reference.axis],
            "referenceDistance": 4 if reference is None else reference.distance,
            "referenceDistanceUnit": "Meters" if reference is None else UNITS[reference.unit],
            "cameraData": {
                "presetId": None,
                "presetData": None,
                "customSensorWidth": inp.sensor_mm[0],
                "customSensorHeight": inp.sensor_mm[1],
            },
            "firstVanishingPointAxis": FSPY_AXIS_NAMES[inp.first_axis],
            "secondVanishingPointAxis": FSPY_AXIS_NAMES[inp.second_axis],
        },
        "calibrationSettings1VP": {
            "principalPointMode": "Manual" if inp.principal_point_mode == "manual" else "Default",
            "absoluteFocalLength": inp.focal_length_mm,
        },
        "calibrationSettings2VP": {
            "principalPointMode": pp_mode,
            "quadModeEnabled": inp.rectangle,
        },
        "controlPointsStateBase": {
            "principalPoint": _relative(principal, size),
            "origin": _relative(origin, size),
            "referenceDistanceAnchor": _relative(origin if reference is None else reference.anchor_px, size),
            "referenceDistanceHandleOffsets": (
                [0.1, 0.2] if reference is None else _fspy_handle_offsets(inp, calibration)
            ),
            "firstVanishingPoint": _segments_state(vps[0].segments_px, size, "second"),
        },
        "controlPointsState1VP": {"horizon": [_relative(p, size) for p in horizon]},
        "controlPointsState2VP": {
            "secondVanishingPoint": _segments_state(second, size, "second"),
            "thirdVanishingPoint": _segments_state(third, size, "third"),
        },
        "cameraParameters": None if calibration is None else calibration.to_camera_parameters(),
        "resultDisplaySettings": dict(DEFAULT_RESULT_DISPLAY_SETTINGS),
        "depth3d": {"lines": lines_json(inp)},
    }


def fspy_project_bytes(
    inp: CalibrationInput,
    image_bytes: bytes,
    calibration: Calibration | None = None,
    *,
    based_on: FspyProject | None = None,
) -> bytes:
    """A complete `.fspy` file for ``inp`` and its picture (solved here unless ``calibration`` is given).

    With ``based_on``, the project ``inp`` came from, fSpy's keys that ``inp`` does not change
    are kept as stored (see :func:`fspy_state`). An input that does not solve is still saved,
    with ``cameraParameters`` null, as fSpy does. Raises :class:`InputError` when the picture's
    size differs from the lines' image size.
    """
    size = image_size_px(image_bytes)
    if size != (inp.image_width_px, inp.image_height_px):
        raise InputError(
            f"The picture is {size[0]}×{size[1]} pixels but the lines were drawn on "
            f"{inp.image_width_px}×{inp.image_height_px}; use the picture the lines belong to."
        )
    if calibration is None:
        from lib_depth3d.camera.solver import calibrate

        try:
            calibration = calibrate(inp)
        except CalibrationError:
            calibration = None
    state = fspy_state(inp, calibration, based_on)
    encoded = json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return HEADER.pack(MAGIC, VERSION, len(encoded), len(image_bytes)) + encoded + image_bytes


def write_fspy(
    path: str | os.PathLike, inp: CalibrationInput, image_bytes: bytes, *, based_on: FspyProject | None = None
) -> None:
    """Write ``inp`` and its picture as a `.fspy` project that fSpy and fSpy-Blender open (atomically).

    ``based_on``: the project ``inp`` was read from, whose other settings are kept.
    """
    write_bytes_atomic(path, fspy_project_bytes(inp, image_bytes, based_on=based_on))


# --- camera-parameters JSON ------------------------------------------------------------------
def _matrix(value: Any, name: str) -> list[list[float]]:
    rows = value.get("rows") if isinstance(value, dict) else None
    if (
        not isinstance(rows, list)
        or len(rows) != 4
        or not all(isinstance(r, list) and len(r) == 4 for r in rows)
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for r in rows for v in r)
    ):
        raise FspyFormatError(f"Camera parameters: {name} must be {{\"rows\": 4×4 numbers}}.")
    return [[float(v) for v in r] for r in rows]


def read_camera_parameters(source: dict | str | bytes | os.PathLike) -> dict:
    """Validate fSpy camera parameters (a dict, JSON text, or a path to fSpy's JSON export).

    Returns a normalised copy; raises :class:`FspyFormatError` naming a missing or bad key.
    """
    if isinstance(source, dict):
        data = source
    else:
        if isinstance(source, (bytes, bytearray)) or (isinstance(source, str) and source.lstrip().startswith("{")):
            text = source
        else:
            try:
                text = Path(source).read_bytes()
            except OSError as error:
                raise FspyFormatError(f"Cannot read camera parameters {source}: {error.strerror or error}.") from error
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as error:
            raise FspyFormatError(f"Camera parameters are not valid JSON ({error}).") from error
    if not isinstance(data, dict):
        raise FspyFormatError("Camera parameters must be a JSON object.")
    result: dict[str, Any] = {}
    for key in ("principalPoint", "viewTransform", "cameraTransform", "horizontalFieldOfView",
                "verticalFieldOfView", "vanishingPoints", "vanishingPointAxes", "relativeFocalLength",
                "imageWidth", "imageHeight"):
        if key not in data:
            raise FspyFormatError(f"Camera parameters: {key} is missing.")
    point = data["principalPoint"]
    if not (isinstance(point, dict) and all(isinstance(point.get(c), (int, float)) for c in "xy")):
        raise FspyFormatError("Camera parameters: principalPoint must be {\"x\": …, \"y\": …}.")
    result["principalPoint"] = {"x": float(point["x"]), "y": float(point["y"])}
    result["viewTransform"] = {"rows": _matrix(data["viewTransform"], "viewTransform")}
    result["cameraTransform"] = {"rows": _matrix(data["cameraTransform"], "cameraTransform")}
    for key in ("horizontalFieldOfView", "verticalFieldOfView", "relativeFocalLength"):
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
            raise FspyFormatError(f"Camera parameters: {key} must be a positive number, got {json.dumps(value)}.")
        result[key] = float(value)
    vanishing_points = data["vanishingPoints"]
    if not isinstance(vanishing_points, list) or len(vanishing_points) != 3:
        raise FspyFormatError("Camera parameters: vanishingPoints must be a list of three points.")
    result["vanishingPoints"] = []
    for index, point in enumerate(vanishing_points):
        if point is not None and not (
            isinstance(point, dict) and all(isinstance(point.get(c), (int, float)) for c in "xy")
        ):
            raise FspyFormatError(f"Camera parameters: vanishingPoints[{index}] must be {{\"x\": …, \"y\": …}}.")
        result["vanishingPoints"].append(None if point is None else {"x": float(point["x"]), "y": float(point["y"])})
    axes = data["vanishingPointAxes"]
    if not isinstance(axes, list) or len(axes) != 3 or not all(_known(a, AXES_BY_FSPY_NAME) for a in axes):
        raise FspyFormatError("Camera parameters: vanishingPointAxes must be three axes like 'xPositive'.")
    result["vanishingPointAxes"] = list(axes)
    for key in ("imageWidth", "imageHeight"):
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise FspyFormatError(f"Camera parameters: {key} must be a whole number ≥ 1, got {json.dumps(value)}.")
        result[key] = value
    return result


def camera_from_parameters(parameters: dict) -> Camera:
    """The :class:`Camera` described by fSpy camera parameters (validated first)."""
    parameters = read_camera_parameters(parameters)
    return Camera.from_image_plane(
        parameters["imageWidth"],
        parameters["imageHeight"],
        parameters["relativeFocalLength"],
        (parameters["principalPoint"]["x"], parameters["principalPoint"]["y"]),
        np.array(parameters["viewTransform"]["rows"]),
    )


def camera_parameters_json(parameters: dict) -> str:
    """fSpy's camera-parameters export text (two-space indented JSON) for a parameters dict."""
    return json.dumps(read_camera_parameters(parameters), indent=2)


def write_camera_parameters(path: str | os.PathLike, parameters: dict) -> None:
    """Write fSpy's camera-parameters JSON export atomically."""
    write_bytes_atomic(path, (camera_parameters_json(parameters) + "\n").encode("utf-8"))


def calibrate_file(path: str | os.PathLike) -> Calibration:
    """Calibrate from a `.fspy` project or a lines `.json` file (told apart by their first bytes)."""
    from lib_depth3d.camera.solver import calibrate

    data = read_input_file(path, "Calibration file")
    if data[:4] == MAGIC or str(path).lower().endswith(".fspy"):
        return calibrate(read_fspy(data).calibration_input())
    return calibrate(parse_lines_json(data))
