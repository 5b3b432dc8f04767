"""`python -m lib_depth3d depth IMAGE -o OUT.png|OUT.npy`: estimate a depthmap."""

from __future__ import annotations

import argparse
import sys

from lib_depth3d.errors import InputError

HELP = "Estimate the depth of a picture and save it as a 16-bit PNG (near = bright) or a float32 .npy."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from lib_depth3d.depth.registry import DEFAULT_MODEL, MODELS

    parser.add_argument("image", metavar="IMAGE", help="the picture (PNG, JPEG, WebP; any mode, 8 or 16 bit)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.png|OUT.npy", help="where to write the depthmap")
    parser.add_argument("--model", default=DEFAULT_MODEL, choices=sorted(MODELS), metavar="NAME",
                        help=f"depth model (default {DEFAULT_MODEL}; list them with the 'models' command)")
    parser.add_argument("--weights", metavar="PATH", help="use this weight file instead of the models folder")
    parser.add_argument("--device", metavar="cpu|cuda|mps", help="where to run (default: the best available)")
    parser.add_argument("--net-size", type=int, metavar="PIXELS",
                        help="the network's processing size (518 for Depth Anything V2, 384 for MiDaS)")
    parser.add_argument("--no-download", action="store_true",
                        help="fail with instructions instead of downloading missing weights")
    parser.add_argument("--allow-unverified", action="store_true",
                        help="accept a download whose SHA-256 is not published (see 'models')")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lib_depth3d.depth.depthmap import save_depth
    from lib_depth3d.depth.estimate import estimate_depth
    from lib_depth3d.files import open_image

    if Path(args.output).suffix.lower() not in (".png", ".npy"):
        raise InputError(f"The output must end in .png or .npy, not {Path(args.output).name}.")
    picture = open_image(args.image)

    def progress(message: str, fraction: float | None) -> None:
        suffix = "" if fraction is None else f" {fraction:.0%}"
        print(f"\r{message}{suffix}", end="", file=sys.stderr, flush=True)

    depth = estimate_depth(
        picture,
        args.model,
        weights_path=args.weights,
        device=args.device,
        progress=progress if sys.stderr.isatty() else None,
        input_size=args.net_size,
        download_missing=not args.no_download,
        allow_unverified=args.allow_unverified,
    )
    if sys.stderr.isatty():
        print(file=sys.stderr)
    save_depth(depth, args.output)
    print(f"{args.output}: {depth.width}×{depth.height} {depth.kind} from {args.model}")
    return 0
