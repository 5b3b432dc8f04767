"""Reading back what a ``.glb`` holds (pygltflib + numpy), and projecting through its camera."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pygltflib

_COMPONENTS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}
_DTYPES = {pygltflib.FLOAT: np.float32, pygltflib.UNSIGNED_INT: np.uint32, pygltflib.UNSIGNED_SHORT: np.uint16}


@dataclass
class GlbContents:
    document: pygltflib.GLTF2
    positions: np.ndarray
    uvs: np.ndarray
    faces: np.ndarray
    camera_to_world: np.ndarray
    yfov_rad: float
    aspect_ratio: float
    extras: dict
    image_bytes: bytes


def accessor_array(document: pygltflib.GLTF2, index: int) -> np.ndarray:
    accessor = document.accessors[index]
    view = document.bufferViews[accessor.bufferView]
    blob = document.binary_blob()
    start = (view.byteOffset or 0) + (accessor.byteOffset or 0)
    count = accessor.count * _COMPONENTS[accessor.type]
    values = np.frombuffer(blob, dtype=_DTYPES[accessor.componentType], count=count, offset=start)
    return values.reshape(accessor.count, -1) if _COMPONENTS[accessor.type] > 1 else values


def rotation_from_quaternion(quaternion) -> np.ndarray:
    x, y, z, w = quaternion
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def read_glb(path: Path) -> GlbContents:
    document = pygltflib.GLTF2.load_from_bytes(Path(path).read_bytes())
    primitive = document.meshes[0].primitives[0]
    camera_node = next(node for node in document.nodes if node.camera is not None)
    camera_to_world = np.eye(4)
    camera_to_world[:3, :3] = rotation_from_quaternion(camera_node.rotation)
    camera_to_world[:3, 3] = camera_node.translation
    camera = document.cameras[camera_node.camera]
    image = document.images[0]
    view = document.bufferViews[image.bufferView]
    blob = document.binary_blob()
    return GlbContents(
        document=document,
        positions=accessor_array(document, primitive.attributes.POSITION),
        uvs=accessor_array(document, primitive.attributes.TEXCOORD_0),
        faces=accessor_array(document, primitive.indices).reshape(-1, 3),
        camera_to_world=camera_to_world,
        yfov_rad=camera.perspective.yfov,
        aspect_ratio=camera.perspective.aspectRatio,
        extras=camera.extras,
        image_bytes=bytes(blob[view.byteOffset : view.byteOffset + view.byteLength]),
    )


def project_with_file_camera(contents: GlbContents, points_gltf: np.ndarray) -> np.ndarray:
    """Picture pixels of glTF-world points as the file's symmetric camera renders them,
    minus ``extras.depth3d.picture_offset_px`` (the documented crop)."""
    settings = contents.extras["depth3d"]
    frustum_width, frustum_height = settings["frustum_size_px"]
    offset = np.array(settings["picture_offset_px"])
    focal = frustum_height / 2.0 / np.tan(contents.yfov_rad / 2.0)
    assert np.isclose(frustum_width / frustum_height, contents.aspect_ratio)
    world_to_camera = np.linalg.inv(contents.camera_to_world)
    camera = points_gltf @ world_to_camera[:3, :3].T + world_to_camera[:3, 3]
    depth = -camera[:, 2]
    frustum_pixels = np.stack(
        [frustum_width / 2 + focal * camera[:, 0] / depth, frustum_height / 2 - focal * camera[:, 1] / depth], -1
    )
    return frustum_pixels - offset
