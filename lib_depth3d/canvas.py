"""What the Depth 3D tab's canvas editor exchanges with Python (no gradio here).

The canvas (``javascript/depth3d_canvas.js``) edits the lines JSON of
:func:`lib_depth3d.camera.parse_lines_json` (pixels: origin at the picture's top-left corner,
x right, y down). Python starts it with :func:`default_lines`, merges the tab's settings into
it with :func:`lines_with_settings`, and after a solve sends back :func:`calibration_overlay`:
the world grid, axes and horizon of the solved camera, already projected to pixels, so the
camera maths stays here.
"""

from __future__ import annotations

import base64
import copy
import io
import math

import numpy as np
from PIL import Image

from lib_depth3d.camera import camera_from_parameters
from lib_depth3d.files import png_bytes
REFERENCE_UNITS = ("m", "cm", "mm", "km", "in", "ft", "mi", "")
GRID_HALF_LINES = 10
GRID_SAMPLES_PER_LINE = 64
DATA_URL_PNG_MAX_PIXELS = 2_000_000


def _scaled(points_relative: list, width: int, height: int) -> list:
    return [[round(x * width, 3), round(y * height, 3)] for x, y in points_relative]


def default_lines(width_px: int, height_px: int) -> dict:
    """A first drawing for a new picture: two segments per VP, converging left and right."""
    w, h = width_px, height_px
    return {
        "version": 1,
        "image": {"width": w, "height": h},
        "mode": "two_vp",
        "rectangle": False,
        "vanishing_points": [
            {"axis": "+x", "segments": [_scaled([(0.15, 0.30), (0.42, 0.36)], w, h),
                                        _scaled([(0.15, 0.72), (0.42, 0.64)], w, h)]},
            {"axis": "+y", "segments": [_scaled([(0.58, 0.36), (0.85, 0.30)], w, h),
                                        _scaled([(0.58, 0.64), (0.85, 0.72)], w, h)]},
        ],
        "principal_point": {"mode": "center"},
        "origin": [round(0.5 * w, 3), round(0.66 * h, 3)],
        "horizon": None,
        "focal_length_mm": 24,
        "sensor_mm": [36, 24],
        "reference": None,
    }


def lines_with_settings(
    lines: dict,
    *,
    mode: str,
    first_axis: str,
    second_axis: str,
    principal_point_mode: str,
    focal_length_mm: float,
    reference_axis: str | None,
    reference_distance: float | None,
    reference_unit: str,
) -> dict:
    """``lines`` with the tab's settings applied; handles a setting needs are added where missing."""
    lines = copy.deepcopy(lines)
    w, h = lines["image"]["width"], lines["image"]["height"]
    centre = [w / 2.0, h / 2.0]
    lines["mode"] = mode
    vanishing_points = lines["vanishing_points"]
    defaults = default_lines(w, h)["vanishing_points"]
    while len(vanishing_points) < 2:
        vanishing_points.append(defaults[len(vanishing_points)])
    vanishing_points[0]["axis"] = first_axis
    vanishing_points[1]["axis"] = second_axis
    if mode == "one_vp" and not lines.get("horizon"):
        lines["horizon"] = _scaled([(0.3, 0.5), (0.7, 0.5)], w, h)
    principal_point = {"mode": principal_point_mode}
    if principal_point_mode == "manual":
        principal_point["point"] = (lines.get("principal_point") or {}).get("point") or centre
    lines["principal_point"] = principal_point
    if principal_point_mode == "third_vp" and len(vanishing_points) < 3:
        vanishing_points.append({"segments": [_scaled([(0.08, 0.25), (0.10, 0.75)], w, h),
                                              _scaled([(0.92, 0.25), (0.90, 0.75)], w, h)]})
    lines["focal_length_mm"] = focal_length_mm
    if not reference_axis or not reference_distance:
        lines["reference"] = None
    else:
        previous = lines.get("reference") or {}
        origin = lines.get("origin") or centre
        handles = previous.get("handles") or [list(origin), [origin[0] + 0.1 * w, origin[1]]]
        reference = {"axis": reference_axis, "distance": reference_distance, "unit": reference_unit, "handles": handles}
        if previous.get("anchor") is not None:
            reference["anchor"] = previous["anchor"]
        lines["reference"] = reference
    return lines


def settings_of_lines(lines: dict) -> dict:
    """The tab's settings as a lines JSON holds them (for a loaded ``.fspy``)."""
    vanishing_points = lines.get("vanishing_points") or [{}, {}]
    reference = lines.get("reference") or {}
    return {
        "mode": lines.get("mode", "two_vp"),
        "first_axis": vanishing_points[0].get("axis", "+x"),
        "second_axis": vanishing_points[1].get("axis", "+y") if len(vanishing_points) > 1 else "+y",
        "principal_point_mode": (lines.get("principal_point") or {}).get("mode", "center"),
        "focal_length_mm": lines.get("focal_length_mm", 24),
        "reference_axis": reference.get("axis", "none") if reference else "none",
        "reference_distance": reference.get("distance", 0) if reference else 0,
        "reference_unit": reference.get("unit", "m") if reference else "m",
    }


def picture_data_url(picture: Image.Image) -> str:
    """The picture as a data URL for the canvas (PNG, or JPEG for large pictures to keep it light)."""
    if picture.width * picture.height <= DATA_URL_PNG_MAX_PIXELS:
        data, kind = png_bytes(picture), "png"
    else:
        buffer = io.BytesIO()
        picture.convert("RGB").save(buffer, format="JPEG", quality=92)
        data, kind = buffer.getvalue(), "jpeg"
    return f"data:image/{kind};base64," + base64.b64encode(data).decode("ascii")


def _nice_spacing(length: float) -> float:
    """1, 2 or 5 times a power of ten, close to ``length``."""
    exponent = math.floor(math.log10(length))
    mantissa = length / 10**exponent
    return min((1, 2, 5, 10), key=lambda m: abs(math.log(m / mantissa))) * 10**exponent


def _polylines_in_front(pixels: np.ndarray, depths: np.ndarray, near: float) -> list[list[list[float]]]:
    """Split sampled lines (L×S×2 pixels, L×S depths) into runs of samples in front of the camera."""
    runs = []
    for line_pixels, line_depths in zip(pixels, depths):
        visible = line_depths > near
        edges = np.flatnonzero(np.diff(np.concatenate([[0], visible.astype(np.int8), [0]])))
        for start, stop in zip(edges[::2], edges[1::2]):
            if stop - start >= 2:
                runs.append(np.round(line_pixels[start:stop], 2).tolist())
    return runs


def calibration_overlay(report: dict, lines: dict) -> dict:
    """Grid, axes and horizon of a solved camera in pixels, for the canvas to draw.

    The grid lies in the world plane through the origin spanned by the two calibrated axes,
    with a spacing of 1, 2 or 5 × 10^k world units chosen from the camera's distance to the origin.
    """
    camera = camera_from_parameters(report)
    axes = [vp.get("axis", default) for vp, default in zip(lines["vanishing_points"][:2], ("+x", "+y"))]
    in_plane = ["xyz".index(axis[1]) for axis in axes]
    distance = float(np.linalg.norm(camera.position_world))
    spacing = _nice_spacing(max(distance, 1e-6) / 4.0)
    near = 1e-3 * max(distance, 1e-6)

    extent = GRID_HALF_LINES * spacing
    offsets = np.arange(-GRID_HALF_LINES, GRID_HALF_LINES + 1) * spacing
    samples = np.linspace(-extent, extent, GRID_SAMPLES_PER_LINE)
    points = []
    for along, across in (in_plane, in_plane[::-1]):
        line_points = np.zeros((len(offsets), len(samples), 3))
        line_points[:, :, along] = samples[None, :]
        line_points[:, :, across] = offsets[:, None]
        points.append(line_points)
    grid_world = np.concatenate(points)
    pixels, depths = camera.project(grid_world.reshape(-1, 3))
    grid = _polylines_in_front(pixels.reshape(*grid_world.shape[:2], 2), depths.reshape(grid_world.shape[:2]), near)

    axis_ends = np.vstack([np.zeros(3), np.eye(3) * spacing])
    axis_pixels, axis_depths = camera.project(axis_ends)
    drawn_axes = [
        {"axis": "xyz"[i], "from": axis_pixels[0].round(2).tolist(), "to": axis_pixels[i + 1].round(2).tolist()}
        for i in range(3)
        if axis_depths[0] > near and axis_depths[i + 1] > near
    ]

    overlay = {"grid": grid, "axes": drawn_axes, "grid_spacing": spacing, "horizon": None}
    vanishing_points = report.get("vanishingPointsPixels") or []
    if len(vanishing_points) >= 2 and vanishing_points[0] is not None and vanishing_points[1] is not None:
        a, b = np.asarray(vanishing_points[0], float), np.asarray(vanishing_points[1], float)
        direction = (b - a) / max(float(np.linalg.norm(b - a)), 1e-12)
        width = camera.image_size_px[0]
        reach = 4.0 * (float(np.linalg.norm(a - np.asarray(camera.principal_point_px))) + width)
        overlay["horizon"] = [(a - reach * direction).round(2).tolist(), (a + reach * direction).round(2).tolist()]
    return overlay
