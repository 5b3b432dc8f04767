"""Detected lines against fSpy's own solutions on its 2-VP photos, and how firm those solutions are.

    .venv/bin/python bench/detect_fspy.py [--moves N] [--noise-px PX ...]

For each fSpy project of ``$DEPTH3D_SHARED/fixtures/fspy`` (default ../shared) solved in 2-VP
mode, prints fSpy's horizontal field of view from the user's lines, its spread when every
endpoint of those lines moves by Gaussian noise of PX pixels (N draws: the 5th–95th percentile
range), then what detection gives: the field of view, its difference from fSpy's, the rotation
error (up to the choice of axes), the field-of-view interval the detected segments allow (the
confidence's ``fov_interval_deg``), whether fSpy's value lies in it, and the confidence. A
reference whose spread at 1 px is wider than the 2° the issue asks for does not fix the camera
to 2° itself.

``--folder DIR``: every fSpy project in DIR instead (fSpy's own ``test_data``, say), each with its
mode: a 2-VP project against the user's lines, a 1-VP one against the focal length the user
entered, which is the lens's own when they knew it (fSpy's ``iphone6plus.fspy``: 4.15 mm on a
4.8 mm sensor). Projects that do not solve are listed with fSpy's reason.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib_depth3d.camera import calibrate, read_fspy  # noqa: E402
from lib_depth3d.camera.detect import detect_calibration  # noqa: E402
from lib_depth3d.errors import CalibrationError, InputError  # noqa: E402
from tests.camera.test_detect import FSPY_TWO_VP, rotation_error_deg  # noqa: E402
from tests.support.paths import FSPY_FIXTURES  # noqa: E402


def fov_deg(calibration) -> float:
    return math.degrees(calibration.true_horizontal_fov_rad)


def reference_spread_deg(inp, noise_px: float, moves: int, rng: np.random.Generator) -> tuple[float, float]:
    """5th and 95th percentiles of the field of view when the lines' endpoints move by ``noise_px``."""
    found = []
    for _ in range(moves):
        moved = tuple(
            replace(v, segments_px=v.segments_px + rng.normal(0.0, noise_px, v.segments_px.shape))
            for v in inp.vanishing_points
        )
        try:
            found.append(fov_deg(calibrate(replace(inp, vanishing_points=moved))))
        except CalibrationError:
            continue  # lines moved into a degenerate set: no field of view to count
    return float(np.percentile(found, 5)), float(np.percentile(found, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=200)
    parser.add_argument("--noise-px", type=float, nargs="+", default=[1.0, 2.0])
    parser.add_argument("--folder", type=Path, help="every .fspy project in this folder, not the shared 2-VP ones")
    args = parser.parse_args()
    if args.folder is None and not FSPY_FIXTURES.is_dir():
        sys.exit(f"fSpy's reference projects not found in {FSPY_FIXTURES}: set DEPTH3D_SHARED")
    paths = sorted(args.folder.glob("*.fspy")) if args.folder else [FSPY_FIXTURES / name for name in FSPY_TWO_VP]
    spreads = "".join(f" {f'fSpy ±{px:g} px':>15}" for px in args.noise_px)
    print(f"{'project':<32} {'mode':>6} {'size':>9} {'fSpy °':>7}{spreads} {'detected °':>10} {'Δ °':>7} {'rotation °':>10} {'interval °':>13} {'fSpy in':>7} confidence")
    for path in paths:
        name = path.name
        try:
            project = read_fspy(path)
            inp = project.calibration_input()
            reference = calibrate(inp)
        except (InputError, CalibrationError) as error:
            print(f"{name:<32} not used: {error}")
            continue
        name = f"{name:<32} {inp.mode:>6}"
        rng = np.random.default_rng(0)
        ranges = "".join(
            " {:>6.1f}–{:<8.1f}".format(*reference_spread_deg(inp, px, args.moves, rng)) for px in args.noise_px
        )
        picture = ImageOps.exif_transpose(Image.open(io.BytesIO(project.image_bytes)))
        size = "{}×{}".format(*picture.size)
        try:
            detection = detect_calibration(picture)
        except CalibrationError as error:
            print(f"{name} {size:>9} {fov_deg(reference):7.2f}{ranges} refused: {error}")
            continue
        found = detection.calibration
        rotation = rotation_error_deg(found.view_transform[:3, :3], reference.view_transform[:3, :3])
        low, high = detection.confidence.fov_interval_deg
        print(
            f"{name} {size:>9} {fov_deg(reference):7.2f}{ranges} {fov_deg(found):10.2f} "
            f"{fov_deg(found) - fov_deg(reference):+7.2f} {rotation:10.2f} {f'{low:.1f}–{high:.1f}':>13} "
            f"{'yes' if low <= fov_deg(reference) <= high else 'no':>7} "
            f"{'high' if detection.confidence.high else 'low'}"
        )


if __name__ == "__main__":
    main()
