"""`depth3d ui` run in a subprocess on a free 127.0.0.1 port, for the tests that talk to it."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from tests.support.paths import VENV_PYTHON

SERVER_PYTHON = os.environ.get("DEPTH3D_UI_PYTHON", str(VENV_PYTHON))
"""The Python that serves the tab: the venv's (gradio 3.41), or another one (gradio 4.40) to test Forge's."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def standalone_server(outputs: Path, log: Path, *, cwd: Path, start_timeout_s: float, stop_timeout_s: float,
                      env: dict | None = None) -> Iterator[str]:
    """Serve the tab writing to ``outputs`` (its output to ``log``) until the block ends; yields its URL."""
    port = free_port()
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [SERVER_PYTHON, "-m", "lib_depth3d", "ui", "--host", "127.0.0.1", "--port", str(port),
             "--outputs", str(outputs)],
            cwd=cwd, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + start_timeout_s
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the standalone UI did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.3)
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=stop_timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
