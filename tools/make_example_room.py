"""Render the shipped example: a procedural room seen from a known camera.

Writes into ``examples/room/``:

* ``room.png`` — the picture (640×480, 3×3 supersampled ray casting in numpy),
* ``room_depth.npy`` — the exact z-depth (metres, float32) of each pixel centre,
* ``room_lines.json`` — vanishing lines along true room edges, the origin at the floor corner
  and a 1 m reference distance, in the calibration's lines format (pixels),
* ``truth.json`` — the true camera and known 3D corners with their pixels.

Then make the fSpy project with the calibrate command (see docs/scene.md):
``python -m lib_depth3d calibrate --lines examples/room/room_lines.json --image
examples/room/room.png --write-fspy examples/room/room.fspy``.

World frame as fSpy and Blender: Z up, metres; the origin is the room's floor corner that the
camera looks at; walls x = 0 and y = 0 meet there and the room extends toward +x and +y.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image

WIDTH, HEIGHT = 640, 480
HORIZONTAL_FOV_DEG = 70.0
ROOM = np.array([[0.0, 0.0, 0.0], [5.0, 4.0, 2.6]])
CAMERA_POSITION = np.array([4.2, 3.4, 1.55])
LOOK_AT = np.array([0.4, 0.3, 0.75])
BOXES = {
    "crate": np.array([[0.7, 1.7, 0.0], [1.5, 2.5, 0.8]]),
    "pillar": np.array([[2.3, 0.5, 0.0], [2.8, 1.0, 1.3]]),
}
SUPERSAMPLING = 3
REFERENCE_DISTANCE_M = 1.0


def camera_pose(position: np.ndarray, look_at: np.ndarray) -> np.ndarray:
    """world→camera 4×4 of a level camera (no roll) at ``position`` looking at ``look_at``."""
    forward = look_at - position
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    camera_to_world = np.eye(4)
    camera_to_world[:3, :3] = np.stack([right, up, -forward], axis=1)
    camera_to_world[:3, 3] = position
    return np.linalg.inv(camera_to_world)


def focal_length_px() -> float:
    return WIDTH / 2.0 / math.tan(math.radians(HORIZONTAL_FOV_DEG) / 2.0)


def project(world_to_camera: np.ndarray, points: np.ndarray) -> np.ndarray:
    camera = points @ world_to_camera[:3, :3].T + world_to_camera[:3, 3]
    f = focal_length_px()
    return np.stack([WIDTH / 2 + f * camera[:, 0] / -camera[:, 2], HEIGHT / 2 - f * camera[:, 1] / -camera[:, 2]], -1)


def _rays(world_to_camera: np.ndarray, pixels_x: np.ndarray, pixels_y: np.ndarray) -> np.ndarray:
    f = focal_length_px()
    directions_camera = np.stack(
        [(pixels_x - WIDTH / 2) / f, (HEIGHT / 2 - pixels_y) / f, -np.ones_like(pixels_x)], axis=-1
    )
    return directions_camera @ world_to_camera[:3, :3]


def _room_hit(origin: np.ndarray, directions: np.ndarray):
    """Distance (in units of the direction) to the room's inside and the face index hit."""
    with np.errstate(divide="ignore"):
        bound = np.where(directions > 0, ROOM[1], ROOM[0])
        t = (bound - origin) / directions
    t = np.where(np.isfinite(t), t, np.inf)
    axis = np.argmin(t, axis=-1)
    positive = np.take_along_axis(directions, axis[..., None], -1)[..., 0] > 0
    return np.min(t, axis=-1), axis * 2 + positive


def _box_hit(origin: np.ndarray, directions: np.ndarray, box: np.ndarray):
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (box[0] - origin) / directions
        t2 = (box[1] - origin) / directions
    near = np.nanmax(np.minimum(t1, t2), axis=-1)
    far = np.nanmin(np.maximum(t1, t2), axis=-1)
    axis = np.nanargmax(np.minimum(t1, t2), axis=-1)
    hit = (near <= far) & (near > 0)
    return np.where(hit, near, np.inf), axis


def _smooth_noise(u: np.ndarray, v: np.ndarray, seed: int) -> np.ndarray:
    phases = np.random.default_rng(seed).uniform(0, 2 * np.pi, 4)
    return (
        np.sin(1.3 * u + phases[0]) * np.cos(1.7 * v + phases[1])
        + 0.5 * np.sin(3.1 * u - 2.3 * v + phases[2])
        + 0.25 * np.cos(5.3 * u + 4.1 * v + phases[3])
    )


def _shade(points: np.ndarray, surface: np.ndarray, face_axis: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] of each hit from its 3D point, the surface it lies on and its face axis."""
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    colour = np.zeros(points.shape)
    # Room faces: 0/1 = walls x=0 / x=5, 2/3 = walls y=0 / y=4, 4/5 = floor / ceiling.
    floor = surface == 4
    planks = np.floor(y / 0.25)
    tone = 0.55 + 0.08 * np.sin(planks * 2.7) + 0.04 * _smooth_noise(x * 2, planks, 1)
    seam = np.clip(np.abs((y / 0.25) - np.round(y / 0.25)) * 12, 0, 1)
    colour[floor] = (np.stack([tone * 0.95, tone * 0.7, tone * 0.45], -1) * (0.75 + 0.25 * seam[..., None]))[floor]
    ceiling = surface == 5
    colour[ceiling] = 0.9
    wall_x = surface == 0
    band = (np.abs(z - 0.9) < 0.05).astype(float)
    base = 0.75 + 0.05 * _smooth_noise(y * 3, z * 3, 2)
    colour[wall_x] = np.stack([base * 0.7, base * 0.82, base * 0.9], -1)[wall_x] * (1 - 0.35 * band[wall_x, None])
    wall_y = surface == 2
    stripes = 0.5 + 0.5 * np.cos(2 * np.pi * x / 0.4)
    colour[wall_y] = np.stack([0.85 - 0.1 * stripes, 0.75 - 0.05 * stripes, 0.55 + 0.1 * stripes], -1)[wall_y]
    back = (surface == 1) | (surface == 3)
    colour[back] = np.array([0.6, 0.6, 0.65])
    crate = surface == 6
    face_light = np.array([0.8, 0.65, 1.0])[face_axis]
    checker = ((np.floor(x / 0.2) + np.floor(y / 0.2) + np.floor(z / 0.2)) % 2)
    crate_rgb = np.stack([0.8 - 0.15 * checker, 0.35 + 0.1 * checker, 0.2 + 0.0 * checker], -1)
    colour[crate] = (crate_rgb * face_light[..., None])[crate]
    pillar = surface == 7
    colour[pillar] = (np.array([0.3, 0.55, 0.75]) * face_light[..., None])[pillar]
    return colour


def render(
    world_to_camera: np.ndarray, pixels_x: np.ndarray, pixels_y: np.ndarray, origin: np.ndarray = CAMERA_POSITION
):
    """(RGB, z-depth) at continuous pixel positions, seen from ``origin`` (the camera's position
    in ``world_to_camera``; the tests render the room from a camera move's poses too)."""
    directions = _rays(world_to_camera, pixels_x, pixels_y)
    t, surface = _room_hit(origin, directions)
    face_axis = surface // 2
    for index, box in enumerate(BOXES.values()):
        box_t, box_axis = _box_hit(origin, directions, box)
        closer = box_t < t
        t = np.where(closer, box_t, t)
        surface = np.where(closer, 6 + index, surface)
        face_axis = np.where(closer, box_axis, face_axis)
    points = origin + directions * t[..., None]
    return _shade(points, surface, face_axis), t  # the camera-frame z of each direction is −1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=Path(__file__).resolve().parents[1] / "examples" / "room", type=Path)
    output = parser.parse_args().output
    output.mkdir(parents=True, exist_ok=True)
    world_to_camera = camera_pose(CAMERA_POSITION, LOOK_AT)

    rows, columns = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    colour = np.zeros((HEIGHT, WIDTH, 3))
    offsets = (np.arange(SUPERSAMPLING) + 0.5) / SUPERSAMPLING
    for dy in offsets:
        for dx in offsets:
            rgb, _ = render(world_to_camera, columns + dx, rows + dy)
            colour += rgb
    colour /= SUPERSAMPLING**2
    _, zdepth = render(world_to_camera, columns + 0.5, rows + 0.5)
    srgb = np.clip(np.round(colour * 255), 0, 255).astype(np.uint8)
    Image.fromarray(srgb).save(output / "room.png", optimize=True)
    np.save(output / "room_depth.npy", zdepth.astype(np.float32))

    x_max, y_max, z_max = ROOM[1]
    corners = {
        "origin (floor corner)": [0.0, 0.0, 0.0],
        "ceiling corner": [0.0, 0.0, z_max],
        "floor, wall y=0 at x=1": [REFERENCE_DISTANCE_M, 0.0, 0.0],
        "floor, wall x=0 at y=0.5": [0.0, 0.5, 0.0],
        "crate top corner": [1.5, 2.5, 0.8],
        "crate top corner 2": [1.5, 1.7, 0.8],
        "pillar top corner": [2.8, 1.0, 1.3],
    }
    names = list(corners)
    pixels = project(world_to_camera, np.array([corners[n] for n in names]))
    # Lines along true edges, chosen visible (not hidden by the boxes) in this view.
    def segment(a, b):
        return np.round(project(world_to_camera, np.array([a, b])), 3).tolist()

    lines = {
        "version": 1,
        "image": {"width": WIDTH, "height": HEIGHT},
        "mode": "two_vp",
        "rectangle": False,
        "vanishing_points": [
            {"axis": "-x", "segments": [
                segment([1.2, 0.0, 0.0], [0.05, 0.0, 0.0]),
                segment([3.2, 0.0, z_max], [0.05, 0.0, z_max]),
                segment([1.5, 2.5, 0.8], [0.7, 2.5, 0.8]),
            ]},
            {"axis": "-y", "segments": [
                segment([0.0, 0.6, 0.0], [0.0, 0.05, 0.0]),
                segment([0.0, 3.0, z_max], [0.0, 0.05, z_max]),
                segment([2.8, 1.0, 1.3], [2.8, 0.5, 1.3]),
            ]},
        ],
        "principal_point": {"mode": "center"},
        "origin": np.round(pixels[0], 3).tolist(),
        "reference": {
            "axis": "+x",
            "distance": REFERENCE_DISTANCE_M,
            "unit": "m",
            "handles": [np.round(pixels[0], 3).tolist(), np.round(pixels[2], 3).tolist()],
        },
    }
    (output / "room_lines.json").write_text(json.dumps(lines, indent=2) + "\n")
    truth = {
        "description": "True camera and 3D points of examples/room (world: Z up, metres, origin at the floor corner).",
        "image": {"width": WIDTH, "height": HEIGHT},
        "camera": {
            "focal_length_px": focal_length_px(),
            "principal_point_px": [WIDTH / 2, HEIGHT / 2],
            "horizontal_fov_deg": HORIZONTAL_FOV_DEG,
            "position": CAMERA_POSITION.tolist(),
            "world_to_camera": world_to_camera.tolist(),
        },
        "room": ROOM.tolist(),
        "boxes": {name: box.tolist() for name, box in BOXES.items()},
        "points": [
            {"name": n, "world": corners[n], "pixel": pixels[i].tolist()} for i, n in enumerate(names)
        ],
        "planes": {
            "floor": {"axis": 2, "value": 0.0},
            "wall x=0": {"axis": 0, "value": 0.0},
            "wall y=0": {"axis": 1, "value": 0.0},
        },
    }
    (output / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    print(f"wrote {output}: room.png, room_depth.npy, room_lines.json, truth.json")


if __name__ == "__main__":
    main()
