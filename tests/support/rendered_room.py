"""Rooms rendered analytically (exact z-depth) with a known calibrated camera, the disparity a
relative depth network would give for them, and the figures measured on a depth against the
room's truth (angles of its sides, flatness, a 1 m reference) by the fit's tests and benchmark.

The world is fSpy's: Z up, the floor is ``z = 0`` and the origin is the floor corner where the
walls ``x = 0`` and ``y = 0`` meet. A ball on the floor adds a surface of no calibrated
orientation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lib_depth3d.camera import Camera

ROOM_SIZE_M = (5.0, 4.0, 2.6)
BALL_CENTRE_M = (2.8, 1.4, 0.45)
BALL_RADIUS_M = 0.45
CELL_PX = 8  # the 'small cells' the flatness is averaged over


@dataclass(frozen=True)
class RenderedRoom:
    """A camera in the room and what it sees.

    Attributes:
        camera: the calibrated camera; its world unit is metres.
        zdepth: (H, W) exact z-depth of each pixel centre, metres.
        labels: (H, W) which side of the room the pixel sees: the world axis (0, 1, 2) of the
            wall ``x = 0``, the wall ``y = 0`` or the floor; 3, 4, 5 for the opposite walls
            ``x = 5``, ``y = 4`` and the ceiling; −1 on the ball.
    """

    camera: Camera
    zdepth: np.ndarray
    labels: np.ndarray


def look_from(position_m, yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """world_to_camera for a level camera at ``position_m`` turned ``yaw_deg`` from looking
    towards −x −y (the origin corner) and pitched ``pitch_deg`` down."""
    yaw, pitch = math.radians(yaw_deg + 225.0), math.radians(pitch_deg)
    forward = np.array([math.cos(yaw) * math.cos(pitch), math.sin(yaw) * math.cos(pitch), -math.sin(pitch)])
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    rotation = np.stack([right, up, -forward])  # rows: camera x, y, z axes in world coordinates
    world_to_camera = np.eye(4)
    world_to_camera[:3, :3] = rotation
    world_to_camera[:3, 3] = -rotation @ np.asarray(position_m, dtype=np.float64)
    return world_to_camera


def render_room(
    width: int, height: int, horizontal_fov_deg: float, yaw_deg: float, pitch_deg: float,
    position_m=(3.8, 3.1, 1.5),
) -> RenderedRoom:
    """Ray-cast the room (and the ball) through every pixel centre."""
    camera = Camera.from_fov(width, height, horizontal_fov_deg, look_from(position_m, yaw_deg, pitch_deg))
    rows, columns = np.mgrid[0:height, 0:width] + 0.5
    cx, cy = camera.principal_point_px
    rays_camera = np.stack(
        [(columns - cx) / camera.focal_length_px, (cy - rows) / camera.focal_length_px, -np.ones_like(rows)], -1
    )
    rays_world = rays_camera @ camera.world_to_camera[:3, :3]  # Rᵀ r, per pixel; |z-component| = 1 in camera
    centre = camera.position_world
    limits = np.array(ROOM_SIZE_M)
    with np.errstate(divide="ignore"):
        hits = np.where(rays_world > 0, (limits - centre) / rays_world, -centre / rays_world)
    hits[~np.isfinite(hits)] = np.inf
    zdepth = hits.min(axis=-1)
    axis = hits.argmin(axis=-1)
    lower_side = np.take_along_axis(rays_world, axis[..., None], -1)[..., 0] < 0
    labels = np.where(lower_side, axis, axis + 3)

    offset = centre - np.array(BALL_CENTRE_M)
    b = rays_world @ offset
    a = np.einsum("...i,...i", rays_world, rays_world)
    disc = b**2 - a * (offset @ offset - BALL_RADIUS_M**2)
    ball = (-b - np.sqrt(np.maximum(disc, 0))) / a
    on_ball = (disc > 0) & (ball > 0) & (ball < zdepth)
    zdepth = np.where(on_ball, ball, zdepth)
    labels = np.where(on_ball, -1, labels)
    return RenderedRoom(camera, zdepth, labels)


def smooth_field(height: int, width: int, rng: np.random.Generator, periods: float = 1.0) -> np.ndarray:
    """A smooth random field in [−1, 1]: a few waves of at most ``periods`` periods across the
    picture's longer side (along each axis)."""
    rows, columns = np.mgrid[0:height, 0:width]
    v, u = rows / max(height, width), columns / max(height, width)
    field = np.zeros((height, width))
    for _ in range(4):
        fu, fv = rng.uniform(-periods, periods, 2)
        field += np.cos(2 * math.pi * (fu * u + fv * v) + rng.uniform(0, 2 * math.pi))
    return field / np.abs(field).max()


def network_disparity(
    zdepth: np.ndarray, scale: float, shift: float, noise: float, bias: float, seed: int = 0, periods: float = 1.0
) -> np.ndarray:
    """``scale / z + shift`` as a network gives it: plus white noise with a standard deviation of
    ``noise`` times the range of ``scale / z``, and a smooth bias of up to ``± bias`` of that range
    (waves of at most ``periods`` periods across the picture)."""
    rng = np.random.default_rng(seed)
    clean = scale / zdepth
    spread = float(clean.max() - clean.min())
    disturbance = noise * rng.standard_normal(zdepth.shape) + bias * smooth_field(*zdepth.shape, rng, periods)
    return (clean + shift + spread * disturbance).astype(np.float32)


def _cell_means(values: np.ndarray) -> np.ndarray:
    height, width = values.shape[:2]
    rows, columns = height // CELL_PX, width // CELL_PX
    cropped = values[: rows * CELL_PX, : columns * CELL_PX]
    return cropped.reshape(rows, CELL_PX, columns, CELL_PX, *values.shape[2:]).mean(axis=(1, 3))


def measured_planes(room, zdepth: np.ndarray) -> dict[int, tuple[float, float]]:
    """{room side: (angle to its calibrated orientation in degrees, flatness)} for each side that
    fills at least 5 % of the picture: points averaged over 8×8 px cells that see only that side,
    flatness = RMS distance from their best-fit plane / the room's true depth range."""
    height, width = zdepth.shape
    rows, columns = np.mgrid[0:height, 0:width] + 0.5
    points = room.camera.unproject(np.stack([columns, rows], -1).reshape(-1, 2), zdepth.reshape(-1), frame="camera")
    cell_points = _cell_means(points.reshape(height, width, 3))
    depth_range = float(room.zdepth.max() - room.zdepth.min())
    figures = {}
    for side in range(6):
        whole = _cell_means((room.labels == side).astype(np.float64)) == 1.0
        if whole.mean() < 0.05:
            continue
        on_side = cell_points[whole]
        centred = on_side - on_side.mean(axis=0)
        normal = np.linalg.svd(centred, full_matrices=False)[2][2]
        calibrated = room.camera.world_to_camera[:3, side % 3]
        angle = math.degrees(math.acos(min(1.0, abs(float(normal @ calibrated)))))
        figures[side] = (angle, float(np.sqrt(np.mean((centred @ normal) ** 2))) / depth_range)
    return figures


def reference_ends(room) -> np.ndarray:
    """Two floor points 1 m apart along x, well inside the floor's part of the picture (2×3, metres)."""
    height, width = room.labels.shape
    best = None
    for x in np.arange(0.25, 4.0, 0.25):
        for y in np.arange(0.25, 3.75, 0.25):
            ends = np.array([[x, y, 0.0], [x + 1.0, y, 0.0]])
            pixels, depth = room.camera.project(ends)
            if not np.all(depth > 0):
                continue
            rows, columns = pixels[:, 1].astype(int), pixels[:, 0].astype(int)
            inside = np.all((rows >= 8) & (rows < height - 8) & (columns >= 8) & (columns < width - 8))
            if inside and all(np.all(room.labels[r - 4 : r + 5, c - 4 : c + 5] == 2) for r, c in zip(rows, columns)):
                spread = float(np.linalg.norm(pixels[1] - pixels[0]))
                if best is None or spread > best[0]:
                    best = (spread, ends)
    assert best is not None, "no 1 m of floor in view"
    return best[1]


def _floor_zdepth_at(zdepth: np.ndarray, pixel: np.ndarray) -> float:
    """z-depth at a floor pixel from the 9×9 px around it (all floor, as reference_ends chooses):
    inverse depth is affine in pixels on a plane, so a plane fitted to it there and evaluated at
    the pixel averages the depth's pixel noise over about a small cell, as the flatness does."""
    u, v = pixel - 0.5
    column, row = int(round(u)), int(round(v))
    rows, columns = np.mgrid[row - 4 : row + 5, column - 4 : column + 5]
    inverse = 1.0 / zdepth[row - 4 : row + 5, column - 4 : column + 5].astype(np.float64)
    design = np.stack([columns.ravel() - u, rows.ravel() - v, np.ones(rows.size)], axis=1)
    return 1.0 / float(np.linalg.lstsq(design, inverse.ravel(), rcond=None)[0][2])


def reference_error(room, zdepth: np.ndarray) -> float:
    """Relative error of 1 m along the floor, measured on the depth."""
    pixels, _ = room.camera.project(reference_ends(room))
    depths = np.array([_floor_zdepth_at(zdepth, p) for p in pixels])
    ends = room.camera.unproject(pixels, depths)
    return abs(float(np.linalg.norm(ends[1] - ends[0])) - 1.0)


ASPECT_RATIOS = ((4, 3), (3, 4), (16, 9), (9, 16), (1, 1), (3, 2))


@dataclass(frozen=True)
class RandomView:
    """A view drawn at random for the fit's checks, and the disparity's shift and noise seed."""

    width: int
    height: int
    yaw_deg: float
    pitch_deg: float
    shift_in_near_disparities: float  # b over the nearest a/z
    seed: int

    def room(self) -> RenderedRoom:
        return render_room(self.width, self.height, 70.0, self.yaw_deg, self.pitch_deg)


def random_views(count: int, long_side_px: int, seed: int) -> list[RandomView]:
    """``count`` views of the room: aspect ratio, yaw (−45° to 45°) and pitch (0° to 35° down)
    drawn at random, each kept if the floor fills 5 % of the picture with 1 m of it in view (what
    the figures measure); the shift b log-uniform from 0.01 to 100 nearest a/z."""
    rng = np.random.default_rng(seed)
    views: list[RandomView] = []
    while len(views) < count:
        across, down = ASPECT_RATIOS[rng.integers(len(ASPECT_RATIOS))]
        width = long_side_px if across >= down else long_side_px * across // down
        height = long_side_px if down >= across else long_side_px * down // across
        view = RandomView(
            width, height, round(float(rng.uniform(-45.0, 45.0)), 1), round(float(rng.uniform(0.0, 35.0)), 1),
            round(float(10.0 ** rng.uniform(-2.0, 2.0)), 3), int(rng.integers(1 << 31)),
        )
        room = view.room()
        if 2 in measured_planes(room, room.zdepth) and _has_reference(room):
            views.append(view)
    return views


def _has_reference(room) -> bool:
    try:
        reference_ends(room)
    except AssertionError:
        return False
    return True


def room_picture(room: RenderedRoom) -> np.ndarray:
    """(H, W, 3) uint8 colours of what each pixel centre sees: a colour per side of the room and
    the ball, with a smooth pattern fixed to the surfaces (periods of 0.3–0.5 m), so a view from
    anywhere sees the same colours on the same points; one sample per pixel, hard edges."""
    height, width = room.zdepth.shape
    rows, columns = np.mgrid[0:height, 0:width] + 0.5
    points = room.camera.unproject(np.stack([columns, rows], -1).reshape(-1, 2), room.zdepth.reshape(-1))
    x, y, z = points.T.reshape(3, height, width)
    base = np.array([[190, 120, 90], [90, 150, 200], [140, 130, 110], [200, 190, 120], [120, 190, 140],
                     [225, 225, 225], [220, 60, 50]], dtype=np.float64)
    pattern = np.sin(2 * np.pi * (x + 0.5 * z) / 0.4) * np.sin(2 * np.pi * (y - 0.3 * z) / 0.5)
    pattern += 0.5 * np.sin(2 * np.pi * (x + y + z) / 0.3)
    colours = base[np.where(room.labels < 0, 6, room.labels)] + 25 * pattern[..., None] * np.array([1.0, 0.8, 0.6])
    return np.clip(np.round(colours), 0, 255).astype(np.uint8)
