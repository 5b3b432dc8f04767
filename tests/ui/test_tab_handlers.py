"""The tab's Python handlers, called by name as the tab's events call them: solve, detect, build,
.fspy in and out, mask, page assets; every problem a sentence for the message beside the canvas."""

from __future__ import annotations

import base64
import io
import json
import math
import re
import tempfile
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
from gradio.helpers import special_args
from PIL import Image

from lib_depth3d import canvas, ui
from lib_depth3d.camera import read_fspy
from lib_depth3d.camera.detect import DetectionConfidence, detect_calibration
from lib_depth3d.camera.fspy import HEADER as FSPY_HEADER
from lib_depth3d.depth.depthmap import DepthMap
from lib_depth3d.depth.sources import USER_DEPTH_IMAGE
from lib_depth3d.errors import InputError
from tests.support.detection import detections  # noqa: F401
from tests.support.glb import read_glb
from tests.support.gradio_events import component
from tests.support.paths import EXAMPLES_DIR, REPO_ROOT
from tests.support.rooms import render_room, room_camera
from tests.test_picture_messages import png_header_only

ROOM = EXAMPLES_DIR / "room"
DEFAULT_SETTINGS = dict(zip(ui.SETTING_NAMES, ("two_vp", "+x", "+y", "center", 24, "none", 0, "m")))
NO_PROGRESS = {"progress": lambda text, fraction: None}


def room_lines_text() -> str:
    return (ROOM / "room_lines.json").read_text()


def room_picture() -> Image.Image:
    return Image.open(ROOM / "room.png")


def uploaded(path) -> SimpleNamespace:
    """What gradio 3 passes for a gr.File: a temporary-file wrapper with ``.name``."""
    return SimpleNamespace(name=str(path))


def build_values(**given) -> dict:
    """The build's inputs by name: the room, its lines, a user depth, a small grid; ``given`` replaces some."""
    return {"picture": room_picture().convert("RGB"), "lines": room_lines_text(), "source": USER_DEPTH_IMAGE,
            "depth_file": None, "near": 0, "far": 0, "resolution": 64, "cut_edges": True, "decimate": True,
            "fill_occlusions": True, "animation": "none", "outputs_dir": None, "models_folder": None,
            "weights_advice": None, **given}


def solve(lines_text: str) -> tuple[str, str]:
    solved = ui.on_lines({"lines": lines_text, "detected": None})
    return solved["report"], solved["message"]


def test_solving_the_room_reports_its_field_of_view_and_overlay():
    report_text, message = solve(room_lines_text())
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
    report_text, message = solve(json.dumps(lines))
    assert words in json.loads(report_text)["error"]
    assert "Cannot solve the camera:" in message and "depth3d-error" in message and words in message


def test_nothing_drawn_nothing_solved():
    assert solve("") == ("", "")


def test_a_new_picture_gets_a_first_drawing_of_its_size(page_uploads):
    shown = ui.on_picture({"upload": upload_payload((ROOM / "room.png").read_bytes(), page_uploads), **DEFAULT_SETTINGS})
    lines = json.loads(shown["lines"])
    assert lines["image"] == {"width": 640, "height": 480}
    sent = json.loads(shown["to_canvas"])
    assert sent["lines"] == lines and sent["image_url"].startswith("data:image/png;base64,")
    assert shown["picture"].size == (640, 480) and shown["message"] == "" and "upload" not in shown
    cleared = ui.on_picture({"upload": None, **DEFAULT_SETTINGS})
    assert cleared["picture"] is None and json.loads(cleared["to_canvas"])["lines"] is None


def test_settings_reach_the_lines_and_the_canvas():
    settings = dict(zip(ui.SETTING_NAMES, ("one_vp", "-x", "-y", "manual", 35, "+x", 1, "m")))
    changed = ui.on_settings({"picture": room_picture(), "lines": room_lines_text(), **settings})
    lines = json.loads(changed["lines"])
    assert lines["mode"] == "one_vp" and lines["focal_length_mm"] == 35 and lines["horizon"]
    assert json.loads(changed["to_canvas"])["lines"] == lines and set(changed) == {"lines", "to_canvas"}


def test_build_writes_the_scene_and_reports_the_camera(tmp_path):
    depth_path = tmp_path / "room_depth.npy"
    np.save(depth_path, 1.0 / np.load(ROOM / "room_depth.npy"))
    built = ui.on_build(build_values(depth_file=uploaded(depth_path), outputs_dir=str(tmp_path / "outputs")),
                        **NO_PROGRESS)
    glb, downloads, summary, depth, message = (built[name] for name in ("scene_file", "downloads", "summary",
                                                                         "depth", "message"))
    assert "depth3d-ok" in message or "depth3d-warning" in message, message
    assert sorted(p.rsplit("/", 1)[1] for p in downloads) == [
        "depth3d.fspy", "depth3d.glb", "depth3d.html", "depth3d_camera.json", "depth3d_depth.png"]
    assert all(str(tmp_path / "outputs") in p for p in downloads)
    assert float(re.search(r"Horizontal field of view:\*\* ([\d.]+)°", summary).group(1)) == pytest.approx(70, abs=0.01)
    assert "4.200, 3.400, 1.550 m" in summary
    fit = re.search(r"Depth:\*\* fitted to the calibration \(scale from the floor\) on \d+ planes: "
                    r"floor [\d.]+° → ([\d.]+)° off, walls [\d.]+° → ([\d.]+)° off", summary)
    assert fit and max(float(angle) for angle in fit.groups()) <= 0.5, summary
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
    result = ui.on_build(build_values(picture=picture, lines=lines_text, depth_file=depth_file,
                                      outputs_dir=str(tmp_path)), **NO_PROGRESS)
    assert (result["scene_file"], result["downloads"], result["summary"], result["depth"]) == (None, None, "", None)
    assert words in result["message"] and "depth3d-error" in result["message"]


def test_fspy_saved_from_the_tab_loads_back(tmp_path):
    saved = ui.on_save_fspy({"picture": room_picture(), "lines": room_lines_text(), "outputs_dir": str(tmp_path)})
    assert "Saved" in saved["message"]
    project = read_fspy(saved["fspy_download"])
    assert project.camera_parameters is not None
    loaded = ui.on_fspy_upload({"fspy_file": uploaded(saved["fspy_download"])})
    assert loaded["picture"].size == (640, 480) and loaded["upload"] is loaded["picture"]
    lines = json.loads(loaded["lines"])
    assert json.loads(loaded["to_canvas"])["lines"] == lines
    assert [len(vp["segments"]) for vp in lines["vanishing_points"]] == [3, 3]
    assert [loaded[name] for name in ui.SETTING_NAMES] == ["two_vp", "-x", "-y", "center", 24, "+x", 1.0, "m"]
    assert loaded["message"] == ""


def test_a_file_that_is_not_fspy_is_refused_in_words(tmp_path):
    path = tmp_path / "fake.fspy"
    path.write_bytes(b"not an fspy project")
    loaded = ui.on_fspy_upload({"fspy_file": uploaded(path)})
    assert "Cannot load the .fspy" in loaded["message"] and "depth3d-error" in loaded["message"]
    assert set(loaded) == {"message"}  # the current picture and lines stay


def test_mask_preview_follows_the_band():
    picture = Image.new("RGB", (40, 20))
    nearness = np.tile(np.linspace(0, 1, 40, dtype=np.float32), (20, 1))
    settings = dict(zip(ui.MASK_SETTING_NAMES, (0.5, 1.0, False, True, 0, 0)))
    shown = ui.on_mask({"picture": picture, "depth": DepthMap(nearness, "disparity"), **settings})
    values = np.asarray(shown["mask_preview"])
    assert values.shape == (20, 40) and shown["mask_message"] == ""
    assert (values[:, :19] == 255).all() and (values[:, 21:] == 0).all()
    empty = ui.on_mask({"picture": picture, "depth": None, **settings})
    assert empty["mask_preview"] is None and "Build a scene first" in empty["mask_message"]


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
            "depth3d_model", "depth3d_downloads", "depth3d_send_inpaint", "depth3d_detect_lines"} <= ids
    functions = tab.fns.values() if isinstance(tab.fns, dict) else tab.fns
    build = next(function for function in functions if function.name == "on_build")
    assert build.inputs_as_dict and special_args(build.fn, [{}])[1] == 1, "gradio finds no progress tracker"


def test_lines_that_are_not_json_are_refused_in_words(tmp_path):
    report_text, message = solve("{not json")
    assert "not JSON" in json.loads(report_text)["error"] and "depth3d-error" in message
    assert "not a JSON object" in solve("[1, 2]")[1]
    assert "not JSON" in ui.on_save_fspy({"picture": room_picture(), "lines": "{", "outputs_dir": str(tmp_path)})["message"]
    assert ui.on_settings({"picture": room_picture(), "lines": "{", **DEFAULT_SETTINGS}) == {}


def test_a_zero_focal_length_is_refused_not_replaced():
    settings = dict(zip(ui.SETTING_NAMES, ("one_vp", "-x", "-y", "center", 0, "none", 0, "m")))
    lines_text = ui.on_settings({"picture": room_picture(), "lines": room_lines_text(), **settings})["lines"]
    assert json.loads(lines_text)["focal_length_mm"] == 0
    assert "focal_length_mm" in solve(lines_text)[1]


def test_an_unwritable_outputs_folder_is_explained(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    saved = ui.on_save_fspy({"picture": room_picture(), "lines": room_lines_text(), "outputs_dir": str(blocker / "sub")})
    assert saved["fspy_download"] is None and "Cannot save the .fspy" in saved["message"]


@pytest.mark.parametrize("advice, words", [
    (None, "Or set DEPTH3D_MODELS_DIR to the folder that holds it."),  # the standalone server
    ("WEBUI", "setting (Settings → Depth 3D)"),  # as the WebUI's on_ui_tabs builds the tab
])
def test_missing_weights_say_the_remedy_of_where_the_tab_runs(tmp_path, monkeypatch, advice, words):
    from lib_depth3d.depth import weights, weights_advice

    def unreachable(url, partial, progress, timeout_s):
        raise weights.WeightsError("Cannot reach huggingface.co (Network is unreachable); check the network.")

    monkeypatch.setattr(weights, "_fetch", unreachable)
    message = ui.on_build(build_values(source="depth-anything-v2-small", outputs_dir=str(tmp_path),
                                       models_folder=str(tmp_path / "models"),
                                       weights_advice=weights_advice.WEBUI_ADVICE if advice == "WEBUI" else None))["message"]
    assert "depth3d-error" in message and "are not available: Cannot reach huggingface.co" in message
    assert words in message and "--weights" not in message


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
    message = ui.on_build(build_values(depth_file=uploaded(depth_path), outputs_dir=str(server_folders.outputs)),
                          **NO_PROGRESS)["message"]
    assert "Cannot build the scene: the uploaded file is not a readable picture" in message
    assert str(server_folders.uploads.parent) not in message


def test_an_unwritable_outputs_folder_is_explained_without_its_path(server_folders, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    for outputs in (blocker, blocker / "sub"):
        saved = ui.on_save_fspy({"picture": room_picture(), "lines": room_lines_text(), "outputs_dir": str(outputs)})
        message = saved["message"]
        assert saved["fspy_download"] is None and "Cannot save the .fspy" in message and "the outputs folder" in message
        assert str(tmp_path) not in message


def test_an_unreadable_fspy_upload_is_explained_without_its_path(server_folders):
    message = ui.on_fspy_upload({"fspy_file": uploaded(server_folders.uploads / "gone" / "x.fspy")})["message"]
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


@pytest.fixture
def page_uploads(tmp_path, monkeypatch) -> Path:
    """Gradio's temp folder, where the page's uploads are, in a place of its own."""
    folder = tmp_path / "gradio-uploads"
    folder.mkdir()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(folder))
    return folder


def upload_payload(data: bytes, uploads: Path):
    """The picture input's value as the page sends an upload of ``data``: gradio 4 the FileData of
    a file in gradio's temp folder, gradio 3 a data URL."""
    if ui.GRADIO_4:
        path = uploads / "0a1b" / "upload.png"
        path.parent.mkdir()
        path.write_bytes(data)
        return {"path": str(path), "orig_name": "upload.png", "meta": {"_type": "gradio.FileData"}}
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def encoded(picture: Image.Image, kind: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=kind, **options)
    return buffer.getvalue()


def test_an_uploaded_picture_is_read_upright_and_in_rgb(page_uploads):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned: shown 90° clockwise, so the sides swap
    data = encoded(Image.new("L", (40, 30), 99), "JPEG", exif=exif)
    shown = ui.on_picture({"upload": upload_payload(data, page_uploads), **DEFAULT_SETTINGS})
    assert shown["picture"].mode == "RGB" and shown["picture"].size == (30, 40)
    assert json.loads(shown["lines"])["image"] == {"width": 30, "height": 40}


@pytest.mark.parametrize(("data", "words"), [
    (b"not a picture", "The uploaded file is not a readable picture. Use a PNG, JPEG or WebP file."),
    (png_header_only(20000, 20000), "The uploaded picture is 20000×20000 pixels; Depth3D accepts at most"),
])
def test_an_upload_that_is_not_a_usable_picture_is_explained_and_the_canvas_keeps_its_own(page_uploads, data, words):
    shown = ui.on_picture({"upload": upload_payload(data, page_uploads), **DEFAULT_SETTINGS})
    assert set(shown) == {"upload", "message"} and shown["upload"] is None  # the picture and the canvas stay
    assert "Cannot use the picture: " + words in shown["message"] and "depth3d-error" in shown["message"]
    assert "The canvas keeps the current picture." in shown["message"]


def test_a_picture_value_naming_a_server_file_is_refused(page_uploads, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(encoded(Image.new("RGB", (8, 8))))
    for value in ({"path": str(secret), "meta": {"_type": "gradio.FileData"}},
                  {"name": str(secret), "is_file": True, "data": None}):
        with pytest.raises(InputError) as refused:
            ui.read_picture_upload(value)
        assert str(refused.value) in (ui.NOT_AN_UPLOAD, ui.NOT_A_PICTURE) and str(tmp_path) not in str(refused.value)


@pytest.mark.skipif(ui.GRADIO_4, reason="gradio 3 sends the picture as a data URL")
def test_a_data_url_that_is_not_base64_is_explained():
    with pytest.raises(InputError, match="^The uploaded file is not a readable picture"):
        ui.read_picture_upload("data:image/png;base64,@@not base64@@")


def fspy_with_picture(image_bytes: bytes) -> bytes:
    """The room's project with ``image_bytes`` in place of its picture (none when empty)."""
    data = (ROOM / "room.fspy").read_bytes()
    magic, version, state_length, _ = FSPY_HEADER.unpack_from(data)
    state = data[FSPY_HEADER.size:FSPY_HEADER.size + state_length]
    return FSPY_HEADER.pack(magic, version, state_length, len(image_bytes)) + state + image_bytes


@pytest.mark.parametrize(("image_bytes", "words"), [
    (b"", ui.FSPY_WITHOUT_PICTURE),
    (png_header_only(20000, 20000), "Cannot load the .fspy: The uploaded picture is 20000×20000 pixels"),
])
def test_an_fspy_without_a_usable_picture_is_explained(tmp_path, image_bytes, words):
    path = tmp_path / "project.fspy"
    path.write_bytes(fspy_with_picture(image_bytes))
    loaded = ui.on_fspy_upload({"fspy_file": uploaded(path)})
    assert set(loaded) == {"message"} and words in loaded["message"] and "depth3d-error" in loaded["message"]
    assert "BytesIO" not in loaded["message"]


@pytest.fixture(scope="module")
def rendered_room():
    return render_room(room_camera(640, 480, 70, 35, 0))


def test_detected_lines_replace_the_drawing_keep_the_reference_and_say_how_sure(rendered_room):
    drawn = json.loads(room_lines_text())
    detected = ui.on_detect_lines({"picture": rendered_room.picture, "lines": json.dumps(drawn)})
    lines = json.loads(detected["lines"])
    expected = detect_calibration(rendered_room.picture).lines_json()
    assert lines["vanishing_points"] == expected["vanishing_points"] and lines["origin"] == expected["origin"]
    assert lines["reference"] == drawn["reference"]
    assert json.loads(detected["to_canvas"])["lines"] == lines
    assert [detected[name] for name in ui.SETTING_NAMES] == list(canvas.settings_of_lines(lines).values())
    message = detected["message"]
    fov = float(re.search(r"horizontal field of view ([\d.]+)°", message).group(1))
    assert fov == pytest.approx(70, abs=0.5)
    assert re.search(r"Detected lines: \d+ and \d+ segments along two directions.*: high confidence\.", message)
    assert json.loads(detected["report"])["lines"] == detected["lines"]
    # The solve that follows the new lines says the same; an edit ends the detection's note.
    assert ui.on_lines({"lines": detected["lines"], "detected": detected["detected"]})["message"] == message
    lines["origin"] = [300, 400]
    assert "Detected lines" not in ui.on_lines({"lines": json.dumps(lines), "detected": detected["detected"]})["message"]


def test_a_build_from_detected_lines_does_not_detect_them_again(rendered_room, tmp_path, detections):
    detected = ui.on_detect_lines({"picture": rendered_room.picture, "lines": ""})
    depth_path = tmp_path / "slope.npy"
    np.save(depth_path, np.tile(np.linspace(1.0, 2.0, 480, dtype=np.float32)[:, None], (1, 640)))
    built = ui.on_build(build_values(picture=rendered_room.picture, lines=detected["lines"],
                                     depth_file=uploaded(depth_path), outputs_dir=str(tmp_path)), **NO_PROGRESS)
    assert built["scene_file"] is not None, built["message"]
    assert detections == [(640, 480)]


def test_a_picture_without_lines_keeps_the_drawing_and_says_why():
    detected = ui.on_detect_lines({"picture": Image.new("RGB", (320, 240), (90, 90, 90)), "lines": room_lines_text()})
    assert set(detected) == {"message"}
    assert "Cannot detect lines: The picture is almost uniform" in detected["message"]
    assert "The lines on the canvas are unchanged." in detected["message"]
    assert "Upload a picture first" in ui.on_detect_lines({"picture": None, "lines": ""})["message"]


def test_each_doubt_about_detected_lines_is_said():
    doubtful = DetectionConfidence((3, 9, 5), 2.5, 4.0, math.inf, (50.0, 58.0), principal_point_from_third_vp=True)
    words = ui._confidence_words(doubtful)
    assert words.startswith("Detected lines: 3 and 9 segments along two directions, 5 along a third, misfit up to 2.50 px: low")
    for doubt in ("three vanishing points", "few segments", "more than 2 px", "nearly parallel", "from 50° to 58°",
                  "4.0° from perpendicular"):
        assert doubt in words
    checked = DetectionConfidence((8, 9, 6), 0.4, 0.5, 0.2, (69.5, 70.5), principal_point_checked=True)
    assert ui._confidence_words(checked).endswith(": high confidence.")
    assert ui._confidence_words(replace(checked, principal_point_checked=False)).endswith(
        ": high confidence. The principal point is assumed at the picture's centre: right for an uncropped photo, "
        "not for a cropped one.")
    unchecked = ui._confidence_words(DetectionConfidence((8, 9), 0.4, None, 0.2, (69.5, 70.5)))
    assert unchecked.endswith("low confidence (no third direction was found to check the focal length the other two give). "
                              "Check the lines and correct them.")


def test_handlers_are_called_by_name_and_give_back_what_they_change(caplog):
    with gr.Blocks() as blocks:
        text, echo, message = gr.Textbox(), gr.Textbox(), gr.HTML()
        events = ui._NamedEvents({"text": text, "echo": echo, "message": message})

        def copy(values):
            return {"echo": values["text"]} if values["text"] else {}

        def broken(values, progress=None):
            progress("Halfway", 0.5)
            raise ZeroDivisionError("a bug")

        events.on(text.change, copy, ["text"], ["echo", "message"])
        events.on(text.submit, broken, ["text"], ["echo", "message"])
    wired = [function.fn for function in (blocks.fns.values() if isinstance(blocks.fns, dict) else blocks.fns)]
    assert wired[0]({text: "hello"}) == {echo: "hello"}
    assert wired[0]({text: ""}) == {echo: gr.update()}  # gradio reads an empty dict as no value at all
    _, progress_index, _ = special_args(wired[1], [{}])
    assert progress_index == 1, "gradio does not find the progress tracker"
    reported = []
    answer = wired[1]({text: "x"}, progress=lambda fraction, desc: reported.append((fraction, desc)))
    assert reported == [(0.5, "Halfway")]
    assert answer == {message: ui._message("error", ui.UNEXPECTED.format(kind="ZeroDivisionError"))}
    assert "broken failed" in caplog.text and "a bug" in caplog.text


@pytest.mark.skipif(ui.GRADIO_4, reason="reads gradio 3's list of events")
def test_a_failing_handler_of_the_tab_answers_in_its_message(caplog):
    """Lines the canvas would never send (no image) make the settings handler fail: the wired
    event answers with a sentence for the message beside the canvas, not gradio's "Error"."""
    tab = ui.build_tab(in_webui=False)
    mode, message, lines_box = (component(tab, elem_id) for elem_id in ("depth3d_mode", "depth3d_message", "depth3d_lines"))
    dependency, function = next((dependency, function) for dependency, function in zip(tab.dependencies, tab.fns)
                                if mode._id in dependency["targets"] and dependency["trigger"] == "input")
    values = {tab.blocks[i]: tab.blocks[i].value for i in dependency["inputs"]}
    values[lines_box] = '{"version": 1, "vanishing_points": []}'
    answer = function.fn(values)
    assert answer == {message: ui._message("error", ui.UNEXPECTED.format(kind="KeyError"))}
    assert "on_settings failed" in caplog.text


def test_the_tab_offers_the_blender_add_on_the_command_writes(tmp_path):
    import zipfile

    from lib_depth3d.blender_addon import addon_zip_bytes

    result = ui.on_blender_addon({"outputs_dir": str(tmp_path)})
    path = result["blender_addon_file"]
    assert path.endswith("depth3d_blender.zip") and str(tmp_path) in path and "depth3d-ok" in result["message"]
    with open(path, "rb") as handle:
        assert handle.read() == addon_zip_bytes()
    assert any(name.endswith("__init__.py") for name in zipfile.ZipFile(path).namelist())


def test_hidden_paths_keep_the_sentence_and_the_models_folder_stays_named(tmp_path):
    """Found in a real A1111 installed under the temp folder: the full stop after a hidden path
    went with it, and the models folder a missing-weights message names as its remedy was hidden."""
    import tempfile

    under_temp = f"{tempfile.gettempdir()}/a1111/models/depth3d"
    assert ui._without_server_paths(f"see {tempfile.gettempdir()}/x/a.pth. Next") == "see a temporary file. Next"
    message = f"save it as {under_temp}/x.pth. That folder is the setting."
    assert ui._without_server_paths(message, models_folder=under_temp) == message
    assert ui._without_server_paths(message) == "save it as a temporary file. That folder is the setting."
