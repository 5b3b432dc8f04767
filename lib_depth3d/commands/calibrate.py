"""`python -m lib_depth3d calibrate`: solve a camera from a `.fspy` project or a lines JSON file."""

from __future__ import annotations

import argparse
import json
import sys

from lib_depth3d.errors import InputError
from lib_depth3d.files import read_input_file

HELP = "Solve the camera from vanishing lines (.fspy project or lines JSON) and print it as fSpy camera parameters."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--fspy", metavar="PROJECT.fspy", help="an fSpy project file")
    source.add_argument("--lines", metavar="LINES.json", help="our lines JSON (pixels; see docs/calibration.md)")
    parser.add_argument("--image", metavar="IMAGE", help="the picture the lines were drawn on (its size is checked)")
    parser.add_argument(
        "--write-fspy", metavar="OUT.fspy",
        help="also write an fSpy project: of the lines and --image, or the --fspy project with the solved "
        "camera (its other settings kept)",
    )
    parser.add_argument("--output", metavar="OUT.json", help="write the report here instead of stdout")




def run(args: argparse.Namespace) -> int:
    from lib_depth3d.camera import calibrate, parse_lines_json, read_fspy
    from lib_depth3d.camera.fspy import fspy_project_bytes, image_size_px
    from lib_depth3d.files import write_bytes_atomic

    project = None
    if args.fspy:
        if args.image:
            raise InputError("--image goes with --lines; a .fspy project holds its own picture.")
        project = read_fspy(args.fspy)
        inp = project.calibration_input()
    else:
        inp = parse_lines_json(read_input_file(args.lines, "Lines JSON"))
    image_bytes = None if project is None else project.image_bytes
    if args.image:
        image_bytes = read_input_file(args.image, "Picture")
        size = image_size_px(image_bytes)
        if size != (inp.image_width_px, inp.image_height_px):
            raise InputError(
                f"The picture {args.image} is {size[0]}×{size[1]} pixels but the lines were drawn on "
                f"{inp.image_width_px}×{inp.image_height_px}."
            )
    if args.write_fspy and image_bytes is None:
        raise InputError("--write-fspy needs --image: a .fspy project embeds the picture.")
    calibration = calibrate(inp)
    if args.write_fspy:
        write_bytes_atomic(args.write_fspy, fspy_project_bytes(inp, image_bytes, calibration, based_on=project))
    text = json.dumps(calibration.to_report(), indent=2)
    if args.output:
        write_bytes_atomic(args.output, (text + "\n").encode("utf-8"))
    else:
        sys.stdout.write(text + "\n")
    return 0
