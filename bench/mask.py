"""Milliseconds per depth mask, against the same steps written plainly with numpy and OpenCV.

    .venv/bin/python bench/mask.py [--sizes PX ...] [--grow PX] [--feather PX] [--repeat N]

The peer cuts the band with numpy (uint8 0/255), grows with ``cv2.dilate`` (a square of the
same side), feathers with ``cv2.GaussianBlur`` in float32 (same σ, same 3 σ truncation; OpenCV's
uint8 blur rounds its kernel to 1/256 and lands up to 4 levels away) and rounds with
``cv2.convertScaleAbs``: each step one whole-picture call. Two depth maps: ``disc``, a near disc
over a smooth background (a mask of wide flat areas, as depth masks are), and ``checker``,
20-pixel blobs everywhere (every row and column has an edge: nothing can be skipped).

Runs are paired (ours and the peer alternate, in alternating order); the table shows the medians,
the median of the per-pair ratios peer/ours (> 1: ours is faster), the largest level difference
between the two masks, and the growth exponents: the slope of log(time) over log(pixels) from
each size to the next, then fitted over all sizes (1 = linear), from the medians and from the
fastest run of each (on a shared machine the fastest is the one least slowed by other work).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib_depth3d.mask import MaskOptions, depth_mask  # noqa: E402


def disc_nearness(size: int) -> np.ndarray:
    """A smooth depth field with a near disc in the middle (float32, size×size)."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    field = 0.3 * y + 0.1 * np.sin(12 * x)
    field[(x - 0.5) ** 2 + (y - 0.5) ** 2 < 0.06] = 0.9
    return np.clip(field, 0, 1)


def checker_nearness(size: int) -> np.ndarray:
    """Near and far blobs 20 pixels wide over the whole picture (float32, size×size)."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    return (0.5 + 0.5 * np.sin(np.pi * x / 20) * np.sin(np.pi * y / 20)).astype(np.float32)


SCENES = {"disc": disc_nearness, "checker": checker_nearness}


def opencv_peer(nearness: np.ndarray, options: MaskOptions) -> np.ndarray:
    """The hard-cut mask's 8-bit levels by the same steps, each a plain whole-picture numpy or OpenCV call."""
    inside = (nearness >= options.near_min) & (nearness <= options.near_max)
    repaint = (inside if options.invert else ~inside).astype(np.uint8) * 255
    square = np.ones((2 * abs(options.grow_px) + 1,) * 2, dtype=np.uint8)
    if options.grow_px > 0:
        repaint = cv2.dilate(repaint, square, borderType=cv2.BORDER_REPLICATE)
    elif options.grow_px < 0:
        repaint = cv2.erode(repaint, square, borderType=cv2.BORDER_REPLICATE)
    if options.feather_px > 0:
        side = 2 * max(1, int(np.ceil(3 * options.feather_px))) + 1
        blurred = cv2.GaussianBlur(repaint.astype(np.float32), (side, side), options.feather_px,
                                   borderType=cv2.BORDER_REPLICATE)
        repaint = cv2.convertScaleAbs(blurred)
    return repaint


def paired_milliseconds(ours, peer, repeat: int, clock=time.perf_counter) -> tuple[list[float], list[float]]:
    """Milliseconds of each of ``repeat`` paired runs of ours and the peer, after one warm-up run
    each, on ``clock`` (wall time by default; ``time.process_time`` counts the CPU time of all the
    process's threads, which other work on a shared machine hardly moves)."""
    ours(), peer()
    ours_ms, peer_ms = [], []
    for index in range(repeat):
        for function, times in ((ours, ours_ms), (peer, peer_ms))[:: 1 if index % 2 else -1]:
            start = clock()
            function()
            times.append((clock() - start) * 1000)
    return ours_ms, peer_ms


def growth_exponent(sizes: list[int], milliseconds: list[float]) -> float:
    """Slope of log(time) over log(pixels), least squares."""
    return float(np.polyfit(np.log(np.square(sizes, dtype=np.float64)), np.log(milliseconds), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    parser.add_argument("--grow", type=int, default=8)
    parser.add_argument("--feather", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    options = MaskOptions(near_min=0.5, hard=True, grow_px=args.grow, feather_px=args.feather)
    print(f"hard cut at nearness 0.5, grow {args.grow} px, feather {args.feather} px; "
          f"{args.repeat} paired runs, medians; cv2 {cv2.__version__}, {cv2.getNumThreads()} threads")
    print(f"{'scene':>8} {'size':>7} {'ours ms':>9} {'peer ms':>9} {'peer/ours':>10} {'max diff':>9} "
          f"{'exp ours':>9} {'exp peer':>9}")
    for name, scene in SCENES.items():
        medians, fastest = {"ours": [], "peer": []}, {"ours": [], "peer": []}
        for index, size in enumerate(args.sizes):
            nearness = scene(size)
            ours_levels = np.asarray(depth_mask(nearness, options).mask, dtype=np.int16)
            difference = int(np.abs(ours_levels - opencv_peer(nearness, options)).max())
            ours_ms, peer_ms = paired_milliseconds(
                lambda: depth_mask(nearness, options), lambda: opencv_peer(nearness, options), args.repeat
            )
            ratio = statistics.median(theirs / mine for mine, theirs in zip(ours_ms, peer_ms))
            for who, times in (("ours", ours_ms), ("peer", peer_ms)):
                medians[who].append(statistics.median(times))
                fastest[who].append(min(times))
            exponents = ""
            if index:
                pair = args.sizes[index - 1:index + 1]
                exponents = " ".join(f"{growth_exponent(pair, medians[who][-2:]):>9.2f}" for who in ("ours", "peer"))
            print(f"{name:>8} {size:>7} {medians['ours'][-1]:>9.1f} {medians['peer'][-1]:>9.1f} {ratio:>10.2f} "
                  f"{difference:>9} {exponents}")
        if len(args.sizes) > 2:
            for label, times in (("fit", medians), ("fit min", fastest)):
                print(f"{name:>8} {label:>7} {'':>40} "
                      + " ".join(f"{growth_exponent(args.sizes, times[who]):>9.2f}" for who in ("ours", "peer")))

if __name__ == "__main__":
    main()
