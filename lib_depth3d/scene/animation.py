"""Camera moves stored as a glTF animation of the camera node (glTF world, Y up).

* ``walk``: straight ahead at constant speed along the viewing direction projected onto the
  ground (the height stays the same), like a person walking into the picture.
* ``dolly``: along the optical axis into the scene and back out, eased, ending where it began.
* ``orbit``: the camera swings left and right around the scene point on its optical axis at
  the median depth, turning to keep looking at it, and returns to its start.

``speed`` is in scene units per second for ``walk`` and ``dolly`` (the dolly's average speed
over the way in and out) and in degrees per second for ``orbit`` (average angular speed);
``None`` picks a move proportionate to the scene: a walk and a dolly reach 40 % of the
median depth, an orbit swings ±15°.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lib_depth3d.errors import SceneError
from lib_depth3d.scene.frames import quaternion_from_rotation, rotation_from_quaternion

ANIMATIONS: tuple[str, ...] = ("walk", "dolly", "orbit")
KEYS_PER_SECOND = 30


@dataclass(frozen=True)
class CameraAnimation:
    """Keyframes of the camera node, interpolated linearly.

    Attributes:
        name: 'walk', 'dolly' or 'orbit'.
        times_s: (K,) float32 key times in seconds, from 0.
        translations: (K, 3) float32 node translations (glTF world).
        rotations_xyzw: (K, 4) float32 unit quaternions.
        travel: distance (scene units) or swing (degrees) the move reaches.
    """

    name: str
    times_s: np.ndarray
    translations: np.ndarray
    rotations_xyzw: np.ndarray
    travel: float


def _about_y(angle_rad: float) -> np.ndarray:
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def camera_animation(
    name: str,
    translation: np.ndarray,
    rotation_xyzw: np.ndarray,
    median_depth: float,
    seconds: float,
    speed: float | None,
) -> CameraAnimation:
    """Keyframes of move ``name`` starting from the camera node's pose (see the module docstring)."""
    if name not in ANIMATIONS:
        raise SceneError(f"Unknown animation {name!r}; use one of {', '.join(ANIMATIONS)}.")
    if not (math.isfinite(seconds) and 0 < seconds <= 600):
        raise SceneError(f"The animation length must be between 0 and 600 seconds, got {seconds:g}.")
    if speed is not None and not (math.isfinite(speed) and speed > 0):
        raise SceneError(f"The animation speed must be a positive number, got {speed:g}.")
    rotation = rotation_from_quaternion(rotation_xyzw)
    forward = -rotation[:, 2]
    count = max(2, int(round(seconds * KEYS_PER_SECOND)) + 1)
    # Keys exactly 1/KEYS_PER_SECOND apart (the move's length rounded to a whole number of them), so
    # that a player running at that rate, Blender's add-on, lands every key on a whole frame.
    seconds = (count - 1) / KEYS_PER_SECOND
    times = np.arange(count) / KEYS_PER_SECOND
    phase = times / seconds
    rotations = np.repeat(np.asarray(rotation_xyzw, dtype=np.float64)[None], count, axis=0)

    if name == "walk":
        ground = forward - np.array([0.0, forward[1], 0.0])
        direction = ground / np.linalg.norm(ground) if np.linalg.norm(ground) > 1e-3 else forward
        travel = speed * seconds if speed is not None else 0.4 * median_depth
        translations = translation + np.outer(phase * travel, direction)
    elif name == "dolly":
        travel = speed * seconds / 2.0 if speed is not None else 0.4 * median_depth
        eased = 0.5 * (1.0 - np.cos(2.0 * math.pi * phase))
        translations = translation + np.outer(eased * travel, forward)
    else:
        travel = speed * seconds / 4.0 if speed is not None else 15.0
        if travel >= 90.0:
            raise SceneError(
                f"An orbit of ±{travel:g}° would show the back of the scene; lower the speed or length."
            )
        pivot = translation + forward * median_depth
        angles = np.radians(travel) * np.sin(2.0 * math.pi * phase)
        turns = np.stack([_about_y(angle) for angle in angles])
        translations = pivot + np.einsum("kij,j->ki", turns, translation - pivot)
        rotations = np.stack([quaternion_from_rotation(turn @ rotation) for turn in turns])
        # q and −q are the same turn; keep neighbours on one side so interpolation takes the short way.
        flips = np.cumsum(np.einsum("ki,ki->k", rotations[1:], rotations[:-1]) < 0) % 2 == 1
        rotations[1:][flips] *= -1.0
    return CameraAnimation(
        name,
        times.astype(np.float32),
        translations.astype(np.float32),
        rotations.astype(np.float32),
        float(travel),
    )
