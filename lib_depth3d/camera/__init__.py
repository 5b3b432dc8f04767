"""Camera model and calibration from vanishing lines (fSpy-compatible)."""

from lib_depth3d.camera.model import Camera, image_plane_to_pixels, pixels_to_image_plane

__all__ = ["Camera", "image_plane_to_pixels", "pixels_to_image_plane"]
