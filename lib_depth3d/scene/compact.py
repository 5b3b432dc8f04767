"""Compact mesh data for the ``.glb``: 16-bit positions and UVs, 16-bit indices where they fit.

A plain file stores each vertex as 32-bit floats (12 bytes of position, 8 of UV) and each
triangle as three 32-bit indices. By default the writer stores instead:

* **Positions** as normalized int16 (``KHR_mesh_quantization``): ``q = round(32767 · (p − centre) /
  half_extent)`` per axis over the bounding box of every primitive, read back as
  ``centre + half_extent · q / 32767`` through the mesh node's translation and scale. Each
  coordinate moves by at most ``half_extent / 65534``. The positions are kept so only when that
  moves no vertex further than the decimation's own tolerances allow, as seen from the
  picture's camera: ``max_texture_shift_px`` across the picture and ``max_depth_error`` of its
  depth (:func:`position_error`), and when the seams they open stay below
  :data:`MAX_SEAM_PX`: where the background layer meets the surface, a layer vertex and a
  surface vertex lie on one ray at different depths, and rounding moves them apart on the
  picture; a sample falling between them sees through. Otherwise they stay float32. A near
  surface in front of a deep scene seen at thousands of pixels is where 16 bits fall short.
* **UVs** as normalized uint16 (core glTF): a texel moves by at most ``size_px / 131070``
  (0.03 px across a 4096-px picture); kept so under the same ``max_texture_shift_px``.
* **Indices** as uint16 when a primitive has at most 65 535 vertices (the largest index, 65 535,
  is reserved for primitive restart), else uint32 — plain files too, as core glTF allows.

Each vertex attribute element stays 4-byte aligned (glTF's rule): the int16 positions are padded
to 8 bytes a vertex (the buffer view's ``byteStride``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INT16_LARGEST = 32767
UINT16_LARGEST = 65535
MAX_UINT16_INDEXED_VERTICES = 65535
"""Most vertices a primitive may have for 16-bit indices (index 65 535 is primitive restart)."""

MAX_SEAM_PX = 0.05
"""Widest seam int16 positions may open between primitives, in picture pixels: it lets through
at most 5 % of a pixel's coverage, under 13 levels even between black and white."""

SHARED_RAY_PX = 1e-3
"""Vertices of two primitives this close on the picture lie on one ray (they are the same sample)."""

MIN_HALF_EXTENT_FRACTION = 2.0**-20
"""An axis along which the mesh is flat still gets this fraction of the widest half extent, so
the node's scale stays invertible."""


@dataclass(frozen=True)
class PositionQuantisation:
    """Positions stored as normalized int16 ``q``, read as ``centre + half_extent · q / 32767``.

    Attributes:
        centre: (3,) the bounding box's centre in glTF's world, scene units (the node's translation).
        half_extent: (3,) half the bounding box's size per axis, > 0 (the node's scale).
    """

    centre: np.ndarray
    half_extent: np.ndarray

    def quantise(self, positions: np.ndarray) -> np.ndarray:
        """(N, 3) int16 stored values of (N, 3) world positions inside the box."""
        scaled = (np.asarray(positions, dtype=np.float64) - self.centre) / self.half_extent
        return np.clip(np.rint(scaled * INT16_LARGEST), -INT16_LARGEST, INT16_LARGEST).astype(np.int16)

    def dequantise(self, stored: np.ndarray) -> np.ndarray:
        """(N, 3) float64 world positions a reader gets from stored values."""
        return self.centre + self.half_extent * (stored.astype(np.float64) / INT16_LARGEST)


def position_quantisation(*positions: np.ndarray) -> PositionQuantisation:
    """The quantisation covering every (N, 3) array of world positions given (all primitives
    share the mesh node, hence its box)."""
    points = np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1, 3) for p in positions])
    # Column by column: a reduction down an (N, 3) array's rows took 5× longer.
    low = np.array([points[:, axis].min() for axis in range(3)])
    high = np.array([points[:, axis].max() for axis in range(3)])
    half_extent = (high - low) / 2.0
    floor = max(float(half_extent.max()) * MIN_HALF_EXTENT_FRACTION, np.finfo(np.float32).tiny)
    return PositionQuantisation(centre=(high + low) / 2.0, half_extent=np.maximum(half_extent, floor))


def quantise_uvs(uvs: np.ndarray) -> np.ndarray:
    """(N, 2) uint16 normalized texture coordinates (clamped to [0, 1])."""
    return np.rint(np.clip(np.asarray(uvs, dtype=np.float64), 0.0, 1.0) * UINT16_LARGEST).astype(np.uint16)


def dequantise_uvs(stored: np.ndarray) -> np.ndarray:
    """(N, 2) float64 texture coordinates a reader gets from stored uint16 values."""
    return stored.astype(np.float64) / UINT16_LARGEST


def _squared_lengths(vectors: np.ndarray) -> np.ndarray:
    """(N,) x² + y² of (N, 2) vectors: the two columns added, as a sum along the rows adds them,
    7× faster than that reduction along an axis of two."""
    return vectors[:, 0] ** 2 + vectors[:, 1] ** 2


def uv_error_px(uvs: np.ndarray, texture_size_px: tuple[int, int]) -> float:
    """Largest distance in texture pixels between UVs and their uint16 storage."""
    shift = (dequantise_uvs(quantise_uvs(uvs)) - uvs) * np.asarray(texture_size_px, dtype=np.float64)
    return float(np.sqrt(_squared_lengths(shift)).max(initial=0.0))


@dataclass(frozen=True)
class PositionError:
    """How far quantised positions move, seen from the picture's camera.

    Attributes:
        shift_px: the largest move across the picture, in pixels.
        depth_error: the largest change of z-depth, relative to the depth.
        seam_px: the widest gap, in pixels, between vertices of different primitives that lie
            on one ray before quantisation (0 for a single primitive).
    """

    shift_px: float
    depth_error: float
    seam_px: float


def _shared_rays(first_px: np.ndarray, second_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (into ``first_px``, into ``second_px``) of points within :data:`SHARED_RAY_PX`
    of each other (matched on a grid of that cell; a pair split by a cell edge is missed, which
    only the other pairs along the same edge then check)."""
    def keys(points: np.ndarray) -> np.ndarray:
        cells = np.rint(points / SHARED_RAY_PX).astype(np.int64)
        return cells[:, 0] * (1 << 32) + cells[:, 1]

    first_keys, second_keys = keys(first_px), keys(second_px)
    order = np.argsort(first_keys)
    slots = np.clip(np.searchsorted(first_keys, second_keys, sorter=order), 0, max(len(order) - 1, 0))
    matched = first_keys[order[slots]] == second_keys if len(order) else np.zeros(len(second_keys), bool)
    return order[slots[matched]], np.flatnonzero(matched)


def position_error(
    positions_gltf: list[np.ndarray], quantisation: PositionQuantisation, camera, gltf_from_world: np.ndarray
) -> PositionError:
    """How far ``quantisation`` moves the (N, 3) glTF-world positions of each primitive in
    ``camera``'s picture (``camera`` in the scene's world; ``gltf_from_world`` the rigid 4×4 to
    glTF's world); seams are measured between the first primitive and each other one."""
    world_from_gltf = np.linalg.inv(gltf_from_world)

    def projected(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return camera.project(points @ world_from_gltf[:3, :3].T + world_from_gltf[:3, 3])

    exact = [projected(np.asarray(points, dtype=np.float64)) for points in positions_gltf]
    moved = [projected(quantisation.dequantise(quantisation.quantise(points))) for points in positions_gltf]
    shift = max(np.sqrt(_squared_lengths(b[0] - a[0])).max(initial=0.0) for a, b in zip(exact, moved))
    depth_error = max((np.abs(b[1] - a[1]) / np.abs(a[1])).max(initial=0.0) for a, b in zip(exact, moved))
    seam = 0.0
    for (pixels, _), (moved_pixels, _) in zip(exact[1:], moved[1:]):
        surface_index, other_index = _shared_rays(exact[0][0], pixels)
        gaps = np.sqrt(_squared_lengths(moved_pixels[other_index] - moved[0][0][surface_index]))
        seam = max(seam, float(gaps.max(initial=0.0)))
    return PositionError(float(shift), float(depth_error), seam)


def index_dtype(vertex_count: int) -> type:
    """uint16 when every index of a primitive with ``vertex_count`` vertices fits, else uint32."""
    return np.uint16 if vertex_count <= MAX_UINT16_INDEXED_VERTICES else np.uint32


@dataclass(frozen=True)
class MeshEncoding:
    """How a scene's mesh is stored.

    Attributes:
        positions: the int16 quantisation of every primitive's positions, or None for float32.
        uint16_uvs: UVs as normalized uint16 rather than float32.
    """

    positions: PositionQuantisation | None
    uint16_uvs: bool

    @property
    def extensions_required(self) -> list[str]:
        """The glTF extensions a reader must know (int16 positions need ``KHR_mesh_quantization``)."""
        return ["KHR_mesh_quantization"] if self.positions is not None else []


PLAIN = MeshEncoding(positions=None, uint16_uvs=False)


def mesh_encoding(scene) -> MeshEncoding:
    """The most compact storage of a :class:`~lib_depth3d.scene.build.Scene`'s mesh that keeps
    every texel within ``max_texture_shift_px`` and every depth within ``max_depth_error`` of
    the float32 surface (UV and position moves add up) and opens no seam wider than
    :data:`MAX_SEAM_PX`; :data:`PLAIN` for ``plain_gltf``."""
    from lib_depth3d.scene.frames import world_to_gltf

    options = scene.options
    if options.plain_gltf:
        return PLAIN
    surfaces = [(scene.positions, scene.uvs, scene.picture.size)]
    if scene.background is not None:
        layer = scene.background
        surfaces.append((layer.positions, layer.uvs, layer.texture.size))
    uv_shift_px = max(uv_error_px(uvs, size) for _, uvs, size in surfaces)
    uint16_uvs = uv_shift_px <= options.max_texture_shift_px
    budget_px = options.max_texture_shift_px - (uv_shift_px if uint16_uvs else 0.0)
    positions = [points for points, _, _ in surfaces]
    quantisation = position_quantisation(*positions)
    error = position_error(positions, quantisation, scene.camera, world_to_gltf(scene.world_up))
    within = (
        error.shift_px <= budget_px and error.depth_error <= options.max_depth_error and error.seam_px <= MAX_SEAM_PX
    )
    return MeshEncoding(positions=quantisation if within else None, uint16_uvs=uint16_uvs)
