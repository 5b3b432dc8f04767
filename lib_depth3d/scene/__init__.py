"""Camera-matched 3D scenes: depth + picture + camera → a textured surface and its .glb.

Public API: :class:`SceneOptions`, :func:`build_scene` → :class:`Scene`, :func:`glb_bytes`,
:func:`write_scene` (the .glb plus depth PNG, camera JSON and .fspy beside it, as one set; the
writers by suffix in :data:`SCENE_WRITERS`) → :class:`SceneFiles`, :func:`scene_summary`.
"""

from lib_depth3d.scene.build import Scene, SceneOptions, build_scene
from lib_depth3d.scene.gltf import glb_bytes
from lib_depth3d.scene.output import (
    SCENE_WRITERS,
    SceneFiles,
    SceneOutput,
    camera_parameters,
    check_scene_output,
    scene_summary,
    write_scene,
)

__all__ = [
    "SCENE_WRITERS",
    "Scene",
    "SceneFiles",
    "SceneOptions",
    "SceneOutput",
    "build_scene",
    "camera_parameters",
    "check_scene_output",
    "glb_bytes",
    "scene_summary",
    "write_scene",
]
