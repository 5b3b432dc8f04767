"""The HTTP API through FastAPI's TestClient (httpx 0.24.1): each route and each kind of bad request."""

import base64
import io
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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
        "image": png(room_picture()), "depth_image": png(room_depth_png()), "fov_deg": 80, "resolution": 64})
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
    ("depth", {"image": b64(b"just some bytes")}, 400, "image is not a readable picture; send a PNG"),
    ("depth", {"model": "no-such-model"}, 400, "Unknown depth model"),
    ("depth", {"model": "controlnet:depth_midas"}, 400, "neither the sd-webui-controlnet extension nor Forge"),
    ("depth", {"net_size": 71}, 400, "multiple of 14"),
    ("depth", {"model": "depth-anything-v2-large"}, 503, ""),
    ("scene", {"lines": {"version": 1}}, 400, ""),
    ("scene", {"fspy": b64(b"fspy but not really")}, 400, ""),
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


def test_scene_from_an_fspy_project_sent_as_a_data_url(client):
    project = "data:application/octet-stream;base64," + b64((ROOM / "room.fspy").read_bytes())
    answer = client.post("/depth3d/v1/scene", json={
        "image": "data:image/png;base64," + png(room_picture()), "depth_image": png(room_depth_png()),
        "fspy": project, "resolution": 64})
    assert answer.status_code == 200, answer.text
    assert answer.json()["calibration"]["trueHorizontalFieldOfViewDegrees"] == pytest.approx(70.0, abs=0.01)


def test_a_picture_sent_as_the_fspy_project_is_named_as_such(client):
    answer = client.post("/depth3d/v1/scene", json={
        "image": png(room_picture()), "depth_image": png(room_depth_png()), "fspy": png(room_picture())})
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("fspy is not an fSpy project")


@pytest.mark.parametrize("route", ["depth", "scene"])
def test_a_depth_image_of_another_size_is_refused_as_on_the_command_line(client, route):
    answer = client.post(f"/depth3d/v1/{route}", json={"image": png(room_picture()),
                                                        "depth_image": png(room_depth_png((320, 240)))})
    assert answer.status_code == 400
    assert answer.json()["detail"] == ("The depth image is 320×240 but the picture is 640×480; "
                                       "give the depth at the picture's size.")


@pytest.mark.parametrize("route, field", [("scene", "fov_degrees"), ("mask", "near"), ("depth", "netsize")])
def test_an_unknown_field_is_a_422_naming_it(client, route, field):
    """A misspelt option must not be ignored (a misspelt field of view used to give 55°)."""
    request = {"image": png(room_picture()), "depth_image": png(room_depth_png()), field: 30}
    answer = client.post(f"/depth3d/v1/{route}", json=request)
    assert answer.status_code == 422
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body", field] and set(error) == {"loc", "msg", "type"}  # pydantic 2 adds the input
    assert error["type"] in ("value_error.extra", "extra_forbidden")  # pydantic 1 (A1111), 2 (Forge)


def png_header_only(width: int, height: int) -> bytes:
    """The signature and IHDR of a ``width``×``height`` RGB PNG with one byte of pixel data: its
    header is valid, and decoding it would fail (or, were it whole, take width × height × 3 bytes)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


@pytest.mark.parametrize("route", ["depth", "scene", "mask"])
def test_a_picture_over_the_routes_pixel_limit_is_refused_from_its_header(client, monkeypatch, route):
    import lib_depth3d.api as api

    def no_decoding(*args, **kwargs):
        raise AssertionError("the picture was decoded")

    monkeypatch.setattr(api, "open_image", no_decoding)
    limit = api.LIMITS[f"/{route}"].max_picture_pixels
    side = int(limit ** 0.5) + 1
    answer = client.post(f"/depth3d/v1/{route}", json={"image": b64(png_header_only(side, side)), "fov_deg": 60}
                         if route == "scene" else {"image": b64(png_header_only(side, side))})
    assert answer.status_code == 413
    assert answer.json()["detail"] == (f"image has more than {limit / 1e6:g} megapixels, this route's limit; "
                                       "send a smaller picture.")


def test_a_mask_depth_over_the_pixel_limit_is_refused_from_its_header(client):
    from lib_depth3d.api import LIMITS

    side = int(LIMITS["/mask"].max_picture_pixels ** 0.5) + 1
    answer = client.post("/depth3d/v1/mask", json={"image": png(Image.new("RGB", (8, 8))),
                                                   "depth_image": b64(png_header_only(side, 16))})
    assert answer.status_code == 400  # under the limit: read, and then refused as unreadable
    answer = client.post("/depth3d/v1/mask", json={"image": png(Image.new("RGB", (8, 8))),
                                                   "depth_image": b64(png_header_only(side, side))})
    assert answer.status_code == 413
    assert answer.json()["detail"].startswith("depth_image has more than")


def test_a_picture_at_the_pixel_limit_is_decoded(client, monkeypatch):
    """The limit is the most pixels accepted, not the first refused (checked at a small limit)."""
    from lib_depth3d.api import LIMITS, RequestLimits

    monkeypatch.setitem(LIMITS, "/mask", RequestLimits(max_body_bytes=LIMITS["/mask"].max_body_bytes,
                                                       max_picture_pixels=40 * 30))
    request = {"image": png(Image.new("RGB", (40, 30))), "depth_image": png(Image.new("L", (40, 30), 200))}
    assert client.post("/depth3d/v1/mask", json=request).status_code == 200
    request["image"] = png(Image.new("RGB", (41, 30)))
    assert client.post("/depth3d/v1/mask", json=request).status_code == 413


@pytest.mark.parametrize("streamed", [False, True])
def test_a_body_over_the_routes_limit_is_refused_unread(client, monkeypatch, streamed):
    from lib_depth3d.api import LIMITS, RequestLimits

    monkeypatch.setitem(LIMITS, "/depth", RequestLimits(max_body_bytes=4096, max_picture_pixels=4096 * 4096))
    body = json.dumps({"image": "A" * 5000}).encode()
    content = (body[i:i + 1000] for i in range(0, len(body), 1000)) if streamed else body
    answer = client.post("/depth3d/v1/depth", content=content, headers={"content-type": "application/json"})
    assert answer.status_code == 413
    assert answer.json() == {"detail": "The request body is over this route's limit of 4096 bytes; "
                                       "send smaller pictures."}


def test_a_body_under_the_limit_is_read(client, monkeypatch):
    from lib_depth3d.api import LIMITS, RequestLimits

    picture = png(Image.new("RGB", (28, 28), (90, 120, 150)))
    body = json.dumps({"image": picture, "model": MODEL, "net_size": 28}).encode()
    monkeypatch.setitem(LIMITS, "/depth", RequestLimits(max_body_bytes=len(body), max_picture_pixels=28 * 28))
    answer = client.post("/depth3d/v1/depth", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("body", [
    b'{"image": "' + b"x" * 200_000,  # malformed JSON: FastAPI's own 422 carried the whole body back
    json.dumps({"image": "AAAA", "q" * 200_000: 1}).encode(),  # an unknown field with a long name
    json.dumps({"image": "AAAA", "model": "m" * 200_000}).encode(),
    json.dumps({"image": ["x" * 200_000]}).encode(),
])
def test_errors_never_echo_the_body(client, body):
    answer = client.post("/depth3d/v1/scene", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422
    assert len(answer.content) < 2000
    assert "xxxxxxxxxx" not in answer.text and "mmmmmmmmmm" not in answer.text


@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=600, max_size=3000),
       field=st.sampled_from(["version", "mode", "rectangle"]))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_400_never_carries_a_long_value_back(client, text, field):
    """Whatever value a lines JSON holds, the message stays short: a bad value is named, never repeated whole."""
    lines = {"version": 1, "image": {"width": 56, "height": 40}, "mode": "two_vp", field: text}
    answer = client.post("/depth3d/v1/scene", json={"image": png(Image.new("RGB", (56, 40))),
                                                    "depth_image": png(Image.new("L", (56, 40))), "lines": lines})
    assert answer.status_code == 400
    assert len(answer.json()["detail"]) <= 501


@pytest.fixture
def webui_api_client(client):
    """Our routes on an app with A1111's ``--api`` error handlers."""
    from tests.support.a1111.api_middleware import api_middleware

    app = FastAPI()
    api_middleware(app)
    app.include_router(router)
    return TestClient(app)


@pytest.mark.parametrize("body, status", [
    (b'{"image": "' + b"x" * 200_000, 422),
    (json.dumps({"image": "AAAA", "fov_degrees": 30}).encode(), 422),
    (json.dumps({"image": b64(b"just some bytes")}).encode(), 400),
])
def test_under_the_webuis_api_errors_come_in_its_shape_without_the_body(webui_api_client, body, status):
    answer = webui_api_client.post("/depth3d/v1/scene", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == status
    error = answer.json()
    assert (error["error"], error["body"]) == ("HTTPException", "")
    assert error["detail"] and len(answer.content) < 2000


def test_under_the_webuis_api_a_body_over_the_limit_is_a_413(webui_api_client, monkeypatch):
    from lib_depth3d.api import LIMITS, RequestLimits

    monkeypatch.setitem(LIMITS, "/mask", RequestLimits(max_body_bytes=1000, max_picture_pixels=4096 * 4096))
    answer = webui_api_client.post("/depth3d/v1/mask", json={"image": "A" * 2000})
    assert answer.status_code == 413
    assert answer.json()["detail"] == "The request body is over this route's limit of 1000 bytes; send smaller pictures."


def test_a_network_size_over_the_apis_limit_is_a_422(client):
    from lib_depth3d.api import MAX_NET_SIZE

    answer = client.post("/depth3d/v1/depth", json={"image": png(Image.new("RGB", (28, 28))), "model": MODEL,
                                                    "net_size": MAX_NET_SIZE + 14})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "net_size"]


def test_the_field_of_view_range_is_the_one_every_entry_point_uses(client):
    from lib_depth3d.options import FIELD_OF_VIEW_RANGE_DEG

    picture = Image.new("RGB", (56, 40))
    answer = client.post("/depth3d/v1/scene", json={"image": png(picture), "depth_image": png(Image.new("L", (56, 40))),
                                                    "fov_deg": 190})
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", "fov_deg"]
    schema = client.get("/openapi.json").json()["components"]["schemas"]["SceneRequest"]["properties"]["fov_deg"]
    assert (schema["minimum"], schema["maximum"]) == FIELD_OF_VIEW_RANGE_DEG


@pytest.mark.parametrize("resolution", [None, 2049])
def test_a_scene_grid_over_the_apis_limit_is_a_422(client, resolution):
    """A full-resolution 4096² grid took 5 GB; the API builds at most a 2048 grid."""
    answer = client.post("/depth3d/v1/scene", json={"image": png(room_picture()), "depth_image": png(room_depth_png()),
                                                    "resolution": resolution})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "resolution"]


def test_scene_is_compact_unless_plain_gltf_is_asked_for(client, tmp_path):
    components = {}
    for plain in (False, True):
        answer = client.post("/depth3d/v1/scene", json={
            "image": png(room_picture()), "depth_image": png(room_depth_png()), "fov_deg": 80, "resolution": 64,
            "plain_gltf": plain})
        assert answer.status_code == 200, answer.text
        path = tmp_path / f"scene_{plain}.glb"
        path.write_bytes(base64.b64decode(answer.json()["glb"]))
        document = read_glb(path).document
        components[plain] = document.accessors[document.meshes[0].primitives[0].attributes.POSITION].componentType
    assert components == {False: 5122, True: 5126}  # int16 (KHR_mesh_quantization), float32


def test_a_data_url_without_a_comma_is_a_400_not_a_server_error(client):
    answer = client.post("/depth3d/v1/depth", json={"image": "data:image/png;base64"})
    assert answer.status_code == 400 and answer.json()["detail"] == "image is empty."
