"""`python -m lib_depth3d calibrate`: solve a camera from a `.fspy` project or a lines JSON file."""

from __future__ import annotations

import argparse
import json
import sys

from lib_depth3d.errors import InputError

HELP = (
    "Solve the camera from vanishing lines (.fspy project, lines JSON, or lines detected in a picture) "
    "and print it as fSpy camera parameters."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--fspy", metavar="PROJECT.fspy", help="an fSpy project file")
    source.add_argument("--lines", metavar="LINES.json", help="our lines JSON (pixels; see docs/calibration.md)")
    source.add_argument(
        "--detect", metavar="PICTURE", help="detect the vanishing lines in this picture (see docs/calibration.md)"
    )
    parser.add_argument("--image", metavar="IMAGE", help="the picture the lines were drawn on (its size is checked)")
    parser.add_argument(
        "--write-fspy", metavar="OUT.fspy",
        help="also write an fSpy project: of the lines and --image, or the --fspy project with the solved "
        "camera (its other settings kept)",
    )
    parser.add_argument(
        "--write-lines", metavar="OUT.json", help="with --detect: write the detected lines as lines JSON"
    )
    parser.add_argument("--output", metavar="OUT.json", help="write the report here instead of stdout")


def run(args: argparse.Namespace) -> int:
    from lib_depth3d.camera import calibrate, parse_lines_json, read_fspy
    from lib_depth3d.camera.fspy import fspy_project_bytes, image_size_px
    from lib_depth3d.files import read_input_file, write_bytes_atomic

    if args.write_lines and not args.detect:
        raise InputError("--write-lines goes with --detect; with --lines or --fspy the lines are already in a file.")
    if args.detect:
        return _run_detect(args)
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
    _print_report(calibration.to_report(), args.output)
    return 0


def _run_detect(args: argparse.Namespace) -> int:
    """Detect the lines in the picture, solve, write what was asked, print the report with the lines."""
    from lib_depth3d.camera.detect import detect_calibration
    from lib_depth3d.camera.fspy import fspy_project_bytes
    from lib_depth3d.files import open_image, read_input_file, write_bytes_atomic

    if args.image:
        raise InputError("--image goes with --lines; with --detect the picture is the one given to --detect.")
    image_bytes = read_input_file(args.detect, "Picture")
    detection = detect_calibration(open_image(image_bytes))
    if args.write_lines:
        write_bytes_atomic(args.write_lines, (json.dumps(detection.lines_json(), indent=2) + "\n").encode("utf-8"))
    if args.write_fspy:
        write_bytes_atomic(args.write_fspy, fspy_project_bytes(detection.input, image_bytes, detection.calibration))
    _print_report(detection.to_report(), args.output)
    return 0


def _print_report(report: dict, output: str | None) -> None:
    from lib_depth3d.files import write_bytes_atomic

    text = json.dumps(report, indent=2)
    if output:
        write_bytes_atomic(output, (text + "\n").encode("utf-8"))
    else:
        sys.stdout.write(text + "\n")
