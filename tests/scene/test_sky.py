"""A depth map's sky (pixels without a surface, as Depth Anything 3 Mono/Metric-Large find it)
is left out of the scene: no triangle covers a pixel of it, none stretches from the ground to the
stand-in depth the sky holds; the pixel-exact edges cover the surface up to the sky's pixels."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib_depth3d.camera import Camera
from lib_depth3d.depth.depthmap import DepthMap
from lib_depth3d.errors import SceneError
from lib_depth3d.scene import SceneOptions, build_scene
from tests.support.scene_inputs import smooth_picture

WIDTH, HEIGHT = 96, 64


def ground_and_sky(horizon_row: int, width: int = WIDTH, height: int = HEIGHT) -> DepthMap:
    """A camera 1.5 m above flat ground seeing it below ``horizon_row`` and sky above it, whose
    depth holds the farthest ground's (the stand-in the official network gives the sky)."""
    camera = Camera.from_fov(width, height, 60.0)
    rows = np.arange(height) + 0.5
    below_centre = np.maximum(rows - camera.principal_point_px[1], 1e-3)
    ground = 1.5 * camera.focal_length_px / below_centre
    zdepth = np.minimum(ground, 80.0)
    sky = rows < horizon_row
    zdepth[sky] = zdepth[~sky].max()
    values = np.broadcast_to(zdepth[:, None], (height, width)).astype(np.float32)
    surface = np.broadcast_to(~sky[:, None], (height, width))
    return DepthMap(values, "metric", surface)


def with_a_post(depth: DepthMap) -> DepthMap:
    """``depth`` with a post 3 m away standing from the ground into the sky (a surface there)."""
    values, surface = depth.values.copy(), depth.surface.copy()
    values[10:60, 40:56] = 3.0
    surface[10:60, 40:56] = True
    return DepthMap(values, depth.kind, surface)


def face_pixels(scene) -> np.ndarray:
    """(n, 2) the picture positions (pixels) of every vertex of every triangle, background layer
    included (its vertices lie on grid samples' rays: projected through the camera, an
    uncalibrated scene's world being the camera's frame)."""
    pixels = [scene.uvs[scene.faces.ravel()] * (WIDTH, HEIGHT)]
    if scene.background is not None:
        layer = scene.background
        projected, _ = scene.camera.project(layer.positions[layer.faces.ravel()].astype(np.float64))
        pixels.append(projected)
    return np.concatenate(pixels)


def touch_the_sky(pixels: np.ndarray, surface: np.ndarray) -> np.ndarray:
    """Whether each position interpolates (bilinearly, between pixel centres) a pixel without a surface."""
    x = np.clip(pixels[:, 0] - 0.5, 0, WIDTH - 1)
    y = np.clip(pixels[:, 1] - 0.5, 0, HEIGHT - 1)
    touched = np.zeros(len(pixels), dtype=bool)
    for row in (np.floor(y + 1e-6), np.ceil(y - 1e-6)):
        for column in (np.floor(x + 1e-6), np.ceil(x - 1e-6)):
            touched |= ~surface[row.astype(int), column.astype(int)]
    return touched


def sky_pixels_covered(scene, surface: np.ndarray) -> int:
    """How many centres of pixels without a surface lie strictly inside a triangle of the scene
    (either layer), seen from its camera."""
    corners = face_pixels(scene).reshape(-1, 3, 2)
    rows, columns = np.nonzero(~surface)
    centres = np.stack([columns + 0.5, rows + 0.5], -1)
    a, b, c = corners[:, 0, None], corners[:, 1, None], corners[:, 2, None]

    def side(p, q, r):  # twice the signed area of (p, q, r)
        return (q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1]) - (q[..., 1] - p[..., 1]) * (r[..., 0] - p[..., 0])

    area = side(a, b, c)
    weights = np.stack([side(b, c, centres[None]), side(c, a, centres[None]), side(a, b, centres[None])], -1)
    inside = np.all(weights * np.sign(area)[..., None] > 1e-9, axis=-1) & (np.abs(area) > 1e-12)
    return int(inside.any(axis=0).sum())


@settings(max_examples=16, deadline=None)
@given(st.integers(36, 44), st.sampled_from([None, 48, 24]), st.booleans(), st.booleans())
def test_no_triangle_reaches_into_the_sky(horizon_row, resolution, decimate, post):
    depth = ground_and_sky(horizon_row)
    depth = with_a_post(depth) if post else depth
    options = SceneOptions(resolution=resolution, decimate=decimate)
    scene = build_scene(smooth_picture(WIDTH, HEIGHT), depth, Camera.from_fov(WIDTH, HEIGHT, 60.0), options)
    pixels = face_pixels(scene)
    assert sky_pixels_covered(scene, depth.surface) == 0
    assert pixels[:, 1].max() == pytest.approx(HEIGHT)  # the ground is there down to the picture's bottom
    if post:  # the post above the horizon is kept
        assert pixels[:, 1].min() < horizon_row - 10


def test_without_the_mask_the_sky_is_a_wall_of_triangles():
    """The same depth without its surface mask: triangles fill the sky, and the grid rows at the
    horizon join the ground to the sky's stand-in depth."""
    masked = ground_and_sky(40)
    unmasked = DepthMap(masked.values, masked.kind)
    camera = Camera.from_fov(WIDTH, HEIGHT, 60.0)
    scene = build_scene(smooth_picture(WIDTH, HEIGHT), unmasked, camera, SceneOptions(decimate=False, resolution=None))
    assert touch_the_sky(face_pixels(scene), masked.surface).any()
    assert sky_pixels_covered(scene, masked.surface) > 0
    masked_scene = build_scene(smooth_picture(WIDTH, HEIGHT), masked, camera, SceneOptions(decimate=False, resolution=None))
    assert len(masked_scene.faces) < len(scene.faces)


def test_a_picture_of_sky_alone_is_refused_in_words():
    depth = ground_and_sky(40)
    sky_only = DepthMap(depth.values, "metric", np.zeros_like(depth.surface))
    with pytest.raises(SceneError, match="only sky"):
        build_scene(smooth_picture(WIDTH, HEIGHT), sky_only, Camera.from_fov(WIDTH, HEIGHT, 60.0))


def test_the_mask_follows_a_resize():
    depth = ground_and_sky(40)
    half = depth.resized(WIDTH // 2, HEIGHT // 2)
    assert half.surface.shape == (HEIGHT // 2, WIDTH // 2)
    assert not half.surface[:19].any() and half.surface[21:].all()
