"""`python -m lib_depth3d ui` as someone who reaches its port sees it: real HTTP requests to a
server started on 127.0.0.1, with secret files inside and outside its working folder.

The server runs the venv's gradio 3.41, or another interpreter named by DEPTH3D_UI_PYTHON
(e.g. one with gradio 4.40, as Forge has; see docs/extension.md).
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from PIL import Image

from tests.support.paths import REPO_ROOT
from tests.support.standalone import standalone_server

START_TIMEOUT_S = 90
SECRET = "depth3d-test-secret-7f3a"


class Server:
    def __init__(self, url: str, folders: dict[str, Path], log: Path):
        self.url, self.folders, self.log = url, folders, log
        self.config = json.loads(self.get("config")[1])
        self.gradio_4 = int(self.config["version"].split(".")[0]) >= 4

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=30) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def post(self, path: str, body: bytes, content_type: str = "application/json") -> tuple[int, bytes]:
        request = urllib.request.Request(self.url + path, data=body, headers={"content-type": content_type})
        try:
            with urllib.request.urlopen(request, timeout=120) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def component_id(self, elem_id: str) -> int:
        return next(c["id"] for c in self.config["components"] if c.get("props", {}).get("elem_id") == elem_id)

    def event(self, elem_id: str, trigger: str) -> tuple[int, list[int]]:
        """(fn_index, input ids) of the event ``trigger`` of the component ``elem_id``."""
        wanted = self.component_id(elem_id)
        for index, dependency in enumerate(self.config["dependencies"]):
            targets = dependency["targets"]
            if ([wanted, trigger] in targets if self.gradio_4
                    else wanted in targets and dependency["trigger"] == trigger):
                return index, dependency["inputs"]
        raise AssertionError(f"no {trigger} event on {elem_id}")

    def output(self, fn_index: int, answer: bytes, elem_id: str):
        """The value that the event ``fn_index`` gave the component ``elem_id`` in ``answer``."""
        outputs = self.config["dependencies"][fn_index]["outputs"]
        return json.loads(answer)["data"][outputs.index(self.component_id(elem_id))]

    def values(self, inputs: list[int], given: dict[str, object]) -> list:
        """The values the page sends for ``inputs``: those ``given`` by elem_id, else each one's start value."""
        by_id = {c["id"]: c.get("props", {}) for c in self.config["components"]}
        return [given[by_id[i]["elem_id"]] if by_id[i].get("elem_id") in given else by_id[i].get("value")
                for i in inputs]

    def upload(self, name: str, data: bytes) -> str:
        """The server path gradio gives a file uploaded as the page uploads it."""
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        status, answer = self.post("upload", body, f"multipart/form-data; boundary={boundary}")
        assert status == 200, answer
        return json.loads(answer)[0]

    def file_value(self, path: str) -> dict:
        """A File input's value naming ``path`` on the server, as the page sends an upload."""
        if self.gradio_4:
            return {"path": path, "orig_name": Path(path).name, "meta": {"_type": "gradio.FileData"}}
        return {"name": path, "is_file": True, "data": None}

    def run_event(self, fn_index: int, data: list, session: str) -> tuple[int, bytes]:
        """Call an event over gradio's HTTP route, as a script may (no queue websocket needed)."""
        body = {"fn_index": fn_index, "data": data, "session_hash": session, "event_data": None}
        return self.post("run/predict", json.dumps(body).encode())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("standalone")
    folders = {name: root / name for name in ("work", "outside", "outputs", "gradio")}
    for folder in folders.values():
        folder.mkdir()
    (folders["work"] / "secret.txt").write_text(SECRET)
    (folders["outside"] / "secret.txt").write_text(SECRET)
    (folders["outputs"] / "secret.txt").write_text(SECRET)
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "GRADIO_TEMP_DIR": str(folders["gradio"])}
    log = root / "server.log"
    with standalone_server(folders["outputs"], log, cwd=folders["work"], env=environment,
                           start_timeout_s=START_TIMEOUT_S, stop_timeout_s=20) as url:
        yield Server(url, folders, log)
    leftovers = list(folders["gradio"].iterdir())
    assert leftovers == [], f"the server left its temp folder behind: {leftovers}"


def files_holding_the_secret(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file() and SECRET in path.read_text(errors="replace")]


@pytest.mark.parametrize("where", ["relative", "work", "outside", "outputs", "repository"])
def test_the_file_route_serves_no_server_file(server, where):
    path = {
        "relative": "secret.txt",
        "work": str(server.folders["work"] / "secret.txt"),
        "outside": str(server.folders["outside"] / "secret.txt"),
        "outputs": str(server.folders["outputs"] / "secret.txt"),
        "repository": str(REPO_ROOT / "README.md"),
    }[where]
    status, body = server.get(f"file={path}")
    assert status in (403, 404)
    assert SECRET.encode() not in body and b"Depth3D" not in body


def test_the_file_route_serves_an_upload_of_the_page(server):
    path = server.upload("picture.png", b"uploaded bytes")
    assert server.get(f"file={path}") == (200, b"uploaded bytes")


@pytest.mark.parametrize("trigger_elem_id, trigger, input_elem_id", [
    ("depth3d_fspy_in", "upload", "depth3d_fspy_in"),
    ("depth3d_build", "click", "depth3d_depth_file"),
])
def test_file_inputs_refuse_server_paths(server, trigger_elem_id, trigger, input_elem_id):
    fn_index, inputs = server.event(trigger_elem_id, trigger)
    secret_path = str(server.folders["outside"] / "secret.txt")
    data = [server.file_value(secret_path) if component == server.component_id(input_elem_id) else None
            for component in inputs]
    status, body = server.run_event(fn_index, data, session=uuid.uuid4().hex)
    assert status != 200, body
    # Refused before any copy: nothing of the file, and no temp path, comes back or can be fetched.
    assert SECRET.encode() not in body and str(server.folders["gradio"]).encode() not in body
    assert files_holding_the_secret(server.folders["gradio"]) == []


def _png(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_failed_build_names_no_server_path(server):
    """A depth upload that is not a picture: the message beside the canvas says so in words."""
    if server.gradio_4:
        pytest.skip("the picture upload event is driven here through gradio 3's HTTP route")
    session = uuid.uuid4().hex
    picture_event, picture_inputs = server.event("depth3d_input", "upload")
    picture = "data:image/png;base64," + base64.b64encode(_png(Image.new("RGB", (64, 48)))).decode()
    status, body = server.run_event(picture_event, server.values(picture_inputs, {"depth3d_input": picture}), session)
    assert status == 200, body
    lines_text = server.output(picture_event, body, "depth3d_lines")
    build_event, build_inputs = server.event("depth3d_build", "click")
    depth_path = server.upload("depth.png", b"not a picture at all")
    given = {"depth3d_lines": lines_text, "depth3d_source": "depth-image",
             "depth3d_depth_file": server.file_value(depth_path), "depth3d_resolution": 64}
    status, body = server.run_event(build_event, server.values(build_inputs, given), session)
    assert status == 200, body
    message = server.output(build_event, body, "depth3d_message")
    assert "Cannot build the scene" in message and "the uploaded file" in message
    for folder in server.folders.values():
        assert str(folder) not in message
    assert "/tmp" not in message and depth_path not in message


def test_the_http_api_is_served_with_its_limits(server):
    status, body = server.get("depth3d/v1/models")
    assert status == 200 and json.loads(body)["default"]
    from lib_depth3d.api import LIMITS

    port = int(server.url.rsplit(":", 1)[1].strip("/"))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.putrequest("POST", "/depth3d/v1/depth")
    connection.putheader("content-type", "application/json")
    connection.putheader("content-length", str(LIMITS["/depth"].max_body_bytes + 1))
    connection.endheaders()
    connection.send(b'{"image": "')  # the rest is never sent: the header alone is refused
    answer = connection.getresponse()
    assert answer.status == 413
    assert json.loads(answer.read())["detail"].startswith("The request body is over this route's limit of 128 MiB")
    connection.close()
