"""Camera model and calibration from vanishing lines (fSpy-compatible)."""

from lib_depth3d.camera.detect import DetectionConfidence, LineDetection, detect_calibration
from lib_depth3d.camera.fspy import (
    FspyProject,
    calibrate_file,
    camera_from_parameters,
    camera_parameters_json,
    fspy_project_bytes,
    read_camera_parameters,
    read_fspy,
    write_camera_parameters,
    write_fspy,
)
from lib_depth3d.camera.inputs import (
    CalibrationInput,
    ReferenceDistance,
    VanishingPointLines,
    lines_json,
    parse_lines_json,
)
from lib_depth3d.camera.model import Camera, image_plane_to_pixels, pixels_to_image_plane
from lib_depth3d.camera.solver import Calibration, calibrate

__all__ = [
    "Calibration",
    "CalibrationInput",
    "Camera",
    "DetectionConfidence",
    "FspyProject",
    "LineDetection",
    "ReferenceDistance",
    "VanishingPointLines",
    "calibrate",
    "calibrate_file",
    "camera_from_parameters",
    "camera_parameters_json",
    "detect_calibration",
    "fspy_project_bytes",
    "image_plane_to_pixels",
    "lines_json",
    "parse_lines_json",
    "pixels_to_image_plane",
    "read_camera_parameters",
    "read_fspy",
    "write_camera_parameters",
    "write_fspy",
]
