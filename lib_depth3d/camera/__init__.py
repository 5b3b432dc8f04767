"""Camera model and calibration from vanishing lines (fSpy-compatible).

Each name is imported from its submodule when first used (:mod:`lib_depth3d.lazy_exports`), so
``from lib_depth3d.camera import Camera`` loads neither line detection nor the fSpy reader.
"""

from lib_depth3d.lazy_exports import lazy_exports

_EXPORTS = {
    "DetectionConfidence": "detect",
    "LineDetection": "detect",
    "detect_calibration": "detect",
    "FspyProject": "fspy",
    "calibrate_file": "fspy",
    "camera_from_parameters": "fspy",
    "camera_parameters_json": "fspy",
    "fspy_project_bytes": "fspy",
    "read_camera_parameters": "fspy",
    "read_fspy": "fspy",
    "write_camera_parameters": "fspy",
    "write_fspy": "fspy",
    "CalibrationInput": "inputs",
    "ReferenceDistance": "inputs",
    "VanishingPointLines": "inputs",
    "lines_json": "inputs",
    "parse_lines_json": "inputs",
    "Camera": "model",
    "image_plane_to_pixels": "model",
    "pixels_to_image_plane": "model",
    "Calibration": "solver",
    "calibrate": "solver",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
