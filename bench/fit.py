"""Benchmark: relative disparity fitted to a calibration (lib_depth3d/scene/fit.py).

1. Fit time and the fitted z-depth's at 1024² and 4096², and at 1024² (both) paired with an older
   fit (``--baseline`` FILE: a copy of its fit.py, e.g. scale and shift only) run interleaved:
   the median of the ratios.
2. Accuracy on rendered rooms (tests/support/rendered_room.py: a 5 × 4 × 2.6 m room with a ball,
   through a 70° camera) with a disparity made as a network gives it, ``a/z + b`` plus white
   noise and a smooth bias (fractions of the range of ``a/z``), on two sets of views: the issue's
   (six views of yaw −35° to 40° and pitch 5° to 30°, 640×480 and 480×640, shifts b = 0, 3 and
   25 nearest a/z, three noise and bias fields each: 54 cases) and 40 views drawn at random
   (aspect ratios 4:3 to 9:16, yaw −45° to 45°, pitch 0° to 35°, b log-uniform from 0.01 to 100
   nearest a/z, 640 px on the longer side). Per condition and set, the worst over the cases of
   the floor's angle to the calibrated floor, the walls' (and ceiling's) angles to their
   calibrated directions, their flatness (RMS distance from their best-fit plane of points
   averaged over 8×8 px cells, over the room's depth range) and the error of 1 m along the
   floor; before the fit (near/far 1–10 mapping scaled at the origin, as without a fit), after
   it, and with the true ``a`` and ``b`` (what a fit of scale and shift alone aims at: the
   bias's own share). The last condition is outside what the fit assumes (a bias of up to two
   periods across the picture), to show how it degrades there.

Run: ``.venv/bin/python bench/fit.py [--baseline OLD_FIT.py]``, e.g. with
``git show 02417e6:lib_depth3d/scene/fit.py > /tmp/fit_old.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib_depth3d.scene.fit import fit_disparity  # noqa: E402
from lib_depth3d.scene.zdepth import disparity_mapping, zdepth_at_pixel  # noqa: E402
from tests.support.rendered_room import (  # noqa: E402
    measured_planes, network_disparity, random_views, reference_error, render_room,
)

REPEATS = 3
PAIRED_REPEATS = 7
VIEWS = [(640, 480, 0, 10), (640, 480, -20, 5), (640, 480, 25, 20), (640, 480, -35, 15), (480, 640, 10, 25),
         (640, 480, 40, 30)]
SHIFTS_IN_NEAR_DISPARITIES = (0.0, 3.0, 25.0)
SEEDS = (0, 1, 2)  # noise and bias fields per view and shift
RANDOM_VIEWS, RANDOM_SEED = 40, 2026
CONDITIONS = [  # name, noise, bias, periods of the bias across the picture
    ("exact", 0.0, 0.0, 1.0),
    ("0.3 % noise, ±1 % bias", 0.003, 0.01, 1.0),
    ("1 % noise, ±3 % bias", 0.01, 0.03, 1.0),
    ("0.3 % noise, ±1 % bias of 2 periods", 0.003, 0.01, 2.0),
]


def timing(baseline_path: str | None) -> None:
    print("time (best of 3):")
    for size in (1024, 4096):
        room = render_room(size, size, 70.0, 0, 10)
        camera, disparity = room.camera, network_disparity(room.zdepth, 1.7, 3.0, 0.003, 0.01)
        del room  # its arrays are 0.5 GiB at 4096²
        mapping = disparity_mapping(disparity, 1.0, 10.0)
        best_fit, best_zdepth = float("inf"), float("inf")
        for _ in range(REPEATS):
            start = time.perf_counter()
            fit = fit_disparity(disparity, camera, mapping)
            fitted = time.perf_counter()
            fit.zdepth(disparity)
            best_fit, best_zdepth = min(best_fit, fitted - start), min(best_zdepth, time.perf_counter() - fitted)
        print(f"  {size}×{size}: fit {best_fit:.3f} s, then its z-depth {best_zdepth:.3f} s")
    if baseline_path is not None:
        paired(baseline_path)


def paired(baseline_path: str) -> None:
    spec = importlib.util.spec_from_file_location("baseline_fit", baseline_path)
    baseline = importlib.util.module_from_spec(spec)
    sys.modules["baseline_fit"] = baseline
    spec.loader.exec_module(baseline)
    room = render_room(1024, 1024, 70.0, 0, 10)
    disparity = network_disparity(room.zdepth, 1.7, 3.0, 0.003, 0.01)
    mapping = disparity_mapping(disparity, 1.0, 10.0)
    times: dict[str, list[float]] = {"this": [], "baseline": []}
    for repeat in range(PAIRED_REPEATS):
        sides = [("this", fit_disparity), ("baseline", baseline.fit_disparity)]
        for name, fit in sides if repeat % 2 else sides[::-1]:
            start = time.perf_counter()
            fit(disparity, room.camera, mapping).zdepth(disparity)
            times[name].append(time.perf_counter() - start)
    ratios = np.array(times["this"]) / np.array(times["baseline"])
    print(
        f"  1024×1024 paired, {PAIRED_REPEATS} interleaved runs: this {np.median(times['this']):.3f} s, "
        f"baseline {np.median(times['baseline']):.3f} s, median ratio {np.median(ratios):.2f}"
    )


def figures(room, zdepth) -> tuple[float, float, float, float]:
    """(floor angle, worst other side's angle, worst flatness, reference error)."""
    planes = measured_planes(room, zdepth)
    walls = [angle for side, (angle, _) in planes.items() if side != 2]
    return planes[2][0], max(walls, default=0.0), max(f for _, f in planes.values()), reference_error(room, zdepth)


def case_figures(room, shift: float, seed: int, noise: float, bias: float, periods: float):
    """(before, after, with the true a and b) figures for one disparity of the room."""
    b = shift * 1.7 / room.zdepth.min()
    disparity = network_disparity(room.zdepth, 1.7, b, noise, bias, seed=seed, periods=periods)
    mapping = disparity_mapping(disparity, 1.0, 10.0)
    unfitted = 1.0 / (mapping[0] * disparity.astype(np.float64) + mapping[1])
    # Without the fit the scale is set at the origin; the 1 m error is measured so too.
    origin_pixel, origin_depth = room.camera.project(np.zeros((1, 3)))
    at_origin = zdepth_at_pixel(unfitted, tuple(origin_pixel[0]))
    if at_origin is not None:
        unfitted = unfitted * origin_depth[0] / at_origin
    fit = fit_disparity(disparity, room.camera, mapping)
    return (
        figures(room, unfitted),
        figures(room, fit.zdepth(disparity)[0].astype(np.float64)),
        figures(room, 1.7 / np.maximum(disparity.astype(np.float64) - b, 1e-9)),
    )


def accuracy() -> None:
    issue_rooms = [render_room(*view[:2], 70.0, *view[2:]) for view in VIEWS]
    issue_cases = [
        (room, shift, 10 * index + seed)
        for index, room in enumerate(issue_rooms) for shift in SHIFTS_IN_NEAR_DISPARITIES for seed in SEEDS
    ]
    drawn = random_views(RANDOM_VIEWS, 640, RANDOM_SEED)
    random_cases = [(view.room(), view.shift_in_near_disparities, view.seed) for view in drawn]
    print("\naccuracy, worst of each set; before → after (true a, b):")
    print("| disparity | views | floor | walls | flatness | 1 m along the floor |")
    print("|---|---|---|---|---|---|")
    for name, noise, bias, periods in CONDITIONS:
        sets = ((f"issue's {len(issue_cases)}", issue_cases), (f"{len(random_cases)} random", random_cases))
        for label, cases in sets:
            results = np.array([case_figures(room, shift, seed, noise, bias, periods) for room, shift, seed in cases])
            worst = results.max(axis=0)  # (before/after/true, figure)
            angles = [" → ".join(f"{w[i]:.2f}°" for w in worst[:2]) + f" ({worst[2][i]:.2f}°)" for i in (0, 1)]
            shares = [
                " → ".join(f"{100 * w[i]:.2f} %" for w in worst[:2]) + f" ({100 * worst[2][i]:.2f} %)" for i in (2, 3)
            ]
            print(f"| {name} | {label} | {angles[0]} | {angles[1]} | {shares[0]} | {shares[1]} |", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="an older fit.py to time this one against, interleaved")
    arguments = parser.parse_args()
    timing(arguments.baseline)
    accuracy()
