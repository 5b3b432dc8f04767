"""Box rooms ray-cast in numpy from a known camera, for the line-detection tests.

World frame as fSpy and Blender: Z up, metres. The room is ``[0, 6] × [0, 5] × [0, 2.8]``
with panelled walls (vertical seams every metre, a dado rail), a planked floor and a crate;
clutter strokes in random picture directions are drawn over it, and mild noise added.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from lib_depth3d.camera import Camera

ROOM = np.array([[0.0, 0.0, 0.0], [6.0, 5.0, 2.8]])
CRATE = np.array([[3.6, 2.9, 0.0], [4.5, 3.7, 0.9]])
SUPERSAMPLING = 2


@dataclass(frozen=True)
class RenderedRoom:
    picture: Image.Image
    camera: Camera


def room_camera(
    width: int,
    height: int,
    horizontal_fov_deg: float,
    yaw_deg: float,
    pitch_deg: float,
    principal_shift: tuple[float, float] = (0.0, 0.0),
) -> Camera:
    """A level (no roll) camera 1.5 m high, 2.2 m behind the room's middle, looking across it.

    Yaw turns about +z from +x, pitch tilts up from level, both in degrees; ``principal_shift``
    moves the principal point from the centre by these fractions of the width and height (a
    shifted lens, or a crop).
    """
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    forward = np.array([math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw), math.sin(pitch)])
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    middle = ROOM.mean(axis=0)
    position = np.array([middle[0] - 2.2 * math.cos(yaw), middle[1] - 2.2 * math.sin(yaw), 1.5])
    rotation = np.stack([right, up, -forward])
    view = np.eye(4)
    view[:3, :3] = rotation
    view[:3, 3] = -rotation @ position
    focal = width / 2.0 / math.tan(math.radians(horizontal_fov_deg) / 2.0)
    principal = (width * (0.5 + principal_shift[0]), height * (0.5 + principal_shift[1]))
    return Camera(width, height, focal, principal, view)


def _room_hit(origin, directions):
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(directions > 0, ROOM[1], ROOM[0])
        t = (bound - origin) / directions
    t = np.where(np.isfinite(t) & (t > 0), t, np.inf)
    axis = np.argmin(t, axis=-1)
    positive = np.take_along_axis(directions, axis[..., None], -1)[..., 0] > 0
    return np.min(t, axis=-1), axis * 2 + positive


def _crate_hit(origin, directions):
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (CRATE[0] - origin) / directions
        t2 = (CRATE[1] - origin) / directions
    near = np.nanmax(np.minimum(t1, t2), axis=-1)
    far = np.nanmin(np.maximum(t1, t2), axis=-1)
    hit = (near <= far) & (near > 0)
    return np.where(hit, near, np.inf), np.nanargmax(np.minimum(t1, t2), axis=-1)


def _shade(points, surface, crate_axis):
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    grey = np.full(points.shape[:-1], 0.8)
    wall_x = surface < 2
    wall_y = (surface == 2) | (surface == 3)
    seam_x = (np.abs(y - np.round(y)) < 0.02) | (np.abs(z - 0.9) < 0.03)
    seam_y = (np.abs(x - np.round(x)) < 0.02) | (np.abs(z - 0.9) < 0.03)
    grey = np.where(wall_x, np.where(seam_x, 0.35, 0.78), grey)
    grey = np.where(wall_y, np.where(seam_y, 0.3, 0.66), grey)
    floor = surface == 4
    planks = np.floor(y / 0.3)
    plank_tone = 0.45 + 0.06 * np.sin(planks * 2.7)
    grey = np.where(floor, np.where(np.abs(y / 0.3 - np.round(y / 0.3)) < 0.06, 0.22, plank_tone), grey)
    grey = np.where(surface == 5, 0.92, grey)
    crate = surface == 6
    grey = np.where(crate, np.array([0.55, 0.4, 0.25])[crate_axis], grey)
    return grey


def render_room(camera: Camera, *, clutter: int = 12, seed: int = 0) -> RenderedRoom:
    """The room seen by ``camera`` (grey levels as RGB), 2×2 supersampled, with clutter and noise."""
    width, height = camera.image_size_px
    scale = SUPERSAMPLING
    rows, columns = np.mgrid[0 : height * scale, 0 : width * scale].astype(np.float64)
    pixels = np.stack([(columns + 0.5) / scale, (rows + 0.5) / scale], axis=-1)
    directions = camera.unproject(pixels.reshape(-1, 2), np.ones(pixels.shape[0] * pixels.shape[1]))
    origin = camera.position_world
    directions = directions - origin
    t, surface = _room_hit(origin, directions)
    crate_t, crate_axis = _crate_hit(origin, directions)
    closer = crate_t < t
    t = np.where(closer, crate_t, t)
    surface = np.where(closer, 6, surface)
    grey = _shade(origin + directions * t[:, None], surface, crate_axis).reshape(height * scale, width * scale)

    rng = np.random.default_rng(seed)
    canvas = Image.fromarray(np.round(grey * 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(clutter):
        start = rng.uniform([0, 0], [width * scale, height * scale])
        angle = rng.uniform(0, math.pi)
        length = rng.uniform(0.05, 0.25) * max(width, height) * scale
        end = start + length * np.array([math.cos(angle), math.sin(angle)])
        draw.line([tuple(start), tuple(end)], fill=int(rng.integers(0, 60)), width=2 * scale)
    small = canvas.resize((width, height), Image.BOX)
    noisy = np.asarray(small, dtype=np.float64) + rng.normal(0.0, 1.5, (height, width))
    grey8 = np.clip(np.round(noisy), 0, 255).astype(np.uint8)
    return RenderedRoom(Image.fromarray(np.stack([grey8] * 3, axis=-1)), camera)


def cube_camera(width: int, height: int, horizontal_fov_deg: float, yaw_deg: float, pitch_deg: float, distance: float = 7.0) -> Camera:
    """A level camera ``distance`` from the origin looking at it (yaw from +x about +z, pitch up)."""
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    forward = np.array([math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw), math.sin(pitch)])
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    rotation = np.stack([right, np.cross(right, forward), -forward])
    view = np.eye(4)
    view[:3, :3] = rotation
    view[:3, 3] = rotation @ (distance * forward)
    focal = width / 2.0 / math.tan(math.radians(horizontal_fov_deg) / 2.0)
    return Camera(width, height, focal, (width / 2.0, height / 2.0), view)


def render_cube_over_decoy_grid(camera: Camera, decoy: Camera) -> Image.Image:
    """A grey cube ([-1, 1]³, three shades) on a dark ground, and over it a dashed floor grid
    drawn by another camera, as a 3D viewport shows a grid that does not match the object.

    The grid's dashes are short and many, the cube's edges long and few (three per direction),
    and the two perspectives disagree: only the cube's edges fit one camera.
    """
    width, height = camera.image_size_px
    scale = SUPERSAMPLING
    canvas = Image.new("L", (width * scale, height * scale), 60)
    draw = ImageDraw.Draw(canvas)
    for axis, shade in zip(range(3), (150, 120, 175)):
        u, v = [a for a in range(3) if a != axis]
        for side in (-1.0, 1.0):
            normal = np.zeros(3)
            normal[axis] = side
            if normal @ (camera.position_world - normal) <= 0:
                continue
            corners = np.zeros((4, 3))
            corners[:, axis] = side
            corners[:, [u, v]] = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
            draw.polygon([tuple(p * scale) for p in camera.project(corners)[0]], fill=shade)
    for k in np.arange(-6.0, 6.5):
        for start, end in (((k, -6.0, 0.0), (k, 6.0, 0.0)), ((-6.0, k, 0.0), (6.0, k, 0.0))):
            start, end = np.array(start), np.array(end)
            for t in np.arange(0.0, 1.0, 1.0 / 12.0):
                dash = decoy.project(np.array([start + (end - start) * t, start + (end - start) * (t + 1.0 / 24.0)]))[0]
                draw.line([tuple(p * scale) for p in dash], fill=95, width=scale)
    grey = np.asarray(canvas.resize((width, height), Image.BOX))
    return Image.fromarray(np.stack([grey] * 3, axis=-1))
