"""Reading a 16-bit depth PNG (issue 15): what ``depth3d scene --depth D.png`` does with it, against
the peers it was chosen over, each in a fresh process (CPU seconds of the read alone, imports of
numpy, PIL and lib_depth3d done before the clock starts).

    .venv/bin/python bench/depth_png.py [--sizes PX ...] [--repeat N]

- ``ours``: ``files.open_depth_picture`` and ``depthmap.depth_image_nearness``, as ``load_depth`` reads it.
- ``pillow``: ``files.open_image`` (Pillow's 32-bit "I", converted to I;16) and the same nearness:
  the path before.
- ``opencv``: ``cv2.imdecode(IMREAD_UNCHANGED)`` to uint16 and the same division, its import of cv2
  (which the scene command does not otherwise make) on the clock; Pillow still has to read the
  text chunks, which is not counted here.

Two files per size from ``bench/scene.py``'s disparity: one from our writer (``grey16_png_bytes``,
every row Sub-filtered) and one from Pillow's (Paeth for most rows, as libpng's adaptive filters
choose). The sides run interleaved in alternating order; the table gives medians and the median of
the per-round ratios to ``pillow``. Every side's nearness is checked equal before timing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import scene as scene_bench  # noqa: E402

from lib_depth3d.files import grey16_png_bytes  # noqa: E402

READ = r"""
import sys, time
import numpy as np
from PIL import Image
from lib_depth3d.depth.depthmap import depth_image_nearness
from lib_depth3d.files import open_depth_picture, open_image
side, path = sys.argv[1], sys.argv[2]
start = time.process_time()
if side == "ours":
    nearness = depth_image_nearness(open_depth_picture(path))
elif side == "pillow":
    nearness = depth_image_nearness(open_image(path))
else:
    import cv2
    levels = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    nearness = np.divide(levels, np.float32(65535), dtype=np.float32)
seconds = time.process_time() - start
if len(sys.argv) > 3:
    np.save(sys.argv[3], nearness)
print(seconds)
"""
SIDES = ("pillow", "ours", "opencv")


def depth_pngs(folder: Path, size: int) -> dict[str, Path]:
    """The bench's disparity at ``size``² as 16-bit PNGs from our writer and from Pillow's."""
    _, depth, _ = scene_bench.inputs(size)
    disparity = 1.0 / depth.values.astype(np.float64)
    levels = np.round((disparity - disparity.min()) / (disparity.max() - disparity.min()) * 65535).astype(np.uint16)
    paths = {"ours": folder / f"ours{size}.png", "pillow": folder / f"pillow{size}.png"}
    paths["ours"].write_bytes(grey16_png_bytes(levels))
    Image.fromarray(levels).save(paths["pillow"])
    return paths


def read_seconds(side: str, path: Path, saved: Path | None = None) -> float:
    command = [sys.executable, "-c", READ, side, str(path)] + ([str(saved)] if saved else [])
    return float(subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print("16-BIT DEPTH PNG READ, fresh processes, median CPU ms of the read (× pillow: median of the rounds' ratios)")
    print(f"{'size':>6} {'writer':>7} " + " ".join(f"{side + ' ms':>10} {'× pillow':>8}" for side in SIDES))
    with tempfile.TemporaryDirectory(prefix="depth3d-depth-png-") as folder_name:
        folder = Path(folder_name)
        for size in args.sizes:
            for writer, path in depth_pngs(folder, size).items():
                read = {side: folder / f"{side}.npy" for side in SIDES}
                for side in SIDES:  # also the warm-up: bytecode caches, the page cache
                    read_seconds(side, path, read[side])
                reference = np.load(read["pillow"])
                for side in SIDES:
                    if not np.array_equal(np.load(read[side]), reference):
                        raise SystemExit(f"{side} read {path.name} differently from Pillow")
                seconds: dict[str, list[float]] = {side: [] for side in SIDES}
                for round_index in range(args.repeat):
                    shift = round_index % len(SIDES)
                    for side in SIDES[shift:] + SIDES[:shift]:
                        seconds[side].append(read_seconds(side, path))
                cells = []
                for side in SIDES:
                    ratio = statistics.median(a / b for a, b in zip(seconds[side], seconds["pillow"]))
                    cells.append(f"{statistics.median(seconds[side]) * 1000:10.1f} {ratio:8.2f}")
                print(f"{size:>5}² {writer:>7} " + " ".join(cells), flush=True)


if __name__ == "__main__":
    main()
