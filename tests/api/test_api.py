"""The HTTP API through FastAPI's TestClient (httpx 0.24.1): each route and each kind of bad request."""

import base64
import io
import json

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from lib_depth3d.api import router
from lib_depth3d.depth.depthmap import DepthMap, depth_image_nearness
from lib_depth3d.depth.estimate import estimate_depth
from lib_depth3d.depth.registry import MODELS
from lib_depth3d.mask import MaskOptions, depth_mask
from tests.support.controlnet import fake_controlnet  # noqa: F401 (fixture)
from tests.support.depth_weights import accept_random_weights, write_random_checkpoint
from tests.support.glb import read_glb
from tests.support.paths import EXAMPLES_DIR

# A random-weight checkpoint of the real architecture in the models folder, accepted without the
# published hash (no download, no fake network).
MODEL, WEIGHTS_FILE = "depth-anything-v2-metric-indoor-small", "depth_anything_v2_metric_hypersim_vits.pth"
ROOM = EXAMPLES_DIR / "room"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    write_random_checkpoint(folder / WEIGHTS_FILE, MODEL, seed=7)
    return folder


@pytest.fixture
def client(models_dir, monkeypatch):
    monkeypatch.setenv("DEPTH3D_MODELS_DIR", str(models_dir))
    accept_random_weights(monkeypatch, MODEL)
    app = FastAPI()
    app.include_router(router)
    return TestClient(app)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def png(picture: Image.Image) -> str:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return b64(buffer.getvalue())


def decoded(text: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(text)))


def room_picture() -> Image.Image:
    return Image.open(ROOM / "room.png").convert("RGB")


def room_depth_png(size=None) -> Image.Image:
    """The example room's depth as a 16-bit picture, near = bright."""
    values = np.load(ROOM / "room_depth.npy").astype(np.float32)
    nearness = DepthMap(values, "depth").nearness()
    picture = Image.fromarray(np.round(nearness * 65535).astype(np.uint16), "I;16")
    return picture.resize(size) if size else picture


def test_models_lists_the_registry_and_what_is_installed(client):
    answer = client.get("/depth3d/v1/models")
    assert answer.status_code == 200
    body = answer.json()
    by_name = {model["name"]: model for model in body["models"]}
    assert body["default"] in by_name
    assert by_name[MODEL]["installed"] is True and by_name[MODEL]["output_kind"] == "metric"
    assert not by_name[body["default"]]["installed"]


def test_depth_from_a_model_is_the_networks_depth(client):
    picture = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8))
    answer = client.post("/depth3d/v1/depth", json={"image": png(picture), "model": MODEL, "net_size": 70})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["kind"], body["width"], body["height"]) == ("metric", 56, 40)
    stored = np.asarray(decoded(body["depth"]), dtype=np.float64) / 65535
    expected = estimate_depth(picture, MODEL, input_size=70).nearness()
    assert np.abs(stored - expected).max() <= 0.5 / 65535 + 1e-6


def test_depth_answer_names_the_models_licence(client):
    picture = Image.new("RGB", (28, 28), (90, 120, 150))
    answer = client.post("/depth3d/v1/depth", json={"image": png(picture), "model": MODEL, "net_size": 28})
    assert answer.status_code == 200, answer.text
    assert answer.json()["licence"] == MODELS[MODEL].licence


def test_controlnet_preprocessors_are_listed_and_run_as_models(client, fake_controlnet):
    assert client.get("/depth3d/v1/models").json()["controlnet"] == ["depth_midas"]
    picture = Image.new("RGB", (60, 40), (90, 120, 150))
    answer = client.post("/depth3d/v1/depth", json={"image": png(picture), "model": "controlnet:depth_midas",
                                                    "net_size": 96})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["width"], body["height"], body["licence"]) == (60, 40, None)
    assert [call[2] for call in fake_controlnet.calls] == [96]  # the network size is ControlNet's resolution


def test_a_failing_controlnet_preprocessor_is_a_503_naming_it(client, fake_controlnet, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("annotator weights missing")

    monkeypatch.setattr(type(fake_controlnet), "__call__", broken)
    picture = Image.new("RGB", (60, 40))
    answer = client.post("/depth3d/v1/depth", json={"image": png(picture), "model": "controlnet:depth_midas"})
    assert answer.status_code == 503
    assert "ControlNet's depth_midas failed" in answer.json()["detail"]


def test_scene_from_lines_returns_the_glb_the_camera_and_the_fspy(client):
    lines = json.loads((ROOM / "room_lines.json").read_text())
    answer = client.post("/depth3d/v1/scene", json={
        "image": png(room_picture()), "depth_image": png(room_depth_png()), "lines": lines, "resolution": 96})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    glb = base64.b64decode(body["glb"])
    assert glb[:4] == b"glTF"
    assert body["camera"]["imageWidth"] == 640
    assert body["calibration"]["trueHorizontalFieldOfViewDegrees"] == pytest.approx(70.0, abs=0.01)
    assert base64.b64decode(body["fspy"])[:4] == b"fspy"
    assert decoded(body["depth"]).size == (640, 480)


def test_scene_from_a_field_of_view(client, tmp_path):
    answer = client.post("/depth3d/v1/scene", json={
        "image": png(room_picture()), "depth_image": png(room_depth_png((320, 240))), "fov_deg": 80, "resolution": 64})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["fspy"] is None and body["calibration"] is None
    assert np.degrees(body["camera"]["horizontalFieldOfView"]) == pytest.approx(80.0)
    path = tmp_path / "scene.glb"
    path.write_bytes(base64.b64decode(body["glb"]))
    assert read_glb(path).aspect_ratio == pytest.approx(640 / 480)


def test_mask_cuts_an_uploaded_depth_as_stored(client):
    depth_picture = room_depth_png((320, 240))
    request = {"image": png(room_picture()), "depth_image": png(depth_picture), "near_min": 0.3, "near_max": 0.8,
               "hard": True, "invert": True}
    answer = client.post("/depth3d/v1/mask", json=request)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    mask = decoded(body["mask"])
    expected = depth_mask(depth_image_nearness(depth_picture), MaskOptions(near_min=0.3, near_max=0.8, hard=True,
                                                                           invert=True), (640, 480))
    np.testing.assert_array_equal(np.asarray(mask), np.asarray(expected.mask))
    assert body["cutoffs"] == pytest.approx([0.3, 0.8])


@pytest.mark.parametrize("route, change, status, message", [
    ("depth", {"image": "not base64!"}, 400, "image is not valid base64"),
    ("depth", {"image": b64(b"just some bytes")}, 400, "not a readable picture"),
    ("depth", {"model": "no-such-model"}, 400, "Unknown depth model"),
    ("depth", {"model": "controlnet:depth_midas"}, 400, "sd-webui-controlnet extension is not installed"),
    ("depth", {"net_size": 71}, 400, "multiple of 14"),
    ("depth", {"model": "depth-anything-v2-large"}, 503, ""),
    ("scene", {"lines": {"version": 1}}, 400, ""),
    ("scene", {"fspy": b64(b"fspy but not really")}, 400, ""),
    ("scene", {"fov_deg": 190}, 400, "field of view"),
    ("scene", {"depth_image": None, "fov_deg": 60, "animation": "spin"}, 400, "animation"),
    ("mask", {"near_min": 0.9, "near_max": 0.1}, 400, "0 ≤ min ≤ max ≤ 1"),
    ("mask", {"depth_image": None, "percentiles": [80, 20]}, 400, "Percentiles"),
])
def test_bad_requests_get_a_4xx_with_a_message(client, monkeypatch, route, change, status, message):
    from lib_depth3d.depth import weights

    def no_network(*args, **kwargs):
        raise weights.WeightsError("The download failed: no network in the tests.")

    monkeypatch.setattr(weights, "download", no_network)
    picture = Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, 56, 3), dtype=np.uint8))
    request = {"image": png(picture), "model": MODEL, "net_size": 70, **change}
    if route != "depth" and "depth_image" not in change:
        request["depth_image"] = png(Image.new("L", (56, 40), 128))
    request = {key: value for key, value in request.items() if value is not None}
    answer = client.post(f"/depth3d/v1/{route}", json=request)
    assert answer.status_code == status, answer.text
    detail = answer.json()["detail"]
    assert isinstance(detail, str) and detail and message in detail


def test_a_missing_field_is_a_422_naming_it(client):
    answer = client.post("/depth3d/v1/depth", json={"model": MODEL})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "image"]


def test_a_depth_of_another_shape_is_refused(client):
    answer = client.post("/depth3d/v1/depth", json={"image": png(room_picture()),
                                                    "depth_image": png(Image.new("L", (100, 100)))})
    assert answer.status_code == 400
    assert "aspect ratios differ" in answer.json()["detail"]
