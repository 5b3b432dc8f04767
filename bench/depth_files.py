"""Size, write and read time, and read-back error of each depth file format, in one run.

    .venv/bin/python bench/depth_files.py [--sizes 1024x768 1920x1080] [--repeat N]

The depth is a smooth metric z-depth (1–20 m) with fine texture, as a network gives; the error is
the largest relative z-depth error after reading the file back (a PNG is read as nearness and
mapped back through the stored range, which the file itself does not hold).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib_depth3d.depth.depthmap import DEPTH_WRITERS, DepthMap, load_depth, save_depth  # noqa: E402
from lib_depth3d.depth.registry import NetworkCamera  # noqa: E402


def metric_depth(width: int, height: int) -> DepthMap:
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    smooth = 1.0 + 19.0 * (0.5 + 0.5 * np.sin(x / width * 5.0) * np.cos(y / height * 3.0))
    texture = 0.01 * np.random.default_rng(0).standard_normal((height, width))
    return DepthMap((smooth * (1.0 + texture)).astype(np.float32), "metric")


def median_ms(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def z_depth_error(depth: DepthMap, read: DepthMap) -> float:
    if read.kind == depth.kind:
        restored = read.values.astype(np.float64)
    else:
        near = 1.0 / depth.values.astype(np.float64)
        restored = 1.0 / (near.min() + read.values.astype(np.float64) * (near.max() - near.min()))
    return float(np.max(np.abs(restored / depth.values - 1.0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["1024x768", "1920x1080"])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'size':>10} {'format':>6} {'bytes':>10} {'write ms':>9} {'read ms':>8} {'max rel. z error':>17}")
    with tempfile.TemporaryDirectory() as folder:
        for size in args.sizes:
            width, height = (int(part) for part in size.split("x"))
            depth = metric_depth(width, height)
            camera = NetworkCamera((width, height), (0.8 * width, 0.8 * width), (width / 2, height / 2))
            for suffix in DEPTH_WRITERS:
                path = Path(folder) / f"depth{suffix}"
                write_ms = median_ms(lambda: save_depth(depth, path, camera), args.repeat)
                kind = "metric" if suffix == ".npy" else None
                read_ms = median_ms(lambda: load_depth(path, kind), args.repeat)
                error = z_depth_error(depth, load_depth(path, kind))
                print(f"{size:>10} {suffix:>6} {path.stat().st_size:>10} {write_ms:>9.1f} {read_ms:>8.1f} "
                      f"{error:>17.2e}")


if __name__ == "__main__":
    main()
