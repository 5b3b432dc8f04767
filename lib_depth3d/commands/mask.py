"""`python -m lib_depth3d mask DEPTH -o MASK.png`: an inpainting mask from a depth map."""

from __future__ import annotations

import argparse
import sys

from lib_depth3d.errors import InputError

HELP = "Make an img2img inpainting mask (white = repaint) from a depth image, .exr or .npy."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("depth", metavar="DEPTH",
                        help="a depth image (8/16-bit PNG, near = bright), or a float .exr or .npy from the 'depth' "
                        "command")
    parser.add_argument("-o", "--output", required=True, metavar="MASK.png", help="where to write the mask")
    parser.add_argument("--min", type=float, dest="near_min", metavar="A",
                        help="lower cut-off of the kept band on nearness, 0 = farthest (default 0.5)")
    parser.add_argument("--max", type=float, dest="near_max", metavar="B",
                        help="upper cut-off of the kept band on nearness, 1 = nearest (default 1)")
    parser.add_argument("--percentiles", type=float, nargs=2, metavar=("A", "B"),
                        help="give the band as percentiles 0–100 of the picture's nearness instead of --min/--max")
    parser.add_argument("--invert", action="store_true", help="repaint the band instead of keeping it")
    parser.add_argument("--hard", action="store_true", help="black/white step at the cut-offs instead of soft ramps")
    parser.add_argument("--ramp", type=float, default=0.05, metavar="W",
                        help="width of each soft ramp in nearness units (default 0.05)")
    parser.add_argument("--feather", type=float, default=0.0, metavar="PX",
                        help="Gaussian blur of the mask, standard deviation in pixels (default 0)")
    parser.add_argument("--grow", type=int, default=0, metavar="PX",
                        help="grow (> 0) or shrink (< 0) the repainted area by PX pixels (default 0)")
    parser.add_argument("--kind", default=None, choices=("disparity", "depth", "metric"),
                        help="what a .npy or .exr holds (default: the kind an .exr's header names, "
                        "else disparity: larger = nearer)")
    parser.add_argument("--picture", metavar="PICTURE",
                        help="make the mask at this picture's size (the depth map is resized to it)")
    parser.add_argument("--cutout", metavar="CUT.png",
                        help="also write the kept part of --picture as RGBA (repainted areas transparent)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lib_depth3d.depth.depthmap import DEPTH_READERS, load_depth
    from lib_depth3d.files import open_image, png_bytes
    from lib_depth3d.mask import MaskOptions, cutout_rgba, depth_mask
    from lib_depth3d.output_sets import check_targets, write_file_set

    for option, path in (("--output", args.output), ("--cutout", args.cutout)):
        if path is not None and Path(path).suffix.lower() != ".png":
            raise InputError(f"{option} must end in .png, not {Path(path).name}.")
    if args.percentiles is not None and (args.near_min is not None or args.near_max is not None):
        raise InputError("Give the band either as --min/--max or as --percentiles, not both.")
    if args.cutout is not None and args.picture is None:
        raise InputError("--cutout needs --picture: the picture to cut out.")
    check_targets([path for path in (args.output, args.cutout) if path is not None])
    options = MaskOptions(
        near_min=0.5 if args.near_min is None else args.near_min,
        near_max=1.0 if args.near_max is None else args.near_max,
        percentiles=None if args.percentiles is None else tuple(args.percentiles),
        invert=args.invert,
        hard=args.hard,
        ramp=args.ramp,
        feather_px=args.feather,
        grow_px=args.grow,
    )
    is_image = Path(args.depth).suffix.lower() not in DEPTH_READERS
    if is_image and args.kind not in (None, "disparity"):
        raise InputError(f"--kind {args.kind} applies to a .npy or .exr; a depth image always stores nearness.")
    depth = load_depth(args.depth, args.kind)
    picture = open_image(args.picture) if args.picture is not None else None
    result = depth_mask(depth.values if is_image else depth, options, None if picture is None else picture.size)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    files = [(args.output, png_bytes(result.mask))]
    if args.cutout is not None:
        files.append((args.cutout, png_bytes(cutout_rgba(picture, result.mask))))
    write_file_set(files)
    low, high = result.cutoffs
    print(f"{args.output}: {result.mask.width}×{result.mask.height} mask, band {low:.3f}–{high:.3f} "
          f"{'repainted' if args.invert else 'kept'}")
    if args.cutout is not None:
        print(f"{args.cutout}: kept part of {Path(args.picture).name} (RGBA)")
    return 0
