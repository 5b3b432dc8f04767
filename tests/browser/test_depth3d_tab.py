"""The Depth 3D tab in Chromium: draw the room's edges, solve, build, download; zoom, pan, keys, errors."""

from __future__ import annotations

import base64
import json
import math
import re

import numpy as np
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from lib_depth3d import pipeline
from lib_depth3d.camera.detect import detect_calibration
from lib_depth3d.depth.depthmap import DepthMap, depth_png_bytes
from tests.support.glb import read_glb
from tests.support.gltf_validator import problems, validate_files
from tests.support.paths import EXAMPLES_DIR
from tests.support.rooms import render_room, room_camera

pytestmark = pytest.mark.browser

ROOM = EXAMPLES_DIR / "room"
WAIT_MS = 30_000


def room_lines() -> dict:
    return json.loads((ROOM / "room_lines.json").read_text())


def room_truth() -> dict:
    return json.loads((ROOM / "truth.json").read_text())


def canvas_lines(page) -> dict:
    return page.evaluate("() => JSON.parse(JSON.stringify(window.depth3dCanvas.lines))")


def client_point(page, picture_point) -> tuple[float, float]:
    """Where a picture pixel is on the page, through the canvas's current view."""
    return tuple(page.evaluate(
        """([x, y]) => {
            const canvas = window.depth3dCanvas.canvas, rect = canvas.getBoundingClientRect();
            const view = window.depth3dCanvas.view;
            return [rect.left + x * view.scale + view.offsetX, rect.top + y * view.scale + view.offsetY];
        }""",
        list(picture_point),
    ))


def drag(page, start_px, end_px) -> None:
    start, end = client_point(page, start_px), client_point(page, end_px)
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=4)
    page.mouse.up()


def upload_picture(page, path=ROOM / "room.png") -> None:
    page.set_input_files("#depth3d_input input[type=file]", str(path))
    page.wait_for_function("() => window.depth3dCanvas.lines && window.depth3dCanvas.image", timeout=WAIT_MS)


def wait_for_message(page, text: str) -> str:
    try:
        page.wait_for_function(
            "(text) => (document.querySelector('#depth3d_message') || {}).innerText.includes(text)", arg=text,
            timeout=WAIT_MS,
        )
    except PlaywrightTimeoutError:
        pytest.fail(f"the tab's message never said {text!r}; it says {page.inner_text('#depth3d_message')!r}")
    return page.inner_text("#depth3d_message")


def draw_room_edges(page) -> None:
    """Drag every endpoint onto the room's known edges; a third segment per VP is added first."""
    target = room_lines()
    page.click("text=+ segment VP 1")
    page.click("text=+ segment VP 2")
    for v in range(2):
        for s, segment in enumerate(target["vanishing_points"][v]["segments"]):
            for e in range(2):
                drag(page, canvas_lines(page)["vanishing_points"][v]["segments"][s][e], segment[e])
    drag(page, canvas_lines(page)["origin"], target["origin"])


def test_draw_solve_build_download(page, tmp_path, artifacts_dir):
    upload_picture(page)
    page.click("#depth3d_axis1 label:has-text('-x')")
    page.click("#depth3d_axis2 label:has-text('-y')")
    page.wait_for_function(
        "() => window.depth3dCanvas.lines.vanishing_points[1].axis === '-y'", timeout=WAIT_MS)

    draw_room_edges(page)
    drawn = canvas_lines(page)
    target = room_lines()
    for v in range(2):
        np.testing.assert_allclose(drawn["vanishing_points"][v]["segments"],
                                   target["vanishing_points"][v]["segments"], atol=1.0)
    assert [vp["axis"] for vp in drawn["vanishing_points"][:2]] == ["-x", "-y"]
    solved = wait_for_message(page, "Solved")
    fov_live = float(re.search(r"horizontal field of view ([\d.]+)°", solved).group(1))
    assert abs(fov_live - room_truth()["camera"]["horizontal_fov_deg"]) < 1.0
    page.wait_for_function("() => window.depth3dCanvas.overlay && window.depth3dCanvas.overlay.grid.length > 10")

    page.click("#depth3d_ref_axis label:has-text('+x')")
    page.fill("#depth3d_ref_distance input", "1")
    page.press("#depth3d_ref_distance input", "Enter")
    page.wait_for_function("() => (window.depth3dCanvas.lines.reference || {}).distance === 1", timeout=WAIT_MS)
    drag(page, canvas_lines(page)["reference"]["handles"][1], target["reference"]["handles"][1])
    page.wait_for_function(
        "() => { const r = (window.depth3dCanvas.report || {}); return r.referenceDistance === 1 && "
        "Math.abs(r.cameraPosition[0] - 4.2) < 0.3; }", timeout=WAIT_MS)

    depth_png = tmp_path / "room_depth.png"
    depth_png.write_bytes(depth_png_bytes(DepthMap(np.load(ROOM / "room_depth.npy"), "depth")))
    page.click("#depth3d_source input")
    page.click("#depth3d_source li:has-text('depth-image')")
    page.set_input_files("#depth3d_depth_file input[type=file]", str(depth_png))
    page.fill("#depth3d_resolution input[type=number]", "128")
    page.press("#depth3d_resolution input[type=number]", "Enter")
    page.click("#depth3d_build")
    page.wait_for_function(
        "() => document.querySelector('#depth3d_summary').innerText.includes('Horizontal field of view')",
        timeout=60_000)
    summary = page.inner_text("#depth3d_summary")
    fov_built = float(re.search(r"Horizontal field of view:\s*([\d.]+)°", summary).group(1))
    assert abs(fov_built - room_truth()["camera"]["horizontal_fov_deg"]) < 1.0
    position = re.search(r"Camera position:\s*([-\d.]+), ([-\d.]+), ([-\d.]+) m", summary).groups()
    np.testing.assert_allclose([float(v) for v in position], room_truth()["camera"]["position"], atol=0.05)

    links = page.eval_on_selector_all("#depth3d_downloads a", "links => links.map(a => a.href)")
    names = sorted(re.sub(r".*/", "", link) for link in links)
    assert names == ["depth3d.fspy", "depth3d.glb", "depth3d.html", "depth3d_camera.json", "depth3d_depth.png"], names
    glb_url = next(link for link in links if link.endswith(".glb"))
    glb_path = tmp_path / "downloaded.glb"
    glb_path.write_bytes(page.request.get(glb_url).body())
    contents = read_glb(glb_path)
    assert contents.document.cameras, "the .glb holds no camera"
    assert abs(np.degrees(contents.yfov_rad) - np.degrees(room_truth_vertical_fov())) < 1.0
    assert not problems(validate_files([glb_path])[0])

    page.wait_for_function(
        "() => { const img = document.querySelector('#depth3d_mask_preview img'); return img && img.src; }",
        timeout=WAIT_MS)
    page.click("#depth3d_mask_panel .label-wrap")
    page.screenshot(path=str(artifacts_dir / "depth3d_tab.png"), full_page=True)


def room_truth_vertical_fov() -> float:
    camera = room_truth()["camera"]
    height = room_truth()["image"]["height"]
    return 2 * np.arctan(height / 2 / camera["focal_length_px"])


def test_zoom_pan_and_keyboard(page):
    upload_picture(page)
    canvas = page.locator("#depth3d_canvas_host canvas")
    box = canvas.bounding_box()
    centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    scale_before = float(canvas.get_attribute("data-scale"))
    page.mouse.move(*centre)
    page.mouse.wheel(0, -400)
    page.wait_for_function(f"() => parseFloat(window.depth3dCanvas.canvas.dataset.scale) > {scale_before * 1.5}")
    picture_under_cursor = page.evaluate(
        """([x, y]) => { const r = window.depth3dCanvas.canvas.getBoundingClientRect(), v = window.depth3dCanvas.view;
                         return [(x - r.left - v.offsetX) / v.scale, (y - r.top - v.offsetY) / v.scale]; }""",
        list(centre))
    assert client_point(page, picture_under_cursor) == pytest.approx(centre, abs=0.01)

    offset_before = float(canvas.get_attribute("data-offset-x"))
    page.mouse.move(box["x"] + 3, box["y"] + 3)
    page.mouse.down()
    page.mouse.move(box["x"] + 83, box["y"] + 23, steps=3)
    page.mouse.up()
    assert float(canvas.get_attribute("data-offset-x")) == pytest.approx(offset_before + 80, abs=0.5)

    canvas.focus()
    first = canvas_lines(page)["vanishing_points"][0]["segments"][0][0]
    page.keyboard.press("Tab")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowDown")
    page.wait_for_function(
        "(x) => JSON.parse(document.querySelector('#depth3d_lines textarea').value)"
        ".vanishing_points[0].segments[0][0][0] > x + 0.5", arg=first[0])
    moved = canvas_lines(page)["vanishing_points"][0]["segments"][0][0]
    assert moved == pytest.approx([first[0] + 1, first[1] + 10], abs=1e-3)
    assert "vanishing point 1, segment 1, end 1" in page.inner_text(".depth3d-canvas-status")

    scale = float(canvas.get_attribute("data-scale"))
    page.keyboard.press("-")
    assert float(canvas.get_attribute("data-scale")) == pytest.approx(scale * 0.8, rel=1e-4)
    page.click("text=+ segment VP 2")
    assert len(canvas_lines(page)["vanishing_points"][1]["segments"]) == 3
    page.keyboard.press("Delete")
    assert len(canvas_lines(page)["vanishing_points"][1]["segments"]) == 2
    page.keyboard.press("Tab")
    page.keyboard.press("Delete")
    assert len(canvas_lines(page)["vanishing_points"][0]["segments"]) == 2
    assert "at least 2 segments" in page.inner_text(".depth3d-canvas-status")


def test_degenerate_drawing_is_explained_in_words(page):
    upload_picture(page)
    wait_for_message(page, "Solved")
    segments = canvas_lines(page)["vanishing_points"][0]["segments"]
    parallel = [[[100, 100], [300, 100]], [[100, 200], [300, 200]]]
    for s in range(2):
        for e in range(2):
            drag(page, canvas_lines(page)["vanishing_points"][0]["segments"][s][e], parallel[s][e])
    assert segments != canvas_lines(page)["vanishing_points"][0]["segments"]
    message = wait_for_message(page, "Cannot solve the camera")
    assert "vanishing point" in message and "Traceback" not in message
    assert "Traceback" not in page.content()
    page.wait_for_function("() => window.depth3dCanvas.error && !window.depth3dCanvas.report")


def test_fspy_project_loads_into_the_canvas(page):
    page.click("text=fSpy project")
    page.set_input_files("#depth3d_fspy_in input[type=file]", str(ROOM / "room.fspy"))
    page.wait_for_function("() => window.depth3dCanvas.lines && window.depth3dCanvas.image", timeout=WAIT_MS)
    message = wait_for_message(page, "Solved")
    fov = float(re.search(r"horizontal field of view ([\d.]+)°", message).group(1))
    assert abs(fov - room_truth()["camera"]["horizontal_fov_deg"]) < 1.0
    assert page.is_checked("#depth3d_axis1 input[value='-x']")


def test_one_vp_mode_shows_the_horizon_and_solves(page):
    upload_picture(page)
    page.click("#depth3d_mode label:has-text('one_vp')")
    page.wait_for_function("() => window.depth3dCanvas.lines.mode === 'one_vp' && window.depth3dCanvas.lines.horizon",
                           timeout=WAIT_MS)
    kinds = page.evaluate("() => window.depth3dCanvas.lines.horizon.length")
    assert kinds == 2
    horizon = canvas_lines(page)["horizon"]
    drag(page, horizon[1], [horizon[1][0], horizon[1][1] + 20])
    # The two-VP drawing's solve may still be shown: wait for the one-VP camera's given focal length.
    assert "Solved" in wait_for_message(page, "focal length 24.0 mm")
    assert canvas_lines(page)["horizon"][1][1] == pytest.approx(horizon[1][1] + 20, abs=1.0)


def test_magnifier_shows_while_dragging(page, artifacts_dir):
    upload_picture(page)
    start = client_point(page, canvas_lines(page)["origin"])
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0] + 30, start[1] + 10, steps=3)
    assert page.evaluate("() => window.depth3dCanvas.drag.kind") == "handle"
    lens_centre = page.evaluate(LENS_CENTRE_PIXEL)
    page.locator("#depth3d_canvas_host canvas").screenshot(path=str(artifacts_dir / "depth3d_magnifier.png"))
    page.mouse.up()
    assert page.evaluate("() => window.depth3dCanvas.drag") is None
    assert min(lens_centre) > 200, "no white cross-hair of the magnifier at the lens centre while dragging"
    assert min(page.evaluate(LENS_CENTRE_PIXEL)) <= 200, "the magnifier stays after the drag"


# The handle is right of the middle, so the lens sits in the top-left corner, centred at 70 px.
LENS_CENTRE_PIXEL = """() => {
    const canvas = window.depth3dCanvas.canvas, ratio = window.devicePixelRatio || 1;
    return Array.from(canvas.getContext("2d").getImageData(70 * ratio, 70 * ratio, 1, 1).data.slice(0, 3));
}"""


def test_canvas_survives_a_rerender_of_its_host(page):
    upload_picture(page)
    drag(page, canvas_lines(page)["origin"], [300, 300])
    drawn = canvas_lines(page)
    page.evaluate("() => { document.querySelector('#depth3d_canvas_host').innerHTML = ''; }")
    page.wait_for_selector("#depth3d_canvas_host canvas.depth3d-canvas")
    assert canvas_lines(page) == drawn
    assert page.evaluate("() => window.depth3dCanvas.canvas.isConnected && !!window.depth3dCanvas.image")
    assert canvas_lines(page)["origin"] == pytest.approx([300, 300], abs=1.0)


# A1111 1.10's elements around the txt2img gallery (its tool buttons in the row's form group, with
# gradio's generated class) and img2img's "Inpaint upload" tab, built into the standalone page so
# that the send buttons can be driven as they would be in the WebUI.
A1111_ELEMENTS = """(pictureUrl) => {
    const host = document.createElement('div');
    const tool = (id, icon) =>
        `<button id="${id}" class="lg secondary gradio-button tool svelte-cmf5ev">${icon}</button>`;
    host.innerHTML = '<div id="txt2img_gallery"><div class="thumbnail-item selected"><img></div></div>' +
        '<div id="image_buttons_txt2img" class="image-buttons"><div class="form">' +
        tool('txt2img_open_folder', '📂') + tool('save_txt2img', '💾') +
        tool('txt2img_send_to_img2img', '🖼️') + tool('txt2img_send_to_inpaint', '🎨️') +
        tool('txt2img_send_to_extras', '📐') + tool('txt2img_upscale', '✨') +
        '</div></div>' +
        '<div id="img_inpaint_base"><input type="file"></div><div id="img_inpaint_mask"><input type="file"></div>';
    host.querySelector('img').src = pictureUrl;
    gradioApp().appendChild(host);
}"""


def test_send_buttons_use_the_webui_elements(page):
    picture_url = "data:image/png;base64," + base64.b64encode((ROOM / "room.png").read_bytes()).decode()
    page.evaluate(A1111_ELEMENTS, picture_url)
    page.wait_for_selector("#txt2img_send_to_depth3d", timeout=WAIT_MS)
    # Placed and styled as A1111's own send buttons: right after them in their group, with their classes.
    placed = page.evaluate("""() => {
        const button = document.querySelector('#txt2img_send_to_depth3d');
        const extras = document.querySelector('#txt2img_send_to_extras');
        const height = (element) => element.getBoundingClientRect().height;
        return {after: button.previousElementSibling === extras, parent: button.parentElement === extras.parentElement,
                classes: button.className, text: button.textContent,
                lines: Math.round(height(button) / height(extras))};
    }""")
    assert placed == {"after": True, "parent": True, "text": "\U0001F9CA", "lines": 1,
                      "classes": "lg secondary gradio-button tool svelte-cmf5ev depth3d-send"}
    page.click("#txt2img_send_to_depth3d")
    page.wait_for_function("() => window.depth3dCanvas.lines && window.depth3dCanvas.image", timeout=WAIT_MS)
    assert canvas_lines(page)["image"] == {"width": 640, "height": 480}

    page.evaluate("(url) => window.depth3dSendToInpaint({url: url})", picture_url)
    page.wait_for_function(
        "() => ['#img_inpaint_base', '#img_inpaint_mask'].every(id => document.querySelector(id + ' input').files.length === 1)")
    sizes = page.evaluate(
        "() => ['#img_inpaint_base', '#img_inpaint_mask'].map(id => document.querySelector(id + ' input').files[0].size)")
    assert all(size > 1000 for size in sizes)


def wait_for_the_solve_of_the_sent_lines(page) -> dict:
    """Wait until the canvas shows the engine's solve of exactly the lines it last sent to Python
    (not an earlier solve); returns those lines. As a user does, the test acts on the result."""
    sent = json.loads(page.input_value("#depth3d_lines textarea"))
    expected = pipeline.calibrate_lines(sent)["principalPointPixels"]
    try:
        page.wait_for_function(
            "([x, y]) => { const r = window.depth3dCanvas.report; return r && "
            "Math.hypot(r.principalPointPixels[0] - x, r.principalPointPixels[1] - y) < 0.01; }",
            arg=expected, timeout=WAIT_MS)
    except PlaywrightTimeoutError:
        shown = page.evaluate("() => (window.depth3dCanvas.report || {}).principalPointPixels")
        pytest.fail(f"the canvas shows the principal point {shown}, not {expected} of the lines it sent")
    wait_for_message(page, "Solved")
    return sent


def test_principal_point_handle_and_third_vanishing_point(page):
    upload_picture(page)
    page.click("#depth3d_pp_mode label:has-text('manual')")
    page.wait_for_function("() => window.depth3dCanvas.lines.principal_point.mode === 'manual'", timeout=WAIT_MS)
    wait_for_the_solve_of_the_sent_lines(page)
    drag(page, canvas_lines(page)["principal_point"]["point"], [300, 250])
    sent = wait_for_the_solve_of_the_sent_lines(page)
    assert sent["principal_point"]["point"] == pytest.approx([300, 250], abs=0.01)

    page.click("#depth3d_pp_mode label:has-text('third_vp')")
    page.wait_for_function("() => window.depth3dCanvas.lines.vanishing_points.length === 3", timeout=WAIT_MS)
    wait_for_the_solve_of_the_sent_lines(page)
    third = canvas_lines(page)["vanishing_points"][2]["segments"]
    # 10 px keeps the three vanishing points a valid camera (15 px would not: fSpy's "Invalid
    # vanishing point configuration").
    drag(page, third[0][0], [third[0][0][0] + 10, third[0][0][1]])
    sent = wait_for_the_solve_of_the_sent_lines(page)
    assert sent["vanishing_points"][2]["segments"][0][0][0] == pytest.approx(third[0][0][0] + 10, abs=0.5)
    # The principal point is now the orthocentre of the three vanishing points, far from the handle's.
    report = page.evaluate("() => window.depth3dCanvas.report.principalPointPixels")
    assert math.hypot(report[0] - 300, report[1] - 250) > 50


def test_the_licence_of_the_chosen_depth_source_is_shown_with_its_link(page):
    line = "#depth3d_source_licence"
    page.wait_for_function("(s) => (document.querySelector(s) || {}).innerText.includes('Apache-2.0')",
                           arg=line, timeout=WAIT_MS)
    page.click("#depth3d_source input")
    page.click("#depth3d_source li:has-text('depth-anything-v2-large')")
    page.wait_for_function("(s) => document.querySelector(s).innerText.includes('non-commercial use only')",
                           arg=line, timeout=WAIT_MS)
    link = page.locator(f"{line} a")
    assert link.get_attribute("href") == "https://creativecommons.org/licenses/by-nc/4.0/"
    assert link.inner_text().startswith("CC BY-NC 4.0")
    page.click("#depth3d_source input")
    page.click("#depth3d_source li:has-text('depth-image')")
    page.wait_for_function("(s) => document.querySelector(s).innerText.trim() === ''", arg=line, timeout=WAIT_MS)


def test_detect_lines_puts_editable_detected_segments_on_the_canvas(page, tmp_path):
    fov = 70
    room = render_room(room_camera(640, 480, fov, 35, 0))
    room.picture.save(tmp_path / "rendered_room.png")
    upload_picture(page, tmp_path / "rendered_room.png")
    page.wait_for_function("() => window.depth3dCanvas.report || window.depth3dCanvas.error", timeout=WAIT_MS)
    page.click("#depth3d_detect_lines")
    message = wait_for_message(page, "Detected lines")
    assert "high confidence" in message
    expected = detect_calibration(room.picture).lines_json()
    page.wait_for_function("(origin) => window.depth3dCanvas.lines.origin[0] === origin[0]",
                           arg=expected["origin"], timeout=WAIT_MS)
    detected = canvas_lines(page)
    assert detected["vanishing_points"] == expected["vanishing_points"]
    assert abs(float(re.search(r"horizontal field of view ([\d.]+)°", message).group(1)) - fov) < 1.0
    assert page.is_checked(f"#depth3d_axis1 input[value='{expected['vanishing_points'][0]['axis']}']")

    segment = detected["vanishing_points"][0]["segments"][0]
    drag(page, segment[0], [segment[0][0] + 3, segment[0][1]])
    page.wait_for_function(
        "(x) => JSON.parse(document.querySelector('#depth3d_lines textarea').value)"
        ".vanishing_points[0].segments[0][0][0] > x + 2", arg=segment[0][0], timeout=WAIT_MS)
    page.wait_for_function(
        "() => { const m = document.querySelector('#depth3d_message').innerText;"
        " return m.includes('Solved') && !m.includes('Detected lines'); }", timeout=WAIT_MS)


def test_a_picture_upload_that_is_not_a_picture_is_a_sentence_beside_the_canvas(page, tmp_path):
    upload_picture(page)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture at all")
    page.set_input_files("#depth3d_input input[type=file]", str(broken))
    message = wait_for_message(page, "Cannot use the picture")
    assert "The uploaded file is not a readable picture. Use a PNG, JPEG or WebP file." in message
    assert canvas_lines(page)["image"] == {"width": 640, "height": 480}, "the current picture stays"
    assert "Error" not in page.inner_text("body"), "gradio's bare Error is shown"
