"""The download lock between real processes: one download for all, crashed holders do not block,
stuck holders give a clear error. Each helper process imports only the weights module."""

from __future__ import annotations

import errno
import hashlib
import http.server
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from lib_depth3d.depth import weights
from lib_depth3d.depth.registry import WeightFile
from lib_depth3d.depth.weights import download
from lib_depth3d.errors import WeightsError
from tests.support.paths import REPO_ROOT

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
UNREACHABLE = "http://127.0.0.1:9/weights.bin"
LINE_TIMEOUT_S = 60

DOWNLOADER = """
import sys
from pathlib import Path
from lib_depth3d.depth import weights
from lib_depth3d.depth.registry import WeightFile
from lib_depth3d.depth.weights import download
url, folder, sha256, size = sys.argv[1:]
weight_file = WeightFile("weights.bin", url, "original", sha256, int(size), "1 MiB")
path = download(weight_file, Path(folder), on_wait=lambda message: print("waiting:", message, flush=True))
print("done:", path, flush=True)
"""

HOLDER = """
import sys
from pathlib import Path
from lib_depth3d.depth.weights import download_lock
with download_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.read()
"""

SLOW_WRITER = """
import os, sys, time
from pathlib import Path
from lib_depth3d.depth.weights import download_lock
destination = Path(sys.argv[1])
partial = destination.with_name(destination.name + ".part")
payload = bytes(range(256)) * 4096
with download_lock(destination):
    print("locked", flush=True)
    for start in range(0, len(payload), len(payload) // 32):
        with open(partial, "ab") as handle:
            handle.write(payload[start:start + len(payload) // 32])
        time.sleep(0.05)
    os.replace(partial, destination)
"""


class Server:
    """Serves PAYLOAD at /weights.bin, holding each answer back until ``release`` is set, and
    counts the requests."""

    def __init__(self):
        self.requests: list[str] = []
        self.release = threading.Event()
        served = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                served.requests.append(self.path)
                served.release.wait(LINE_TIMEOUT_S)
                self.send_response(200)
                self.send_header("Content-Length", str(len(PAYLOAD)))
                self.end_headers()
                for start in range(0, len(PAYLOAD), 1 << 16):
                    self.wfile.write(PAYLOAD[start:start + (1 << 16)])

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/weights.bin"


@pytest.fixture
def server():
    served = Server()
    thread = threading.Thread(target=served.httpd.serve_forever, daemon=True)
    thread.start()
    yield served
    served.release.set()
    served.httpd.shutdown()
    served.httpd.server_close()


def start(script: str, *args) -> subprocess.Popen:
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], cwd=REPO_ROOT, env=environment,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_lines_into(lines: queue.Queue, index: int, process: subprocess.Popen) -> threading.Thread:
    def read():
        for line in process.stdout:
            lines.put((index, line.strip()))

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def hold_lock(destination: Path, script: str = HOLDER) -> subprocess.Popen:
    holder = start(script, destination)
    assert holder.stdout.readline().strip() == "locked", holder.stderr.read()
    return holder


def weight_file(url: str) -> WeightFile:
    return WeightFile("weights.bin", url, "original", PAYLOAD_SHA256, len(PAYLOAD), "1 MiB")


def test_two_processes_fetch_the_file_once_and_both_get_it(server, tmp_path):
    folder = tmp_path / "models"
    children = [start(DOWNLOADER, server.url, folder, PAYLOAD_SHA256, len(PAYLOAD)) for _ in range(2)]
    lines: queue.Queue = queue.Queue()
    readers = [read_lines_into(lines, index, child) for index, child in enumerate(children)]
    try:
        waiter, first_line = lines.get(timeout=LINE_TIMEOUT_S)  # the holder stays silent: its answer is held back
    except queue.Empty:
        pytest.fail("neither process waited for the other's download")
    finally:
        server.release.set()
    for child in children:
        assert child.wait(LINE_TIMEOUT_S) == 0, child.stderr.read()
    for reader in readers:
        reader.join(LINE_TIMEOUT_S)
    said = {index: [] for index in range(2)}
    said[waiter].append(first_line)
    while not lines.empty():
        index, line = lines.get_nowait()
        said[index].append(line)
    finished = f"done: {folder / 'weights.bin'}"
    assert said[waiter] == ["waiting: Waiting for another download of weights.bin to finish", finished]
    assert said[1 - waiter] == [finished]
    assert server.requests == ["/weights.bin"]
    assert (folder / "weights.bin").read_bytes() == PAYLOAD
    assert sorted(path.name for path in folder.iterdir()) == ["weights.bin"]  # no .part, no .lock


def test_lock_file_left_by_a_killed_process_does_not_block(server, tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    holder = hold_lock(folder / "weights.bin")
    holder.kill()  # no clean-up runs: the lock file stays, the operating system drops the lock
    holder.wait(LINE_TIMEOUT_S)
    assert (folder / "weights.bin.lock").exists()
    server.release.set()
    path = download(weight_file(server.url), folder, stall_timeout_s=LINE_TIMEOUT_S)
    assert path.read_bytes() == PAYLOAD
    assert sorted(path.name for path in folder.iterdir()) == ["weights.bin"]


def test_a_stuck_holder_gives_an_error_naming_the_lock_file(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    holder = hold_lock(folder / "weights.bin")
    notices = []
    try:
        with pytest.raises(WeightsError) as caught:
            download(weight_file(UNREACHABLE), folder, stall_timeout_s=0.5, on_wait=notices.append)
    finally:
        holder.stdin.close()
        assert holder.wait(LINE_TIMEOUT_S) == 0, holder.stderr.read()
    message = str(caught.value)
    assert str(folder / "weights.bin.lock") in message and "no progress for 0.5 s" in message
    assert notices == ["Waiting for another download of weights.bin to finish"]
    assert list(folder.iterdir()) == []  # the holder removed its lock file on release


def test_a_holder_that_makes_progress_is_waited_for_past_the_stall_timeout(tmp_path):
    """The holder takes about three stall timeouts but writes every 50 ms: the waiter keeps waiting
    and returns the holder's file without touching the (unreachable) network."""
    folder = tmp_path / "models"
    folder.mkdir()
    writer = hold_lock(folder / "weights.bin", SLOW_WRITER)
    path = download(weight_file(UNREACHABLE), folder, stall_timeout_s=0.5)
    assert writer.wait(LINE_TIMEOUT_S) == 0, writer.stderr.read()
    assert path.read_bytes() == PAYLOAD


def test_a_folder_without_file_locks_gives_a_clear_error(tmp_path, monkeypatch):
    def no_locks(handle):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(weights, "_lock_now", no_locks)
    with pytest.raises(WeightsError, match=r"Cannot lock .*weights\.bin\.lock \(No locks available\)\. Choose a models"):
        download(weight_file(UNREACHABLE), tmp_path)


def test_a_lock_file_this_user_cannot_write_is_locked_through_a_read_handle(tmp_path, monkeypatch):
    """As left by a crashed run of another user sharing the folder (root, which runs the suite in
    CI, may write anything, so the refusal is staged at os.open)."""
    destination = tmp_path / "weights.bin"
    lock_path = tmp_path / "weights.bin.lock"
    lock_path.touch()
    real_open = os.open

    def refuse_writing_the_lock(path, flags, *mode):
        if Path(path) == lock_path and flags & os.O_RDWR:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *mode)

    monkeypatch.setattr(os, "open", refuse_writing_the_lock)
    with weights.download_lock(destination):
        monkeypatch.undo()
        assert weights._try_lock(lock_path) is None  # held: another handle cannot take it
    handle = weights._try_lock(lock_path)
    assert handle is not None  # and released
    os.close(handle)


def test_lock_trouble_is_reported_as_it_is_not_as_a_missing_file(monkeypatch):
    from lib_depth3d.depth.estimate import weights_for
    from lib_depth3d.depth.registry import get_model

    stuck = weights.DownloadLockError("Gave up waiting for another download of x.pth: stop that process.")

    def locked(*args, **kwargs):
        raise stuck

    monkeypatch.setattr(weights, "local_file", lambda spec, folder=None: None)
    monkeypatch.setattr(weights, "download", locked)
    with pytest.raises(WeightsError) as caught:
        weights_for(get_model("depth-anything-v2-small"))
    assert caught.value is stuck
