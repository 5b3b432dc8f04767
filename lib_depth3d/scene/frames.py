"""World frames and the glTF camera.

* A calibrated world (fSpy, Blender) is right-handed with **Z up**; glTF is **Y up**. A point
  (x, y, z) of the calibrated world is (x, z, −y) in the file — exactly the inverse of what
  Blender's glTF importer does, so the scene lands in Blender in fSpy's own world axes.
* Without a calibration the camera frame is the world: camera at the origin looking down −z,
  y up, which is already glTF's convention.

A glTF perspective camera has no lens shift: its frustum is symmetric about the optical axis.
When the principal point is off centre the file's camera gets the smallest symmetric frustum
that contains the picture (half-sizes ``max(cx, w − cx)`` by ``max(cy, h − cy)`` pixels at the
picture's focal length). Rendered at ``frustum_size_px`` it shows the picture exactly, at
``picture_offset_px`` from the top-left corner; the rest of the frame is empty. The camera's
``extras.depth3d`` records these numbers and Blender camera settings (lens, sensor, shift,
resolution) that give back exactly the picture's framing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lib_depth3d.camera import Camera

Z_UP_TO_Y_UP = np.array(
    [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, -1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
)
BLENDER_SENSOR_WIDTH_MM = 36.0


def world_to_gltf(world_up: str) -> np.ndarray:
    """4×4 transform from the scene's world frame to glTF's Y-up frame ('z' or 'y' up)."""
    return Z_UP_TO_Y_UP.copy() if world_up == "z" else np.eye(4)


def quaternion_from_rotation(rotation: np.ndarray) -> np.ndarray:
    """Unit quaternion (x, y, z, w) of a 3×3 rotation matrix, w ≥ 0."""
    m = np.asarray(rotation, dtype=np.float64)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0:
        s = 2.0 * math.sqrt(trace + 1.0)
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s]
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s, (m[1, 0] - m[0, 1]) / s]
    quaternion = np.array(q)
    quaternion /= np.linalg.norm(quaternion)
    return -quaternion if quaternion[3] < 0 else quaternion


def rotation_from_quaternion(quaternion: np.ndarray) -> np.ndarray:
    """3×3 rotation matrix of a unit quaternion (x, y, z, w)."""
    x, y, z, w = np.asarray(quaternion, dtype=np.float64) / np.linalg.norm(quaternion)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


@dataclass(frozen=True)
class GltfCamera:
    """The camera as written to the file.

    Attributes:
        yfov_rad, aspect_ratio: the symmetric frustum (see the module docstring).
        znear, zfar: clipping distances in scene units.
        translation, rotation_xyzw: the camera node's pose in glTF's Y-up world.
        frustum_size_px: (width, height) of a render of the whole symmetric frustum at the
            picture's pixel scale.
        picture_offset_px: where the picture's top-left corner lies in that render.
        extras: the camera's glTF ``extras`` (``depth3d``: the numbers above, the focal length
            and principal point in pixels, and Blender settings that frame exactly the picture).
    """

    yfov_rad: float
    aspect_ratio: float
    znear: float
    zfar: float
    translation: np.ndarray
    rotation_xyzw: np.ndarray
    frustum_size_px: tuple[float, float]
    picture_offset_px: tuple[float, float]
    extras: dict


def blender_camera_settings(camera: Camera) -> dict:
    """Blender camera settings (as fSpy-Blender sets them) that frame exactly the picture."""
    long_side = max(camera.image_width_px, camera.image_height_px)
    cx, cy = camera.principal_point_px
    return {
        "sensor_fit": "AUTO",
        "sensor_width": BLENDER_SENSOR_WIDTH_MM,
        "lens": camera.focal_length_px * BLENDER_SENSOR_WIDTH_MM / long_side,
        "shift_x": (camera.image_width_px / 2.0 - cx) / long_side,
        "shift_y": (cy - camera.image_height_px / 2.0) / long_side,
        "resolution_x": camera.image_width_px,
        "resolution_y": camera.image_height_px,
    }


def gltf_camera(camera: Camera, world_up: str, znear: float, zfar: float) -> GltfCamera:
    """The file's camera for ``camera`` whose world frame has ``world_up`` ('z' or 'y')."""
    width, height = camera.image_width_px, camera.image_height_px
    cx, cy = camera.principal_point_px
    half_width = max(cx, width - cx)
    half_height = max(cy, height - cy)
    camera_to_gltf = world_to_gltf(world_up) @ camera.camera_to_world
    frustum = (2.0 * half_width, 2.0 * half_height)
    offset = (half_width - cx, half_height - cy)
    extras = {
        "depth3d": {
            "picture_size_px": [width, height],
            "focal_length_px": camera.focal_length_px,
            "principal_point_px": [cx, cy],
            "frustum_size_px": list(frustum),
            "picture_offset_px": list(offset),
            "blender": blender_camera_settings(camera),
        }
    }
    return GltfCamera(
        yfov_rad=2.0 * math.atan(half_height / camera.focal_length_px),
        aspect_ratio=half_width / half_height,
        znear=znear,
        zfar=zfar,
        translation=camera_to_gltf[:3, 3].copy(),
        rotation_xyzw=quaternion_from_rotation(camera_to_gltf[:3, :3]),
        frustum_size_px=frustum,
        picture_offset_px=offset,
        extras=extras,
    )
