"""The standalone Depth 3D server and a headless Chromium page on it (Playwright, Debian's Chromium)."""

from __future__ import annotations

import shutil

import pytest

from tests.support.paths import REPO_ROOT
from tests.support.standalone import standalone_server

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SERVER_START_TIMEOUT_S = 60
# Another interpreter for the server, e.g. one with gradio 4 to check the tab as Forge would run it.
@pytest.fixture(scope="session")
def ui_url(tmp_path_factory):
    """URL of `python -m lib_depth3d ui` running in a subprocess on a free 127.0.0.1 port."""
    log = tmp_path_factory.mktemp("ui-server") / "server.log"
    with standalone_server(tmp_path_factory.mktemp("ui-outputs"), log, cwd=REPO_ROOT,
                           start_timeout_s=SERVER_START_TIMEOUT_S, stop_timeout_s=10) as url:
        yield url


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
