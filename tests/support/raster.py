"""A CPU rasteriser for scenes: what a GPU shows from a pinhole camera, one sample per pixel centre.

Each pixel's centre is tested against every triangle (edge functions, both facings: the scene's
material is double-sided), the nearest fragment wins (z-buffer), its texture coordinates are
interpolated perspective-correctly and the texture is sampled bilinearly with clamped edges at
texel centres ``(i + 0.5) / size`` (glTF's convention; no mipmaps: renders from the picture's
camera magnify or keep the texture's scale). Vectorised by triangle size: triangles whose pixel
bounding boxes share a power-of-two size are tested together over that box.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lib_depth3d.scene.frames import world_to_gltf


@dataclass(frozen=True)
class View:
    """A pinhole camera in the glTF world (looking down its −z, y up).

    Attributes:
        camera_to_gltf: 4×4 pose of the camera in the glTF world.
        focal_length_px, principal_point_px, size_px: intrinsics and (width, height) of the render.
    """

    camera_to_gltf: np.ndarray
    focal_length_px: float
    principal_point_px: tuple[float, float]
    size_px: tuple[int, int]

    def moved(self, offset_camera: np.ndarray) -> "View":
        """The same view with its centre moved by ``offset_camera`` (x right, y up, z back)."""
        pose = np.array(self.camera_to_gltf, dtype=np.float64)
        pose[:3, 3] += pose[:3, :3] @ np.asarray(offset_camera, dtype=np.float64)
        return View(pose, self.focal_length_px, self.principal_point_px, self.size_px)


@dataclass(frozen=True)
class Primitive:
    """A textured triangle mesh: (N, 3) ``positions`` in the glTF world, (N, 2) ``uvs``, (M, 3)
    ``faces`` and an (h, w, channels) float ``texture`` (any values: colours, or coordinates)."""

    positions: np.ndarray
    uvs: np.ndarray
    faces: np.ndarray
    texture: np.ndarray


def picture_view(scene) -> View:
    """The scene's own camera (the picture's framing) as a :class:`View`."""
    camera = scene.camera
    return View(world_to_gltf(scene.world_up) @ camera.camera_to_world, camera.focal_length_px,
                camera.principal_point_px, camera.image_size_px)


def scene_primitives(scene) -> list[Primitive]:
    """The scene's surface and, when it has one, its background layer."""
    primitives = [Primitive(scene.positions, scene.uvs, scene.faces, np.asarray(scene.picture, dtype=np.float64))]
    if scene.background is not None:
        layer = scene.background
        primitives.append(Primitive(layer.positions, layer.uvs, layer.faces,
                                    np.asarray(layer.texture.convert("RGB"), dtype=np.float64)))
    return primitives


def _sample(texture: np.ndarray, uvs: np.ndarray) -> np.ndarray:
    height, width = texture.shape[:2]
    x = np.clip(uvs[:, 0] * width - 0.5, 0, width - 1)
    y = np.clip(uvs[:, 1] * height - 0.5, 0, height - 1)
    x0, y0 = np.minimum(x.astype(np.int64), width - 2), np.minimum(y.astype(np.int64), height - 2)
    x0, y0 = np.maximum(x0, 0), np.maximum(y0, 0)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
    top = texture[y0, x0] * (1 - fx) + texture[y0, x1] * fx
    bottom = texture[y1, x0] * (1 - fx) + texture[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def render(view: View, primitives: list[Primitive], near: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) float colours and (H, W) coverage of ``primitives`` seen from ``view``;
    uncovered pixels are black. Triangles reaching closer than ``near`` are left out."""
    width, height = view.size_px
    world_to_camera = np.linalg.inv(view.camera_to_gltf)
    f = view.focal_length_px
    cx, cy = view.principal_point_px
    fragments = []  # (pixel, inverse depth, primitive, u, v)
    for index, primitive in enumerate(primitives):
        points = primitive.positions.astype(np.float64) @ world_to_camera[:3, :3].T + world_to_camera[:3, 3]
        depth = -points[:, 2]
        faces = primitive.faces.astype(np.int64)
        faces = faces[np.all(depth[faces] > near, axis=1)]
        x = cx + f * points[:, 0] / np.where(depth > near, depth, 1.0)
        y = cy - f * points[:, 1] / np.where(depth > near, depth, 1.0)
        tx, ty, tw = x[faces], y[faces], 1.0 / depth[faces]
        left = np.ceil(tx.min(axis=1) - 0.5).astype(np.int64)
        right = np.floor(tx.max(axis=1) - 0.5).astype(np.int64)
        top = np.ceil(ty.min(axis=1) - 0.5).astype(np.int64)
        bottom = np.floor(ty.max(axis=1) - 0.5).astype(np.int64)
        left, top = np.maximum(left, 0), np.maximum(top, 0)
        right, bottom = np.minimum(right, width - 1), np.minimum(bottom, height - 1)
        extent = np.maximum(right - left, bottom - top) + 1
        visible = (right >= left) & (bottom >= top)
        size_class = np.ceil(np.log2(np.maximum(extent, 1))).astype(np.int64)
        for size_log in np.unique(size_class[visible]):
            size = 1 << int(size_log)
            chosen = np.flatnonzero(visible & (size_class == size_log))
            per_chunk = max(1, 2_000_000 // (size * size))
            offsets_y, offsets_x = np.divmod(np.arange(size * size), size)
            for start in range(0, len(chosen), per_chunk):
                ids = chosen[start : start + per_chunk]
                px = left[ids, None] + offsets_x[None, :]
                py = top[ids, None] + offsets_y[None, :]
                inside_box = (px <= right[ids, None]) & (py <= bottom[ids, None])
                sx, sy = px + 0.5, py + 0.5
                ax, ay, bx, by, qx, qy = (tx[ids, 0, None], ty[ids, 0, None], tx[ids, 1, None], ty[ids, 1, None],
                                          tx[ids, 2, None], ty[ids, 2, None])
                area = (bx - ax) * (qy - ay) - (qx - ax) * (by - ay)
                with np.errstate(divide="ignore", invalid="ignore"):
                    w0 = ((bx - sx) * (qy - sy) - (qx - sx) * (by - sy)) / area
                    w1 = ((qx - sx) * (ay - sy) - (ax - sx) * (qy - sy)) / area
                w2 = 1.0 - w0 - w1
                inside = inside_box & (area != 0) & (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
                row, column = np.nonzero(inside)
                b = np.stack([w0[row, column], w1[row, column], w2[row, column]], -1) * tw[ids[row]]
                inverse_depth = b.sum(axis=1)
                corner_uvs = primitive.uvs[faces[ids[row]]].astype(np.float64)
                uv = np.einsum("ki,kij->kj", b, corner_uvs) / inverse_depth[:, None]
                fragments.append((py[row, column] * width + px[row, column], inverse_depth,
                                  np.full(len(row), index), uv))
    colours = np.zeros((height * width, 3))
    covered = np.zeros(height * width, dtype=bool)
    if fragments:
        pixel = np.concatenate([f[0] for f in fragments])
        inverse_depth = np.concatenate([f[1] for f in fragments])
        which = np.concatenate([f[2] for f in fragments])
        uv = np.concatenate([f[3] for f in fragments])
        order = np.lexsort((-inverse_depth, pixel))
        first = order[np.r_[True, pixel[order][1:] != pixel[order][:-1]]]
        for index, primitive in enumerate(primitives):
            mine = first[which[first] == index]
            colours[pixel[mine]] = _sample(primitive.texture, uv[mine])
        covered[pixel[first]] = True
    return colours.reshape(height, width, 3), covered.reshape(height, width)


def psnr(rendered: np.ndarray, expected: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB of ``rendered`` against ``expected`` (0–255 colours) over ``mask`` (all pixels by default)."""
    error = rendered.astype(np.float64) - expected.astype(np.float64)
    if mask is not None:
        error = error[mask]
    mse = float(np.mean(error**2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))
