"""The one composer: picture + depth source + camera source → depth, camera, scene and files.

The four entry points — the command line (:mod:`lib_depth3d.commands`), the HTTP API
(:mod:`lib_depth3d.api`), the Depth 3D tab (:mod:`lib_depth3d.ui`) and the A1111 hook
(``scripts/depth3d.py``) — parse their inputs once into typed values (a
:data:`~lib_depth3d.depth.sources.DepthSource`, a :data:`~lib_depth3d.camera.sources.CameraSource`,
:class:`~lib_depth3d.scene.SceneOptions`) and call the functions here; none of them composes a
step itself. Each function joins existing steps and re-implements none. Plain Python: no gradio,
no A1111 imports. Errors are :class:`~lib_depth3d.errors.Depth3DError` subclasses with messages
for the user.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable

import numpy as np
from PIL import Image

from lib_depth3d.camera.sources import CameraChoice, CameraSource
from lib_depth3d.depth.depthmap import DepthMap, DepthWithCamera
from lib_depth3d.depth.network_camera import NetworkCamera
from lib_depth3d.depth.sources import DepthSource
from lib_depth3d.errors import InputError
from lib_depth3d.progress import Progress
from lib_depth3d.scene import SceneFiles, SceneOptions, scene_summary
from lib_depth3d.scene.build import Scene

if TYPE_CHECKING:
    from lib_depth3d.mask import MaskOptions, MaskResult


@dataclass(frozen=True)
class SceneBuild:
    """A scene built and written for one picture, and what the user should know about it.

    Attributes:
        files: the files written, the calibration report and the warnings
            (:class:`~lib_depth3d.scene.SceneFiles`).
        depth: the depth the scene was built from, at the picture's size.
        scene: the :class:`~lib_depth3d.scene.build.Scene` (geometry, camera in scene units, …).
        camera: the camera the source chose (pixels of the picture) and where it came from.
    """

    files: SceneFiles
    depth: DepthMap
    scene: Scene
    camera: CameraChoice

    def summary(self) -> str:
        """What the build tells the user (:func:`~lib_depth3d.scene.scene_summary`)."""
        return scene_summary(self.scene, self.files, self.camera.description)


def _check_picture(picture) -> None:
    if not isinstance(picture, Image.Image):
        raise InputError(f"The picture must be an image, not {type(picture).__name__}.")


def calibrate_lines(lines: dict | str | bytes) -> dict:
    """Solve a lines JSON (contract 3, pixels) and return the calibration report.

    The report holds fSpy's camera parameters plus true fields of view (degrees and radians),
    focal length in pixels and millimetres, vanishing points in pixels, residuals and warnings.
    Raises :class:`InputError` naming a bad field and :class:`CalibrationError` when the lines
    do not determine a camera.
    """
    from lib_depth3d.camera import calibrate, parse_lines_json

    return calibrate(parse_lines_json(lines)).to_report()


def estimate(picture: Image.Image, source: DepthSource, progress: Progress | None = None) -> DepthMap:
    """The depthmap of ``picture`` at its size, from ``source``."""
    _check_picture(picture)
    return source.estimate(picture, progress)


def estimate_with_camera(
    picture: Image.Image, source: DepthSource, progress: Progress | None = None, known_camera: NetworkCamera | None = None
) -> DepthWithCamera:
    """The depthmap of ``picture`` at its size and, where ``source`` knows it (a network that
    estimates one, a depth file's header), the picture's camera in its pixels. ``known_camera``:
    the picture's camera the user gave (:attr:`CameraChoice.known_camera`), for networks that take
    one (MoGe-2's field of view, Depth Anything 3 Metric-Large's focal length)."""
    _check_picture(picture)
    return source.estimate_with_camera(picture, progress, known_camera)


def choose_camera(picture: Image.Image, camera: CameraSource, picture_bytes: bytes | None = None,
                  estimate: Callable[[NetworkCamera | None], DepthWithCamera] | None = None) -> CameraChoice:
    """The camera ``camera`` gives for ``picture``. ``picture_bytes``: the picture's file as given,
    kept in an ``.fspy`` project written from lines (a PNG of the picture otherwise);
    ``estimate``: runs the depth source with a known camera (or None), for a source that
    ``needs_depth`` — called only when its choice rests on the estimate. Cheap next to a depth
    network for the others: entry points choose those first, so a bad calibration is reported at
    once."""
    _check_picture(picture)
    return camera.choose(picture, picture_bytes, estimate)


def choose_camera_and_estimate(
    picture: Image.Image, camera: CameraSource, depth: DepthSource, picture_bytes: bytes | None = None,
    progress: Progress | None = None,
) -> tuple[CameraChoice, DepthWithCamera]:
    """The camera and the depth of ``picture``, the depth source run once: after the camera when
    the choice can do without the estimate (a calibration, a field of view, confidently detected
    lines), which then reaches a network that takes one (:attr:`CameraChoice.known_camera`), else
    first, for the source to choose from (the network's own camera)."""
    estimates: list[DepthWithCamera] = []

    def estimate_once(known_camera: NetworkCamera | None) -> DepthWithCamera:
        if not estimates:
            estimates.append(estimate_with_camera(picture, depth, progress, known_camera))
        return estimates[0]

    choice = choose_camera(picture, camera, picture_bytes, estimate_once)
    return choice, estimate_once(choice.known_camera)


def build_scene_files(picture: Image.Image, *, depth: DepthMap, camera: CameraChoice, glb_path: str | os.PathLike,
                      options: SceneOptions | None = None, picture_bytes: bytes | None = None,
                      progress: Progress | None = None) -> SceneBuild:
    """Build the scene of ``picture`` with the chosen ``camera`` and write ``OUT.glb`` and the
    files beside it (:func:`~lib_depth3d.scene.write_scene`). A calibration's reference unit and
    world axes (Z up) go into the scene options. ``picture_bytes``: the picture's file as given;
    the texture keeps its encoding (a JPEG's own bytes when the picture is used unchanged).
    """
    from lib_depth3d.scene import build_scene, write_scene

    _check_picture(picture)
    options = options or SceneOptions()
    if camera.calibration is not None:
        reference = camera.calibration.input.reference
        options = replace(
            options,
            calibrated_unit=options.calibrated_unit or (reference.unit if reference is not None else None),
            world_up="z" if options.world_up == "auto" else options.world_up,
        )
    if progress is not None:
        progress("Building the 3D scene", None)
    scene = build_scene(picture, depth, camera.camera, options, picture_bytes)
    if progress is not None:
        progress("Writing the scene files", None)
    files = write_scene(scene, glb_path, camera=camera)
    return SceneBuild(files, depth, scene, camera)


def run_scene(picture: Image.Image, *, depth: DepthSource, camera: CameraSource, glb_path: str | os.PathLike,
              options: SceneOptions | None = None, picture_bytes: bytes | None = None,
              progress: Progress | None = None) -> SceneBuild:
    """:func:`choose_camera_and_estimate`, then :func:`build_scene_files`: the whole job from a
    picture."""
    choice, estimated = choose_camera_and_estimate(picture, camera, depth, picture_bytes, progress)
    return build_scene_files(picture, depth=estimated.depth, camera=choice, glb_path=glb_path, options=options,
                             picture_bytes=picture_bytes, progress=progress)


def make_mask(picture: Image.Image, nearness: np.ndarray, options: MaskOptions | None = None) -> MaskResult:
    """The inpainting mask (white = repaint) of ``picture`` from its depth's nearness in [0, 1]
    (1 = nearest; :meth:`DepthMap.nearness`, or a depth picture's grey levels as stored), at the
    picture's size; a nearness map of another size is resized."""
    from lib_depth3d.mask import MaskOptions, depth_mask

    _check_picture(picture)
    return depth_mask(nearness, options or MaskOptions(), (picture.width, picture.height))
