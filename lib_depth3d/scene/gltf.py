"""The binary glTF (.glb) writer: one textured unlit mesh, its camera, an optional camera move.

File layout: node 0 is the mesh: primitive 0 the picture's surface, primitive 1 (when there is
one) the background layer behind the foreground's edges with its own texture and material; its
vertices are in glTF's Y-up world, stored as float32 without a node transform, or by default as
int16 that the node's translation and scale turn back into that world (``KHR_mesh_quantization``,
with uint16 UVs and 16-bit indices where they fit: :mod:`lib_depth3d.scene.compact`). Node 1 is
the perspective camera (translation + rotation; animated when a move was asked for). The picture is embedded once,
as PNG or JPEG (its own file when it can be: :mod:`lib_depth3d.scene.texture`), and mapped
with ``KHR_materials_unlit`` so every viewer shows its own colours.
See :mod:`lib_depth3d.scene.frames` for the camera's frustum and its ``extras``.

The JSON is written as plain dicts in the key order and form pygltflib gives (the file is byte for
byte what it wrote for us before; the tests check that its load and save give back our bytes):
the library, with dataclasses_json and marshmallow, took 50–80 ms to import, longer than the
rest of a default scene's own code, and copied the binary chunk three times.
"""

from __future__ import annotations

import json
import struct

import numpy as np

from lib_depth3d.scene.compact import MeshEncoding, index_dtype, mesh_encoding, quantise_uvs
from lib_depth3d.scene.texture import encode_texture, picture_texture, texture_encoding

GENERATOR = "Depth3D (lib_depth3d)"

# glTF 2.0's enumerations (componentType, bufferView target, primitive mode, sampler filters).
SHORT, UNSIGNED_SHORT, UNSIGNED_INT, FLOAT = 5122, 5123, 5125, 5126
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
TRIANGLES = 4
LINEAR, LINEAR_MIPMAP_LINEAR, CLAMP_TO_EDGE = 9729, 9987, 33071

GLB_MAGIC, GLB_VERSION = b"glTF", 2
JSON_CHUNK, BINARY_CHUNK = b"JSON", b"BIN\0"


class _BinaryChunk:
    """Accumulates 4-byte aligned buffer views in one binary chunk."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.length = 0
        self.views: list[dict] = []

    def add(self, data: bytes, target: int | None = None, byte_stride: int | None = None) -> int:
        view = {"buffer": 0, "byteOffset": self.length, "byteLength": len(data)}
        if byte_stride is not None:
            view["byteStride"] = byte_stride
        if target is not None:
            view["target"] = target
        self.views.append(view)
        padding = -len(data) % 4
        self.parts += [data, b"\0" * padding]
        self.length += len(data) + padding
        return len(self.views) - 1


_COMPONENT_TYPES = {
    np.dtype(np.float32): FLOAT,
    np.dtype(np.int16): SHORT,
    np.dtype(np.uint16): UNSIGNED_SHORT,
    np.dtype(np.uint32): UNSIGNED_INT,
}


def _accessor(
    chunk: _BinaryChunk,
    array: np.ndarray,
    accessor_type: str,
    target: int | None,
    with_bounds: bool,
    normalized: bool = False,
) -> dict:
    """An accessor of ``array`` (component type from its dtype) in a view of its own. A VEC3 of
    int16 is padded to 8 bytes a vertex, as vertex attributes must stay 4-byte aligned."""
    rows = array.reshape(len(array), -1)
    stride = None
    if target == ARRAY_BUFFER and rows.itemsize * rows.shape[1] % 4:
        padded = np.zeros((len(rows), rows.shape[1] + 1), dtype=rows.dtype)
        padded[:, :-1] = rows
        stride = padded.itemsize * padded.shape[1]
        data = padded.tobytes()
    else:
        data = np.ascontiguousarray(array).tobytes()
    accessor = {"bufferView": chunk.add(data, target, stride), "byteOffset": 0,
                "componentType": _COMPONENT_TYPES[array.dtype]}
    if normalized:
        accessor["normalized"] = True
    accessor.update(count=len(array), type=accessor_type)
    if with_bounds:
        accessor.update(max=rows.max(axis=0).tolist(), min=rows.min(axis=0).tolist())
    return accessor


def _primitive(first_accessor: int, material: int) -> dict:
    """Triangles whose positions, UVs and indices are three consecutive accessors."""
    return {
        "attributes": {"POSITION": first_accessor, "TEXCOORD_0": first_accessor + 1},
        "indices": first_accessor + 2,
        "mode": TRIANGLES,
        "material": material,
    }


def _unlit_material(name: str, texture: int) -> dict:
    """A double-sided unlit material showing the texture's own colours."""
    return {
        "extensions": {"KHR_materials_unlit": {}},
        "pbrMetallicRoughness": {
            "baseColorFactor": [1.0, 1.0, 1.0, 1.0],
            "metallicFactor": 0.0,
            "roughnessFactor": 1.0,
            "baseColorTexture": {"index": texture, "texCoord": 0},
        },
        "emissiveFactor": [0.0, 0.0, 0.0],
        "alphaMode": "OPAQUE",
        "doubleSided": True,
        "name": name,
    }


def _surface_accessors(
    chunk: _BinaryChunk, positions: np.ndarray, uvs: np.ndarray, faces: np.ndarray, encoding: MeshEncoding
) -> list[dict]:
    """POSITION, TEXCOORD_0 and index accessors of one textured surface, in that order."""
    quantisation = encoding.positions
    stored_positions = positions if quantisation is None else quantisation.quantise(positions)
    stored_uvs = quantise_uvs(uvs) if encoding.uint16_uvs else uvs
    indices = faces.reshape(-1).astype(index_dtype(len(positions)))
    return [
        _accessor(chunk, stored_positions, "VEC3", ARRAY_BUFFER, True, normalized=quantisation is not None),
        _accessor(chunk, stored_uvs, "VEC2", ARRAY_BUFFER, False, normalized=encoding.uint16_uvs),
        _accessor(chunk, indices, "SCALAR", ELEMENT_ARRAY_BUFFER, False),
    ]


def _mesh_node(encoding: MeshEncoding) -> dict:
    """The mesh's node: its translation and scale turn int16 positions back into the world."""
    quantisation = encoding.positions
    if quantisation is None:
        return {"mesh": 0, "name": "Depth3D surface"}
    return {
        "mesh": 0,
        "translation": [float(v) for v in quantisation.centre],
        "scale": [float(v) for v in quantisation.half_extent],
        "name": "Depth3D surface",
    }


def _camera_move(move, first_accessor: int) -> dict:
    """The animation of the camera's node (node 1) along ``move``, whose times, translations
    and rotations are three consecutive accessors from ``first_accessor``."""
    return {
        "name": f"Depth3D {move.name}",
        "channels": [
            {"sampler": 0, "target": {"node": 1, "path": "translation"}},
            {"sampler": 1, "target": {"node": 1, "path": "rotation"}},
        ],
        "samplers": [
            {"input": first_accessor, "interpolation": "LINEAR", "output": first_accessor + 1},
            {"input": first_accessor, "interpolation": "LINEAR", "output": first_accessor + 2},
        ],
    }


def _glb(document: dict, chunk: _BinaryChunk) -> tuple[bytes, ...]:
    """The binary glTF container as its pieces, in order: header, JSON chunk (space-padded),
    binary chunk."""
    text = json.dumps(document, separators=(",", ":"), allow_nan=False).encode("utf-8")
    text += b" " * (-len(text) % 4)
    length = 12 + 8 + len(text) + 8 + chunk.length
    return (
        GLB_MAGIC + struct.pack("<II", GLB_VERSION, length) + struct.pack("<I", len(text)) + JSON_CHUNK + text
        + struct.pack("<I", chunk.length) + BINARY_CHUNK,
        *chunk.parts,
    )


def glb_bytes(scene) -> bytes:
    """The ``.glb`` file of a :class:`~lib_depth3d.scene.build.Scene`."""
    return b"".join(glb_pieces(scene))


def glb_pieces(scene) -> tuple[bytes, ...]:
    """The pieces whose concatenation is :func:`glb_bytes`, for a writer to write one after the
    other: joined, the picture's own file in the binary chunk (32 MB at 4096²) was copied once
    more, 30–50 ms at 4096²."""
    chunk = _BinaryChunk()
    encoding = mesh_encoding(scene)
    accessors = _surface_accessors(chunk, scene.positions, scene.uvs, scene.faces, encoding)
    options = scene.options
    texture_data, mime_type = picture_texture(
        scene.picture, scene.picture_file, options.texture_format, options.jpeg_quality
    )
    images = [{"mimeType": mime_type, "bufferView": chunk.add(texture_data), "name": "picture"}]
    primitives = [_primitive(0, 0)]
    if scene.background is not None:
        layer = scene.background
        primitives.append(_primitive(len(accessors), 1))
        accessors += _surface_accessors(chunk, layer.positions, layer.uvs, layer.faces, encoding)
        layer_texture, layer_mime_type = encode_texture(
            layer.texture, texture_encoding(options.texture_format, scene.picture_file), options.jpeg_quality,
            grown=True,
        )
        images.append({"mimeType": layer_mime_type, "bufferView": chunk.add(layer_texture), "name": "background"})

    material_names = ["Depth3D picture", "Depth3D background"][: len(images)]

    camera = scene.gltf_camera
    camera_node = {
        "rotation": [float(v) for v in camera.rotation_xyzw],
        "translation": [float(v) for v in camera.translation],
        "camera": 0,
        "name": "Depth3D camera",
    }
    animations = []
    if scene.animation is not None:
        move = scene.animation
        first = len(accessors)
        accessors.append(_accessor(chunk, move.times_s, "SCALAR", None, True))
        accessors.append(_accessor(chunk, move.translations, "VEC3", None, False))
        accessors.append(_accessor(chunk, move.rotations_xyzw, "VEC4", None, False))
        animations.append(_camera_move(move, first))

    document = {"accessors": accessors}
    if animations:
        document["animations"] = animations
    document["asset"] = {
        "extras": {"depth3d": {"units": scene.units, "world_up_of_source": scene.world_up}},
        "generator": GENERATOR,
        "version": "2.0",
    }
    document["bufferViews"] = chunk.views
    document["buffers"] = [{"byteLength": chunk.length}]
    document["cameras"] = [{
        "extras": camera.extras,
        "perspective": {
            "aspectRatio": float(camera.aspect_ratio),
            "yfov": float(camera.yfov_rad),
            "zfar": float(camera.zfar),
            "znear": float(camera.znear),
        },
        "type": "perspective",
        "name": "Depth3D camera",
    }]
    document["extensionsUsed"] = ["KHR_materials_unlit", *encoding.extensions_required]
    if encoding.extensions_required:
        document["extensionsRequired"] = list(encoding.extensions_required)
    document.update(
        images=images,
        materials=[_unlit_material(name, index) for index, name in enumerate(material_names)],
        meshes=[{"primitives": primitives, "name": "Depth3D surface"}],
        nodes=[_mesh_node(encoding), camera_node],
        samplers=[{"magFilter": LINEAR, "minFilter": LINEAR_MIPMAP_LINEAR, "wrapS": CLAMP_TO_EDGE,
                   "wrapT": CLAMP_TO_EDGE}],
        scene=0,
        scenes=[{"name": "Depth3D", "nodes": [0, 1]}],
        textures=[{"sampler": 0, "source": index} for index in range(len(images))],
    )
    return _glb(document, chunk)
