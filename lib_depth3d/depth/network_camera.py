"""The pinhole camera a depth network estimated (or was given) for its input picture.

Its own module so that reading a depth file's camera (:mod:`lib_depth3d.depth.depthmap`) and the
composer (:mod:`lib_depth3d.pipeline`) need not load the model table of
:mod:`lib_depth3d.depth.registry`, which re-exports it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class NetworkCamera:
    """Pinhole intrinsics a network estimated for an image of ``image_size_px`` (width, height).

    Pixel coordinates: x right, y down, origin at the top-left corner of the top-left pixel, so
    the image spans [0, width] × [0, height]. Focal lengths may differ along x and y.
    """

    image_size_px: tuple[int, int]
    focal_length_px: tuple[float, float]
    principal_point_px: tuple[float, float]

    @classmethod
    def from_horizontal_fov(cls, width: int, height: int, fov_deg: float) -> NetworkCamera:
        """A centred camera with square pixels seeing ``fov_deg`` degrees across the image's width."""
        focal = width / 2 / math.tan(math.radians(fov_deg) / 2)
        return cls((width, height), (focal, focal), (width / 2, height / 2))

    @property
    def horizontal_fov_deg(self) -> float:
        """Degrees seen across the image's width (a centred principal point assumed)."""
        return math.degrees(2 * math.atan(self.image_size_px[0] / 2 / self.focal_length_px[0]))

    def resized(self, width: int, height: int) -> NetworkCamera:
        """The same camera for the image stretched to ``width`` × ``height`` pixels."""
        scale_x, scale_y = width / self.image_size_px[0], height / self.image_size_px[1]
        return NetworkCamera(
            (width, height),
            (self.focal_length_px[0] * scale_x, self.focal_length_px[1] * scale_y),
            (self.principal_point_px[0] * scale_x, self.principal_point_px[1] * scale_y),
        )
