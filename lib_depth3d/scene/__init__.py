"""Camera-matched 3D scenes: depth + picture + camera → a textured surface and its .glb.

Public API: :class:`SceneOptions`, :func:`build_scene` → :class:`Scene`, :func:`glb_bytes`,
:func:`write_scene` (the .glb plus depth PNG, camera JSON and .fspy beside it, as one set; the
writers by suffix in :data:`SCENE_WRITERS`) → :class:`SceneFiles`, :func:`scene_summary`.
Each name is imported from its submodule when first used (:mod:`lib_depth3d.lazy_exports`).
"""

from lib_depth3d.lazy_exports import lazy_exports

_EXPORTS = {
    "Scene": "build",
    "SceneOptions": "build",
    "build_scene": "build",
    "glb_bytes": "gltf",
    "SCENE_WRITERS": "output",
    "SceneFiles": "output",
    "SceneOutput": "output",
    "camera_parameters": "output",
    "check_scene_output": "output",
    "scene_summary": "output",
    "write_scene": "output",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
