"""The shareable page (`depth3d scene … --html`) in Chromium, opened from a file:// URL with the
network off: its first frame is the picture (as the tab's viewer shows it), walking and orbiting
change it, R brings it back, it offers its own .glb for download, and it plays the camera move."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from lib_depth3d.camera import Camera
from lib_depth3d.cli import main
from lib_depth3d.depth.depthmap import DepthMap
from lib_depth3d.scene import SceneOptions, build_scene, write_scene
from lib_depth3d.scene.frames import rotation_from_quaternion
from tests.browser.test_viewer import assert_walks_in_and_back, drag_to_orbit, frame, next_frame, psnr_over_covered
from tests.support.paths import EXAMPLES_DIR
from tests.support.scene_inputs import smooth_picture, wavy_zdepth

pytestmark = pytest.mark.browser

ROOM = EXAMPLES_DIR / "room"
SHOWN = "() => window.depth3dViewer.scene && window.depth3dViewer.frames > 0 && !window.depth3dViewer.renderPending"
NETWORK = re.compile(r"^(https?|wss?|ftp):", re.IGNORECASE)


@pytest.fixture
def offline_page(browser):
    """A page of the shared browser with the network off and every request outside the page
    refused; on closing, asserts that the page asked for nothing outside itself and raised no
    error (a Content-Security-Policy violation is a console error)."""
    browser.set_offline(True)
    page = browser.new_page()
    page.set_viewport_size({"width": 900, "height": 760})
    requested: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.route(NETWORK, lambda route: route.abort())
    yield page
    page.close()
    browser.set_offline(False)
    assert not [url for url in requested if NETWORK.match(url)], requested
    assert not errors, f"errors on the page: {errors}"


def test_the_page_opens_offline_at_the_picture_and_the_user_can_walk_in(offline_page, tmp_path, artifacts_dir):
    page = offline_page
    glb = tmp_path / "room.glb"
    assert main(["scene", str(ROOM / "room.png"), "--depth", str(ROOM / "room_depth.npy"), "--depth-kind", "depth",
                 "--fspy", str(ROOM / "room.fspy"), "--html", "-o", str(glb)]) == 0
    html = tmp_path / "room.html"
    page.goto(html.as_uri())
    page.wait_for_function(SHOWN, timeout=30_000)
    room = Image.open(ROOM / "room.png")
    first = frame(page)
    assert first.shape[1] / first.shape[0] == pytest.approx(room.width / room.height, abs=0.01)
    first_psnr, covered = psnr_over_covered(first, room)
    print(f"page {html.stat().st_size / 2**20:.2f} MiB (the .glb {glb.stat().st_size / 2**20:.2f} MiB); first frame "
          f"vs room.png: {first_psnr:.1f} dB over {covered:.1%} of {first.shape[1]}×{first.shape[0]} px")
    assert covered > 0.9
    assert first_psnr >= 45  # pixel-exact edges (docs/scene.md); 37.4 dB before them
    assert page.evaluate("() => document.activeElement === window.depth3dViewer.canvas"), "keys need a click first"
    assert not page.is_visible(".depth3d-viewer-play"), "a scene without a camera move offers to play one"

    assert_walks_in_and_back(page, room, first, first_psnr)
    orbit, _ = drag_to_orbit(page, page.locator("canvas.depth3d-viewer-canvas"))
    assert psnr_over_covered(next_frame(page, orbit), room)[0] < first_psnr - 8, "dragging did not orbit"
    page.screenshot(path=str(artifacts_dir / "depth3d_page_orbited.png"))
    np.testing.assert_array_equal(next_frame(page, lambda: page.click(".depth3d-viewer-reset")), first)

    with page.expect_download() as download:
        page.click("#depth3d_page_download")
    assert download.value.suggested_filename == "room.glb"
    assert open(download.value.path(), "rb").read() == glb.read_bytes()


def test_the_page_plays_the_camera_move(offline_page, tmp_path):
    page = offline_page
    picture = smooth_picture(96, 72)
    scene = build_scene(picture, DepthMap(wavy_zdepth(96, 72, seed=5), "depth"), Camera(96, 72, 80.0, (48.0, 36.0)),
                        SceneOptions(resolution=48, animation="walk", animation_seconds=1.5, html_page=True))
    files = write_scene(scene, tmp_path / "moving.glb")
    page.goto(files.html_page.as_uri())
    page.wait_for_function(SHOWN, timeout=30_000)
    first = frame(page)
    first_psnr, covered = psnr_over_covered(first, picture)
    assert covered > 0.97 and first_psnr >= 30
    assert page.inner_text(".depth3d-viewer-play") == "Play the camera move (P)"

    drawn = page.evaluate("() => window.depth3dViewer.frames")
    page.keyboard.press("p")
    start = scene.gltf_camera.translation
    travel = page.wait_for_function(
        f"""() => {{ const p = window.depth3dViewer.view.position, s = {list(map(float, start))};
                     return Math.hypot(p[0] - s[0], p[1] - s[1], p[2] - s[2]); }}""", timeout=10_000).json_value()
    assert page.inner_text(".depth3d-viewer-play") == "Stop (P)"
    page.wait_for_function("() => !window.depth3dViewer.playing && !window.depth3dViewer.renderPending", timeout=10_000)
    played = page.evaluate("() => window.depth3dViewer.frames") - drawn
    print(f"the 1.5 s move drew {played} frames; one of them {travel:.3f} units from the start")
    assert played >= 3 and travel > 0

    move = scene.animation
    view = page.evaluate("() => window.depth3dViewer.view")
    assert np.linalg.norm(move.translations[-1] - start) > 0.5, "the walk ends where it began"
    np.testing.assert_allclose(view["position"], move.translations[-1], atol=1e-5)
    np.testing.assert_allclose(np.column_stack([view["right"], view["up"], view["back"]]),
                               rotation_from_quaternion(move.rotations_xyzw[-1]), atol=1e-5)
    assert page.inner_text(".depth3d-viewer-play") == "Play the camera move (P)"
    assert psnr_over_covered(frame(page), picture)[0] < first_psnr - 8, "the frame at the walk's end is the first"
    np.testing.assert_array_equal(next_frame(page, lambda: page.keyboard.press("r")), first)
