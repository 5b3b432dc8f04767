"""Milliseconds to read an `.fspy` project and get its calibration input, and to solve it.

    .venv/bin/python bench/calibration.py [--repeat N]

For every project in ../shared/fixtures/fspy (or $DEPTH3D_SHARED/fixtures/fspy) and for
projects made here around noise pictures of 1024² and 4096² (PNG with its eXIf chunk after the
pixels, and JPEG), it prints the median time of ``read_fspy(path).calibration_input()`` today
("after": the picture's orientation from its header), the same read with the picture's
orientation found as before, by Pillow's ``getexif`` (which decodes a PNG: "before"), their
ratio, the floor (reading the file's bytes, ``Path.read_bytes``) and the time to solve the
camera. Target: "after" ≤ 2 ms for every shared project.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib_depth3d.camera import calibrate, parse_lines_json, read_fspy  # noqa: E402
from lib_depth3d.camera import fspy  # noqa: E402
from lib_depth3d.errors import Depth3DError  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("DEPTH3D_SHARED", REPO_ROOT.parent / "shared"))
TARGET_MS = 2.0


def size_by_decoding(image_bytes: bytes) -> tuple[int, int]:
    """The displayed size as the reader found it before: Pillow's getexif, which decodes a PNG."""
    with Image.open(io.BytesIO(image_bytes)) as picture:
        width, height = picture.size
        orientation = picture.getexif().get(0x0112, 1)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def read_input(path: Path):
    return read_fspy(path).calibration_input()


def read_input_before(path: Path):
    with mock.patch.object(fspy, "image_size_px", size_by_decoding):
        return read_fspy(path).calibration_input()


def milliseconds(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def noise_picture(size: int, kind: str) -> bytes:
    """A ``size``² noise picture (incompressible, the worst case for decoding) with EXIF orientation 1."""
    rng = np.random.default_rng(size)
    picture = Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 1
    buffer = io.BytesIO()
    if kind == "jpeg":
        picture.save(buffer, "JPEG", quality=90, exif=exif.tobytes())
        return buffer.getvalue()
    picture.save(buffer, "PNG", compress_level=1, exif=exif.tobytes())
    data = buffer.getvalue()
    chunks, offset = [], 8
    while offset < len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        chunks.append(data[offset : offset + 12 + length])
        offset += 12 + length
    exif_chunk = [c for c in chunks if c[4:8] == b"eXIf"]
    others = [c for c in chunks if c[4:8] != b"eXIf"]
    return data[:8] + b"".join(others[:-1] + exif_chunk + others[-1:])


def made_projects(folder: Path) -> list[Path]:
    paths = []
    for size in (1024, 4096):
        lines = {
            "image": {"width": size, "height": size},
            "vanishing_points": [
                {"axis": "+x", "segments": [[[0.48 * size, 0.1 * size], [0.31 * size, 0.15 * size]],
                                            [[0.52 * size, 0.49 * size], [0.65 * size, 0.4 * size]]]},
                {"axis": "+y", "segments": [[[0.34 * size, 0.38 * size], [0.49 * size, 0.5 * size]],
                                            [[0.5 * size, 0.1 * size], [0.7 * size, 0.15 * size]]]},
            ],
        }
        for kind in ("png", "jpeg"):
            path = folder / f"noise-{size}-{kind}.fspy"
            path.write_bytes(fspy.fspy_project_bytes(parse_lines_json(lines), noise_picture(size, kind)))
            paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    fixtures = SHARED_DIR / "fixtures" / "fspy"
    shared = sorted(fixtures.glob("*.fspy")) if fixtures.is_dir() else []
    if not shared:
        print(f"(no shared fixtures at {fixtures}; only the projects made here)")
    print(f"median of {args.repeat}; read = read_fspy(path).calibration_input()")
    print(f"{'project':<30} {'picture':>15} {'before ms':>10} {'after ms':>9} {'ratio':>7} {'floor ms':>9} "
          f"{'solve ms':>9}")
    worst_shared = 0.0
    with tempfile.TemporaryDirectory() as folder:
        for path in shared + made_projects(Path(folder)):
            try:
                inp = read_input(path)
            except Depth3DError:
                continue
            project = read_fspy(path)
            with Image.open(io.BytesIO(project.image_bytes)) as header:
                picture = f"{project.image_width_px}×{project.image_height_px} {header.format}"
            before = milliseconds(lambda: read_input_before(path), args.repeat)
            after = milliseconds(lambda: read_input(path), args.repeat)
            floor = milliseconds(path.read_bytes, args.repeat)
            try:
                calibrate(inp)
                solve = f"{milliseconds(lambda: calibrate(inp), args.repeat):9.2f}"
            except Depth3DError:
                solve = f"{'fails':>9}"
            if path in shared:
                worst_shared = max(worst_shared, after)
            print(f"{path.name:<30} {picture:>15} {before:10.2f} {after:9.3f} {before / after:7.1f} "
                  f"{floor:9.3f} {solve}")
    if shared:
        verdict = "meets" if worst_shared <= TARGET_MS else "misses"
        print(f"slowest shared project: {worst_shared:.3f} ms after; {verdict} the ≤ {TARGET_MS:g} ms target")


if __name__ == "__main__":
    main()
