"""`python -m lib_depth3d blender-addon -o depth3d_blender.zip`: the Blender add-on that imports scenes."""

from __future__ import annotations

import argparse

HELP = "Write the Blender add-on (File > Import > Depth3D scene) as the zip Blender installs."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", required=True, metavar="ADDON.zip", help="where to write the add-on's zip")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lib_depth3d.blender_addon import addon_zip_bytes
    from lib_depth3d.errors import InputError
    from lib_depth3d.output_sets import check_targets, write_file_set

    if Path(args.output).suffix.lower() != ".zip":
        raise InputError(f"--output must end in .zip (Blender installs add-ons from a zip), not {Path(args.output).name}.")
    check_targets([args.output])
    write_file_set([(args.output, addon_zip_bytes())])
    print(f"wrote {args.output}: the Depth3D add-on for Blender 3.4 and later")
    print("  install: Edit > Preferences > Add-ons > Install… (Blender 4.2+: Install from Disk…), choose the zip, tick it")
    print("  use: File > Import > Depth3D scene (.glb)")
    return 0
