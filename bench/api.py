"""Peak memory of the largest request each HTTP API route allows (``lib_depth3d.api.LIMITS``).

    .venv/bin/python bench/api.py [--cases NAME ...]

Each case runs in a fresh process: it builds the request (pictures of noise, what PNG compresses
worst, at the route's largest picture), sends it through FastAPI's TestClient, and prints the
body's size, the seconds the answer took and the process's peak resident memory above what it
held just before sending (the body and the imports are counted then; loading the network is
part of the request). The depth network is the registry's largest, with random weights of its
real architecture (no download).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODEL = "depth-anything-v2-large"
CASES = {
    "depth-image": ("/depth", "a 16-bit depth picture sent with the picture"),
    "depth-model": ("/depth", f"{MODEL} (random weights) at the largest network size"),
    "scene": ("/scene", "depth picture of noise, the largest grid, background layer"),
    "mask": ("/mask", "depth picture, feather 64 px, grow 64 px"),
}


def resident_bytes(field: str = "VmRSS") -> int:
    """A memory figure of this process from /proc/self/status (VmRSS: now, VmHWM: the peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def reset_peak() -> None:
    """Start VmHWM again from the present resident size (Linux ≥ 4.0), so the peak is the request's."""
    Path("/proc/self/clear_refs").write_text("5")


def png_base64(picture: Image.Image) -> str:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=1)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def largest_request(case: str, side: int) -> dict:
    from lib_depth3d.api import MAX_GRID_SIDE, MAX_NET_SIZE

    rng = np.random.default_rng(0)
    request = {"image": png_base64(Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)))}
    if case == "depth-model":
        return {**request, "model": MODEL, "net_size": MAX_NET_SIZE // 14 * 14}
    depth = Image.fromarray(rng.integers(1, 65536, (side, side), dtype=np.uint16), "I;16")
    request["depth_image"] = png_base64(depth)
    if case == "scene":
        request.update(fov_deg=60, resolution=MAX_GRID_SIDE, fill_occlusions=True)
    if case == "mask":
        request.update(feather_px=64, grow_px=64)
    return request


def use_random_weights(folder: Path) -> None:
    import dataclasses

    from lib_depth3d.depth.registry import MODELS
    from tests.support.depth_weights import write_random_checkpoint

    spec = MODELS[MODEL]
    write_random_checkpoint(folder / spec.files[0].filename, MODEL)
    files = tuple(dataclasses.replace(weight_file, sha256=None, size_bytes=None) for weight_file in spec.files)
    MODELS[MODEL] = dataclasses.replace(spec, files=files)
    os.environ["DEPTH3D_MODELS_DIR"] = str(folder)


def run_case(case: str) -> dict:
    """Send the case's request in this process; its figures as a dict."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from lib_depth3d.api import LIMITS, router

    route, _ = CASES[case]
    limits = LIMITS[route]
    side = int(limits.max_picture_pixels ** 0.5)
    with tempfile.TemporaryDirectory() as folder:
        if case == "depth-model":
            use_random_weights(Path(folder))
        app = FastAPI()
        app.include_router(router)
        client = TestClient(app)
        body = json.dumps(largest_request(case, side)).encode()
        reset_peak()
        before = resident_bytes()
        start = time.perf_counter()
        answer = client.post(f"/depth3d/v1{route}", content=body, headers={"content-type": "application/json"})
        seconds = time.perf_counter() - start
        peak = resident_bytes("VmHWM")
    return {"status": answer.status_code, "detail": answer.json().get("detail") if answer.status_code != 200 else None,
            "side": side, "body_bytes": len(body), "limit_bytes": limits.max_body_bytes, "seconds": seconds,
            "before_bytes": before, "peak_bytes": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--child", choices=list(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_case(args.child)))
        return
    mib = 1024 * 1024
    print("largest allowed request per route: peak resident memory above the process before sending")
    print(f"{'case':12} {'route':7} {'picture':>11} {'body MiB':>9} {'of limit':>9} {'seconds':>8} {'peak MiB':>9}  what")
    for case in args.cases:
        child = subprocess.run([sys.executable, __file__, "--child", case], capture_output=True, text=True, check=False)
        if child.returncode != 0:
            print(f"{case}: failed\n{child.stderr[-2000:]}")
            continue
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        route, what = CASES[case]
        if figures["status"] != 200:
            what = f"answered {figures['status']}: {figures['detail']}"
        side = figures["side"]
        print(f"{case:12} {route:7} {f'{side}×{side}':>11} {figures['body_bytes'] / mib:9.1f} "
              f"{figures['body_bytes'] / figures['limit_bytes']:9.0%} {figures['seconds']:8.1f} "
              f"{(figures['peak_bytes'] - figures['before_bytes']) / mib:9.0f}  {what}")


if __name__ == "__main__":
    main()
