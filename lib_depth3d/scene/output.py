"""Writing a scene's files: the ``.glb`` and, beside it, depth PNG, camera JSON and ``.fspy``.

Every byte is produced before anything is written, and each file goes through
:func:`lib_depth3d.files.atomic_output`, so a failure never leaves a half-written file where a
good one stood.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lib_depth3d.camera import camera_parameters_json
from lib_depth3d.depth.depthmap import depth_png_bytes
from lib_depth3d.errors import SceneError
from lib_depth3d.files import write_bytes_atomic
from lib_depth3d.scene.build import Scene
from lib_depth3d.scene.frames import Z_UP_TO_Y_UP, world_to_gltf
from lib_depth3d.scene.gltf import glb_bytes

FSPY_AXIS_NAMES = ("xPositive", "yPositive", "zPositive")


@dataclass(frozen=True)
class SceneFiles:
    """Paths of the files written for one scene (``fspy`` is None when no project was used)."""

    glb: Path
    depth_png: Path
    camera_json: Path
    fspy: Path | None


def companion_paths(glb_path: str | os.PathLike) -> tuple[Path, Path, Path]:
    """(depth PNG, camera JSON, .fspy) paths beside ``OUT.glb``: OUT_depth.png, OUT_camera.json, OUT.fspy."""
    glb_path = Path(glb_path)
    stem = glb_path.with_suffix("")
    return (
        stem.with_name(stem.name + "_depth.png"),
        stem.with_name(stem.name + "_camera.json"),
        stem.with_suffix(".fspy"),
    )


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

    With ``calibration_parameters`` (the calibration's own) only the transforms are replaced
    by the scene's (they differ when a metric depth rescaled the calibration's unit). Without,
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
    if calibration_parameters is not None:
        return {**calibration_parameters, **transforms}
    width, height = camera.image_size_px
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
        "vanishingPointAxes": list(FSPY_AXIS_NAMES),
        "relativeFocalLength": relative_focal_length,
        "imageWidth": width,
        "imageHeight": height,
    }


def write_scene(
    scene: Scene,
    glb_path: str | os.PathLike,
    *,
    calibration_parameters: dict | None = None,
    fspy_bytes: bytes | None = None,
) -> SceneFiles:
    """Write ``OUT.glb`` and beside it the 16-bit depth PNG, fSpy camera JSON and ``.fspy``.

    ``fspy_bytes``: the fSpy project the camera came from, copied beside the scene when given.
    """
    glb_path = Path(glb_path)
    if glb_path.suffix.lower() != ".glb":
        raise SceneError(f"The scene file must end in .glb, not {glb_path.name}.")
    depth_path, camera_path, fspy_path = companion_paths(glb_path)
    parameters = camera_parameters(scene, calibration_parameters)
    camera_text = camera_parameters_json(parameters)
    if scene.calibration_fit is not None:
        # fSpy's importers read only their own keys, so the fit's figures can travel beside them.
        camera_text = json.dumps({**json.loads(camera_text), "depth3dFit": scene.calibration_fit.as_json()}, indent=2)
    contents = [
        (glb_path, glb_bytes(scene)),
        (depth_path, depth_png_bytes(scene.zdepth)),
        (camera_path, (camera_text + "\n").encode("utf-8")),
    ]
    if fspy_bytes is not None:
        contents.append((fspy_path, fspy_bytes))
    for path, data in contents:
        write_bytes_atomic(path, data)
    return SceneFiles(glb_path, depth_path, camera_path, fspy_path if fspy_bytes is not None else None)


def scene_summary(scene: Scene, files: SceneFiles | None = None) -> dict:
    """Figures worth printing after building a scene (JSON-serialisable)."""
    camera = scene.gltf_camera
    summary = {
        "vertices": int(len(scene.positions)),
        "triangles": int(len(scene.faces)),
        "full_grid_triangles": scene.full_triangles,
        "cut_triangles": scene.cut_triangles,
        "background_triangles": int(len(scene.background.faces)) if scene.background is not None else 0,
        "grid": f"{scene.grid_shape[1]}×{scene.grid_shape[0]}",
        "units": scene.units,
        "depth_range": [round(v, 4) for v in scene.depth_range],
        "camera_position": [round(float(v), 4) for v in camera.translation],
        "yfov_deg": round(math.degrees(camera.yfov_rad), 4),
        "frustum_size_px": [round(v, 3) for v in camera.frustum_size_px],
        "picture_offset_px": [round(v, 3) for v in camera.picture_offset_px],
        "animation": scene.animation.name if scene.animation is not None else None,
        "calibration_fit": scene.calibration_fit.as_json() if scene.calibration_fit is not None else None,
        "warnings": list(scene.warnings),
    }
    if files is not None:
        summary["files"] = [str(p) for p in (files.glb, files.depth_png, files.camera_json, files.fspy) if p]
    return summary

