"""The standalone Depth 3D server and a headless Chromium page on it (Playwright, Debian's Chromium)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

from tests.support.paths import REPO_ROOT, VENV_PYTHON

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SERVER_START_TIMEOUT_S = 60
# Another interpreter for the server, e.g. one with gradio 4 to check the tab as Forge would run it.
SERVER_PYTHON = os.environ.get("DEPTH3D_UI_PYTHON", str(VENV_PYTHON))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def ui_url(tmp_path_factory):
    """URL of `python -m lib_depth3d ui` running in a subprocess on a free 127.0.0.1 port."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("ui-server") / "server.log"
    outputs = tmp_path_factory.mktemp("ui-outputs")
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [SERVER_PYTHON, "-m", "lib_depth3d", "ui", "--host", "127.0.0.1", "--port", str(port),
             "--outputs", str(outputs)],
            cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"the standalone UI did not start:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.3)
    yield url
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is not installed (see .ci/run)"
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=chromium, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1300}, accept_downloads=True,
        )
        yield context
        context.close()


@pytest.fixture
def page(browser, ui_url):
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(ui_url)
    page.wait_for_selector("#depth3d_canvas_host canvas.depth3d-canvas", timeout=30_000)
    yield page
    page.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
