"""The steps composed for the four callers: the A1111 hook, the Depth 3D tab, the HTTP API, the CLI.

Each function here joins existing steps — calibration (:mod:`lib_depth3d.camera`), depth
(:mod:`lib_depth3d.depth`), scene (:mod:`lib_depth3d.scene`), mask (:mod:`lib_depth3d.mask`) —
and re-implements none of them. Plain Python: no gradio, no A1111 imports. Errors are
:class:`~lib_depth3d.errors.Depth3DError` subclasses with messages for the user.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from lib_depth3d.camera import Calibration, Camera, calibrate, parse_lines_json, read_fspy
from lib_depth3d.depth.depthmap import DepthMap
from lib_depth3d.errors import InputError
from lib_depth3d.mask import MaskOptions, MaskResult, depth_mask
from lib_depth3d.scene import SceneFiles, SceneOptions

Progress = Callable[[str, "float | None"], None]
"""Called with a short message and a fraction in [0, 1] (None when unknown)."""

DEFAULT_FOV_DEG = 55.0
"""Horizontal field of view assumed when neither a calibration nor a field of view is given."""

ASPECT_TOLERANCE = 0.01


def calibrate_lines(lines: dict | str | bytes) -> dict:
    """Solve a lines JSON (contract 3, pixels) and return the calibration report.

    The report holds fSpy's camera parameters plus true fields of view (degrees and radians),
    focal length in pixels and millimetres, vanishing points in pixels, residuals and warnings.
    Raises :class:`InputError` naming a bad field and :class:`CalibrationError` when the lines
    do not determine a camera.
    """
    return calibrate(parse_lines_json(lines)).to_report()


def estimate(
    picture: Image.Image,
    *,
    model: str | None = None,
    depth_upload: Image.Image | str | os.PathLike | None = None,
    weights_path: str | os.PathLike | None = None,
    input_size: int | None = None,
    device: str | None = None,
    keep_loaded: bool = False,
    progress: Progress | None = None,
) -> DepthMap:
    """The depthmap of ``picture`` at its size: from ``depth_upload`` (a depth picture, near =
    bright, or a ``.npy``) when given, else from ``model`` (a registry model or
    ``controlnet:<preprocessor>``; default :data:`~lib_depth3d.depth.DEFAULT_MODEL`).

    ``input_size`` is the network's processing size, and for ControlNet its resolution; the
    other options are our networks' (see :func:`~lib_depth3d.depth.estimate.estimate_depth`).
    """
    from lib_depth3d.depth.registry import DEFAULT_MODEL
    from lib_depth3d.depth.sources import CONTROLNET_PREFIX, USER_DEPTH_IMAGE, depth_for

    if not isinstance(picture, Image.Image):
        raise InputError(f"The picture must be an image, not {type(picture).__name__}.")
    if depth_upload is not None:
        return depth_for(picture, USER_DEPTH_IMAGE, depth_image=depth_upload)
    source = model or DEFAULT_MODEL
    if source.startswith(CONTROLNET_PREFIX):
        return depth_for(picture, source, resolution=input_size, progress=progress)
    return depth_for(picture, source, weights_path=weights_path, input_size=input_size, device=device,
                     keep_loaded=keep_loaded, progress=progress)


def camera_for_size(calibration: Calibration, width_px: int, height_px: int) -> Camera:
    """The calibration's camera for a picture of ``width_px``×``height_px`` pixels.

    fSpy's quantities (relative focal length, principal point on the image plane) do not depend
    on the resolution, so a calibration drawn on a picture of the same aspect ratio carries over;
    another aspect ratio is refused.
    """
    camera = calibration.camera
    if (camera.image_width_px, camera.image_height_px) == (width_px, height_px):
        return camera
    drawn_aspect = camera.image_width_px / camera.image_height_px
    if abs(drawn_aspect / (width_px / height_px) - 1) > ASPECT_TOLERANCE:
        raise InputError(
            f"The calibration was drawn on a {camera.image_width_px}×{camera.image_height_px} picture; "
            f"it does not fit a {width_px}×{height_px} picture (another aspect ratio). Calibrate this picture."
        )
    return Camera.from_image_plane(width_px, height_px, calibration.relative_focal_length,
                                   calibration.principal_point_image_plane, camera.world_to_camera)


def load_calibration(source: dict | str | bytes) -> tuple[Calibration, bytes | None]:
    """A calibration from a lines JSON (dict, text or bytes) or the bytes of a ``.fspy`` project,
    with the project's bytes when it was one."""
    if isinstance(source, (bytes, bytearray)) and bytes(source[:4]) == b"fspy":
        return calibrate(read_fspy(bytes(source)).calibration_input()), bytes(source)
    return calibrate(parse_lines_json(source)), None


def _png_bytes(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def build_scene_files(
    picture: Image.Image,
    *,
    depth: DepthMap,
    calibration: Calibration | None = None,
    camera: Camera | None = None,
    fov_deg: float | None = None,
    fspy_bytes: bytes | None = None,
    options: SceneOptions | None = None,
    output_dir: str | os.PathLike,
    base_name: str,
    progress: Progress | None = None,
) -> SceneFiles:
    """Build the scene of ``picture`` and write ``BASE.glb``, ``BASE_depth.png``,
    ``BASE_camera.json`` (and ``BASE.fspy``) into ``output_dir``, as one set.

    The camera is, in this order: ``calibration`` (fitted to the picture's size), the
    ``.fspy`` project in ``fspy_bytes``, ``camera``, or a centred camera with ``fov_deg``
    (default :data:`DEFAULT_FOV_DEG`) degrees across the width. A calibration's reference unit
    and world axes (Z up) go into the scene options.
    """
    from lib_depth3d.camera.fspy import fspy_project_bytes
    from lib_depth3d.scene import build_scene, write_scene

    if not isinstance(picture, Image.Image):
        raise InputError(f"The picture must be an image, not {type(picture).__name__}.")
    folder = Path(output_dir)
    if not base_name or Path(base_name).name != base_name:
        raise InputError(f"The base name {base_name!r} must be a plain file name without folders.")
    options = options or SceneOptions()
    if calibration is None and fspy_bytes is not None:
        calibration, fspy_bytes = load_calibration(fspy_bytes)
    if calibration is not None:
        camera = camera_for_size(calibration, picture.width, picture.height)
        reference = calibration.input.reference
        options = replace(
            options,
            calibrated_unit=options.calibrated_unit or (reference.unit if reference is not None else None),
            world_up="z" if options.world_up == "auto" else options.world_up,
        )
        if fspy_bytes is None and camera is calibration.camera:
            fspy_bytes = fspy_project_bytes(calibration.input, _png_bytes(picture), calibration)
    elif camera is None:
        fov = DEFAULT_FOV_DEG if fov_deg is None else fov_deg
        if not (isinstance(fov, (int, float)) and math.isfinite(fov)):
            raise InputError(f"The field of view must be a number of degrees, got {fov!r}.")
        camera = Camera.from_fov(picture.width, picture.height, float(fov))
    if progress is not None:
        progress("Building the 3D scene", None)
    scene = build_scene(picture, depth, camera, options)
    if progress is not None:
        progress("Writing the scene files", None)
    return write_scene(scene, folder / f"{base_name}.glb", calibration=calibration, fspy_bytes=fspy_bytes)


def make_mask(picture: Image.Image, depth: DepthMap | np.ndarray, options: MaskOptions | None = None) -> MaskResult:
    """The inpainting mask (white = repaint) of ``picture`` from its depth, at the picture's size.

    ``depth``: a :class:`DepthMap` (normalised to nearness) or a nearness array in [0, 1] taken
    as stored (a depth picture's grey levels, 1 = nearest); another size is resized.
    """
    if not isinstance(picture, Image.Image):
        raise InputError(f"The picture must be an image, not {type(picture).__name__}.")
    return depth_mask(depth, options or MaskOptions(), (picture.width, picture.height))
