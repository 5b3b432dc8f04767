"""Every user-facing setting's default and range, defined once.

The command line's help, the HTTP API's schema, the Depth 3D tab's widgets and the accordion all
read them from here, so they cannot drift apart. Plain Python (no numpy, no PIL): the command
line builds its help from it at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lib_depth3d.errors import InputError

DEFAULT_FOV_DEG = 55.0
"""Horizontal field of view assumed when neither a calibration nor a field of view is given."""

FIELD_OF_VIEW_RANGE_DEG = (1.0, 179.0)
"""The horizontal fields of view a user may ask for, in degrees (inclusive)."""

MIN_RESOLUTION = 2
"""The fewest vertex samples on the picture's longer side."""

MAX_SERVED_GRID_SIDE = 2048
"""The largest grid (samples on the longer side) a server builds — the HTTP API and the tab (the
command line allows a vertex per pixel, up to 4096²): a full-resolution 4096² scene took 5 GB in
``bench/api.py``."""

TEXTURE_FORMATS = ("source", "png", "jpeg")
"""How the picture is embedded: 'source' keeps the picture file's encoding (its own bytes when
the scene shows it unchanged), 'png' and 'jpeg' encode it so."""


def check_field_of_view(degrees: float) -> float:
    """``degrees`` as a float when it is a field of view a user may ask for; :class:`InputError` otherwise."""
    low, high = FIELD_OF_VIEW_RANGE_DEG
    if isinstance(degrees, bool) or not isinstance(degrees, (int, float)) or not low <= degrees <= high:
        raise InputError(f"The field of view must be between {low:g} and {high:g} degrees, got {degrees!r}.")
    return float(degrees)


@dataclass(frozen=True)
class SceneOptions:
    """How to turn depth into a surface and what the file contains.

    Depth to scene units:
        near, far: for ``disparity`` maps, the z-depth of the nearest and farthest point in
            scene units (both or neither; default 1 and 10, then scaled to the calibrated
            origin when there is a calibration).
        depth_scale: multiplies a ``depth`` map (or the near/far of a ``disparity`` map);
            None = match the calibrated world origin when there is one, else 1.
        calibrated_unit: the unit of the calibrated world when a reference distance fixed it
            ('m', 'cm', 'ft', …); None when the calibration's scale is arbitrary.
        world_up: 'z' for a calibrated world (fSpy/Blender axes), 'y' for the camera frame;
            'auto' takes 'y' for a camera with the identity pose, 'z' otherwise.
        fit_to_calibration: in a calibrated world, fit the scale and shift of a disparity map
            (without near/far or depth scale) so that the floor and walls the depth shows lie
            where the calibration puts them, and check any other map against them
            (:mod:`lib_depth3d.scene.fit`); False maps and scales as without a fit.
    Surface:
        resolution: samples on the picture's longer side (None: one vertex per pixel).
        cut_discontinuities, max_view_angle_deg, decimate, max_depth_error,
            max_texture_shift_px: see :mod:`lib_depth3d.scene.triangulate`.
        fill_occlusions: add a background layer behind the near side of every cut edge, so
            a moving viewer sees the background continued instead of holes
            (:mod:`lib_depth3d.scene.occlusion`); occlusion_band_px: its width in pixels
            (None: 8 % of the picture's longer side).
        pixel_edges: cover the pixels the cut left uncovered with rectangles on their own pixel
            corners and depth, so the outline follows the picture's pixels
            (:mod:`lib_depth3d.scene.edges`); False leaves the cut strips to the layer.
    File:
        texture_format: 'source' (the picture file's own bytes when the scene shows it unchanged,
            else its encoding: JPEG for a JPEG, PNG otherwise; :mod:`lib_depth3d.scene.texture`),
            'png' or 'jpeg'; jpeg_quality 1–100 for a JPEG that is encoded.
        plain_gltf: store positions and UVs as float32, without ``KHR_mesh_quantization``, for
            programs that lack the extension; by default they are 16-bit integers where that keeps
            the surface within the decimation's tolerances (:mod:`lib_depth3d.scene.compact`).
        animation: None, 'walk', 'dolly' or 'orbit'; animation_seconds; animation_speed
            (see :mod:`lib_depth3d.scene.animation`).
        html_page: also write the scene as a shareable page, ``OUT.html`` beside ``OUT.glb``
            (:mod:`lib_depth3d.scene.page`).
    """

    near: float | None = None
    far: float | None = None
    depth_scale: float | None = None
    calibrated_unit: str | None = None
    world_up: Literal["auto", "z", "y"] = "auto"
    fit_to_calibration: bool = True
    resolution: int | None = 512
    cut_discontinuities: bool = True
    max_view_angle_deg: float = 88.0
    decimate: bool = True
    max_depth_error: float = 0.002
    max_texture_shift_px: float = 0.25
    fill_occlusions: bool = True
    occlusion_band_px: float | None = None
    pixel_edges: bool = True
    texture_format: Literal["source", "png", "jpeg"] = "source"
    jpeg_quality: int = 90
    plain_gltf: bool = False
    animation: Literal["walk", "dolly", "orbit"] | None = None
    animation_seconds: float = 4.0
    animation_speed: float | None = None
    html_page: bool = False
