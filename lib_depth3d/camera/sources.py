"""Where a scene's camera comes from: typed camera sources, each turning a picture into a camera.

A *camera source* is a value parsed once at an entry point — vanishing lines
(:class:`LinesCamera`), an fSpy project (:class:`FspyCamera`), a field of view
(:class:`FieldOfViewCamera`), lines detected in the picture (:class:`DetectedLinesCamera`), the
depth network's own camera (:class:`EstimatedCamera`) or the best of these the picture allows
(:class:`AutomaticCamera`) — with one method, ``choose(picture, picture_bytes, estimate)``, that
gives the camera for the picture as a :class:`CameraChoice`. ``needs_depth`` says whether it
may need the depth source's estimate: ``estimate(known_camera)`` runs the depth source and gives
a :class:`~lib_depth3d.depth.depthmap.DepthWithCamera`, and a source calls it only when its
choice rests on it, so a calibration is reported before a network runs and a camera chosen
without the depth reaches the network (:func:`lib_depth3d.pipeline.choose_camera_and_estimate`).
A new source is one more class here that the entry points can construct.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar, Union

import numpy as np

from lib_depth3d.camera.inputs import CalibrationInput
from lib_depth3d.camera.model import Camera
from lib_depth3d.errors import InputError
from lib_depth3d.options import DEFAULT_FOV_DEG, check_field_of_view

if TYPE_CHECKING:  # the solver is imported by the sources that solve: a field of view needs none
    from PIL import Image

    from lib_depth3d.camera.solver import Calibration

ASPECT_TOLERANCE = 0.01


@dataclass(frozen=True)
class CameraChoice:
    """The camera a source gave for one picture, and what the user should be told about it.

    Attributes:
        camera: the camera, in pixels of the picture.
        calibration: the calibration it came from (world Z up, fSpy's axes), or None.
        fspy_bytes: the ``.fspy`` project to keep beside the scene, or None.
        source: which kind of source gave it: ``lines``, ``fspy``, ``detected lines`` or
            ``field of view``.
        description: one phrase for summaries ("calibrated from room.fspy").
        notes: sentences about the choice (why detected lines were not used, how far to trust them).
        assumed: nobody chose this camera (the default field of view): a depth network is not told
            it (:attr:`known_camera`).
    """

    camera: Camera
    calibration: Calibration | None
    fspy_bytes: bytes | None
    source: str
    description: str
    notes: tuple[str, ...] = ()
    assumed: bool = False

    @property
    def known_camera(self):
        """The camera as the depth network takes it (a
        :class:`~lib_depth3d.depth.registry.NetworkCamera` in the picture's pixels: MoGe-2 then
        solves only for its shift, Depth Anything 3 Metric-Large takes its focal length for
        metres), or None when it was assumed or came from the network itself."""
        from lib_depth3d.depth.network_camera import NetworkCamera

        if self.assumed or self.source == "network":
            return None
        camera = self.camera
        focal = camera.focal_length_px
        return NetworkCamera(camera.image_size_px, (focal, focal), tuple(camera.principal_point_px))

    @property
    def warnings(self) -> tuple[str, ...]:
        """The calibration's warnings, then the notes."""
        return (*(self.calibration.warnings if self.calibration is not None else ()), *self.notes)


def check_drawn_for(inp: CalibrationInput, width_px: int, height_px: int) -> None:
    """Refuse lines drawn on a picture of another aspect ratio than ``width_px``×``height_px``,
    before they are solved: lines drawn for another picture may not solve at all, and the
    solver's sentence would then not say what is wrong."""
    drawn_aspect = inp.image_width_px / inp.image_height_px
    if abs(drawn_aspect / (width_px / height_px) - 1) > ASPECT_TOLERANCE:
        raise InputError(
            f"The calibration was drawn on a {inp.image_width_px}×{inp.image_height_px} picture; "
            f"it does not fit a {width_px}×{height_px} picture (another aspect ratio). Calibrate this picture."
        )


def camera_for_size(calibration: Calibration, width_px: int, height_px: int) -> Camera:
    """The calibration's camera for a picture of ``width_px``×``height_px`` pixels.

    fSpy's quantities (relative focal length, principal point on the image plane) do not depend
    on the resolution, so a calibration drawn on a picture of the same aspect ratio carries over;
    another aspect ratio is refused.
    """
    camera = calibration.camera
    if (camera.image_width_px, camera.image_height_px) == (width_px, height_px):
        return camera
    check_drawn_for(calibration.input, width_px, height_px)
    return Camera.from_image_plane(width_px, height_px, calibration.relative_focal_length,
                                   calibration.principal_point_image_plane, camera.world_to_camera)


def _png_bytes(picture: Image.Image) -> bytes:
    from lib_depth3d.files import png_bytes

    return png_bytes(picture)


@dataclass(frozen=True)
class LinesCamera:
    """A camera solved from vanishing lines drawn on the picture (our lines JSON).

    ``label`` names where the lines came from, for summaries (a file name, "the canvas").
    """

    needs_depth: ClassVar[bool] = False

    lines: CalibrationInput
    label: str = "vanishing lines"

    def choose(self, picture: Image.Image, picture_bytes: bytes | None = None, estimate=None) -> CameraChoice:
        """The solved camera; an ``.fspy`` project holding the picture (``picture_bytes`` when the
        file's own bytes are at hand, else a PNG of it) when the lines were drawn at its size."""
        from lib_depth3d.camera.fspy import fspy_project_bytes
        from lib_depth3d.camera.solver import calibrate

        check_drawn_for(self.lines, picture.width, picture.height)
        calibration = calibrate(self.lines)
        camera = camera_for_size(calibration, picture.width, picture.height)
        project = None
        if camera is calibration.camera:
            project = fspy_project_bytes(self.lines, picture_bytes or _png_bytes(picture), calibration)
        return CameraChoice(camera, calibration, project, "lines", f"calibrated from {self.label}")


@dataclass(frozen=True)
class FspyCamera:
    """A camera from an fSpy project (its bytes), which is kept beside the scene as it is."""

    needs_depth: ClassVar[bool] = False

    project: bytes
    label: str = "the fSpy project"

    def choose(self, picture: Image.Image, picture_bytes: bytes | None = None, estimate=None) -> CameraChoice:
        from lib_depth3d.camera.fspy import read_fspy
        from lib_depth3d.camera.solver import calibrate

        lines = read_fspy(self.project).calibration_input()
        check_drawn_for(lines, picture.width, picture.height)
        calibration = calibrate(lines)
        camera = camera_for_size(calibration, picture.width, picture.height)
        return CameraChoice(camera, calibration, self.project, "fspy", f"calibrated from {self.label}")


@dataclass(frozen=True)
class FieldOfViewCamera:
    """A centred camera with ``degrees`` across the picture's width, looking down −z from the
    origin (no calibration). ``assumed``: nobody chose the angle (the summary says so)."""

    needs_depth: ClassVar[bool] = False

    degrees: float = DEFAULT_FOV_DEG
    assumed: bool = False

    def __post_init__(self) -> None:
        check_field_of_view(self.degrees)

    def choose(self, picture: Image.Image, picture_bytes: bytes | None = None, estimate=None) -> CameraChoice:
        camera = Camera.from_fov(picture.width, picture.height, float(self.degrees))
        note = f"{self.degrees:g}° horizontal field of view" + (
            " (assumed: give a field of view, lines or an fSpy project to measure it)" if self.assumed else ""
        )
        return CameraChoice(camera, None, None, "field of view", note, assumed=self.assumed)


@dataclass(frozen=True)
class DetectedLinesCamera:
    """A camera from vanishing lines detected in the picture
    (:func:`~lib_depth3d.camera.detect.detect_calibration`); refused in words when none are found,
    and used with a note when the detection's confidence is not high."""

    needs_depth: ClassVar[bool] = False

    def choose(self, picture: Image.Image, picture_bytes: bytes | None = None, estimate=None) -> CameraChoice:
        from lib_depth3d.camera.detect import detect_calibration

        return _detected_choice(detect_calibration(picture), picture, picture_bytes)


@dataclass(frozen=True)
class EstimatedCamera:
    """The camera the depth source estimated with the depth (Depth Anything 3, MoGe-2, a depth
    file's header), else ``fallback`` with a note. Our camera has square pixels: a network's
    different focal lengths along x and y give their geometric mean, with a note past 1 %."""

    fallback: FieldOfViewCamera = FieldOfViewCamera(assumed=True)
    needs_depth: ClassVar[bool] = True

    def choose(self, picture: Image.Image, picture_bytes: bytes | None = None, estimate=None) -> CameraChoice:
        estimated = None if estimate is None else estimate(None).camera
        if estimated is None:
            choice = self.fallback.choose(picture, picture_bytes)
            return replace(choice, notes=(*choice.notes, f"The depth source estimates no camera; the camera is the "
                                                         f"{choice.description}."))
        return _estimated_choice(estimated, picture)


def _estimated_choice(estimated, picture: Image.Image) -> CameraChoice:
    network = estimated.resized(picture.width, picture.height)
    fx, fy = network.focal_length_px
    camera = Camera(picture.width, picture.height, math.sqrt(fx * fy), network.principal_point_px, np.eye(4))
    notes = () if abs(fx / fy - 1) <= 0.01 else (
        f"The network's camera has focal lengths {fx:.1f} and {fy:.1f} px along x and y (non-square pixels); "
        f"the scene uses their mean, {camera.focal_length_px:.1f} px.",)
    fov = math.degrees(camera.horizontal_fov_rad)
    return CameraChoice(camera, None, None, "network", f"estimated by the depth network ({fov:.1f}°)", notes)


@dataclass(frozen=True)
class AutomaticCamera:
    """The best camera the picture itself gives: detected vanishing lines when their confidence
    is high, else the camera the depth network estimated when it has one, else ``fallback`` (a
    field of view), with a note saying why."""

    fallback: FieldOfViewCamera = FieldOfViewCamera(assumed=True)
    needs_depth: ClassVar[bool] = True

    def choose(self, picture: Image.Image, picture_bytes: bytes | None = None, estimate=None) -> CameraChoice:
        from lib_depth3d.camera.detect import detect_calibration
        from lib_depth3d.errors import CalibrationError

        try:
            detection = detect_calibration(picture)
        except CalibrationError as error:
            reason = f"No camera could be found from the picture's lines: {error}"
        else:
            if detection.confidence.high:
                return _detected_choice(detection, picture, picture_bytes)
            reason = f"The lines detected in the picture were not trusted ({_confidence_words(detection)})."
        estimated = None if estimate is None else estimate(None).camera
        if estimated is not None:
            choice = _estimated_choice(estimated, picture)
            return replace(choice, notes=(*choice.notes, f"{reason} The camera is the one the depth network "
                                                         "estimated; draw the lines in the Depth 3D tab for a "
                                                         "calibrated camera."))
        choice = self.fallback.choose(picture, picture_bytes)
        return replace(choice, notes=(*choice.notes, f"{reason} The camera is the {choice.description}; draw the "
                                                     "lines in the Depth 3D tab for a calibrated camera."))


def _confidence_words(detection) -> str:
    confidence = detection.confidence
    return (f"{', '.join(str(n) for n in confidence.segments_per_direction)} segments per direction, "
            f"misfit {confidence.misfit_px:.1f} px, field of view sensitive to "
            f"{confidence.fov_sensitivity_deg:.1f}° per 0.1° of line angle, field of view "
            f"{confidence.fov_interval_deg[0]:.1f}°–{confidence.fov_interval_deg[1]:.1f}°")


def _detected_choice(detection, picture: Image.Image, picture_bytes: bytes | None) -> CameraChoice:
    choice = LinesCamera(detection.input, "lines detected in the picture").choose(picture, picture_bytes)
    notes = () if detection.confidence.high else (
        f"The detected lines are uncertain ({_confidence_words(detection)}); check the camera, or draw the lines.",)
    return replace(choice, source="detected lines", notes=(*choice.notes, *notes))


CameraSource = Union[LinesCamera, FspyCamera, FieldOfViewCamera, DetectedLinesCamera, EstimatedCamera,
                     AutomaticCamera]


def calibration_source(data: dict | str | bytes, label: str | None = None) -> LinesCamera | FspyCamera:
    """The camera source of a calibration given as data: an ``.fspy`` project's bytes, or a lines
    JSON (a dict, text or bytes). Raises :class:`InputError` naming what is wrong with it."""
    from lib_depth3d.camera.inputs import parse_lines_json

    if isinstance(data, (bytes, bytearray)) and bytes(data[:4]) == b"fspy":
        return FspyCamera(bytes(data), label or "the fSpy project")
    return LinesCamera(parse_lines_json(data), label or "vanishing lines")
