"""Camera-matched 3D scenes: depth + picture + camera → a textured surface and its .glb.

Public API: :class:`SceneOptions`, :func:`build_scene` → :class:`Scene`, :func:`glb_bytes`,
:func:`write_scene` (the .glb plus depth PNG, camera JSON and .fspy beside it, atomically).
"""

from lib_depth3d.scene.build import Scene, SceneOptions, build_scene
from lib_depth3d.scene.gltf import glb_bytes
from lib_depth3d.scene.output import SceneFiles, camera_parameters, scene_summary, write_scene

__all__ = [
    "Scene",
    "SceneFiles",
    "SceneOptions",
    "build_scene",
    "camera_parameters",
    "glb_bytes",
    "scene_summary",
    "write_scene",
]
