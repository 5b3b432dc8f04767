"""Reading back what a ``.glb`` holds (pygltflib + numpy), and projecting through its camera."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pygltflib

_COMPONENTS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}
_DTYPES = {
    pygltflib.FLOAT: np.float32,
    pygltflib.UNSIGNED_INT: np.uint32,
    pygltflib.UNSIGNED_SHORT: np.uint16,
    pygltflib.SHORT: np.int16,
}


@dataclass
class GlbContents:
    """What the file holds; ``positions`` in glTF's world (the mesh node's transform applied,
    normalized integers read as the spec says), ``uvs`` as floats."""

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
    """The accessor's stored values (strided views followed; normalized integers left as stored)."""
    accessor = document.accessors[index]
    view = document.bufferViews[accessor.bufferView]
    blob = document.binary_blob()
    start = (view.byteOffset or 0) + (accessor.byteOffset or 0)
    components = _COMPONENTS[accessor.type]
    dtype = np.dtype(_DTYPES[accessor.componentType])
    stride = view.byteStride or components * dtype.itemsize
    rows = np.ndarray((accessor.count, components), dtype=dtype, buffer=blob, offset=start,
                      strides=(stride, dtype.itemsize))
    values = np.array(rows)
    return values if components > 1 else values.reshape(-1)


def accessor_values(document: pygltflib.GLTF2, index: int) -> np.ndarray:
    """The accessor's values as a reader uses them: normalized integers divided by their largest
    value (−1 at least for signed ones), as float64; others as stored."""
    values = accessor_array(document, index)
    if not document.accessors[index].normalized:
        return values
    return np.maximum(values / np.iinfo(values.dtype).max, -1.0)


def mesh_node_matrix(document: pygltflib.GLTF2) -> np.ndarray:
    """4×4 world matrix of the node holding mesh 0 (translation and scale; it has no rotation)."""
    node = next(node for node in document.nodes if node.mesh == 0)
    matrix = np.eye(4)
    matrix[:3, :3] *= node.scale or [1.0, 1.0, 1.0]
    matrix[:3, 3] = node.translation or [0.0, 0.0, 0.0]
    assert node.rotation in (None, [0.0, 0.0, 0.0, 1.0]) and node.matrix is None
    return matrix


def primitive_positions(document: pygltflib.GLTF2, primitive: pygltflib.Primitive) -> np.ndarray:
    """(N, 3) positions of a primitive of mesh 0 in glTF's world, float64."""
    matrix = mesh_node_matrix(document)
    return accessor_values(document, primitive.attributes.POSITION) @ matrix[:3, :3].T + matrix[:3, 3]


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
        positions=primitive_positions(document, primitive),
        uvs=accessor_values(document, primitive.attributes.TEXCOORD_0),
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
