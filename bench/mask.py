"""Milliseconds per depth mask, against the same mask made with PIL's filters in the same run.

    .venv/bin/python bench/mask.py [--sizes PX ...] [--grow PX] [--feather PX] [--repeat N]

The PIL reference thresholds with numpy, grows with ``ImageFilter.MaxFilter`` (a square of the
same side) and feathers with ``ImageFilter.GaussianBlur`` (same standard deviation; PIL uses an
extended box approximation, so its pixels differ slightly). Prints both times and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib_depth3d.mask import MaskOptions, depth_mask  # noqa: E402


def synthetic_nearness(size: int) -> np.ndarray:
    """A smooth depth field with a near disc in the middle (float32, size×size)."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    field = 0.3 * y + 0.1 * np.sin(12 * x)
    field[(x - 0.5) ** 2 + (y - 0.5) ** 2 < 0.06] = 0.9
    return np.clip(field, 0, 1)


def pil_mask(nearness: np.ndarray, options: MaskOptions) -> Image.Image:
    repaint = np.where(nearness >= options.near_min, 0, 255).astype(np.uint8)
    mask = Image.fromarray(repaint, "L")
    if options.grow_px:
        mask = mask.filter(ImageFilter.MaxFilter(2 * options.grow_px + 1))
    if options.feather_px:
        mask = mask.filter(ImageFilter.GaussianBlur(options.feather_px))
    return mask


def milliseconds(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--grow", type=int, default=8)
    parser.add_argument("--feather", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    options = MaskOptions(near_min=0.5, hard=True, grow_px=args.grow, feather_px=args.feather)
    print(f"hard band, grow {args.grow} px, feather {args.feather} px; median of {args.repeat}")
    print(f"{'size':>6} {'ours ms':>9} {'PIL ms':>9} {'PIL/ours':>9}")
    for size in args.sizes:
        nearness = synthetic_nearness(size)
        ours = milliseconds(lambda: depth_mask(nearness, options), args.repeat)
        reference = milliseconds(lambda: pil_mask(nearness, options), args.repeat)
        print(f"{size:>6} {ours:>9.1f} {reference:>9.1f} {reference / ours:>9.2f}")


if __name__ == "__main__":
    main()
