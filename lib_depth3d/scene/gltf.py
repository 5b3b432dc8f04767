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
"""

from __future__ import annotations

import numpy as np
import pygltflib

from lib_depth3d.scene.compact import MeshEncoding, index_dtype, mesh_encoding, quantise_uvs
from lib_depth3d.scene.texture import encode_texture, picture_texture, texture_encoding

GENERATOR = "Depth3D (lib_depth3d)"


class _BinaryChunk:
    """Accumulates 4-byte aligned buffer views in one binary chunk."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.length = 0
        self.views: list[pygltflib.BufferView] = []

    def add(self, data: bytes, target: int | None = None, byte_stride: int | None = None) -> int:
        self.views.append(
            pygltflib.BufferView(
                buffer=0, byteOffset=self.length, byteLength=len(data), byteStride=byte_stride, target=target
            )
        )
        padding = -len(data) % 4
        self.parts.append(data + b"\0" * padding)
        self.length += len(data) + padding
        return len(self.views) - 1

    def blob(self) -> bytes:
        return b"".join(self.parts)


_COMPONENT_TYPES = {
    np.dtype(np.float32): pygltflib.FLOAT,
    np.dtype(np.int16): pygltflib.SHORT,
    np.dtype(np.uint16): pygltflib.UNSIGNED_SHORT,
    np.dtype(np.uint32): pygltflib.UNSIGNED_INT,
}


def _accessor(
    chunk: _BinaryChunk,
    array: np.ndarray,
    accessor_type: str,
    target: int | None,
    with_bounds: bool,
    normalized: bool = False,
) -> pygltflib.Accessor:
    """An accessor of ``array`` (component type from its dtype) in a view of its own. A VEC3 of
    int16 is padded to 8 bytes a vertex, as vertex attributes must stay 4-byte aligned."""
    rows = array.reshape(len(array), -1)
    stride = None
    if target == pygltflib.ARRAY_BUFFER and rows.itemsize * rows.shape[1] % 4:
        padded = np.zeros((len(rows), rows.shape[1] + 1), dtype=rows.dtype)
        padded[:, :-1] = rows
        stride = padded.itemsize * padded.shape[1]
        data = padded.tobytes()
    else:
        data = np.ascontiguousarray(array).tobytes()
    view = chunk.add(data, target, stride)
    return pygltflib.Accessor(
        bufferView=view,
        componentType=_COMPONENT_TYPES[array.dtype],
        normalized=True if normalized else None,
        count=len(array),
        type=accessor_type,
        min=rows.min(axis=0).tolist() if with_bounds else None,
        max=rows.max(axis=0).tolist() if with_bounds else None,
    )


def _primitive(first_accessor: int, material: int) -> pygltflib.Primitive:
    """Triangles whose positions, UVs and indices are three consecutive accessors."""
    return pygltflib.Primitive(
        attributes=pygltflib.Attributes(POSITION=first_accessor, TEXCOORD_0=first_accessor + 1),
        indices=first_accessor + 2,
        material=material,
        mode=pygltflib.TRIANGLES,
    )


def _unlit_material(name: str, texture: int) -> pygltflib.Material:
    """A double-sided unlit material showing the texture's own colours."""
    return pygltflib.Material(
        name=name,
        pbrMetallicRoughness=pygltflib.PbrMetallicRoughness(
            baseColorTexture=pygltflib.TextureInfo(index=texture),
            metallicFactor=0.0,
            roughnessFactor=1.0,
        ),
        doubleSided=True,
        extensions={"KHR_materials_unlit": {}},
    )


def _surface_accessors(
    chunk: _BinaryChunk, positions: np.ndarray, uvs: np.ndarray, faces: np.ndarray, encoding: MeshEncoding
) -> list:
    """POSITION, TEXCOORD_0 and index accessors of one textured surface, in that order."""
    quantisation = encoding.positions
    stored_positions = positions if quantisation is None else quantisation.quantise(positions)
    stored_uvs = quantise_uvs(uvs) if encoding.uint16_uvs else uvs
    indices = faces.reshape(-1).astype(index_dtype(len(positions)))
    return [
        _accessor(chunk, stored_positions, "VEC3", pygltflib.ARRAY_BUFFER, True, normalized=quantisation is not None),
        _accessor(chunk, stored_uvs, "VEC2", pygltflib.ARRAY_BUFFER, False, normalized=encoding.uint16_uvs),
        _accessor(chunk, indices, "SCALAR", pygltflib.ELEMENT_ARRAY_BUFFER, False),
    ]


def _mesh_node(encoding: MeshEncoding) -> pygltflib.Node:
    """The mesh's node: its translation and scale turn int16 positions back into the world."""
    quantisation = encoding.positions
    if quantisation is None:
        return pygltflib.Node(name="Depth3D surface", mesh=0)
    return pygltflib.Node(
        name="Depth3D surface",
        mesh=0,
        translation=[float(v) for v in quantisation.centre],
        scale=[float(v) for v in quantisation.half_extent],
    )


def glb_bytes(scene) -> bytes:
    """The ``.glb`` file of a :class:`~lib_depth3d.scene.build.Scene`."""
    chunk = _BinaryChunk()
    encoding = mesh_encoding(scene)
    accessors = _surface_accessors(chunk, scene.positions, scene.uvs, scene.faces, encoding)
    options = scene.options
    texture_data, mime_type = picture_texture(
        scene.picture, scene.picture_file, options.texture_format, options.jpeg_quality
    )
    images = [pygltflib.Image(name="picture", bufferView=chunk.add(texture_data), mimeType=mime_type)]
    primitives = [_primitive(0, 0)]
    if scene.background is not None:
        layer = scene.background
        primitives.append(_primitive(len(accessors), 1))
        accessors += _surface_accessors(chunk, layer.positions, layer.uvs, layer.faces, encoding)
        layer_texture, layer_mime_type = encode_texture(
            layer.texture, texture_encoding(options.texture_format, scene.picture_file), options.jpeg_quality
        )
        images.append(
            pygltflib.Image(name="background", bufferView=chunk.add(layer_texture), mimeType=layer_mime_type)
        )

    material_names = ["Depth3D picture", "Depth3D background"][: len(images)]

    camera = scene.gltf_camera
    camera_node = pygltflib.Node(
        name="Depth3D camera",
        camera=0,
        translation=[float(v) for v in camera.translation],
        rotation=[float(v) for v in camera.rotation_xyzw],
    )
    animations = []
    if scene.animation is not None:
        move = scene.animation
        first = len(accessors)
        accessors.append(_accessor(chunk, move.times_s, "SCALAR", None, True))
        accessors.append(_accessor(chunk, move.translations, "VEC3", None, False))
        accessors.append(_accessor(chunk, move.rotations_xyzw, "VEC4", None, False))
        animations.append(
            pygltflib.Animation(
                name=f"Depth3D {move.name}",
                samplers=[
                    pygltflib.AnimationSampler(input=first, output=first + 1, interpolation="LINEAR"),
                    pygltflib.AnimationSampler(input=first, output=first + 2, interpolation="LINEAR"),
                ],
                channels=[
                    pygltflib.AnimationChannel(
                        sampler=0, target=pygltflib.AnimationChannelTarget(node=1, path="translation")
                    ),
                    pygltflib.AnimationChannel(
                        sampler=1, target=pygltflib.AnimationChannelTarget(node=1, path="rotation")
                    ),
                ],
            )
        )

    document = pygltflib.GLTF2(
        asset=pygltflib.Asset(
            version="2.0",
            generator=GENERATOR,
            extras={"depth3d": {"units": scene.units, "world_up_of_source": scene.world_up}},
        ),
        extensionsUsed=["KHR_materials_unlit", *encoding.extensions_required],
        extensionsRequired=encoding.extensions_required,
        scene=0,
        scenes=[pygltflib.Scene(name="Depth3D", nodes=[0, 1])],
        nodes=[_mesh_node(encoding), camera_node],
        meshes=[pygltflib.Mesh(name="Depth3D surface", primitives=primitives)],
        materials=[_unlit_material(name, index) for index, name in enumerate(material_names)],
        textures=[pygltflib.Texture(sampler=0, source=index) for index in range(len(images))],
        samplers=[
            pygltflib.Sampler(
                magFilter=pygltflib.LINEAR,
                minFilter=pygltflib.LINEAR_MIPMAP_LINEAR,
                wrapS=pygltflib.CLAMP_TO_EDGE,
                wrapT=pygltflib.CLAMP_TO_EDGE,
            )
        ],
        images=images,
        cameras=[
            pygltflib.Camera(
                name="Depth3D camera",
                type="perspective",
                perspective=pygltflib.Perspective(
                    yfov=float(camera.yfov_rad),
                    aspectRatio=float(camera.aspect_ratio),
                    znear=float(camera.znear),
                    zfar=float(camera.zfar),
                ),
                extras=camera.extras,
            )
        ],
        animations=animations,
        accessors=accessors,
        bufferViews=chunk.views,
        buffers=[pygltflib.Buffer(byteLength=chunk.length)],
    )
    document.set_binary_blob(chunk.blob())
    return b"".join(document.save_to_bytes())
