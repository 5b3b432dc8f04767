"""Writing a scene's files as one set: the ``.glb`` and beside it depth PNG, camera JSON, ``.fspy``
and the shareable page ``.html``.

Each file comes from one writer in :data:`SCENE_WRITERS`, keyed by the suffix it adds to the
scene's base name (``OUT.glb`` → ``OUT_depth.png``). A writer reads a :class:`SceneOutput` and
returns the file's contents (its bytes, or the pieces they are made of: :data:`FileContents`), or
None when the scene has no such file. Every byte is produced before
anything is written; the files are then committed together by
:func:`lib_depth3d.output_sets.write_file_set`, so a reader sees the previous set or this one.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from lib_depth3d.camera import Camera, camera_parameters_json
from lib_depth3d.camera.inputs import FSPY_AXIS_NAMES
from lib_depth3d.camera.sources import CameraChoice
from lib_depth3d.depth.depthmap import depth_png_bytes
from lib_depth3d.errors import SceneError
from lib_depth3d.output_sets import FileContents, check_targets, write_file_set
from lib_depth3d.scene.build import Scene
from lib_depth3d.scene.frames import Z_UP_TO_Y_UP, world_to_gltf
from lib_depth3d.scene.gltf import glb_pieces


@dataclass(frozen=True)
class SceneOutput:
    """What the writers encode: the scene, its fSpy camera parameters, the project it came from
    (None when the camera did not come from vanishing lines) and where the camera came from
    (``{"source": …, "description": …}``, None when nobody said)."""

    scene: Scene
    camera_parameters: dict
    fspy_bytes: bytes | None
    camera_source: dict | None = None

    @cached_property
    def glb_pieces(self) -> tuple[bytes, ...]:
        """The scene's ``.glb`` as the pieces it is written from, encoded once for every writer
        that needs it (:func:`~lib_depth3d.scene.gltf.glb_pieces`)."""
        return glb_pieces(self.scene)

    @cached_property
    def glb(self) -> bytes:
        """The scene's ``.glb`` in one piece, for a writer that embeds it."""
        return b"".join(self.glb_pieces)


@dataclass(frozen=True)
class SceneWriter:
    """One file of a scene: ``write`` encodes it; an ``optional`` one may have nothing to write
    (None), and then the file an earlier set left under its name is removed."""

    write: Callable[[SceneOutput], "FileContents | None"]
    optional: bool = False


def _glb(output: SceneOutput) -> FileContents:
    return output.glb_pieces


def _depth_png(output: SceneOutput) -> bytes:
    return depth_png_bytes(output.scene.zdepth)


def _camera_json(output: SceneOutput) -> bytes:
    text = camera_parameters_json(output.camera_parameters)
    # fSpy's importers read only their own keys, so where the camera came from and the fit's
    # figures can travel beside them.
    extras = {}
    if output.camera_source is not None:
        extras["depth3dCamera"] = output.camera_source
    if output.scene.calibration_fit is not None:
        extras["depth3dFit"] = output.scene.calibration_fit.as_json()
    if extras:
        text = json.dumps({**json.loads(text), **extras}, indent=2)
    return (text + "\n").encode("utf-8")


def _fspy(output: SceneOutput) -> bytes | None:
    return output.fspy_bytes


def _html_page(output: SceneOutput) -> bytes | None:
    if not output.scene.options.html_page:
        return None
    from lib_depth3d.scene.page import viewer_page_html

    width, height = output.scene.camera.image_size_px
    return viewer_page_html(output.glb, title="Depth3D scene", picture_aspect=width / height)


MAIN_SUFFIX = ".glb"
SCENE_WRITERS: dict[str, SceneWriter] = {
    MAIN_SUFFIX: SceneWriter(_glb),
    "_depth.png": SceneWriter(_depth_png),
    "_camera.json": SceneWriter(_camera_json),
    ".fspy": SceneWriter(_fspy, optional=True),
    ".html": SceneWriter(_html_page, optional=True),
}
"""The scene's files by the suffix each adds to the base name; the main file first.
A new format is its encoder (a function of :class:`SceneOutput`) and one line here."""


@dataclass(frozen=True)
class SceneFiles:
    """The files written for one scene and what the user should know about them.

    Attributes:
        paths: the files written, by their writer's suffix in :data:`SCENE_WRITERS` order (a
            suffix whose writer had nothing, such as ``.fspy`` without lines, is absent).
        camera: the camera the scene was built with (pixels of the picture).
        calibration_report: :meth:`Calibration.to_report` of the calibration used, or None.
        warnings: sentences from the calibration and the scene builder.
    """

    paths: Mapping[str, Path]
    camera: Camera
    calibration_report: dict | None
    warnings: tuple[str, ...]

    @property
    def glb(self) -> Path:
        """The scene (``BASE.glb``)."""
        return self.paths[MAIN_SUFFIX]

    @property
    def depth_png(self) -> Path:
        """16-bit depth, near = bright (``BASE_depth.png``)."""
        return self.paths["_depth.png"]

    @property
    def camera_json(self) -> Path:
        """fSpy camera parameters (``BASE_camera.json``)."""
        return self.paths["_camera.json"]

    @property
    def fspy(self) -> Path | None:
        """The ``.fspy`` project (``BASE.fspy``), or None when the camera did not come from vanishing lines."""
        return self.paths.get(".fspy")

    @property
    def html_page(self) -> Path | None:
        """The shareable page (``BASE.html``), or None when the scene's options did not ask for it."""
        return self.paths.get(".html")


def scene_paths(glb_path: str | os.PathLike) -> dict[str, Path]:
    """Every file a scene ``OUT.glb`` may have, by writer suffix: OUT.glb, OUT_depth.png, OUT_camera.json,
    OUT.fspy, OUT.html."""
    glb_path = Path(glb_path)
    if glb_path.suffix.lower() != MAIN_SUFFIX:
        raise SceneError(f"The scene file must end in .glb, not {glb_path.name}.")
    base = glb_path.name[: -len(MAIN_SUFFIX)]
    return {suffix: glb_path.with_name(base + suffix) for suffix in SCENE_WRITERS}


def check_scene_output(glb_path: str | os.PathLike) -> None:
    """Refuse, before any work is done, a scene path where one of :func:`scene_paths` cannot be written."""
    check_targets(scene_paths(glb_path).values())


def _vanishing_point(camera_to_blender_world: np.ndarray, axis: int, relative_focal_length: float, principal):
    direction_camera = camera_to_blender_world[:3, :3].T[:, axis]
    if abs(direction_camera[2]) < 1e-9:
        return None
    scale = relative_focal_length / -direction_camera[2]
    return {
        "x": float(principal[0] + direction_camera[0] * scale),
        "y": float(principal[1] + direction_camera[1] * scale),
    }


def camera_parameters(scene: Scene, calibration_parameters: dict | None = None) -> dict:
    """fSpy camera parameters of the scene's camera, in the world Blender shows after import.

    With ``calibration_parameters`` (the calibration's own) only the transforms and the picture
    size are replaced by the scene's (they differ when a metric depth rescaled the calibration's unit). Without,
    the parameters are derived from the camera; for the camera-frame world (Y up) the world is
    the one Blender's glTF importer makes of it (Z up).
    """
    camera = scene.camera
    blender_from_gltf = np.linalg.inv(Z_UP_TO_Y_UP)
    camera_to_world = blender_from_gltf @ world_to_gltf(scene.world_up) @ camera.camera_to_world
    world_to_camera = np.linalg.inv(camera_to_world)
    transforms = {
        "viewTransform": {"rows": world_to_camera.tolist()},
        "cameraTransform": {"rows": camera_to_world.tolist()},
    }
    width, height = camera.image_size_px
    if calibration_parameters is not None:
        # A calibration drawn on the picture at another size carries over (same aspect ratio).
        return {**calibration_parameters, **transforms, "imageWidth": width, "imageHeight": height}
    long_side, short_side = max(width, height), min(width, height)
    relative_focal_length = camera.relative_focal_length
    principal = camera.principal_point_image_plane
    return {
        "principalPoint": {"x": float(principal[0]), "y": float(principal[1])},
        **transforms,
        "horizontalFieldOfView": 2.0 * math.atan(1.0 / relative_focal_length),
        "verticalFieldOfView": 2.0 * math.atan(short_side / long_side / relative_focal_length),
        "vanishingPoints": [
            _vanishing_point(camera_to_world, axis, relative_focal_length, principal) for axis in range(3)
        ],
        "vanishingPointAxes": [FSPY_AXIS_NAMES[axis] for axis in ("+x", "+y", "+z")],
        "relativeFocalLength": relative_focal_length,
        "imageWidth": width,
        "imageHeight": height,
    }


def write_scene(scene: Scene, glb_path: str | os.PathLike, *, camera: CameraChoice | None = None) -> SceneFiles:
    """Write ``OUT.glb`` and the files of :data:`SCENE_WRITERS` beside it, as one set.

    ``camera``: the camera choice the scene's camera came from: its calibration's parameters go
    into the camera JSON with where the camera came from, its ``.fspy`` project beside the scene,
    its warnings into the result. A ``.fspy`` (or page) an earlier set wrote at OUT.fspy (OUT.html)
    is removed when this one has none. Raises :class:`~lib_depth3d.errors.OutputError` when the set cannot be written.
    """
    paths = scene_paths(glb_path)
    calibration = None if camera is None else camera.calibration
    parameters = camera_parameters(scene, None if calibration is None else calibration.to_camera_parameters())
    output = SceneOutput(scene, parameters, None if camera is None else camera.fspy_bytes,
                         None if camera is None else {"source": camera.source, "description": camera.description,
                                                      "units": scene.units})
    contents = {suffix: writer.write(output) for suffix, writer in SCENE_WRITERS.items()}
    written = {suffix: paths[suffix] for suffix, data in contents.items() if data is not None}
    write_file_set([(written[suffix], contents[suffix]) for suffix in written],
                   optional=[paths[suffix] for suffix, writer in SCENE_WRITERS.items() if writer.optional])
    return SceneFiles(
        paths=written,
        camera=scene.camera,
        calibration_report=None if calibration is None else calibration.to_report(),
        warnings=(*(camera.warnings if camera is not None else ()), *scene.warnings),
    )


def scene_summary(scene: Scene, files: SceneFiles, camera_description: str) -> str:
    """The lines the scene command prints after writing ``files``.

    ``camera_description``: where the camera came from (``calibrated from room.fspy``, ``55°
    horizontal field of view (assumed: …)``).
    """
    rows, columns = scene.grid_shape
    near, far = scene.depth_range
    camera = scene.camera
    cx, cy = camera.principal_point_px
    x, y, z = scene.gltf_camera.translation
    lines = [
        f"wrote {files.glb} ({len(scene.positions)} vertices, {len(scene.faces)} triangles from a "
        f"{columns}×{rows} grid; {scene.cut_triangles} cut at depth edges)"
    ]
    if scene.background is not None:
        lines.append(f"  background layer behind the edges: {len(scene.background.faces)} triangles")
    lines.append("  beside it: " + ", ".join(path.name for path in files.paths.values() if path != files.glb))
    lines.append(
        f"  camera: {camera_description}; {math.degrees(camera.horizontal_fov_rad):.1f}° across the width, "
        f"principal point ({cx:.1f}, {cy:.1f}) px, at ({x:.3f}, {y:.3f}, {z:.3f}) {scene.units} (glTF, Y up)"
    )
    move = f"; camera move: {scene.animation.name}" if scene.animation is not None else ""
    lines.append(f"  depth: {near:.3f} to {far:.3f} {scene.units}{move}")
    if scene.calibration_fit is not None:
        lines.append(f"  depth {scene.calibration_fit.summary()}")
    lines += [f"  warning: {warning}" for warning in files.warnings]
    return "\n".join(lines)

