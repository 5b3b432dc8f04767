"""`python -m lib_depth3d depth IMAGE -o OUT.png|OUT.npy|OUT.exr`: estimate a depthmap (formats: ``DEPTH_WRITERS``)."""

from __future__ import annotations

import argparse

from lib_depth3d.commands.model_options import add_model_options, end_progress, network_source, terminal_progress

HELP = ("Estimate the depth of a picture and save it as a 16-bit PNG (near = bright), or its float32 values as "
        ".exr (kind, unit and camera in the header) or .npy.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from lib_depth3d.depth.registry import DEFAULT_MODEL, MODELS

    parser.add_argument("image", metavar="IMAGE", help="the picture (PNG, JPEG, WebP; any mode, 8 or 16 bit)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.png|OUT.npy|OUT.exr",
                        help="where to write the depthmap")
    parser.add_argument("--model", default=DEFAULT_MODEL, choices=sorted(MODELS), metavar="NAME",
                        help=f"depth model (default {DEFAULT_MODEL}; list them with the 'models' command)")
    parser.add_argument("--fov", metavar="DEGREES", type=float,
                        help="the picture's horizontal field of view, when known: MoGe-2 keeps it (and solves only "
                        "for its shift), Depth Anything 3 Metric-Large makes metres with it (default: MoGe-2 "
                        "estimates its own; Metric-Large assumes 55)")
    add_model_options(parser)


def run(args: argparse.Namespace) -> int:
    from lib_depth3d import pipeline
    from lib_depth3d.depth.depthmap import depth_writer, save_depth
    from lib_depth3d.files import open_image
    from lib_depth3d.output_sets import check_targets

    depth_writer(args.output)  # a suffix without a writer is refused before the network runs
    check_targets([args.output])
    from lib_depth3d.camera.sources import FieldOfViewCamera

    field_of_view = None if args.fov is None else FieldOfViewCamera(args.fov)  # checked before the picture is read
    picture = open_image(args.image)
    known = None if field_of_view is None else pipeline.choose_camera(picture, field_of_view).known_camera
    estimate = pipeline.estimate_with_camera(picture, network_source(args.model, args), terminal_progress(), known)
    end_progress()
    save_depth(estimate.depth, args.output, estimate.camera)
    print(f"{args.output}: {estimate.depth.width}×{estimate.depth.height} {estimate.depth.kind} from {args.model}")
    return 0
