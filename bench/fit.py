"""Benchmark: relative disparity fitted to a calibration (lib_depth3d/scene/fit.py).

1. Fit time (best of a few runs) for a rendered room at 1024² and 4096².
2. Accuracy on rendered rooms (tests/support/rendered_room.py: a 5 × 4 × 2.6 m room with a ball,
   seen from several yaws and pitches through a 70° camera, 640×480 and 480×640) with a disparity
   made as a network gives it, ``a/z + b`` plus white noise and a smooth bias (fractions of the
   range of ``a/z``): per condition, the worst over views and over shifts ``b`` of the floor's
   angle to the calibrated floor, the walls' (and ceiling's) angles to their calibrated
   directions, their flatness (RMS distance from their best-fit plane of points averaged over
   8×8 px cells, over the room's depth range) and the error of 1 m along the floor; before the
   fit (near/far 1–10 mapping scaled at the origin, as without a fit), after it, and with the
   true ``a`` and ``b`` (what no fit of scale and shift can beat: the bias's own share).

Run: ``.venv/bin/python bench/fit.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib_depth3d.scene.fit import fit_disparity  # noqa: E402
from lib_depth3d.scene.zdepth import disparity_mapping, zdepth_at_pixel  # noqa: E402
from tests.support.rendered_room import measured_planes, network_disparity, reference_error, render_room  # noqa: E402

REPEATS = 3
VIEWS = [(640, 480, 0, 10), (640, 480, -20, 5), (640, 480, 25, 20), (640, 480, -35, 15), (480, 640, 10, 25),
         (640, 480, 40, 30)]
SHIFTS_IN_NEAR_DISPARITIES = (0.0, 3.0, 25.0)
SEEDS = (0, 1, 2)  # noise and bias fields per view and shift
CONDITIONS = [("exact", 0.0, 0.0), ("0.3 % noise, ±1 % bias", 0.003, 0.01), ("1 % noise, ±3 % bias", 0.01, 0.03)]


def timing() -> None:
    print("fit time (best of 3):")
    for size in (1024, 4096):
        room = render_room(size, size, 70.0, 0, 10)
        camera, disparity = room.camera, network_disparity(room.zdepth, 1.7, 3.0, 0.003, 0.01)
        del room  # its arrays are 0.5 GiB at 4096²
        mapping = disparity_mapping(disparity, 1.0, 10.0)
        best = float("inf")
        for _ in range(REPEATS):
            start = time.perf_counter()
            fit_disparity(disparity, camera, mapping)
            best = min(best, time.perf_counter() - start)
        print(f"  {size}×{size}: {best:.3f} s")


def figures(room, zdepth) -> tuple[float, float, float, float]:
    """(floor angle, worst other side's angle, worst flatness, reference error)."""
    planes = measured_planes(room, zdepth)
    walls = [angle for side, (angle, _) in planes.items() if side != 2]
    return planes[2][0], max(walls), max(f for _, f in planes.values()), reference_error(room, zdepth)


def accuracy() -> None:
    rooms = [render_room(*view[:2], 70.0, *view[2:]) for view in VIEWS]
    print(
        f"\naccuracy, worst over {len(VIEWS)} views × shifts b = {SHIFTS_IN_NEAR_DISPARITIES} × a/z_near "
        f"× {len(SEEDS)} noise and bias fields; before → after (true a, b):"
    )
    print("| disparity | floor | walls | flatness | 1 m along the floor |")
    print("|---|---|---|---|---|")
    for name, noise, bias in CONDITIONS:
        before, after, oracle = [], [], []
        for index, room in enumerate(rooms):
            for shift, seed in ((shift, seed) for shift in SHIFTS_IN_NEAR_DISPARITIES for seed in SEEDS):
                b = shift * 1.7 / room.zdepth.min()
                disparity = network_disparity(room.zdepth, 1.7, b, noise, bias, seed=10 * index + seed)
                mapping = disparity_mapping(disparity, 1.0, 10.0)
                unfitted = 1.0 / (mapping[0] * disparity.astype(np.float64) + mapping[1])
                # Without the fit the scale is set at the origin; the 1 m error is measured so too.
                origin_pixel, origin_depth = room.camera.project(np.zeros((1, 3)))
                at_origin = zdepth_at_pixel(unfitted, tuple(origin_pixel[0]))
                if at_origin is not None:
                    unfitted = unfitted * origin_depth[0] / at_origin
                before.append(figures(room, unfitted))
                fit = fit_disparity(disparity, room.camera, mapping)
                after.append(figures(room, fit.zdepth(disparity)[0].astype(np.float64)))
                oracle.append(figures(room, 1.7 / np.maximum(disparity.astype(np.float64) - b, 1e-9)))
        worst = [np.max(before, axis=0), np.max(after, axis=0), np.max(oracle, axis=0)]
        angles = [" → ".join(f"{w[i]:.2f}°" for w in worst[:2]) + f" ({worst[2][i]:.2f}°)" for i in (0, 1)]
        shares = [" → ".join(f"{100 * w[i]:.2f} %" for w in worst[:2]) + f" ({100 * worst[2][i]:.2f} %)" for i in (2, 3)]
        print(f"| {name} | {angles[0]} | {angles[1]} | {shares[0]} | {shares[1]} |")


if __name__ == "__main__":
    timing()
    accuracy()
