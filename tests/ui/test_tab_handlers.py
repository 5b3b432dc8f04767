"""The tab's Python handlers, called as gradio calls them: solve, build, .fspy in and out, mask, page assets."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from lib_depth3d import ui
from lib_depth3d.camera import read_fspy
from lib_depth3d.depth.depthmap import DepthMap
from lib_depth3d.depth.sources import USER_DEPTH_IMAGE
from tests.support.glb import read_glb
from tests.support.paths import EXAMPLES_DIR, REPO_ROOT

ROOM = EXAMPLES_DIR / "room"
DEFAULT_SETTINGS = ("two_vp", "+x", "+y", "center", 24, "none", 0, "m")


def room_lines_text() -> str:
    return (ROOM / "room_lines.json").read_text()


def room_picture() -> Image.Image:
    return Image.open(ROOM / "room.png")


def uploaded(path) -> SimpleNamespace:
    """What gradio 3 passes for a gr.File: a temporary-file wrapper with ``.name``."""
    return SimpleNamespace(name=str(path))


def test_solving_the_room_reports_its_field_of_view_and_overlay():
    report_text, message = ui.solve_lines(room_lines_text())
    exchanged = json.loads(report_text)
    assert exchanged["report"]["trueHorizontalFieldOfViewDegrees"] == pytest.approx(70.0, abs=0.01)
    assert exchanged["overlay"]["grid"]
    assert exchanged["lines"] == room_lines_text()  # the canvas compares it with what it sent last
    assert "horizontal field of view 70.00°" in message and "depth3d-ok" in message


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda lines: lines["vanishing_points"][0].update(segments=[[[0, 0], [10, 0]], [[0, 5], [10, 5]]]),
         "vanishing point"),
        (lambda lines: lines["vanishing_points"][1].update(axis="+x"), "axis"),
        (lambda lines: lines["image"].update(width="wide"), "image.width"),
    ],
)
def test_bad_drawings_are_explained_in_words(edit, words):
    lines = json.loads(room_lines_text())
    edit(lines)
    report_text, message = ui.solve_lines(json.dumps(lines))
    assert words in json.loads(report_text)["error"]
    assert "Cannot solve the camera:" in message and "depth3d-error" in message and words in message


def test_nothing_drawn_nothing_solved():
    assert ui.solve_lines("") == ("", "")


def test_a_new_picture_gets_a_first_drawing_of_its_size():
    picture, lines_text, to_canvas, message = ui.on_picture(room_picture(), *DEFAULT_SETTINGS)
    lines = json.loads(lines_text)
    assert lines["image"] == {"width": 640, "height": 480}
    sent = json.loads(to_canvas)
    assert sent["lines"] == lines and sent["image_url"].startswith("data:image/png;base64,")
    assert picture.size == (640, 480) and message == ""
    assert json.loads(ui.on_picture(None, *DEFAULT_SETTINGS)[2])["lines"] is None


def test_settings_reach_the_lines_and_the_canvas():
    lines_text, to_canvas = ui.on_settings(room_picture(), room_lines_text(),
                                           "one_vp", "-x", "-y", "manual", 35, "+x", 1, "m")
    lines = json.loads(lines_text)
    assert lines["mode"] == "one_vp" and lines["focal_length_mm"] == 35 and lines["horizon"]
    assert json.loads(to_canvas)["lines"] == lines


def test_build_writes_the_scene_and_reports_the_camera(tmp_path):
    depth_path = tmp_path / "room_depth.npy"
    np.save(depth_path, 1.0 / np.load(ROOM / "room_depth.npy"))
    glb, downloads, summary, depth, message = ui.on_build(
        room_picture().convert("RGB"), room_lines_text(), USER_DEPTH_IMAGE, uploaded(depth_path),
        0, 0, 64, True, True, "none", str(tmp_path / "outputs"), progress=lambda *a, **k: None)
    assert "depth3d-ok" in message or "depth3d-warning" in message, message
    assert sorted(p.rsplit("/", 1)[1] for p in downloads) == [
        "depth3d.fspy", "depth3d.glb", "depth3d_camera.json", "depth3d_depth.png"]
    assert all(str(tmp_path / "outputs") in p for p in downloads)
    assert float(re.search(r"Horizontal field of view:\*\* ([\d.]+)°", summary).group(1)) == pytest.approx(70, abs=0.01)
    assert "4.200, 3.400, 1.550 m" in summary
    assert read_glb(glb).document.cameras
    assert isinstance(depth, DepthMap) and depth.values.shape == (480, 640)


@pytest.mark.parametrize(
    ("picture", "lines_text", "depth_file", "words"),
    [
        (None, room_lines_text(), None, "Upload a picture first"),
        (room_picture(), "", None, "Upload a picture first"),
        (room_picture(), room_lines_text(), None, "needs a depth image"),
        (room_picture(), room_lines_text(), "wrong-aspect", "give the depth at the picture's size"),
        (room_picture(), room_lines_text().replace('"-y"', '"-x"'), None, "Invalid axis assignment"),
    ],
)
def test_build_problems_are_shown_in_words(tmp_path, picture, lines_text, depth_file, words):
    if depth_file == "wrong-aspect":
        path = tmp_path / "square.png"
        Image.new("L", (100, 100), 128).save(path)
        depth_file = uploaded(path)
    result = ui.on_build(picture, lines_text, USER_DEPTH_IMAGE, depth_file, 0, 0, 64, True, True, "none",
                         str(tmp_path), progress=lambda *a, **k: None)
    assert result[:4] == (None, None, "", None)
    assert words in result[4] and "depth3d-error" in result[4]


def test_fspy_saved_from_the_tab_loads_back(tmp_path):
    path, message = ui.on_save_fspy(room_picture(), room_lines_text(), str(tmp_path))
    assert "Saved" in message
    project = read_fspy(path)
    assert project.camera_parameters is not None
    loaded = ui.on_fspy_upload(uploaded(path))
    picture, shown, lines_text, to_canvas = loaded[:4]
    assert picture.size == (640, 480)
    lines = json.loads(lines_text)
    assert [len(vp["segments"]) for vp in lines["vanishing_points"]] == [3, 3]
    assert [update["value"] for update in loaded[4:12]] == ["two_vp", "-x", "-y", "center", 24, "+x", 1.0, "m"]
    assert loaded[12] == ""


def test_a_file_that_is_not_fspy_is_refused_in_words(tmp_path):
    path = tmp_path / "fake.fspy"
    path.write_bytes(b"not an fspy project")
    message = ui.on_fspy_upload(uploaded(path))[-1]
    assert "Cannot load the .fspy" in message and "depth3d-error" in message


def test_mask_preview_follows_the_band():
    picture = Image.new("RGB", (40, 20))
    nearness = np.tile(np.linspace(0, 1, 40, dtype=np.float32), (20, 1))
    mask, message = ui.on_mask(picture, DepthMap(nearness, "disparity"), 0.5, 1.0, False, True, 0, 0)
    values = np.asarray(mask)
    assert values.shape == (20, 40) and message == ""
    assert (values[:, :19] == 255).all() and (values[:, 21:] == 0).all()
    empty, hint = ui.on_mask(picture, None, 0.5, 1.0, False, True, 0, 0)
    assert empty is None and "Build a scene first" in hint


def test_the_page_gets_the_host_shim_then_the_extension_scripts_and_style():
    head = ui.standalone_head_html()
    shim = head.index("window.updateInput = function")
    canvas = head.index("window.depth3dCanvas = editor")
    assert shim < canvas and "#depth3d_canvas_host" in head[head.index("<style>"):]
    assert not list((REPO_ROOT / "javascript").glob("standalone*")), "A1111 would load the shim too"


def test_the_tab_builds_with_the_canvas_and_its_exchange_boxes():
    tab = ui.build_tab(in_webui=True)
    ids = {block.elem_id for block in tab.blocks.values() if getattr(block, "elem_id", None)}
    assert {"depth3d_lines", "depth3d_to_canvas", "depth3d_report", "depth3d_input", "depth3d_build",
            "depth3d_model", "depth3d_downloads", "depth3d_send_inpaint"} <= ids


def test_lines_that_are_not_json_are_refused_in_words(tmp_path):
    report_text, message = ui.solve_lines("{not json")
    assert "not JSON" in json.loads(report_text)["error"] and "depth3d-error" in message
    assert "not a JSON object" in ui.solve_lines("[1, 2]")[1]
    assert "not JSON" in ui.on_save_fspy(room_picture(), "{", str(tmp_path))[1]
    assert ui.on_settings(room_picture(), "{", *DEFAULT_SETTINGS) == (ui.gr.update(), ui.gr.update())


def test_a_zero_focal_length_is_refused_not_replaced():
    lines_text, _ = ui.on_settings(room_picture(), room_lines_text(), "one_vp", "-x", "-y", "center", 0, "none", 0, "m")
    assert json.loads(lines_text)["focal_length_mm"] == 0
    assert "focal_length_mm" in ui.solve_lines(lines_text)[1]


def test_an_unwritable_outputs_folder_is_explained(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    path, message = ui.on_save_fspy(room_picture(), room_lines_text(), str(blocker / "sub"))
    assert path is None and "Cannot save the .fspy" in message


@pytest.mark.parametrize("advice, words", [
    (None, "Or set DEPTH3D_MODELS_DIR to the folder that holds it."),  # the standalone server
    ("WEBUI", "setting (Settings → Depth 3D)"),  # as the WebUI's on_ui_tabs builds the tab
])
def test_missing_weights_say_the_remedy_of_where_the_tab_runs(tmp_path, monkeypatch, advice, words):
    from lib_depth3d.depth import weights

    def unreachable(url, partial, progress, timeout_s):
        raise weights.WeightsError("Cannot reach huggingface.co (Network is unreachable); check the network.")

    monkeypatch.setattr(weights, "_fetch", unreachable)
    result = ui.on_build(room_picture(), room_lines_text(), "depth-anything-v2-small", None, 0, 0, 64, True, True,
                         "none", str(tmp_path), models_folder=str(tmp_path / "models"),
                         weights_advice=weights.WEBUI_ADVICE if advice == "WEBUI" else None,
                         progress=lambda *a, **k: None)
    assert "depth3d-error" in result[4] and "are not available: Cannot reach huggingface.co" in result[4]
    assert words in result[4] and "--weights" not in result[4]


@pytest.fixture
def server_folders(tmp_path, monkeypatch):
    """Gradio's temp folder and the system's temp folder in places of their own, so that each
    rule that hides a server path is seen at work alone."""
    uploads, system = tmp_path / "gradio-uploads", tmp_path / "system-temp"
    uploads.mkdir()
    system.mkdir()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(uploads))
    monkeypatch.setattr(tempfile, "tempdir", str(system))
    return SimpleNamespace(uploads=uploads, system=system, outputs=tmp_path / "outputs")


def test_a_bad_depth_upload_is_explained_without_its_server_path(server_folders):
    depth_path = server_folders.uploads / "0a1b2c" / "depth.png"
    depth_path.parent.mkdir()
    depth_path.write_bytes(b"not a picture")
    result = ui.on_build(room_picture(), room_lines_text(), USER_DEPTH_IMAGE, uploaded(depth_path), 0, 0, 64, True,
                         True, "none", str(server_folders.outputs), progress=lambda *a, **k: None)
    message = result[4]
    assert "Cannot build the scene: the uploaded file is not a readable picture" in message
    assert str(server_folders.uploads.parent) not in message


def test_an_unwritable_outputs_folder_is_explained_without_its_path(server_folders, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    for outputs in (blocker, blocker / "sub"):
        path, message = ui.on_save_fspy(room_picture(), room_lines_text(), str(outputs))
        assert path is None and "Cannot save the .fspy" in message and "the outputs folder" in message
        assert str(tmp_path) not in message


def test_an_unreadable_fspy_upload_is_explained_without_its_path(server_folders):
    message = ui.on_fspy_upload(uploaded(server_folders.uploads / "gone" / "x.fspy"))[-1]
    assert "Cannot load the .fspy" in message and "the uploaded file" in message
    assert str(server_folders.uploads) not in message


@pytest.mark.skipif(ui.GRADIO_4, reason="gradio 4 refuses server paths in file inputs itself")
def test_file_inputs_take_only_files_uploaded_through_the_page(server_folders, tmp_path):
    upload = server_folders.uploads / "f00d" / "depth.png"
    upload.parent.mkdir()
    upload.write_bytes(b"uploaded")
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    file_input = ui._file_input(file_types=["image"])
    accepted = file_input.preprocess({"name": str(upload), "is_file": True, "data": None})
    assert Path(accepted.name).read_bytes() == b"uploaded"
    for claimed in (str(secret), str(upload.parent / ".." / ".." / "secret.txt"), "secret.txt"):
        with pytest.raises(ui.gr.Error, match="only files uploaded through this page"):
            file_input.preprocess({"name": claimed, "is_file": True, "data": None})
        with pytest.raises(ui.gr.Error):
            file_input.preprocess([{"name": claimed, "is_file": True, "data": None}])
    assert file_input.get_block_name() == "file"
    assert list(server_folders.uploads.rglob("secret.txt")) == []
