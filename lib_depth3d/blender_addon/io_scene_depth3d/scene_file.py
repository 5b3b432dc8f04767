"""What a Depth3D ``.glb`` tells Blender, read from the file's glTF JSON (plain Python, no bpy).

Blender's glTF importer builds the objects; this module reads what it leaves aside or cannot
know in advance: the Blender camera settings in the camera's ``extras.depth3d.blender`` (lens,
sensor, lens shift, render size — fSpy-Blender's settings, exact for an off-centre principal
point) and the timing of the camera animation, which the importer converts to frames at the
scene's frame rate *at import time*, so the rate has to be set before the import.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass

GLB_MAGIC = b"glTF"
JSON_CHUNK = b"JSON"


class SceneFileError(Exception):
    """A file that is not a Depth3D scene; the message says what to do instead."""


@dataclass(frozen=True)
class BlenderCamera:
    """Blender camera and render settings that frame exactly the picture (lengths in mm)."""

    lens_mm: float
    sensor_width_mm: float
    sensor_fit: str
    shift_x: float
    shift_y: float
    resolution_px: tuple[int, int]


@dataclass(frozen=True)
class CameraMove:
    """The camera animation's keys: first and last key time in seconds, and keys per second."""

    name: str
    start_s: float
    end_s: float
    keys_per_second: float

    @property
    def frames_per_second(self) -> int:
        """The whole frame rate closest to the key rate (Blender's ``render.fps``)."""
        return max(1, round(self.keys_per_second))

    @property
    def frame_range(self) -> tuple[int, int]:
        """First and last frame of the move at :attr:`frames_per_second`; frame f is time f / fps."""
        fps = self.frames_per_second
        return round(self.start_s * fps), round(self.end_s * fps)


@dataclass(frozen=True)
class SceneFile:
    """A Depth3D scene's camera settings and, when the file has one, its camera animation."""

    camera: BlenderCamera
    move: CameraMove | None


def read_gltf_json(path: str) -> dict:
    """The glTF JSON chunk of the ``.glb`` at ``path``."""
    name = os.path.basename(path)
    try:
        with open(path, "rb") as file:
            header = file.read(20)
            if len(header) < 20 or header[:4] != GLB_MAGIC:
                raise SceneFileError(f"{name} is not a binary glTF file: choose the .glb that Depth3D wrote.")
            chunk_length, chunk_type = struct.unpack("<I4s", header[12:20])
            if chunk_type != JSON_CHUNK:
                raise SceneFileError(f"{name} has no glTF JSON chunk first: choose the .glb that Depth3D wrote.")
            return json.loads(file.read(chunk_length).decode("utf-8"))
    except OSError as error:
        raise SceneFileError(f"{name} cannot be read ({error.strerror}): choose another file.") from error
    except (UnicodeDecodeError, ValueError) as error:
        raise SceneFileError(f"{name} holds broken glTF JSON: write the scene again with Depth3D.") from error


def scene_file(document: dict, name: str) -> SceneFile:
    """The Depth3D camera and move of the glTF ``document`` (from the file ``name``)."""
    nodes = document.get("nodes", [])
    cameras = document.get("cameras", [])
    camera_nodes = [
        index for index, node in enumerate(nodes)
        if "camera" in node and "depth3d" in cameras[node["camera"]].get("extras", {})
    ]
    if not camera_nodes:
        raise SceneFileError(
            f"{name} has no Depth3D camera: import it with File > Import > glTF 2.0, "
            "or write it again with Depth3D's scene command."
        )
    settings = cameras[nodes[camera_nodes[0]]["camera"]]["extras"]["depth3d"]["blender"]
    camera = BlenderCamera(
        lens_mm=float(settings["lens"]),
        sensor_width_mm=float(settings["sensor_width"]),
        sensor_fit=str(settings["sensor_fit"]),
        shift_x=float(settings["shift_x"]),
        shift_y=float(settings["shift_y"]),
        resolution_px=(int(settings["resolution_x"]), int(settings["resolution_y"])),
    )
    return SceneFile(camera=camera, move=_camera_move(document, camera_nodes[0]))


def _camera_move(document: dict, camera_node: int) -> CameraMove | None:
    accessors = document.get("accessors", [])
    for animation in document.get("animations", []):
        inputs = {
            animation["samplers"][channel["sampler"]]["input"]
            for channel in animation.get("channels", [])
            if channel.get("target", {}).get("node") == camera_node
        }
        if not inputs:
            continue
        times = [accessors[index] for index in sorted(inputs)]
        start_s = min(float(accessor["min"][0]) for accessor in times)
        end_s = max(float(accessor["max"][0]) for accessor in times)
        keys = max(accessor["count"] for accessor in times)
        duration = end_s - start_s
        keys_per_second = (keys - 1) / duration if keys > 1 and duration > 0 else 1.0
        return CameraMove(animation.get("name", "camera"), start_s, end_s, keys_per_second)
    return None


def read_scene_file(path: str) -> SceneFile:
    """The Depth3D scene at ``path`` (a ``.glb``); :class:`SceneFileError` when it is not one."""
    name = os.path.basename(path)
    document = read_gltf_json(path)
    try:
        return scene_file(document, name)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as error:
        raise SceneFileError(
            f"{name} has a Depth3D camera or animation with missing or broken fields: "
            "write the scene again with Depth3D's scene command."
        ) from error
