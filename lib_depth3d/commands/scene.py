"""`python -m lib_depth3d scene`: picture + depth + camera → a camera-matched `.glb`."""

from __future__ import annotations

import argparse
from pathlib import Path

from lib_depth3d.commands.model_options import (
    DEFAULT_MODEL_IN_HELP,
    add_model_options,
    end_progress,
    network_source,
    terminal_progress,
)
from lib_depth3d.errors import InputError

HELP = "Build a camera-matched textured 3D scene (.glb) from a picture, its depth and its camera."


def _resolution(text: str) -> int | None:
    if text == "full":
        return None
    try:
        value = int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected a number of samples or 'full', got {text!r}") from error
    from lib_depth3d.options import MIN_RESOLUTION

    if value < MIN_RESOLUTION:
        raise argparse.ArgumentTypeError(f"the resolution must be at least {MIN_RESOLUTION} samples")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from lib_depth3d.options import DEFAULT_FOV_DEG, TEXTURE_FORMATS, SceneOptions

    defaults = SceneOptions()
    parser.add_argument("image", metavar="IMAGE", help="the picture (PNG, JPEG, WebP; any mode)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--depth", metavar="DEPTH",
                        help="depth map: 8/16-bit PNG (near = bright), float .exr (its kind from its header) or "
                        "float .npy")
    source.add_argument("--model", metavar="NAME",
                        help=f"estimate the depth with this network (default {DEFAULT_MODEL_IN_HELP} when no --depth)")
    parser.add_argument(
        "--depth-kind", choices=("disparity", "depth", "metric"), default=None,
        help="disparity: relative inverse depth (default; what networks give); depth: z-depth in "
        "any unit; metric: z-depth in metres (default for an .exr: the kind its header names)",
    )
    camera = parser.add_mutually_exclusive_group()
    camera.add_argument("--fspy", metavar="PROJECT.fspy", help="camera from an fSpy project")
    camera.add_argument("--lines", metavar="LINES.json", help="camera from our vanishing-lines JSON")
    camera.add_argument("--detect-lines", action="store_true",
                        help="camera from vanishing lines detected in the picture (see 'calibrate --detect')")
    camera.add_argument(
        "--fov", metavar="DEGREES", type=float,
        help=f"horizontal field of view, principal point at the centre (default {DEFAULT_FOV_DEG:g})",
    )
    parser.add_argument("--near", type=float, metavar="N", help="disparity: z-depth of the nearest point (scene units)")
    parser.add_argument("--far", type=float, metavar="F", help="disparity: z-depth of the farthest point (scene units)")
    parser.add_argument(
        "--depth-scale", type=float, metavar="S",
        help="multiply the depth (default: meet the calibrated world origin, else 1)",
    )
    parser.add_argument(
        "--resolution", type=_resolution, default=defaults.resolution, metavar="N|full",
        help=f"vertex samples on the longer side (default {defaults.resolution}; 'full' = one per pixel)",
    )
    parser.add_argument(
        "--no-fit", action="store_true",
        help="with a calibration, keep the disparity's near/far mapping instead of fitting its scale "
        "and shift to the calibrated floor and walls",
    )
    parser.add_argument("--keep-edges", action="store_true", help="keep triangles across depth discontinuities")
    parser.add_argument(
        "--edge-angle", type=float, default=defaults.max_view_angle_deg, metavar="DEG",
        help=f"cut triangles seen more than this far from facing the camera (default {defaults.max_view_angle_deg:g})",
    )
    parser.add_argument("--no-decimate", action="store_true", help="keep every grid triangle")
    parser.add_argument(
        "--max-error", type=float, default=defaults.max_depth_error, metavar="E",
        help=f"decimation: largest relative depth error (default {defaults.max_depth_error:g} = "
        f"{defaults.max_depth_error * 100:g}%%)",
    )
    parser.add_argument(
        "--occlusion-band", type=float, metavar="PX",
        help="width of the background layer continued behind foreground edges, in pixels "
        "(default 8%% of the picture's longer side; 0 = no layer)",
    )
    parser.add_argument("--texture", choices=TEXTURE_FORMATS, default=defaults.texture_format,
                        help="embedded picture: source = the picture file itself when used unchanged, else "
                        "re-encoded as JPEG for a JPEG and PNG otherwise (default); png; jpeg")
    parser.add_argument("--jpeg-quality", type=int, default=defaults.jpeg_quality, metavar="Q",
                        help=f"JPEG quality 1-100 (default {defaults.jpeg_quality})")
    parser.add_argument("--plain-gltf", action="store_true",
                        help="store positions and UVs as 32-bit floats, for programs without KHR_mesh_quantization "
                        "(default: 16-bit integers, 16-bit indices where they fit)")
    parser.add_argument("--animation", choices=("walk", "dolly", "orbit"), help="add a camera move")
    parser.add_argument("--animation-seconds", type=float, default=defaults.animation_seconds, metavar="S",
                        help=f"length of the move (default {defaults.animation_seconds:g})")
    parser.add_argument(
        "--animation-speed", type=float, metavar="V",
        help="scene units per second (walk, dolly) or degrees per second (orbit); default: "
        "proportionate to the scene",
    )
    parser.add_argument("--html", action="store_true",
                        help="also write OUT.html: the scene in our viewer as one self-contained page to share")
    add_model_options(parser, prefix="--model: ")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.glb", help="the scene file to write")


def _camera_source(args: argparse.Namespace):
    """The camera the flags name; without one, the camera a depth network estimates (Depth
    Anything 3, MoGe-2; the assumed field of view for the others), or with a depth file the
    assumed field of view."""
    from lib_depth3d.camera.sources import DetectedLinesCamera, EstimatedCamera, FieldOfViewCamera, calibration_source
    from lib_depth3d.files import read_input_file

    if args.detect_lines:
        return DetectedLinesCamera()
    if args.fspy:
        return calibration_source(read_input_file(args.fspy, "fSpy project"), args.fspy)
    if args.lines:
        return calibration_source(read_input_file(args.lines, "Lines JSON"), args.lines)
    if args.fov is not None:
        return FieldOfViewCamera(args.fov)
    return FieldOfViewCamera(assumed=True) if args.depth else EstimatedCamera(FieldOfViewCamera(assumed=True))


def _depth_source(args: argparse.Namespace):
    from lib_depth3d.depth.sources import UserDepth

    if args.depth:
        return UserDepth(Path(args.depth), args.depth_kind)
    from lib_depth3d.depth.registry import DEFAULT_MODEL

    source = network_source(args.model or DEFAULT_MODEL, args)
    if args.depth_kind is not None and args.depth_kind != source.model.output_kind:
        raise InputError(f"{source.name} gives {source.model.output_kind} depth, not {args.depth_kind}; "
                         "drop --depth-kind.")
    return source


def _scene_options(args: argparse.Namespace):
    from lib_depth3d.options import SceneOptions

    return SceneOptions(
        near=args.near,
        far=args.far,
        depth_scale=args.depth_scale,
        world_up="auto",
        fit_to_calibration=not args.no_fit,
        resolution=args.resolution,
        cut_discontinuities=not args.keep_edges,
        max_view_angle_deg=args.edge_angle,
        decimate=not args.no_decimate,
        max_depth_error=args.max_error,
        fill_occlusions=args.occlusion_band != 0,
        occlusion_band_px=args.occlusion_band or None,
        texture_format=args.texture,
        jpeg_quality=args.jpeg_quality,
        plain_gltf=args.plain_gltf,
        animation=args.animation,
        animation_seconds=args.animation_seconds,
        animation_speed=args.animation_speed,
        html_page=args.html,
    )


def run(args: argparse.Namespace) -> int:
    from lib_depth3d import pipeline
    from lib_depth3d.files import open_image, picture_header_size, read_input_file
    from lib_depth3d.scene import check_scene_output
    from lib_depth3d.scene.build import check_picture_size

    check_scene_output(args.output)
    picture_bytes = read_input_file(args.image, "Picture")
    check_picture_size(*picture_header_size(picture_bytes, args.image))
    camera_source = _camera_source(args)
    depth_source = _depth_source(args)
    picture = open_image(picture_bytes)
    build = pipeline.run_scene(picture, depth=depth_source, camera=camera_source, glb_path=args.output,
                               options=_scene_options(args), picture_bytes=picture_bytes,
                               progress=terminal_progress())
    end_progress()
    print(build.summary())
    return 0
