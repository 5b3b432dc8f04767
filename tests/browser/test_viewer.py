"""The tab's WebGL viewer in Chromium: the first frame of the built room is the picture, walking
and orbiting change it, R brings the picture back; its GLB parser against pygltflib; its errors."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from lib_depth3d.camera import Camera
from lib_depth3d.depth.depthmap import DepthMap, depth_png_bytes
from lib_depth3d.scene import SceneOptions, build_scene, glb_bytes
from tests.support.glb import mesh_node_matrix, read_glb
from tests.support.paths import EXAMPLES_DIR
from tests.support.scene_inputs import smooth_picture, wavy_zdepth

pytestmark = pytest.mark.browser

ROOM = EXAMPLES_DIR / "room"
WAIT_MS = 30_000
NO_WEBGL = "Your browser has no WebGL; download the .glb and open it in Blender."

FRAME = "() => window.depth3dViewer.canvas.toDataURL('image/png')"
FRAMES_DRAWN = "() => window.depth3dViewer.frames"
LOAD_BYTES = """async (data) => {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    await window.depth3dViewer.load(URL.createObjectURL(new Blob([bytes])));
    return window.depth3dViewer.error;
}"""


def frame(page) -> np.ndarray:
    """The viewer canvas's pixels (RGBA, device pixels)."""
    data_url = page.evaluate(FRAME)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("RGBA"))


def next_frame(page, action) -> np.ndarray:
    """The frame drawn after ``action`` (the viewer draws only when the view changes)."""
    drawn = page.evaluate(FRAMES_DRAWN)
    action()
    page.wait_for_function(f"() => window.depth3dViewer.frames > {drawn} && !window.depth3dViewer.renderPending")
    return frame(page)


def picture_as_framed(picture: Image.Image, width: int, height: int) -> np.ndarray:
    """The picture as the viewer frames it on a ``width``×``height`` canvas: scaled to fit,
    centred, sampled bilinearly at pixel centres as a GPU magnifies a texture."""
    rgb = np.asarray(picture.convert("RGB"), dtype=np.float64)
    scale = min(width / picture.width, height / picture.height)
    offset_x, offset_y = (width - picture.width * scale) / 2, (height - picture.height * scale) / 2
    u = np.clip((np.arange(width) + 0.5 - offset_x) / scale - 0.5, 0, picture.width - 1)
    v = np.clip((np.arange(height) + 0.5 - offset_y) / scale - 0.5, 0, picture.height - 1)
    u0, v0 = np.minimum(u.astype(int), picture.width - 2), np.minimum(v.astype(int), picture.height - 2)
    fu, fv = (u - u0)[None, :, None], (v - v0)[:, None, None]
    rows0, rows1 = rgb[v0], rgb[v0 + 1]
    top = rows0[:, u0] * (1 - fu) + rows0[:, u0 + 1] * fu
    bottom = rows1[:, u0] * (1 - fu) + rows1[:, u0 + 1] * fu
    return top * (1 - fv) + bottom * fv


def psnr_over_covered(rendered: np.ndarray, picture: Image.Image) -> tuple[float, float]:
    """(PSNR in dB, covered fraction) of a frame against the picture, over the pixels the mesh covers."""
    expected = picture_as_framed(picture, rendered.shape[1], rendered.shape[0])
    covered = rendered[..., 3] == 255
    error = (rendered[..., :3].astype(np.float64) - expected)[covered]
    mse = float(np.mean(error ** 2)) if error.size else float("inf")
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-12)), float(covered.mean())


def assert_walks_in_and_back(page, room: Image.Image, first: np.ndarray, first_psnr: float) -> None:
    """Four steps of W change the view; R gives the first frame back pixel for pixel."""
    walked = next_frame(page, lambda: [page.keyboard.press("w") for _ in range(4)])
    walked_psnr = psnr_over_covered(walked, room)[0]
    print(f"after four steps of W: {walked_psnr:.1f} dB")
    assert walked_psnr < first_psnr - 8, "walking in did not change the view"
    np.testing.assert_array_equal(next_frame(page, lambda: page.keyboard.press("r")), first)


def drag_to_orbit(page, canvas):
    """The action of dragging across the middle of ``canvas`` (a locator): an orbit."""
    box = canvas.bounding_box()
    centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)

    def orbit() -> None:
        page.mouse.move(*centre)
        page.mouse.down()
        page.mouse.move(centre[0] + 120, centre[1] + 20, steps=4)
        page.mouse.up()

    return orbit, centre


def load_room_and_build(page, tmp_path) -> None:
    page.click("text=fSpy project")
    page.set_input_files("#depth3d_fspy_in input[type=file]", str(ROOM / "room.fspy"))
    page.wait_for_function("() => window.depth3dCanvas.lines && window.depth3dCanvas.image", timeout=WAIT_MS)
    depth_png = tmp_path / "room_depth.png"
    depth_png.write_bytes(depth_png_bytes(DepthMap(np.load(ROOM / "room_depth.npy"), "depth")))
    page.click("#depth3d_source input")
    page.click("#depth3d_source li:has-text('depth-image')")
    page.set_input_files("#depth3d_depth_file input[type=file]", str(depth_png))
    page.click("#depth3d_build")
    page.wait_for_function(
        "() => window.depth3dViewer.scene && window.depth3dViewer.frames > 0 && !window.depth3dViewer.renderPending",
        timeout=60_000)


def test_the_first_frame_is_the_picture_and_the_user_can_walk_in(page, tmp_path, artifacts_dir):
    load_room_and_build(page, tmp_path)
    room = Image.open(ROOM / "room.png")
    first = frame(page)
    assert first.shape[1] / first.shape[0] == pytest.approx(room.width / room.height, abs=0.01)
    first_psnr, covered = psnr_over_covered(first, room)
    print(f"first frame vs room.png: {first_psnr:.1f} dB over {covered:.1%} of {first.shape[1]}×{first.shape[0]} px")
    assert covered > 0.9
    assert first_psnr >= 45  # pixel-exact edges (docs/scene.md); 36 dB before them

    canvas = page.locator("#depth3d_viewer_host canvas")
    canvas.click()
    assert_walks_in_and_back(page, room, first, first_psnr)
    orbit, centre = drag_to_orbit(page, canvas)
    orbited = next_frame(page, orbit)
    assert psnr_over_covered(orbited, room)[0] < first_psnr - 8, "dragging did not orbit"
    page.mouse.move(*centre)
    np.testing.assert_array_equal(next_frame(page, lambda: page.keyboard.press("r")), first)
    wheeled = next_frame(page, lambda: page.mouse.wheel(0, -300))
    assert psnr_over_covered(wheeled, room)[0] < first_psnr - 8, "the wheel did not walk"
    next_frame(page, orbit)
    canvas.screenshot(path=str(artifacts_dir / "depth3d_viewer_walked.png"))

    for shift in ([], ["Shift"]):  # orbit and look: a long drag up or down stops short of vertical
        for direction in (1, -1):
            for key in shift:
                page.keyboard.down(key)
            for _ in range(12):  # drags that stay on the canvas, 12 × 150 px: past vertical either way
                page.mouse.move(centre[0], centre[1] - direction * 75)
                page.mouse.down()
                page.mouse.move(centre[0], centre[1] + direction * 75, steps=5)
                page.mouse.up()
            for key in shift:
                page.keyboard.up(key)
            up_y = page.evaluate("() => window.depth3dViewer.view.up[1]")
            assert 0.04 < up_y < 0.25, f"after a long vertical drag the view's up.y is {up_y:.3f}, not just above 0.05"

    back = next_frame(page, lambda: page.click("#depth3d_viewer_host .depth3d-viewer-reset"))
    np.testing.assert_array_equal(back, first)
    page.screenshot(path=str(artifacts_dir / "depth3d_viewer.png"), full_page=True)


def off_centre_scene() -> tuple[Image.Image, bytes]:
    """A wavy surface seen through a camera whose principal point is far from the centre."""
    picture = smooth_picture(96, 72)
    camera = Camera(96, 72, 80.0, (36.0, 44.0))
    scene = build_scene(picture, DepthMap(wavy_zdepth(96, 72, seed=3), "depth"), camera, SceneOptions(resolution=48))
    return picture, glb_bytes(scene)


PARSED = """async (data) => {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    const scene = window.depth3dViewer.parseGlb(bytes.buffer);
    const p = scene.primitives[0], c = scene.camera;
    return {count: scene.primitives.length, positions: Array.from(p.positions), uvs: Array.from(p.uvs),
            indices: Array.from(p.indices), indexType: p.indices.constructor.name, matrix: Array.from(p.matrix),
            imageType: p.colour.image.type, imageSize: p.colour.image.size,
            camera: {position: c.position, right: c.right, up: c.up, back: c.back, lens: c.lens,
                     znear: c.znear, zfar: c.zfar}, units: scene.units};
}"""


def test_the_glb_parser_reads_what_pygltflib_reads(page, tmp_path):
    picture, data = off_centre_scene()
    path = tmp_path / "off_centre.glb"
    path.write_bytes(data)
    contents = read_glb(path)
    page.wait_for_function("() => window.depth3dViewer.canvas")
    parsed = page.evaluate(PARSED, base64.b64encode(data).decode())

    # int16 positions and uint16 UVs decoded to floats, the mesh node's dequantisation as its matrix.
    assert parsed["count"] == 1 and parsed["indexType"] == "Uint16Array"
    matrix = np.array(parsed["matrix"]).reshape(4, 4).T
    np.testing.assert_array_equal(matrix, mesh_node_matrix(contents.document))
    positions = np.float64(parsed["positions"]).reshape(-1, 3) @ matrix[:3, :3].T + matrix[:3, 3]
    np.testing.assert_allclose(positions, contents.positions, rtol=0, atol=1e-6 * np.abs(matrix).max())
    np.testing.assert_allclose(np.float64(parsed["uvs"]).reshape(-1, 2), contents.uvs, rtol=1e-6, atol=0)
    np.testing.assert_array_equal(np.array(parsed["indices"]).reshape(-1, 3), contents.faces)
    assert (parsed["imageType"], parsed["imageSize"]) == ("image/png", len(contents.image_bytes))
    camera = parsed["camera"]
    np.testing.assert_allclose(camera["position"], contents.camera_to_world[:3, 3], atol=1e-6)
    np.testing.assert_allclose(np.column_stack([camera["right"], camera["up"], camera["back"]]),
                               contents.camera_to_world[:3, :3], atol=1e-6)
    # The picture's own frustum from the extras, not the file's wider symmetric one.
    f, (cx, cy) = 80.0, (36.0, 44.0)
    assert camera["lens"] == pytest.approx(
        {"left": -cx / f, "right": (96 - cx) / f, "bottom": -(72 - cy) / f, "top": cy / f, "aspect": 96 / 72})
    perspective = contents.document.cameras[0].perspective
    assert (camera["znear"], camera["zfar"]) == pytest.approx((perspective.znear, perspective.zfar))


def test_an_off_centre_camera_shows_exactly_the_picture(page):
    picture, data = off_centre_scene()
    page.wait_for_function("() => window.depth3dViewer.canvas")
    assert page.evaluate(LOAD_BYTES, base64.b64encode(data).decode()) is None
    page.wait_for_function("() => window.depth3dViewer.frames > 0 && !window.depth3dViewer.renderPending")
    rendered = frame(page)
    quality, covered = psnr_over_covered(rendered, picture)
    print(f"off-centre principal point: {quality:.1f} dB over {covered:.1%}")
    assert covered > 0.97 and quality >= 30
    shifted = picture.transform(picture.size, Image.AFFINE, (1, 0, 1, 0, 1, 0), resample=Image.NEAREST)
    shifted_quality = psnr_over_covered(rendered, shifted)[0]
    print(f"against the picture shifted by one pixel: {shifted_quality:.1f} dB")
    assert shifted_quality < quality - 5, "a one-pixel shift should be seen"


def test_a_file_that_is_not_a_glb_is_explained_in_words(page):
    page.wait_for_function("() => window.depth3dViewer.canvas")
    error = page.evaluate(LOAD_BYTES, base64.b64encode(b"not a glb at all, just some text").decode())
    assert error == "Cannot show the scene: the file is not a binary glTF (.glb). Download the .glb instead."
    assert page.inner_text("#depth3d_viewer_host .depth3d-viewer-message") == error
    assert not page.is_visible("#depth3d_viewer_host canvas")


NO_WEBGL_INIT = """(() => {
    const getContext = HTMLCanvasElement.prototype.getContext;
    HTMLCanvasElement.prototype.getContext = function (kind, options) {
        return /webgl/.test(kind) ? null : getContext.call(this, kind, options);
    };
})();"""


def test_a_browser_without_webgl_is_told_what_to_do(browser, ui_url):
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.add_init_script(NO_WEBGL_INIT)
    page.goto(ui_url)
    page.wait_for_function("() => window.depth3dViewer.canvas", timeout=WAIT_MS)
    _, data = off_centre_scene()
    assert page.evaluate(LOAD_BYTES, base64.b64encode(data).decode()) == NO_WEBGL
    assert page.inner_text("#depth3d_viewer_host .depth3d-viewer-message") == NO_WEBGL
    page.close()
    assert not errors, errors
