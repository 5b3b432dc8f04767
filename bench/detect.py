"""Seconds to detect vanishing lines and solve the camera, at 1024² and 4096², in one run.

    .venv/bin/python bench/detect.py [--sizes PX ...] [--repeat N]

The picture is a rendered room (tests/support/rooms.py, 70° field of view, clutter strokes)
at 1024², scaled up with bicubic interpolation for larger sizes. Prints the median total time,
the part spent in OpenCV's LSD (on the working copy, at most 1600 px on its longer side), the
rest (grouping, refitting, solving, the confidence), the part of the total spent on the
confidence's field-of-view interval and principal-point check (timed right after each
detection: the median of the paired shares), the segments kept, and the field-of-view error.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib_depth3d.camera.detect import MISFIT_FLOOR_PX, SegmentFit, detect_calibration, detect_segments_px, grey_levels  # noqa: E402
from tests.support.rooms import render_room, room_camera  # noqa: E402

FOV_DEG = 70.0


def median_seconds(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    base = render_room(room_camera(1024, 1024, FOV_DEG, 35.0, -5.0), seed=0).picture
    print(f"{'size':>6} {'total s':>8} {'LSD s':>7} {'rest s':>7} {'confidence':>10} {'segments':>8} {'FOV error °':>11}")
    for size in args.sizes:
        picture = base if size == 1024 else base.resize((size, size), Image.BICUBIC)
        totals, shares = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            detection = detect_calibration(picture)
            totals.append(time.perf_counter() - start)
            fit = SegmentFit.of(detection.calibration, MISFIT_FLOOR_PX * max(1.0, size / 1600) * 2.0 / size)
            start = time.perf_counter()
            fit.fov_interval_deg()
            fit.principal_point_deviation()
            shares.append((time.perf_counter() - start) / totals[-1])
        total = statistics.median(totals)
        grey = grey_levels(picture)
        lsd = median_seconds(lambda: detect_segments_px(grey), args.repeat)
        error = math.degrees(detection.calibration.true_horizontal_fov_rad) - FOV_DEG
        print(
            f"{size:>6} {total:8.3f} {lsd:7.3f} {total - lsd:7.3f} {statistics.median(shares):9.0%} "
            f"{len(detection.segments_px):8d} {error:+11.3f}"
        )
    print(f"target: ≤ 0.3 s at 1024² on 2 cores; numpy {np.__version__}")


if __name__ == "__main__":
    main()
