"""The :class:`Camera` value shared by calibration, scene building and export.

Conventions (the same as fSpy, Blender and glTF):

* **Pixels**: continuous coordinates, origin at the top-left corner of the picture, x right,
  y down; the centre of the pixel in column ``c``, row ``r`` is ``(c + 0.5, r + 0.5)``.
* **Image plane** (fSpy's): y up, the longer picture side spans [-1, 1]:
  ``x = (2·px − w) / max(w, h)``, ``y = (h − 2·py) / max(w, h)``.
* **Camera frame**: x right, y up, the camera looks down −z (OpenGL / Blender / glTF).
* **World frame**: right-handed; its axes are whatever the calibration assigned.
* **Depth**: z-depth, the distance along the viewing axis (``−z`` in the camera frame),
  not the distance along the ray.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lib_depth3d.errors import InputError
from lib_depth3d.options import check_field_of_view


def _as_matrix4(values) -> np.ndarray:
    matrix = np.array(values, dtype=np.float64)
    if matrix.shape != (4, 4) or not np.all(np.isfinite(matrix)):
        raise InputError("A camera transform must be a finite 4×4 matrix.")
    return matrix


@dataclass(frozen=True)
class Camera:
    """A pinhole camera with square pixels, matched to a picture.

    Attributes:
        image_width_px, image_height_px: picture size in pixels.
        focal_length_px: focal length in pixels (same for x and y).
        principal_point_px: (x, y) where the optical axis meets the picture, in pixels.
        world_to_camera: 4×4 rigid transform from world to camera frame (fSpy's viewTransform).
    """

    image_width_px: int
    image_height_px: int
    focal_length_px: float
    principal_point_px: tuple[float, float]
    world_to_camera: np.ndarray = field(default_factory=lambda: np.eye(4))

    def __post_init__(self) -> None:
        if int(self.image_width_px) < 1 or int(self.image_height_px) < 1:
            raise InputError("A camera needs a picture of at least 1×1 pixels.")
        if not (math.isfinite(self.focal_length_px) and self.focal_length_px > 0):
            raise InputError("A camera needs a finite, positive focal length.")
        cx, cy = (float(v) for v in self.principal_point_px)
        if not (math.isfinite(cx) and math.isfinite(cy)):
            raise InputError("A camera needs a finite principal point.")
        object.__setattr__(self, "image_width_px", int(self.image_width_px))
        object.__setattr__(self, "image_height_px", int(self.image_height_px))
        object.__setattr__(self, "focal_length_px", float(self.focal_length_px))
        object.__setattr__(self, "principal_point_px", (cx, cy))
        matrix = _as_matrix4(self.world_to_camera)
        matrix.setflags(write=False)
        object.__setattr__(self, "world_to_camera", matrix)

    # --- construction -------------------------------------------------------------------
    @classmethod
    def from_fov(
        cls,
        image_width_px: int,
        image_height_px: int,
        horizontal_fov_deg: float,
        world_to_camera: np.ndarray | None = None,
    ) -> "Camera":
        """A camera with the given horizontal field of view (degrees) and a centred principal point."""
        check_field_of_view(horizontal_fov_deg)
        focal = image_width_px / 2.0 / math.tan(math.radians(horizontal_fov_deg) / 2.0)
        return cls(
            image_width_px,
            image_height_px,
            focal,
            (image_width_px / 2.0, image_height_px / 2.0),
            np.eye(4) if world_to_camera is None else world_to_camera,
        )

    @classmethod
    def from_image_plane(
        cls,
        image_width_px: int,
        image_height_px: int,
        relative_focal_length: float,
        principal_point_image_plane: tuple[float, float],
        world_to_camera: np.ndarray,
    ) -> "Camera":
        """Build from fSpy's quantities (relative focal length, principal point on the image plane)."""
        half_long_side = max(image_width_px, image_height_px) / 2.0
        px, py = principal_point_image_plane
        return cls(
            image_width_px,
            image_height_px,
            relative_focal_length * half_long_side,
            (image_width_px / 2.0 + px * half_long_side, image_height_px / 2.0 - py * half_long_side),
            world_to_camera,
        )

    # --- derived quantities -------------------------------------------------------------
    @property
    def image_size_px(self) -> tuple[int, int]:
        return self.image_width_px, self.image_height_px

    @property
    def half_long_side_px(self) -> float:
        return max(self.image_width_px, self.image_height_px) / 2.0

    @property
    def relative_focal_length(self) -> float:
        """fSpy's focal length: pixels divided by half the longer picture side."""
        return self.focal_length_px / self.half_long_side_px

    @property
    def principal_point_image_plane(self) -> tuple[float, float]:
        """The principal point in fSpy's image-plane coordinates (y up, long side in [-1, 1])."""
        return pixels_to_image_plane(
            np.array([self.principal_point_px]), self.image_width_px, self.image_height_px
        )[0].tolist()

    @property
    def horizontal_fov_rad(self) -> float:
        """Angle subtended by the picture's width for a centred optical axis (Blender's sensor FOV)."""
        return 2.0 * math.atan(self.image_width_px / 2.0 / self.focal_length_px)

    @property
    def vertical_fov_rad(self) -> float:
        """Angle subtended by the picture's height for a centred optical axis (glTF's yfov)."""
        return 2.0 * math.atan(self.image_height_px / 2.0 / self.focal_length_px)

    def focal_length_mm(self, sensor_long_side_mm: float = 36.0) -> float:
        """Focal length in mm for a sensor whose longer side (mm) spans the picture's longer side."""
        return self.focal_length_px * sensor_long_side_mm / (2.0 * self.half_long_side_px)

    @property
    def camera_to_world(self) -> np.ndarray:
        """4×4 transform from camera to world frame (fSpy's cameraTransform)."""
        return invert_rigid(self.world_to_camera)

    @property
    def position_world(self) -> np.ndarray:
        """The camera centre in world coordinates."""
        return self.camera_to_world[:3, 3].copy()

    @property
    def intrinsics_px(self) -> np.ndarray:
        """3×3 matrix K mapping camera-frame directions (x right, y *down*, z forward) to pixels."""
        cx, cy = self.principal_point_px
        f = self.focal_length_px
        return np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])

    # --- projection ---------------------------------------------------------------------
    def world_to_camera_points(self, points_world: np.ndarray) -> np.ndarray:
        """Transform N×3 world points to the camera frame."""
        points = np.asarray(points_world, dtype=np.float64)
        return points @ self.world_to_camera[:3, :3].T + self.world_to_camera[:3, 3]

    def project(self, points_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project N×3 world points; return (N×2 pixel coordinates, N z-depths).

        Points behind the camera get a depth ≤ 0 and meaningless pixels: check the depth.
        """
        points_camera = self.world_to_camera_points(points_world)
        depth = -points_camera[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            x = self.focal_length_px * points_camera[:, 0] / depth
            y = self.focal_length_px * points_camera[:, 1] / depth
        cx, cy = self.principal_point_px
        return np.stack([cx + x, cy - y], axis=-1), depth

    def unproject(self, pixels: np.ndarray, depth: np.ndarray, frame: str = "world") -> np.ndarray:
        """Lift N×2 pixel coordinates with N z-depths to N×3 points in ``frame`` ('world' or 'camera')."""
        pixels = np.asarray(pixels, dtype=np.float64)
        depth = np.asarray(depth, dtype=np.float64)
        cx, cy = self.principal_point_px
        points_camera = np.stack(
            [
                (pixels[..., 0] - cx) / self.focal_length_px * depth,
                (cy - pixels[..., 1]) / self.focal_length_px * depth,
                -depth,
            ],
            axis=-1,
        )
        if frame == "camera":
            return points_camera
        if frame != "world":
            raise ValueError(f"frame must be 'world' or 'camera', not {frame!r}")
        to_world = self.camera_to_world
        return points_camera @ to_world[:3, :3].T + to_world[:3, 3]


def invert_rigid(transform: np.ndarray) -> np.ndarray:
    """Inverse of a 4×4 rigid transform [R | t] (exact: Rᵀ, −Rᵀt), falling back to a general inverse."""
    transform = np.asarray(transform, dtype=np.float64)
    rotation = transform[:3, :3]
    if np.allclose(rotation.T @ rotation, np.eye(3), atol=1e-9) and np.allclose(
        transform[3], [0, 0, 0, 1]
    ):
        inverse = np.eye(4)
        inverse[:3, :3] = rotation.T
        inverse[:3, 3] = -rotation.T @ transform[:3, 3]
        return inverse
    return np.linalg.inv(transform)


def pixels_to_image_plane(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """N×2 pixel coordinates → fSpy image-plane coordinates (y up, longer side in [-1, 1])."""
    pixels = np.asarray(pixels, dtype=np.float64)
    long_side = max(width, height)
    return np.stack(
        [(2.0 * pixels[..., 0] - width) / long_side, (height - 2.0 * pixels[..., 1]) / long_side],
        axis=-1,
    )


def image_plane_to_pixels(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """fSpy image-plane coordinates → N×2 pixel coordinates (inverse of :func:`pixels_to_image_plane`)."""
    points = np.asarray(points, dtype=np.float64)
    long_side = max(width, height)
    return np.stack(
        [(points[..., 0] * long_side + width) / 2.0, (height - points[..., 1] * long_side) / 2.0],
        axis=-1,
    )
