"""The always-on "Depth 3D" accordion driven through the A1111 double: files, gallery, infotexts."""

import json
import math
import shutil

import numpy as np
import pytest
from PIL import Image

from lib_depth3d.depth import weights
from lib_depth3d.depth.estimate import estimate_depth
from lib_depth3d.depth.licence_note import licence_note
from lib_depth3d.depth.registry import MODELS
from lib_depth3d.depth.weights import read_state_dict
from lib_depth3d.depth.weights_advice import WEBUI_ADVICE
from lib_depth3d.errors import WeightsError
from tests.support.a1111.fixture import a1111, paste_values  # noqa: F401
from tests.support.controlnet import fake_controlnet  # noqa: F401
from tests.support.gradio_events import component, handler
from tests.support.depth_weights import accept_random_weights, write_random_checkpoint
from tests.support.detection import detections  # noqa: F401
from tests.support.glb import read_glb
from tests.support.paths import REPO_ROOT
from tests.support.rooms import render_room, room_camera

SCRIPT = "scripts/depth3d.py"
# A random-weight checkpoint of the real architecture in the models folder, accepted without the
# published hash (no download, no fake network).
MODEL, WEIGHTS_FILE = "depth-anything-v2-metric-indoor-small", "depth_anything_v2_metric_hypersim_vits.pth"
NET_SIZE = 70
WIDTH, HEIGHT = 64, 48


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    write_random_checkpoint(folder / WEIGHTS_FILE, MODEL, seed=5)
    return folder


@pytest.fixture(autouse=True)
def random_weights_accepted(monkeypatch):
    accept_random_weights(monkeypatch, MODEL)


def load(host, models_dir, is_img2img=False):
    module, runner, script, blocks = load_with_blocks(host, models_dir, is_img2img)
    return module, runner, script


def load_with_blocks(host, models_dir, is_img2img=False):
    """As :func:`load`, with the gr.Blocks the accordion was built in."""
    import gradio as gr

    host.shared.opts.data["depth3d_models_dir"] = str(models_dir)
    module = host.load_script(SCRIPT)
    with gr.Blocks() as blocks:
        runner = host.runner(module, is_img2img=is_img2img)
    (script,) = runner.alwayson_scripts
    return module, runner, script, blocks


def arguments(runner, script, *, enabled=True, outputs=("Depth image in the gallery", "3D scene (.glb)"),
              fov=60.0, calibration=None, net_size=NET_SIZE, model=MODEL):
    values = [component.value for component in runner.ui_components[script]]
    values[:] = [enabled, model, list(outputs), fov, calibration or values[4], net_size]
    return values, runner.script_args_for(values={script: values})


def files_in(folder):
    return sorted(path.name for path in folder.iterdir())


def test_txt2img_batch_writes_depth_and_scene_beside_each_picture(a1111, models_dir):
    module, runner, script = load(a1111, models_dir)
    values, script_args = arguments(runner, script)
    p, processed = a1111.txt2img(runner, script_args, prompt="a room", seed=3, width=WIDTH, height=HEIGHT,
                                 batch_size=2, n_iter=2)
    folder = a1111.root / "outputs" / "txt2img-images"
    pictures = sorted(path for path in folder.glob("*.png") if not path.stem.endswith("_depth"))
    assert [path.name for path in pictures] == [f"0000{i}-{3 + i}-a room.png" for i in range(4)]
    expected = sorted(f"{picture.stem}{suffix}" for picture in pictures
                      for suffix in (".png", ".glb", "_depth.png", "_camera.json"))
    assert files_in(folder) == expected
    # grid + 4 pictures + 4 depth images, each with its picture's caption
    assert len(processed.images) == len(processed.infotexts) == 9
    assert processed.infotexts[5:] == processed.infotexts[1:5]
    for k, picture_path in enumerate(pictures):
        picture = processed.images[1 + k]
        with Image.open(picture_path) as saved:
            np.testing.assert_array_equal(np.asarray(saved.convert("RGB")), np.asarray(picture))
        depth = estimate_depth(picture, MODEL, input_size=NET_SIZE, models_folder=models_dir)
        gallery_depth = np.asarray(processed.images[5 + k], dtype=np.float64) / 255.0
        assert processed.images[5 + k].size == (WIDTH, HEIGHT)
        assert np.abs(gallery_depth - depth.nearness()).max() <= 0.5 / 255 + 1e-6
        with Image.open(folder / f"{picture_path.stem}_depth.png") as depth_png:
            assert depth_png.mode.startswith("I") and depth_png.size == (WIDTH, HEIGHT)
            stored = np.asarray(depth_png, dtype=np.float64) / 65535.0
        assert np.corrcoef(stored.ravel(), depth.nearness().ravel())[0, 1] > 0.99
        contents = read_glb(folder / f"{picture_path.stem}.glb")
        assert contents.image_bytes and len(contents.faces) > 0
        assert contents.aspect_ratio == pytest.approx(WIDTH / HEIGHT)
        camera = json.loads((folder / f"{picture_path.stem}_camera.json").read_text())
        assert math.degrees(camera["horizontalFieldOfView"]) == pytest.approx(60.0)
    assert not list(a1111.root.rglob("*.part")) and not list(a1111.root.rglob("*.tmp"))
    assert "Depth 3D: depth of picture 4 of 4" in a1111.shared.state.textinfo_history


def test_infotext_pastes_back_the_accordion_settings(a1111, models_dir):
    module, runner, script = load(a1111, models_dir)
    values, script_args = arguments(runner, script, outputs=("3D scene (.glb)", "Mask"), fov=72.5)
    p, processed = a1111.txt2img(runner, script_args, seed=1, width=WIDTH, height=HEIGHT)
    infotext = processed.infotexts[0]
    assert "Depth3D model: depth-anything-v2-metric-indoor-small" in infotext
    assert paste_values(infotext, script.infotext_fields) == values
    with Image.open(next((a1111.root / "outputs" / "txt2img-images").glob("*-1.png"))) as saved:
        assert saved.info["parameters"] == infotext
    plain = a1111.processing.create_infotext(p, ["x"], [1])
    defaults = [component.value for component in runner.ui_components[script]]
    assert paste_values(plain.split("Depth3D")[0].rstrip(", "), script.infotext_fields) == defaults


def test_img2img_with_a_saved_calibration_and_a_mask(a1111, models_dir):
    module, runner, script = load(a1111, models_dir, is_img2img=True)
    saved = a1111.root / "outputs" / "depth3d" / "20260101-room"
    saved.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "examples" / "room" / "room.fspy", saved / "room.fspy")
    _, fresh_runner, fresh_script = load(a1111, models_dir, is_img2img=True)
    choices = fresh_runner.ui_components[fresh_script][4].choices
    assert [c[0] if isinstance(c, tuple) else c for c in choices][1:] == [module.AUTOMATIC_CAMERA,
                                                                          "20260101-room/room.fspy"]
    values, script_args = arguments(fresh_runner, fresh_script, outputs=("3D scene (.glb)", "Mask"),
                                    calibration="20260101-room/room.fspy")
    with Image.open(REPO_ROOT / "examples" / "room" / "room.png") as room:
        init = room.convert("RGB").resize((WIDTH, HEIGHT))
    p, processed = a1111.img2img(fresh_runner, script_args, init_images=[init], width=WIDTH, height=HEIGHT,
                                 denoising_strength=0.3, seed=9)
    folder = a1111.root / "outputs" / "img2img-images"
    base = "00000-9"
    assert files_in(folder) == sorted([f".{base}.glb.depth3d-set.json"]  # the record of the set's .fspy
                                      + [f"{base}{s}" for s in (".png", ".glb", ".fspy", "_camera.json", "_depth.png",
                                                                "_mask.png")])
    camera = json.loads((folder / f"{base}_camera.json").read_text())
    assert (camera["imageWidth"], camera["imageHeight"]) == (WIDTH, HEIGHT)
    assert math.degrees(camera["horizontalFieldOfView"]) == pytest.approx(70.0, abs=0.01)
    assert (folder / f"{base}.fspy").read_bytes() == (saved / "room.fspy").read_bytes()
    # picture, then its mask (no depth image asked for)
    assert len(processed.images) == len(processed.infotexts) == 2
    mask = processed.images[1]
    assert mask.mode == "L" and mask.size == (WIDTH, HEIGHT)
    with Image.open(folder / f"{base}_mask.png") as saved_mask:
        np.testing.assert_array_equal(np.asarray(saved_mask), np.asarray(mask))


def test_the_automatic_camera_falls_back_to_the_field_of_view_and_says_so(a1111, models_dir):
    """Generated pictures without straight edges: the camera JSON names the field of view as the
    source, and the comment under the gallery says why the lines were not used."""
    module, runner, script = load(a1111, models_dir)
    values, script_args = arguments(runner, script, calibration=module.AUTOMATIC_CAMERA, fov=50.0)
    p, processed = a1111.txt2img(runner, script_args, prompt="a room", seed=3, width=WIDTH, height=HEIGHT)
    folder = a1111.root / "outputs" / "txt2img-images"
    (camera_path,) = folder.glob("*_camera.json")
    camera = json.loads(camera_path.read_text())
    assert camera["depth3dCamera"]["source"] == "field of view"
    assert math.degrees(camera["horizontalFieldOfView"]) == pytest.approx(50.0)
    assert any("from the picture's lines" in comment or "were not trusted" in comment for comment in p.comments)
    assert f"Depth3D calibration: {module.AUTOMATIC_CAMERA}" in processed.infotexts[0]


def test_the_automatic_camera_detects_the_lines_of_each_picture_once(a1111, models_dir, detections):
    """The lines are detected before the network runs (to tell it a trusted camera) and that
    choice gives the saved files their camera: one detection per picture, in a batch too."""
    module, runner, script = load(a1111, models_dir)
    values, script_args = arguments(runner, script, calibration=module.AUTOMATIC_CAMERA)
    a1111.txt2img(runner, script_args, seed=3, width=WIDTH, height=HEIGHT, batch_size=2, n_iter=2)
    assert detections == [(WIDTH, HEIGHT)] * 4
    assert len(list((a1111.root / "outputs" / "txt2img-images").glob("*.glb"))) == 4


def test_trusted_lines_detected_once_give_the_saved_scene_its_camera(a1111, models_dir, detections):
    room = render_room(room_camera(640, 480, 70.0, 35, 0), seed=0)
    module, runner, script = load(a1111, models_dir, is_img2img=True)
    values, script_args = arguments(runner, script, calibration=module.AUTOMATIC_CAMERA)
    a1111.img2img(runner, script_args, init_images=[room.picture], width=640, height=480, denoising_strength=0.0,
                  seed=9)
    assert detections == [(640, 480)]
    camera = json.loads((a1111.root / "outputs" / "img2img-images" / "00000-9_camera.json").read_text())
    assert camera["depth3dCamera"]["source"] == "detected lines"
    assert math.degrees(camera["horizontalFieldOfView"]) == pytest.approx(70.0, abs=0.5)


@pytest.mark.parametrize("size", [(160, 120), (640, 480)])
def test_only_masked_inpainting_gives_the_pasted_picture_its_own_camera(a1111, models_dir, detections, size):
    """With "Only masked" the network sees the generated crop, and A1111 saves the init image
    with the crop pasted back: another picture, whose lines give the saved scene its camera
    (even when the crop was generated at the init image's size)."""
    room = render_room(room_camera(640, 480, 70.0, 35, 0), seed=0)
    mask = Image.new("L", (640, 480), 0)
    mask.paste(255, (400, 300, 480, 360))
    module, runner, script = load(a1111, models_dir, is_img2img=True)
    values, script_args = arguments(runner, script, calibration=module.AUTOMATIC_CAMERA)
    p, processed = a1111.img2img(runner, script_args, init_images=[room.picture], image_mask=mask,
                                 inpaint_full_res=True, width=size[0], height=size[1], denoising_strength=0.5, seed=9)
    assert p.paste_to is not None and processed.images[0].size == (640, 480)
    assert detections == [size, (640, 480)]
    camera = json.loads((a1111.root / "outputs" / "img2img-images" / "00000-9_camera.json").read_text())
    assert (camera["imageWidth"], camera["imageHeight"]) == (640, 480)
    assert camera["depth3dCamera"]["source"] == "detected lines"
    assert math.degrees(camera["horizontalFieldOfView"]) == pytest.approx(70.0, abs=0.5)


def test_only_masked_inpainting_estimates_the_depth_of_the_pasted_picture(a1111, models_dir):
    """The saved and shown picture is the init image with the crop pasted in: its depth is the
    network's on that picture, not the crop's stretched over it."""
    picture = Image.fromarray(np.random.default_rng(5).integers(0, 256, (120, 160, 3), dtype=np.uint8))
    mask = Image.new("L", (160, 120), 0)
    mask.paste(255, (100, 70, 130, 100))
    module, runner, script = load(a1111, models_dir, is_img2img=True)
    values, script_args = arguments(runner, script, outputs=("Depth image in the gallery",))
    p, processed = a1111.img2img(runner, script_args, init_images=[picture], image_mask=mask,
                                 inpaint_full_res=True, width=96, height=96, denoising_strength=0.5, seed=9)
    pasted = processed.images[0]
    assert p.paste_to is not None and pasted.size == (160, 120)
    depth = estimate_depth(pasted, MODEL, input_size=NET_SIZE, models_folder=models_dir)
    gallery_depth = np.asarray(processed.images[1], dtype=np.float64) / 255.0
    assert np.abs(gallery_depth - depth.nearness()).max() <= 0.5 / 255 + 1e-6
    with Image.open(a1111.root / "outputs" / "img2img-images" / "00000-9_depth.png") as depth_png:
        stored = np.asarray(depth_png, dtype=np.float64) / 65535.0
    assert np.abs(stored - depth.nearness()).max() <= 0.5 / 65535 + 1e-6


def test_interrupt_stops_between_pictures_without_partial_files(a1111, models_dir):
    module, runner, script = load(a1111, models_dir)
    values, script_args = arguments(runner, script)
    a1111.script_callbacks.on_image_saved(lambda params: a1111.shared.state.interrupt())
    p, processed = a1111.txt2img(runner, script_args, seed=20, width=WIDTH, height=HEIGHT, batch_size=2, n_iter=2)
    folder = a1111.root / "outputs" / "txt2img-images"
    # A1111 finishes decoding and saving the current batch; Depth 3D does no more work after the
    # interruption: the first picture has its complete set of files, the second none.
    assert files_in(folder) == sorted(["00000-20.png", "00000-20.glb", "00000-20_depth.png",
                                       "00000-20_camera.json", "00001-21.png"])
    assert len(processed.images) == len(processed.infotexts) == 4  # grid, 2 pictures, 1 depth
    assert processed.infotexts[3] == processed.infotexts[1]


def test_disabled_accordion_changes_nothing(a1111, models_dir):
    module, runner, script = load(a1111, models_dir)
    values, script_args = arguments(runner, script, enabled=False)
    p, processed = a1111.txt2img(runner, script_args, seed=4, width=WIDTH, height=HEIGHT, batch_size=2)
    assert files_in(a1111.root / "outputs" / "txt2img-images") == ["00000-4.png", "00001-5.png"]
    assert len(processed.images) == len(processed.infotexts) == 3
    assert "Depth3D" not in processed.infotexts[0]


@pytest.mark.parametrize("change, message", [
    ({"calibration": "../../secret.fspy"}, "is not in"),
    ({"fov": 0.5}, "field of view must be between"),
    ({"outputs": ["Everything"]}, "unknown output"),
    ({"outputs": []}, "nothing to produce"),
    ({"model": "controlnet:depth_midas"}, "unknown depth model 'controlnet:depth_midas'"),
    ({"net_size": 500}, "network size for depth-anything-v2-metric-indoor-small must be a multiple of 14 between 28 "
                        "and 4096; got 500. Set 0"),
    ({"net_size": 14}, "got 14"),
])
def test_bad_settings_stop_the_run_before_generating_and_say_why(a1111, models_dir, change, message):
    module, runner, script = load(a1111, models_dir)
    values, script_args = arguments(runner, script, **change)
    p, processed = a1111.txt2img(runner, script_args, seed=4, width=WIDTH, height=HEIGHT, n_iter=2)
    # No picture is generated, so the user does not wait for pictures without their depth.
    assert processed.images == [] and not (a1111.root / "outputs").exists()
    assert processed.comments.startswith("Depth 3D") and message in processed.comments
    assert a1111.errors.reported == []


@pytest.fixture
def offline(monkeypatch):
    """No route to the weights' host, as on a WebUI without internet access."""
    def unreachable(url, partial, progress, timeout_s):
        raise WeightsError(f"Cannot reach huggingface.co to download {partial.with_suffix('').name} "
                           "(Network is unreachable); check the network.")

    monkeypatch.setattr(weights, "_fetch", unreachable)


@pytest.mark.parametrize("model, placed, cause", [
    ("depth-anything-v2-small", None, "are not available: Cannot reach huggingface.co"),
    ("depth-anything-v2-small", b"an interrupted copy", "has 19 bytes but depth_anything_v2_vits.pth has 99218434"),
    (MODEL, None, "No published SHA-256 is recorded"),  # the test's random weights have none
])
def test_weights_that_cannot_be_used_stop_the_run_before_generating(a1111, tmp_path, offline, model, placed, cause):
    folder = tmp_path / "empty-models"
    folder.mkdir()
    if placed is not None:
        (folder / MODELS[model].files[0].filename).write_bytes(placed)
    module, runner, script = load(a1111, folder)
    values, script_args = arguments(runner, script, model=model, net_size=0)
    p, processed = a1111.txt2img(runner, script_args, seed=4, width=WIDTH, height=HEIGHT, n_iter=2)
    assert processed.images == [] and not (a1111.root / "outputs").exists()
    (message,) = processed.comments.splitlines()
    assert message.startswith("Depth 3D: ") and cause in message
    if placed is None:  # the WebUI's remedy, not the command line's
        assert message.endswith(f"save it as {folder / MODELS[model].files[0].filename}. {WEBUI_ADVICE}")
    assert "--weights" not in message and "Depth3D outputs" not in processed.infotexts[0]
    # The API's answer (info = Processed.js()) carries the reason too.
    info = json.loads(processed.js())
    assert info["extra_generation_params"]["Depth3D error"] == message
    parameters = a1111.generation_parameters_copypaste.parse_generation_parameters(info["infotexts"][0])
    assert parameters["Depth3D error"] == message
    assert a1111.errors.reported == []


def test_weights_are_read_past_the_webuis_safe_unpickler(a1111, tmp_path):
    import torch

    path = tmp_path / "written_by_recent_torch.pth"
    torch.save({"weight": torch.arange(3.0)}, path)
    # A1111's torch.load refuses the archive recent torch writes, logs why, and returns None.
    assert torch.load(path, map_location="cpu", weights_only=True) is None
    assert "bad file inside" in str(a1111.errors.reported[-1][1])
    assert torch.equal(read_state_dict(path)["weight"], torch.arange(3.0))


def test_a_network_size_of_the_model_multiple_is_accepted(a1111, models_dir):
    module, runner, script = load(a1111, models_dir)
    values, script_args = arguments(runner, script, net_size=42, outputs=("Depth image in the gallery",))
    p, processed = a1111.txt2img(runner, script_args, seed=4, width=WIDTH, height=HEIGHT)
    assert files_in(a1111.root / "outputs" / "txt2img-images") == ["00000-4.png", "00000-4_depth.png"]
    assert "Depth3D net size: 42" in processed.infotexts[0] and processed.comments == ""


def test_controlnet_depth_is_offered_and_writes_the_depth_files(a1111, models_dir, fake_controlnet):
    module, runner, script = load(a1111, models_dir)
    choices = [c[0] if isinstance(c, tuple) else c for c in runner.ui_components[script][1].choices]
    assert choices == [*MODELS, "controlnet:depth_midas"]
    values, script_args = arguments(runner, script, model="controlnet:depth_midas", net_size=96)
    p, processed = a1111.txt2img(runner, script_args, seed=6, width=WIDTH, height=HEIGHT)
    folder = a1111.root / "outputs" / "txt2img-images"
    assert files_in(folder) == ["00000-6.glb", "00000-6.png", "00000-6_camera.json", "00000-6_depth.png"]
    # The network size is ControlNet's resolution, as in the mask script.
    assert [call[2] for call in fake_controlnet.calls] == [96]
    with Image.open(folder / "00000-6_depth.png") as depth_png:
        stored = np.asarray(depth_png, dtype=np.float64) / 65535.0
    # The stand-in's nearness grows down the picture.
    assert (np.diff(stored.mean(axis=1)) >= 0).all() and stored[-1].mean() > stored[0].mean()
    assert len(processed.images) == 2 and processed.images[1].size == (WIDTH, HEIGHT)
    infotext = processed.infotexts[0]
    assert 'Depth3D model: "controlnet:depth_midas"' in infotext
    assert paste_values(infotext, script.infotext_fields)[1] == "controlnet:depth_midas"


def test_a_depth_that_fails_during_the_run_is_said_where_refusals_are(a1111, models_dir, fake_controlnet,
                                                                      monkeypatch):
    calls = []

    def out_of_memory(self, *args, **kwargs):
        calls.append(args[1])
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(type(fake_controlnet), "__call__", out_of_memory)
    module, runner, script = load(a1111, models_dir)
    values, script_args = arguments(runner, script, model="controlnet:depth_midas", net_size=96)
    p, processed = a1111.txt2img(runner, script_args, seed=6, width=WIDTH, height=HEIGHT, batch_size=2)
    # The pictures are kept; the second is not tried again; no depth file, no depth in the gallery.
    assert len(processed.images) == 3 and calls == [96]
    assert files_in(a1111.root / "outputs" / "txt2img-images") == ["00000-6.png", "00001-7.png"]
    (message,) = processed.comments.splitlines()
    assert message.startswith("Depth 3D: the depth of picture 1 failed")
    assert "ControlNet's depth_midas failed: RuntimeError: CUDA out of memory" in message
    parameters = a1111.generation_parameters_copypaste.parse_generation_parameters(processed.infotexts[1])
    assert parameters["Depth3D error"] == message == json.loads(processed.js())["extra_generation_params"]["Depth3D error"]
    assert a1111.errors.reported == []


def test_a_controlnet_resolution_out_of_its_range_stops_the_run(a1111, models_dir, fake_controlnet):
    module, runner, script = load(a1111, models_dir)
    values, script_args = arguments(runner, script, model="controlnet:depth_midas", net_size=40)
    p, processed = a1111.txt2img(runner, script_args, seed=6, width=WIDTH, height=HEIGHT)
    assert processed.images == [] and fake_controlnet.calls == []
    assert "The resolution of ControlNet's depth_midas must be between 64 and 2048, got 40" in processed.comments
    assert a1111.errors.reported == []


def test_without_controlnet_the_accordion_offers_our_models_only(a1111, models_dir):
    module, runner, script = load(a1111, models_dir)
    choices = [c[0] if isinstance(c, tuple) else c for c in runner.ui_components[script][1].choices]
    assert choices == list(MODELS)


def test_the_accordion_shows_the_chosen_models_licence(a1111, models_dir, fake_controlnet):
    a1111.shared.opts.data["depth3d_default_model"] = "depth-anything-v2-large"
    module, runner, script, blocks = load_with_blocks(a1111, models_dir)
    model = runner.ui_components[script][1]
    line = component(blocks, "depth3d_txt2img_model_licence")
    assert line.value == licence_note("depth-anything-v2-large") and "non-commercial use only" in line.value
    show = handler(blocks, model, "change", line)
    assert show("midas-dpt-hybrid") == licence_note("midas-dpt-hybrid") and "MIT" in show("midas-dpt-hybrid")
    assert "ControlNet" in show("controlnet:depth_midas")


def test_settings_section_and_models_folder(a1111, models_dir):
    module, runner, script = load(a1111, models_dir)
    a1111.script_callbacks.ui_settings_callback()
    labels = a1111.shared.opts.data_labels
    keys = ["depth3d_models_dir", "depth3d_keep_loaded", "depth3d_default_model", "depth3d_outputs_dir"]
    assert all(labels[key].section == ("depth3d", "Depth 3D") for key in keys)
    # Listed under one of A1111's categories, not "Uncategorized".
    assert {labels[key].category_id for key in keys} == {"postprocessing"}
    assert "postprocessing" in a1111.shared.OPTION_CATEGORIES
    licences = labels["depth3d_default_model"].comment_after
    assert "CC BY-NC 4.0 (non-commercial use only)</a>: depth-anything-v2-base, depth-anything-v2-large;" in licences
    del a1111.shared.opts.data["depth3d_models_dir"]
    assert module.models_folder() == a1111.root / "models" / "depth3d"
    assert module.outputs_folder() == a1111.root / "outputs" / "depth3d"


def test_app_started_mounts_the_api_with_the_webui_models_folder(a1111, models_dir):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    load(a1111, models_dir)
    app = FastAPI()
    a1111.script_callbacks.app_started_callback(None, app)
    models = TestClient(app).get("/depth3d/v1/models").json()["models"]
    assert [m["name"] for m in models if m["installed"]] == [MODEL]


def test_the_webuis_api_gives_the_webuis_remedy_for_missing_weights(a1111, models_dir, offline):
    import base64
    import io

    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    load(a1111, models_dir)
    app = FastAPI()
    a1111.script_callbacks.app_started_callback(None, app)
    picture = io.BytesIO()
    Image.new("RGB", (WIDTH, HEIGHT), "grey").save(picture, format="PNG")
    answer = TestClient(app).post("/depth3d/v1/depth", json={
        "image": base64.b64encode(picture.getvalue()).decode(), "model": "depth-anything-v2-small"})
    assert answer.status_code == 503
    detail = answer.json()["detail"]
    assert detail.endswith(WEBUI_ADVICE) and str(models_dir / "depth_anything_v2_vits.pth") in detail
    assert "--weights" not in detail


def test_in_the_webuis_app_the_heavy_routes_run_on_the_pool_sized_from_the_cores(a1111, models_dir, monkeypatch):
    import base64
    import io
    import threading

    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from lib_depth3d import pipeline
    from lib_depth3d.worker_pool import default_pool, size_from_cores, usable_cores

    threads, make_mask = [], pipeline.make_mask

    def make_mask_noting_its_thread(*args):
        threads.append(threading.current_thread().name)
        return make_mask(*args)

    monkeypatch.setattr(pipeline, "make_mask", make_mask_noting_its_thread)
    load(a1111, models_dir)
    app = FastAPI()
    a1111.script_callbacks.app_started_callback(None, app)

    def png(picture) -> str:
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        return base64.b64encode(buffer.getvalue()).decode()

    answer = TestClient(app).post("/depth3d/v1/mask", json={"image": png(Image.new("RGB", (32, 24))),
                                                            "depth_image": png(Image.new("L", (32, 24), 200))})
    assert answer.status_code == 200, answer.text
    assert len(threads) == 1 and threads[0].startswith("depth3d-api")
    assert default_pool().size == size_from_cores(usable_cores()) and default_pool().admitted == 0


def test_ui_tabs_registers_the_depth3d_tab_writing_to_the_outputs_folder(a1111, models_dir):
    import gradio as gr

    module, runner, script = load(a1111, models_dir)
    (tab,) = a1111.script_callbacks.ui_tabs_callback()
    blocks, title, elem_id = tab
    assert isinstance(blocks, gr.Blocks) and (title, elem_id) == ("Depth 3D", "depth3d")
    states = [block.value for block in blocks.blocks.values() if isinstance(block, gr.State)]
    assert str(a1111.root / "outputs" / "depth3d") in states
    assert WEBUI_ADVICE in states  # the build's missing-weights message gives the WebUI's remedy


def test_pictures_in_dated_subfolders_get_their_files_beside_them(a1111, models_dir):
    import datetime

    module, runner, script = load(a1111, models_dir)
    a1111.shared.opts.save_to_dirs = True
    a1111.shared.opts.grid_save_to_dirs = True
    values, script_args = arguments(runner, script, outputs=("3D scene (.glb)",))
    a1111.txt2img(runner, script_args, prompt="a room", seed=30, width=WIDTH, height=HEIGHT, batch_size=2)
    today = datetime.date.today().isoformat()
    folder = a1111.root / "outputs" / "txt2img-images" / today
    assert files_in(folder) == sorted(f"{base}{suffix}" for base in ("00000-30", "00001-31")
                                      for suffix in (".png", ".glb", "_depth.png", "_camera.json"))
    assert files_in(a1111.root / "outputs" / "txt2img-grids" / today) == ["grid-0000.png"]


def test_unsaved_pictures_get_no_files_and_the_grid_never_takes_their_depth(a1111, models_dir):
    module, runner, script = load(a1111, models_dir)
    a1111.shared.opts.samples_save = False
    values, script_args = arguments(runner, script)
    p, processed = a1111.txt2img(runner, script_args, seed=40, width=WIDTH, height=HEIGHT, batch_size=2)
    assert not (a1111.root / "outputs" / "txt2img-images").exists()
    assert files_in(a1111.root / "outputs" / "txt2img-grids") == ["grid-0000.png"]
    assert len(processed.images) == len(processed.infotexts) == 5  # grid, 2 pictures, 2 depth images
