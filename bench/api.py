"""The HTTP API under load: the largest request each route allows, and many clients at once.

    .venv/bin/python bench/api.py [--parts peak concurrency] [--cases NAME ...] [--clients N ...]

``peak``: peak memory of the largest request each route allows (``lib_depth3d.api.LIMITS``).
Each case runs in a fresh process: it builds the request (pictures of noise, what PNG compresses
worst, at the route's largest picture), sends it through FastAPI's TestClient, and prints the
body's size, the seconds the answer took and the process's peak resident memory above what it
held just before sending (the body and the imports are counted then; loading the network is
part of the request). The depth network is the registry's largest, with random weights of its
real architecture (no download).

``concurrency``: a uvicorn server on 127.0.0.1 (a fresh process for each row) and 1, 4 and 16
clients, each sending ``/scene`` requests of the example room (its picture and depth, default
grid) one after another over its own connection until the row's requests are answered; a client
refused with 503 waits the ``Retry-After`` seconds and sends again. Each row prints the answered
requests per second, the 503s, the median seconds of an answered request, and the server's
resident memory after the row and its peak. Each number of clients runs with the API's pool
(sized from the cores) and then with an unbounded one (a thread for each request, as before the
pool); then the ratios of 16 clients to 4. Every row stops after its requests or its time limit, whichever comes first.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import http.client
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
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
    from lib_depth3d.api import MAX_NET_SIZE
    from lib_depth3d.options import MAX_SERVED_GRID_SIDE

    rng = np.random.default_rng(0)
    request = {"image": png_base64(Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)))}
    if case == "depth-model":
        return {**request, "model": MODEL, "net_size": MAX_NET_SIZE // 14 * 14}
    depth = Image.fromarray(rng.integers(1, 65536, (side, side), dtype=np.uint16), "I;16")
    request["depth_image"] = png_base64(depth)
    if case == "scene":
        request.update(fov_deg=60, resolution=MAX_SERVED_GRID_SIDE, fill_occlusions=True)
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


UNBOUNDED_WORKERS = 256
"""Workers of the "unbounded" rows: more than clients, so every request runs at once, as each did
on a thread of its own before the pool."""

ROW_TIME_LIMIT_S = 300.0
SERVER_START_LIMIT_S = 120.0


def process_memory(pid: int) -> dict:
    """Resident memory now (VmRSS) and at its peak (VmHWM) of process ``pid``, in bytes."""
    figures = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            figures[key] = int(value.split()[0]) * 1024
    return figures


def serve(port: int, pool: str) -> None:
    """Serve the API on 127.0.0.1:``port`` with the default pool or an unbounded one, until stopped."""
    import uvicorn
    from fastapi import FastAPI

    from lib_depth3d.api import mount
    from lib_depth3d.worker_pool import PoolSize, WorkerPool

    app = FastAPI()
    mount(app, pool=WorkerPool(PoolSize(UNBOUNDED_WORKERS, 0)) if pool == "unbounded" else None)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def room_scene_request() -> bytes:
    """``/scene`` of the example room (640×480) with its depth as a 16-bit picture, default grid."""
    room = ROOT / "examples" / "room"
    depth = np.load(room / "room_depth.npy").astype(np.float64)
    nearness = (1 / depth - 1 / depth.max()) / (1 / depth.min() - 1 / depth.max())
    depth_picture = Image.fromarray(np.round(nearness * 65535).astype(np.uint16), "I;16")
    return json.dumps({"image": png_base64(Image.open(room / "room.png").convert("RGB")),
                       "depth_image": png_base64(depth_picture), "fov_deg": 60}).encode()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _post(port: int, path: str, body: bytes) -> tuple[int, float, int]:
    """(status, seconds, Retry-After or 0) of one request on a connection of its own."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=ROW_TIME_LIMIT_S)
    start = time.perf_counter()
    try:
        connection.request("POST", path, body, {"content-type": "application/json"})
        answer = connection.getresponse()
        answer.read()
        return answer.status, time.perf_counter() - start, int(answer.getheader("Retry-After") or 0)
    finally:
        connection.close()


def _start_server(pool: str) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--pool", pool],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + SERVER_START_LIMIT_S
    while time.monotonic() < deadline and server.poll() is None:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/depth3d/v1/models")
            if connection.getresponse().status == 200:
                return server, port
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"the server did not start: {server.communicate()[1][-2000:]}")


def concurrency_row(pool: str, clients: int, requests: int, body: bytes) -> dict:
    """Figures of ``requests`` answered ``/scene`` requests sent by ``clients`` clients at once
    to a fresh server, after one request to warm it."""
    server, port = _start_server(pool)
    try:
        status, _, _ = _post(port, "/depth3d/v1/scene", body)
        if status != 200:
            raise RuntimeError(f"the warm-up request was answered {status}")
        warm = process_memory(server.pid)
        lock = threading.Lock()
        claimed, refused, seconds = [0], [0], []
        deadline = time.monotonic() + ROW_TIME_LIMIT_S

        def client() -> None:
            """Claim one of the row's requests, send it; a refused one is given back and sent
            again after its Retry-After."""
            while time.monotonic() < deadline:
                with lock:
                    if claimed[0] == requests:
                        return
                    claimed[0] += 1
                status, took, retry_after_s = _post(port, "/depth3d/v1/scene", body)
                with lock:
                    if status == 200:
                        seconds.append(took)
                    else:
                        claimed[0] -= 1
                        refused[0] += status == 503
                if status not in (200, 503):
                    raise RuntimeError(f"a request was answered {status}")
                if status == 503:
                    time.sleep(min(retry_after_s, max(0.0, deadline - time.monotonic())))

        threads = [threading.Thread(target=client) for _ in range(clients)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - start
        after = process_memory(server.pid)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    return {"pool": pool, "clients": clients, "answered": len(seconds), "refused": refused[0],
            "per_second": len(seconds) / wall, "median_s": statistics.median(seconds) if seconds else float("nan"),
            "warm_rss": warm["VmRSS"], "rss": after["VmRSS"], "peak": after["VmHWM"]}


def concurrency_table(levels: list[int], requests: int) -> None:
    from lib_depth3d.worker_pool import size_from_cores, usable_cores

    mib = 1024 * 1024
    size = size_from_cores(usable_cores())
    names = {"pool": f"pool {size.workers}+{size.queue_size}", "unbounded": "unbounded"}
    body = room_scene_request()
    print(f"\n/scene of the example room (640×480, its depth picture, grid 512) from 127.0.0.1, "
          f"{requests} answered requests a row, a fresh server a row; pool: {size.workers} workers "
          f"(the {usable_cores()} usable cores), {size.queue_size} waiting")
    print(f"{'server':14} {'clients':>7} {'req/s':>7} {'503s':>6} {'median s':>9} {'warm MiB':>9} "
          f"{'after MiB':>10} {'peak MiB':>9}")
    rows = {}
    for clients in levels:  # the two servers side by side, so a change in the machine's load hits both
        for pool in ("pool", "unbounded"):
            row = rows[pool, clients] = concurrency_row(pool, clients, requests, body)
            print(f"{names[pool]:14} {clients:7} {row['per_second']:7.2f} {row['refused']:6} {row['median_s']:9.2f} "
                  f"{row['warm_rss'] / mib:9.0f} {row['rss'] / mib:10.0f} {row['peak'] / mib:9.0f}", flush=True)
    low, high = 4, 16
    if low in levels and high in levels:
        for pool in ("pool", "unbounded"):
            a, b = rows[pool, low], rows[pool, high]
            print(f"{names[pool]:14} {high} clients / {low}: req/s {b['per_second'] / a['per_second']:.2f}×, "
                  f"memory after {b['rss'] / a['rss']:.2f}×, peak {b['peak'] / a['peak']:.2f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", choices=["peak", "concurrency"], default=["peak", "concurrency"])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--clients", nargs="+", type=int, default=[1, 4, 16])
    parser.add_argument("--requests", type=int, default=48, help="answered requests per concurrency row")
    parser.add_argument("--child", choices=list(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--pool", choices=["pool", "unbounded"], default="pool", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_case(args.child)))
        return
    if args.serve:
        serve(args.serve, args.pool)
        return
    if "peak" in args.parts:
        peak_table(args.cases)
    if "concurrency" in args.parts:
        concurrency_table(args.clients, args.requests)


def peak_table(cases: list[str]) -> None:
    mib = 1024 * 1024
    print("largest allowed request per route: peak resident memory above the process before sending")
    print(f"{'case':12} {'route':7} {'picture':>11} {'body MiB':>9} {'of limit':>9} {'seconds':>8} {'peak MiB':>9}  what")
    for case in cases:
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
