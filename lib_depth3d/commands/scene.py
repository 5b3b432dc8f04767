"""`python -m lib_depth3d scene`: picture + depth + camera → a camera-matched `.glb`."""

from __future__ import annotations

import argparse
import math

from lib_depth3d.commands.model_options import add_model_options, estimate_from_args
from lib_depth3d.errors import InputError
from lib_depth3d.files import read_input_file

HELP = "Build a camera-matched textured 3D scene (.glb) from a picture, its depth and its camera."
DEFAULT_FOV_DEG = 55.0


def _resolution(text: str) -> int | None:
    if text == "full":
        return None
    try:
        value = int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected a number of samples or 'full', got {text!r}") from error
    if value < 2:
        raise argparse.ArgumentTypeError("the resolution must be at least 2 samples")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", metavar="IMAGE", help="the picture (PNG, JPEG, WebP; any mode)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--depth", metavar="DEPTH", help="depth map: 8/16-bit PNG (near = bright) or float .npy")
    source.add_argument("--model", metavar="NAME", help="estimate the depth with this network instead")
    parser.add_argument(
        "--depth-kind", choices=("disparity", "depth", "metric"), default=None,
        help="disparity: relative inverse depth (default; what networks give); depth: z-depth in "
        "any unit; metric: z-depth in metres",
    )
    camera = parser.add_mutually_exclusive_group()
    camera.add_argument("--fspy", metavar="PROJECT.fspy", help="camera from an fSpy project")
    camera.add_argument("--lines", metavar="LINES.json", help="camera from our vanishing-lines JSON")
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
        "--resolution", type=_resolution, default=512, metavar="N|full",
        help="vertex samples on the longer side (default 512; 'full' = one per pixel)",
    )
    parser.add_argument(
        "--no-fit", action="store_true",
        help="with a calibration, keep the disparity's near/far mapping instead of fitting its scale "
        "and shift to the calibrated floor and walls",
    )
    parser.add_argument("--keep-edges", action="store_true", help="keep triangles across depth discontinuities")
    parser.add_argument(
        "--edge-angle", type=float, default=88.0, metavar="DEG",
        help="cut triangles seen more than this far from facing the camera (default 88)",
    )
    parser.add_argument("--no-decimate", action="store_true", help="keep every grid triangle")
    parser.add_argument(
        "--max-error", type=float, default=0.002, metavar="E",
        help="decimation: largest relative depth error (default 0.002 = 0.2%%)",
    )
    parser.add_argument(
        "--occlusion-band", type=float, metavar="PX",
        help="width of the background layer continued behind foreground edges, in pixels "
        "(default 8%% of the picture's longer side; 0 = no layer)",
    )
    parser.add_argument("--texture", choices=("png", "jpeg"), default="png", help="embedded picture format")
    parser.add_argument("--jpeg-quality", type=int, default=90, metavar="Q", help="JPEG quality 1-100 (default 90)")
    parser.add_argument("--animation", choices=("walk", "dolly", "orbit"), help="add a camera move")
    parser.add_argument("--animation-seconds", type=float, default=4.0, metavar="S", help="length of the move (default 4)")
    parser.add_argument(
        "--animation-speed", type=float, metavar="V",
        help="scene units per second (walk, dolly) or degrees per second (orbit); default: "
        "proportionate to the scene",
    )
    add_model_options(parser, prefix="--model: ")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.glb", help="the scene file to write")




def _picture_size(path: str) -> tuple[int, int]:
    """The picture's upright size from its header alone, so that oversized pictures are refused undecoded."""
    from PIL import Image, UnidentifiedImageError

    bomb_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # only the header is read here; the size is judged by the caller
    try:
        with Image.open(path) as picture:
            width, height = picture.size
            header_exif = picture.info.get("exif")  # what the header holds; getexif() may decode
    except FileNotFoundError as error:
        raise InputError(f"Picture not found: {path}.") from error
    except (UnidentifiedImageError, OSError) as error:
        raise InputError(f"{path} is not a readable picture ({error}). Use a PNG, JPEG or WebP file.") from error
    finally:
        Image.MAX_IMAGE_PIXELS = bomb_limit
    orientation = 1
    if header_exif:
        exif = Image.Exif()
        exif.load(header_exif)
        orientation = exif.get(0x0112, 1)
    # EXIF orientations 5–8 turn the picture a quarter: open_image will swap its sides.
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _camera(args, picture_size: tuple[int, int], picture_bytes: bytes):
    """(Camera, calibration or None, .fspy bytes or None, description)."""
    from lib_depth3d.camera import Camera, calibrate, parse_lines_json, read_fspy
    from lib_depth3d.camera.fspy import fspy_project_bytes

    if args.fspy or args.lines:
        if args.fspy:
            fspy_bytes = read_input_file(args.fspy, "fSpy project")
            inp = read_fspy(fspy_bytes).calibration_input()
        else:
            inp = parse_lines_json(read_input_file(args.lines, "Lines JSON"))
        if (inp.image_width_px, inp.image_height_px) != picture_size:
            source = args.fspy or args.lines
            raise InputError(
                f"{source} was drawn on a {inp.image_width_px}×{inp.image_height_px} picture, but "
                f"{args.image} is {picture_size[0]}×{picture_size[1]}."
            )
        calibration = calibrate(inp)
        if args.lines:
            fspy_bytes = fspy_project_bytes(inp, picture_bytes, calibration)
        return calibration.camera, calibration, fspy_bytes, f"calibrated from {args.fspy or args.lines}"
    fov = DEFAULT_FOV_DEG if args.fov is None else args.fov
    note = f"{fov:g}° horizontal field of view" + (
        " (assumed; give --fov, --fspy or --lines)" if args.fov is None else ""
    )
    return Camera.from_fov(picture_size[0], picture_size[1], fov), None, None, note


def _depth(args, picture):
    if args.depth:
        from lib_depth3d.depth.depthmap import load_depth

        return load_depth(args.depth, args.depth_kind or "disparity")
    depth = estimate_from_args(picture, args)
    if args.depth_kind is not None and args.depth_kind != depth.kind:
        raise InputError(f"{args.model} gives {depth.kind} depth, not {args.depth_kind}; drop --depth-kind.")
    return depth


def run(args: argparse.Namespace) -> int:
    from lib_depth3d.files import open_image
    from lib_depth3d.scene import SceneOptions, build_scene, write_scene
    from lib_depth3d.scene.build import check_picture_size

    picture_size = _picture_size(args.image)
    check_picture_size(*picture_size)
    picture_bytes = read_input_file(args.image, "Picture")
    camera, calibration, fspy_bytes, camera_note = _camera(args, picture_size, picture_bytes)
    picture = open_image(picture_bytes)
    depth = _depth(args, picture)
    reference = calibration.input.reference if calibration is not None else None
    options = SceneOptions(
        near=args.near,
        far=args.far,
        depth_scale=args.depth_scale,
        calibrated_unit=reference.unit if reference is not None else None,
        world_up="z" if calibration is not None else "y",
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
        animation=args.animation,
        animation_seconds=args.animation_seconds,
        animation_speed=args.animation_speed,
    )
    scene = build_scene(picture, depth, camera, options)
    files = write_scene(
        scene,
        args.output,
        calibration_parameters=calibration.to_camera_parameters() if calibration is not None else None,
        fspy_bytes=fspy_bytes,
    )
    rows, columns = scene.grid_shape
    near, far = scene.depth_range
    cx, cy = camera.principal_point_px
    position = scene.gltf_camera.translation
    unit = f" {scene.units}"
    beside = ", ".join(p.name for p in (files.depth_png, files.camera_json, files.fspy) if p is not None)
    print(
        f"wrote {files.glb} ({len(scene.positions)} vertices, {len(scene.faces)} triangles from a "
        f"{columns}×{rows} grid; {scene.cut_triangles} cut at depth edges)"
    )
    if scene.background is not None:
        print(f"  background layer behind the edges: {len(scene.background.faces)} triangles")
    print(f"  beside it: {beside}")
    print(
        f"  camera: {camera_note}; {math.degrees(camera.horizontal_fov_rad):.1f}° across the width, "
        f"principal point ({cx:.1f}, {cy:.1f}) px, at ({position[0]:.3f}, {position[1]:.3f}, "
        f"{position[2]:.3f}){unit} (glTF, Y up)"
    )
    print(f"  depth: {near:.3f} to {far:.3f}{unit}" + (f"; camera move: {scene.animation.name}" if scene.animation else ""))
    if scene.calibration_fit is not None:
        print(f"  depth {scene.calibration_fit.summary()}")
    for warning in scene.warnings + (calibration.warnings if calibration is not None else []):
        print(f"  warning: {warning}")
    return 0
