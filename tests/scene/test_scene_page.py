"""The shareable page as a file: the viewer inlined from javascript/ as it is, the scene's .glb
embedded byte for byte, no address outside the page, and the page a member of the scene's set
(a rebuild without it removes the page the previous set wrote, never the user's)."""

from __future__ import annotations

import base64
import re

import pytest

from lib_depth3d.camera import Camera
from lib_depth3d.cli import main
from lib_depth3d.depth.depthmap import DepthMap
from lib_depth3d.scene import SceneOptions, build_scene, write_scene
from lib_depth3d.scene.page import CONTENT_SECURITY_POLICY, STYLESHEET, VIEWER_SCRIPT, viewer_page_html
from tests.support.paths import EXAMPLES_DIR
from tests.support.scene_inputs import smooth_picture, wavy_zdepth

ROOM = EXAMPLES_DIR / "room"
EMBEDDED_GLB = re.compile(r'<script type="application/octet-stream" id="depth3d_scene_glb">\s*([A-Za-z0-9+/=]+)\s*</script>')
INLINE_SCRIPTS = re.compile(r"<script>\n(.*?)\n</script>", re.DOTALL)


def _scene(**options):
    picture = smooth_picture(40, 30)
    return build_scene(picture, DepthMap(wavy_zdepth(40, 30, seed=2), "depth"), Camera(40, 30, 36.0, (20.0, 15.0)),
                       SceneOptions(resolution=20, **options))


def test_the_page_embeds_the_glb_and_inlines_the_viewer_as_it_is(tmp_path):
    files = write_scene(_scene(html_page=True, animation="walk"), tmp_path / "s.glb")
    page = files.html_page.read_text(encoding="utf-8")
    assert files.html_page == tmp_path / "s.html"
    assert base64.b64decode(EMBEDDED_GLB.search(page).group(1)) == files.glb.read_bytes()
    viewer, start = INLINE_SCRIPTS.findall(page)
    assert viewer == VIEWER_SCRIPT.read_text(encoding="utf-8")
    assert "viewer.open(bytes.buffer)" in start
    assert STYLESHEET.read_text(encoding="utf-8") in page
    assert f'content="{CONTENT_SECURITY_POLICY}"' in page


def test_the_page_holds_no_address_outside_itself(tmp_path):
    files = write_scene(_scene(html_page=True), tmp_path / "s.glb")
    page = files.html_page.read_text(encoding="utf-8")
    assert not re.search(r"(?i)\b(https?|wss?|ftp):", page)
    markup = re.sub(r"(?s)<(script|style)\b[^>]*>.*?</\1>", "", page)
    assert not re.search(r"(?i)\b(src|href)\s*=", markup), "the page's markup refers to a file outside it"
    embedded_json = base64.b64decode(EMBEDDED_GLB.search(page).group(1))
    assert not re.search(rb"(?i)\b(https?|wss?|ftp):", embedded_json)
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY and "http" not in CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("closing", ["</script>", "</SCRIPT >", "</script\n>"])
def test_a_closing_tag_in_the_inlined_script_cannot_end_it(tmp_path, monkeypatch, closing):
    script = tmp_path / "viewer.js"
    script.write_text(f'window.marker = "{closing}";\n', encoding="utf-8")
    monkeypatch.setattr("lib_depth3d.scene.page.VIEWER_SCRIPT", script)
    page = viewer_page_html(b"glTF", title="t", picture_aspect=1.0).decode("utf-8")
    assert len(re.findall(r"(?i)</script", page)) == 3  # the embedded file's, the viewer's and the start's
    assert 'window.marker = "<\\/' in page


def test_the_title_is_escaped():
    page = viewer_page_html(b"glTF", title="a <b> & c", picture_aspect=1.0).decode("utf-8")
    assert "<title>a &lt;b&gt; &amp; c</title>" in page


def _room_arguments(output, *extra):
    return ["scene", str(ROOM / "room.png"), "--depth", str(ROOM / "room_depth.npy"), "--depth-kind", "depth",
            "--resolution", "24", "--fov", "60", *extra, "-o", str(output)]


def test_a_set_without_the_page_removes_the_page_its_predecessor_wrote_but_not_the_users(tmp_path, capsys):
    output = tmp_path / "room.glb"
    assert main(_room_arguments(output, "--html")) == 0
    assert "room.html" in capsys.readouterr().out
    assert (tmp_path / "room.html").is_file()
    assert main(_room_arguments(output)) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["room.glb", "room_camera.json", "room_depth.png"]

    assert main(_room_arguments(output, "--html")) == 0
    (tmp_path / "room.html").write_text("<p>the user's own page</p>", encoding="utf-8")
    assert main(_room_arguments(output)) == 0
    assert (tmp_path / "room.html").read_text(encoding="utf-8") == "<p>the user's own page</p>"


def test_a_scene_without_the_option_writes_no_page(tmp_path):
    files = write_scene(_scene(), tmp_path / "s.glb")
    assert files.html_page is None and not (tmp_path / "s.html").exists()
