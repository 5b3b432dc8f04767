"""From picture + depth + camera to a :class:`Scene`: geometry, texture mapping and camera."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from lib_depth3d.camera import Camera
from lib_depth3d.camera.inputs import METERS_PER_UNIT
from lib_depth3d.depth.depthmap import DepthMap
from lib_depth3d.errors import SceneError
from lib_depth3d.files import to_rgb
from lib_depth3d.options import TEXTURE_FORMATS, SceneOptions
from lib_depth3d.scene.edges import edge_strips, farthest_inverse_depth_near, sliding_cell_triangles, triangle_cells
from lib_depth3d.scene.frames import GltfCamera, gltf_camera, world_to_gltf
from lib_depth3d.scene.grid import SampleGrid, grid_shape, sample_grid, sample_inverse_depth, sample_map
from lib_depth3d.scene.grid import unproject_samples
from lib_depth3d.scene.occlusion import MIN_PUSH_BACK, BackgroundLayer, background_band, band_samples_for
from lib_depth3d.scene.occlusion import default_band_px
from lib_depth3d.scene.quantised import depth_quantisation, dequantised_inverse_depth
from lib_depth3d.scene.texture import PictureFile, picture_file
from lib_depth3d.scene.triangulate import TriangulationOptions, triangulate_grid
from lib_depth3d.scene.zdepth import (
    check_not_constant,
    disparity_mapping_for_range,
    zdepth_at_pixel,
    zdepth_from_mapping,
)

if TYPE_CHECKING:  # imported where used: a scene without a calibration or a camera move needs neither
    from lib_depth3d.scene.animation import CameraAnimation
    from lib_depth3d.scene.fit import CalibrationFit

MAX_PICTURE_SIDE_PX = 8192
DEFAULT_NEAR = 1.0
DEFAULT_FAR = 10.0


@dataclass(frozen=True)
class Scene:
    """A camera-matched textured surface, ready to be written as glTF.

    Attributes:
        positions: (N, 3) float32 vertices in glTF's Y-up world, scene units.
        uvs: (N, 2) float32 texture coordinates, (x / width, y / height) of each vertex's pixel.
        faces: (M, 3) uint32 triangles, counter-clockwise seen from the camera.
        picture: the RGB texture.
        camera: the camera in the scene's world frame (``world_up``), scaled to scene units.
        world_up: 'z' (calibrated world, converted to Y-up in the file) or 'y' (camera frame).
        gltf_camera: the camera as written to the file.
        zdepth: the z-depth used, kind 'metric' when in metres, else 'depth', with the depth's
            surface mask (its ``OUT_depth.png`` keeps the sky).
        units: 'm', another calibrated unit ('cm', 'ft', …) or 'scene units'.
        grid_shape: (rows, columns) of the full vertex grid.
        full_triangles, cut_triangles: triangle counts before decimation, and dropped at edges.
        animation: the camera move, if any.
        background: the layer behind the foreground's edges, if asked for and anything was cut.
        calibration_fit: how the depth was fitted to (or checked against) the calibration's
            floor and walls, when it was.
        picture_file: what the texture may take from the file the picture came from, when known
            (:mod:`lib_depth3d.scene.texture`).
        warnings: things the user should know (each one sentence).
    """

    positions: np.ndarray
    uvs: np.ndarray
    faces: np.ndarray
    picture: Image.Image
    camera: Camera
    world_up: str
    gltf_camera: GltfCamera
    zdepth: DepthMap
    units: str
    grid_shape: tuple[int, int]
    full_triangles: int
    cut_triangles: int
    options: SceneOptions
    animation: CameraAnimation | None = None
    background: BackgroundLayer | None = None
    calibration_fit: CalibrationFit | None = None
    picture_file: PictureFile | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def depth_range(self) -> tuple[float, float]:
        """(nearest, farthest) z-depth in scene units."""
        return self.zdepth.extremes


def check_options(options: SceneOptions) -> None:
    """Refuse settings outside their meaningful range, naming the setting."""
    if not 0 < options.max_view_angle_deg < 90:
        raise SceneError(
            f"The edge angle must be between 0 and 90 degrees, got {options.max_view_angle_deg:g}."
        )
    if not 0 < options.max_depth_error < 1:
        raise SceneError(
            f"The decimation error is a fraction of the depth between 0 and 1, got {options.max_depth_error:g}."
        )
    if not options.max_texture_shift_px > 0:
        raise SceneError(
            f"The texture shift bound must be positive, got {options.max_texture_shift_px:g} px."
        )
    if options.occlusion_band_px is not None and not (
        math.isfinite(options.occlusion_band_px) and options.occlusion_band_px > 0
    ):
        raise SceneError(
            f"The occlusion band width must be a positive number of pixels, got {options.occlusion_band_px:g}."
        )
    if options.texture_format not in TEXTURE_FORMATS:
        raise SceneError(f"Unknown texture format {options.texture_format!r}; use 'source', 'png' or 'jpeg'.")
    if not 1 <= options.jpeg_quality <= 100:
        raise SceneError(f"The JPEG quality must be between 1 and 100, got {options.jpeg_quality}.")


def check_picture_size(width_px: int, height_px: int) -> None:
    """Refuse pictures too small to triangulate or too large for a single glTF texture."""
    if width_px < 2 or height_px < 2:
        raise SceneError(
            f"The picture is {width_px}×{height_px} pixels; a 3D scene needs at least 2×2."
        )
    if max(width_px, height_px) > MAX_PICTURE_SIDE_PX:
        raise SceneError(
            f"The picture is {width_px}×{height_px} pixels; a scene texture may be at most "
            f"{MAX_PICTURE_SIDE_PX} pixels on its longer side (what glTF viewers load). "
            "Downscale the picture and its depth map first."
        )


def _resolve_world_up(camera: Camera, world_up: str) -> str:
    if world_up in ("z", "y"):
        return world_up
    if world_up != "auto":
        raise SceneError(f"world_up must be 'auto', 'z' or 'y', not {world_up!r}.")
    return "y" if np.allclose(camera.world_to_camera, np.eye(4)) else "z"


def _origin_depths(camera: Camera, zdepth: np.ndarray) -> tuple[float, float] | None:
    """(calibrated z-depth of the world origin, z-depth the map gives at its pixel), if visible."""
    pixels, depth = camera.project(np.zeros((1, 3)))
    if not depth[0] > 0:
        return None
    sampled = zdepth_at_pixel(zdepth, (float(pixels[0, 0]), float(pixels[0, 1])))
    return None if sampled is None else (float(depth[0]), sampled)


def _with_scaled_translation(camera: Camera, factor: float) -> Camera:
    world_to_camera = np.array(camera.world_to_camera)
    world_to_camera[:3, 3] *= factor
    return Camera(
        camera.image_width_px,
        camera.image_height_px,
        camera.focal_length_px,
        camera.principal_point_px,
        world_to_camera,
    )


def scene_zdepth(
    depth: DepthMap, camera: Camera, world_up: str, options: SceneOptions
) -> tuple[np.ndarray, Camera, str, CalibrationFit | None, list[str]]:
    """(z-depth in scene units, camera in scene units, units, fit, warnings) for a depth map.

    Disparity is mapped by near/far (in inverse depth); depth is scaled; metric passes through.
    With a calibration (``world_up == 'z'``) and no explicit scale, a disparity map is fitted
    to the calibrated floor and walls (:func:`fit_disparity`): its scale comes from the floor
    through the origin, or else the surface is made to pass through the calibrated world
    origin, as a depth map is; a metric map instead rescales the calibration to metres: by its
    unit when a reference distance fixed one, else so that the world origin lies on the
    surface. Maps that are not fitted are checked against the calibrated planes.
    """
    warnings: list[str] = []
    check_not_constant(*depth.extremes)
    if options.depth_scale is not None and not (
        math.isfinite(options.depth_scale) and options.depth_scale > 0
    ):
        raise SceneError(f"The depth scale must be a positive number, got {options.depth_scale:g}.")
    if (options.near is None) != (options.far is None):
        raise SceneError("Give both the nearest and the farthest distance (near and far), or neither.")
    if depth.kind != "disparity" and options.near is not None:
        raise SceneError(
            f"The nearest and farthest distances map relative disparity; a {depth.kind} map already "
            "has distances (use a depth scale instead)."
        )
    if depth.kind == "metric" and options.depth_scale is not None:
        raise SceneError("Metric depth is in metres already; use --depth-kind depth to rescale it.")
    calibrated = world_up == "z"
    explicit_scale = options.depth_scale is not None or (
        depth.kind == "disparity" and options.near is not None
    )
    fit = None
    if depth.kind == "disparity":
        near, far = (
            (options.near, options.far) if options.near is not None else (DEFAULT_NEAR, DEFAULT_FAR)
        )
        mapping = disparity_mapping_for_range(*depth.extremes, near, far)
        if calibrated and options.fit_to_calibration and not explicit_scale:
            from lib_depth3d.scene.fit import fit_disparity

            fit = fit_disparity(depth.values, camera, mapping)
            if fit is None:
                warnings.append(
                    "No floor or wall of the calibrated orientations was found in the depth, so "
                    "its shift is not fitted: it is mapped from 1 to 10 units, which may turn the "
                    "floor and walls."
                )
        if fit is not None:
            zdepth, beyond_horizon = fit.zdepth(depth.values)
            if beyond_horizon > 0.005:
                warnings.append(
                    f"{100 * beyond_horizon:.1f} % of the depth lies beyond the horizon the fit "
                    "found and was put 100 median depths away; check the depth near those areas."
                )
        else:
            zdepth = zdepth_from_mapping(depth.values, mapping)
    else:
        zdepth = depth.values.astype(np.float32, copy=True)

    if depth.kind == "metric":
        if calibrated and options.calibrated_unit is not None:
            if options.calibrated_unit not in METERS_PER_UNIT:
                raise SceneError(f"Unknown calibration unit {options.calibrated_unit!r}.")
            camera = _with_scaled_translation(camera, METERS_PER_UNIT[options.calibrated_unit])
        elif calibrated:
            origin = _origin_depths(camera, zdepth)
            if origin is None:
                warnings.append(
                    "The calibrated world origin is not in view, so the camera keeps the "
                    "calibration's arbitrary unit; the surface is in metres."
                )
            else:
                camera = _with_scaled_translation(camera, origin[1] / origin[0])
        return zdepth, camera, "m", _checked(zdepth, camera, calibrated, options), warnings

    scale = options.depth_scale or 1.0
    matched = fit is not None and fit.scale_from == "ground"
    if calibrated and not explicit_scale and not matched:
        origin = _origin_depths(camera, zdepth)
        if origin is None:
            warnings.append(
                "The calibrated world origin is not in view: the depth keeps its own scale "
                "and may not meet the calibrated floor."
            )
        else:
            scale, matched = origin[0] / origin[1], True
            if fit is not None:
                fit = fit.scaled(scale)
    if scale != 1.0:
        zdepth = zdepth * np.float32(scale)
    if fit is None:
        fit = _checked(zdepth, camera, calibrated, options)
    # Matched to the floor or the origin, or scaled by the user into the world: the calibration's unit holds.
    in_world_unit = calibrated and options.calibrated_unit is not None and (matched or explicit_scale)
    units = options.calibrated_unit if in_world_unit else "scene units"
    return zdepth, camera, units, fit, warnings


def _checked(zdepth: np.ndarray, camera: Camera, calibrated: bool, options: SceneOptions) -> CalibrationFit | None:
    """The calibrated planes found in a depth that is not fitted, and their angles and flatness."""
    if not (calibrated and options.fit_to_calibration):
        return None
    from lib_depth3d.scene.fit import check_inverse_depth

    return check_inverse_depth(1.0 / zdepth.astype(np.float64), camera)


def build_scene(
    picture: Image.Image,
    depth: DepthMap,
    camera: Camera,
    options: SceneOptions = SceneOptions(),
    picture_bytes: bytes | None = None,
) -> Scene:
    """Build the camera-matched textured surface of ``picture`` seen through ``camera``.

    ``depth`` must have the picture's size; ``camera`` must be matched to the picture (its
    image size equals the picture's). ``picture_bytes``: the file ``picture`` was decoded from,
    when known; the texture keeps its encoding (:mod:`lib_depth3d.scene.texture`). Raises
    :class:`SceneError` with a message for the user.
    """
    width, height = picture.size
    check_picture_size(width, height)
    check_options(options)
    if (depth.width, depth.height) != (width, height):
        raise SceneError(
            f"The depth map is {depth.width}×{depth.height} but the picture is {width}×{height}; "
            "they must be the same size."
        )
    if camera.image_size_px != (width, height):
        raise SceneError(
            f"The camera was calibrated for a {camera.image_width_px}×{camera.image_height_px} "
            f"picture, not {width}×{height}."
        )
    world_up = _resolve_world_up(camera, options.world_up)
    zdepth, camera, units, calibration_fit, warnings = scene_zdepth(depth, camera, world_up, options)
    quantisation = depth_quantisation(depth.values)
    if quantisation is not None:
        smoothed, half_level = dequantised_inverse_depth(1.0 / zdepth, depth.values, quantisation)
        zdepth = 1.0 / smoothed
        warnings.append(
            f"The depth map holds only {quantisation.levels_used} levels (an 8-bit picture?): it was smoothed "
            "within half a level and decimated to that precision; give a 16-bit PNG or a .npy for finer depth."
        )

    rows, columns = grid_shape(width, height, options.resolution)
    grid = sample_grid(width, height, rows, columns)
    inverse_depth = sample_inverse_depth(zdepth, grid)
    depth_allowance = None if quantisation is None else sample_map(half_level, grid)
    triangulation = TriangulationOptions(
        cut_discontinuities=options.cut_discontinuities,
        max_view_angle_deg=options.max_view_angle_deg,
        decimate=options.decimate,
        max_depth_error=options.max_depth_error,
        max_texture_shift_px=options.max_texture_shift_px,
    )
    skyward = None if depth.surface is None else cells_without_surface(depth.surface, grid)
    triangles = triangulate_grid(
        inverse_depth, grid.x_px, grid.y_px, camera.focal_length_px, camera.principal_point_px, triangulation,
        left_out_cells=skyward, depth_allowance=depth_allowance,
    )
    if len(triangles.faces) == 0 and depth.surface is not None and not depth.surface.any():
        raise SceneError("The depth network found only sky in the picture: there is no surface to build.")
    if len(triangles.faces) == 0:
        raise SceneError(
            "Every triangle was cut as a depth discontinuity; the depth map is too noisy. "
            "Keep discontinuities or raise the maximum viewing angle."
        )

    grid_faces, emptied_cells = triangles.faces, triangles.cut_cells
    pixel_edges = options.pixel_edges and options.cut_discontinuities
    if pixel_edges and triangles.cut_cells.any():
        sliding = sliding_cell_triangles(grid_faces, inverse_depth, grid.x_px, grid.y_px, options.max_texture_shift_px)
        if sliding.any():
            emptied_cells = triangles.cut_cells.copy()
            cell_rows, cell_columns, _ = triangle_cells(grid_faces[sliding], columns)
            emptied_cells[cell_rows, cell_columns] = True
            grid_faces = grid_faces[~sliding]
    used = np.zeros(rows * columns, dtype=bool)
    used[grid_faces.ravel()] = True
    new_index = np.cumsum(used, dtype=np.int32)  # 32 bits: a grid holds at most 4096² samples
    new_index -= 1
    faces = new_index[grid_faces].astype(np.uint32)
    camera_to_gltf = world_to_gltf(world_up) @ camera.camera_to_world
    points = unproject_samples(grid, inverse_depth, camera, np.flatnonzero(used))
    positions = (points @ camera_to_gltf[:3, :3].T + camera_to_gltf[:3, 3]).astype(np.float32)
    uv_x = np.broadcast_to((grid.x_px / width)[None, :], (rows, columns)).reshape(-1)[used]
    uv_y = np.broadcast_to((grid.y_px / height)[:, None], (rows, columns)).reshape(-1)[used]
    uvs = np.stack([uv_x, uv_y], axis=-1).astype(np.float32)
    if pixel_edges:
        strips = edge_strips(
            zdepth, emptied_cells, grid_faces, grid.x_px, grid.y_px, camera, camera_to_gltf,
            options.max_view_angle_deg, options.max_depth_error, options.max_texture_shift_px, depth.surface,
        )
        if strips is not None:
            faces = np.concatenate([faces, strips.faces + np.uint32(len(positions))])
            positions = np.concatenate([positions, strips.positions])
            uvs = np.concatenate([uvs, strips.uvs])
    background = None
    if options.fill_occlusions and options.cut_discontinuities:
        # Edges between the ground and the sky's stand-in depth are no edges: nothing lies behind them.
        cut_cells = triangles.cut_cells if skyward is None else triangles.cut_cells & ~skyward
        background = _background_layer(
            picture, grid, inverse_depth, zdepth, cut_cells, camera, camera_to_gltf, options,
            triangulation, depth_allowance,
        )

    zdepth_map = DepthMap(zdepth, "metric" if units == "m" else "depth", depth.surface)
    nearest, farthest = zdepth_map.extremes
    median_depth = float(np.median(1.0 / inverse_depth[:: max(1, rows // 64), :: max(1, columns // 64)]))
    animation = None
    file_camera = gltf_camera(camera, world_up, znear=0.05 * nearest, zfar=4.0 * farthest)
    if options.animation is not None:
        from lib_depth3d.scene.animation import camera_animation

        animation = camera_animation(
            options.animation,
            file_camera.translation,
            file_camera.rotation_xyzw,
            median_depth,
            options.animation_seconds,
            options.animation_speed,
        )
        if animation.name != "orbit":  # an orbit keeps its distance; the other moves travel back
            file_camera = gltf_camera(
                camera, world_up, znear=0.05 * nearest, zfar=4.0 * farthest + animation.travel
            )

    return Scene(
        positions=positions,
        uvs=uvs,
        faces=faces,
        picture=to_rgb(picture),
        camera=camera,
        world_up=world_up,
        gltf_camera=file_camera,
        zdepth=zdepth_map,
        units=units,
        grid_shape=(rows, columns),
        full_triangles=triangles.full_triangles,
        cut_triangles=triangles.cut_triangles,
        options=options,
        animation=animation,
        background=background,
        calibration_fit=calibration_fit,
        picture_file=None if picture_bytes is None else picture_file(picture_bytes, picture),
        warnings=warnings,
    )


def cells_without_surface(surface: np.ndarray, grid: SampleGrid) -> np.ndarray:
    """(rows−1, columns−1) the grid cells to leave empty: those with a corner sample that
    interpolates any pixel without a surface (the sky a network found), so that no triangle
    reaches into the sky and none stretches from the ground to the sky's stand-in depth."""
    touches_sky = sample_map((~surface).astype(np.float32), grid) > 0
    return touches_sky[:-1, :-1] | touches_sky[:-1, 1:] | touches_sky[1:, :-1] | touches_sky[1:, 1:]


def _background_layer(
    picture: Image.Image,
    grid: SampleGrid,
    inverse_depth: np.ndarray,
    zdepth: np.ndarray,
    cut_cells: np.ndarray,
    camera: Camera,
    camera_to_gltf: np.ndarray,
    options: SceneOptions,
    triangulation: TriangulationOptions,
    depth_allowance: np.ndarray | None,
) -> BackgroundLayer | None:
    """The occlusion layer in the file's world (None when no edge was cut); with pixel edges, its
    vertices held behind the farthest pixel within a grid step (:func:`farthest_inverse_depth_near`)."""
    width, height = picture.size
    # Both surfaces may miss their samples by the relative tolerance plus the allowance.
    allowed = 0.0 if depth_allowance is None else float(np.max(depth_allowance / inverse_depth))
    band_px = options.occlusion_band_px or default_band_px(width, height)
    rows, columns = inverse_depth.shape
    # Behind the main surface by more than both decimations may move them towards each other.
    push_back = min(0.5, max(MIN_PUSH_BACK, 3.0 * options.max_depth_error + 2.0 * allowed))
    band = background_band(
        inverse_depth,
        cut_cells,
        picture,
        grid.x_px,
        grid.y_px,
        camera.focal_length_px,
        camera.principal_point_px,
        band_samples_for(band_px, width, height, rows, columns),
        push_back=push_back,
        decimation=triangulation,
        depth_allowance=depth_allowance,
    )
    if band is None:
        return None
    layer_depth = inverse_depth.reshape(-1).copy()
    layer_depth[band.sample_ids] = band.inverse_depth
    if options.pixel_edges:
        sample_rows, sample_columns = np.divmod(band.sample_ids, columns)
        spacing_px = max(width / columns, height / rows)
        farthest = farthest_inverse_depth_near(zdepth, grid.x_px[sample_columns], grid.y_px[sample_rows], spacing_px)
        layer_depth[band.sample_ids] = np.minimum(band.inverse_depth, farthest * (1.0 - push_back))
    points = unproject_samples(grid, layer_depth.reshape(rows, columns), camera, band.sample_ids)
    positions = (points @ camera_to_gltf[:3, :3].T + camera_to_gltf[:3, 3]).astype(np.float32)
    return BackgroundLayer(positions=positions, uvs=band.uvs, faces=band.faces, texture=band.texture)
