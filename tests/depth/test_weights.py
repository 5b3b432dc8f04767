"""The weights folder, the downloader (against a local HTTP server) and the checkpoint checks."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import re
import threading
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from lib_depth3d.depth import weights, weights_advice
from lib_depth3d.depth.estimate import weights_for
from lib_depth3d.depth.registry import MODELS, WeightFile
from lib_depth3d.depth.weights import download, load_into, models_dir, read_state_dict
from lib_depth3d.depth.weights_advice import MODELS_FOLDER_ADVICE, WEBUI_ADVICE
from lib_depth3d.errors import WeightsError

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD at /weights.bin with Range support; /short.bin announces it all but stops
    half way; /restart.bin answers a range request with the wrong range; anything else is a 404.
    Records the Range headers it was sent."""

    ranges: list = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path not in ("/weights.bin", "/short.bin", "/restart.bin"):
            self.send_error(404, "Not Found")
            return
        requested = self.headers.get("Range")
        type(self).ranges.append(requested)
        start = int(requested.split("=")[1].rstrip("-")) if requested else 0
        body = PAYLOAD[start:]
        if self.path == "/restart.bin" and requested:  # a server that answers a range from byte 0
            body = PAYLOAD
            self.send_response(206)
            self.send_header("Content-Range", f"bytes 0-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(206 if requested else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if self.path == "/short.bin" else body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def isolated_models_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(weights.MODELS_DIR_ENV, str(tmp_path / "models"))
    Handler.ranges = []
    return tmp_path / "models"


def weight_file(url: str, sha256: str | None = PAYLOAD_SHA256) -> WeightFile:
    return WeightFile("weights.bin", url, "original", sha256, len(PAYLOAD), "1 MiB")


def test_models_dir_given_then_from_environment_then_default(monkeypatch, tmp_path):
    import os

    monkeypatch.setenv(weights.MODELS_DIR_ENV, str(tmp_path / "elsewhere"))
    assert models_dir() == tmp_path / "elsewhere"
    webui = weights.webui_models_dir("", tmp_path / "a1111" / "models")
    assert webui == tmp_path / "a1111" / "models" / "depth3d"
    assert weights.webui_models_dir(str(tmp_path / "set"), tmp_path / "a1111" / "models") == tmp_path / "set"
    assert models_dir(webui) == webui
    assert os.environ[weights.MODELS_DIR_ENV] == str(tmp_path / "elsewhere")  # a given folder changes no process state
    monkeypatch.delenv(weights.MODELS_DIR_ENV)
    assert models_dir() == Path.home() / ".cache" / "depth3d" / "models"


def test_download_verifies_and_reports_progress(server, isolated_models_dir):
    seen = []
    path = download(weight_file(f"{server}/weights.bin"), progress=lambda done, total: seen.append((done, total)))
    assert path == isolated_models_dir / "weights.bin"
    assert path.read_bytes() == PAYLOAD
    assert not (isolated_models_dir / "weights.bin.part").exists()
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))


def test_download_resumes_a_partial_file(server, isolated_models_dir):
    isolated_models_dir.mkdir(parents=True)
    (isolated_models_dir / "weights.bin.part").write_bytes(PAYLOAD[:1000])
    path = download(weight_file(f"{server}/weights.bin"))
    assert Handler.ranges == ["bytes=1000-"]
    assert path.read_bytes() == PAYLOAD


def test_wrong_hash_leaves_nothing_behind(server, isolated_models_dir):
    with pytest.raises(WeightsError, match="SHA-256"):
        download(weight_file(f"{server}/weights.bin", sha256="0" * 64))
    assert list(isolated_models_dir.iterdir()) == []


def test_truncated_download_keeps_part_and_resumes(server, isolated_models_dir):
    with pytest.raises(WeightsError, match="resume"):
        download(weight_file(f"{server}/short.bin"))
    assert not (isolated_models_dir / "weights.bin").exists()
    partial = (isolated_models_dir / "weights.bin.part").read_bytes()
    assert 0 < len(partial) < len(PAYLOAD) and PAYLOAD.startswith(partial)
    assert download(weight_file(f"{server}/weights.bin")).read_bytes() == PAYLOAD


def test_not_found_names_the_file_and_the_folder(server, isolated_models_dir, monkeypatch):
    spec = MODELS["depth-anything-v2-small"]
    broken = dataclasses.replace(spec.files[0], url=f"{server}/missing.pth")
    monkeypatch.setitem(MODELS, spec.name, dataclasses.replace(spec, files=(broken,)))
    with pytest.raises(WeightsError) as caught:
        weights_for(MODELS[spec.name])
    message = str(caught.value)
    assert "404" in message and str(isolated_models_dir / "depth_anything_v2_vits.pth") in message
    assert broken.url in message


def test_no_network_message_says_what_to_put_where(isolated_models_dir, monkeypatch):
    spec = MODELS["depth-anything-v2-small"]
    unreachable = dataclasses.replace(spec.files[0], url="http://127.0.0.1:9/depth_anything_v2_vits.pth")
    monkeypatch.setitem(MODELS, spec.name, dataclasses.replace(spec, files=(unreachable,)))
    with pytest.raises(WeightsError) as caught:
        weights_for(MODELS[spec.name])
    assert str(isolated_models_dir / "depth_anything_v2_vits.pth") in str(caught.value)
    assert spec.files[0].sha256 in str(caught.value)


def test_no_download_option_only_gives_instructions(isolated_models_dir):
    with pytest.raises(WeightsError, match="save it as"):
        weights_for(MODELS["midas-dpt-hybrid"], download_missing=False)


def test_unverified_download_needs_explicit_consent(server, isolated_models_dir):
    with pytest.raises(WeightsError, match="not downloaded unverified"):
        download(weight_file(f"{server}/weights.bin", sha256=None))
    assert not isolated_models_dir.exists() or list(isolated_models_dir.iterdir()) == []
    assert download(weight_file(f"{server}/weights.bin", sha256=None), allow_unverified=True).is_file()


@pytest.mark.parametrize("advice", [WEBUI_ADVICE, MODELS_FOLDER_ADVICE])
def test_unverified_weights_outside_the_commands_name_no_command_line_option(isolated_models_dir, advice):
    unverified = next(spec for spec in MODELS.values() if spec.files[0].sha256 is None)
    with pytest.raises(WeightsError) as caught:
        weights_for(unverified, advice=advice)
    assert "save it as" in str(caught.value) and "--" not in str(caught.value)


def test_placed_file_with_wrong_content_is_refused(isolated_models_dir):
    isolated_models_dir.mkdir(parents=True)
    (isolated_models_dir / "dpt_hybrid-midas-501f0c75.pt").write_bytes(b"not the weights")
    with pytest.raises(WeightsError, match="truncated or a different file"):
        weights_for(MODELS["midas-dpt-hybrid"])


def test_truncated_checkpoint_is_a_weights_error(tmp_path):
    state = {"layer.weight": torch.ones(64, 64)}
    for name, save in (("w.pth", lambda p: torch.save(state, p)),
                       ("w.safetensors", lambda p: save_file(state, str(p)))):
        path = tmp_path / name
        save(path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        with pytest.raises(WeightsError, match="cannot be read"):
            read_state_dict(path)


def test_pickled_code_is_refused_naming_what_it_would_run(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"weight": torch.ones(1), "hook": print}, path)
    with pytest.raises(WeightsError, match=r"holds Python objects besides tensors \((builtins\.)?print\)"):
        read_state_dict(path)


@pytest.mark.parametrize("content, cause", [
    ([torch.ones(2)], "holds a list, not a state dict of tensors"),
    ({"weight": torch.ones(2), "epoch": 3, "step": 4}, "its entry 'epoch' is a int (2 such entries)"),
])
def test_a_readable_file_that_is_not_a_state_dict_says_what_it_holds(tmp_path, content, cause):
    path = tmp_path / "other.pth"
    torch.save(content, path)
    with pytest.raises(WeightsError, match=re.escape(cause)):
        read_state_dict(path)


def test_missing_weights_end_with_the_advice_of_where_they_are_shown(isolated_models_dir):
    spec = MODELS["midas-dpt-hybrid"]
    for advice in (weights_advice.MODELS_FOLDER_ADVICE, weights_advice.WEIGHTS_OPTION_ADVICE, weights_advice.WEBUI_ADVICE):
        with pytest.raises(WeightsError) as caught:
            weights_for(spec, download_missing=False, advice=advice)
        assert str(caught.value).endswith(f"save it as {isolated_models_dir / spec.files[0].filename}. {advice}")
    with pytest.raises(WeightsError) as caught:
        weights_for(spec, download_missing=False)
    assert str(caught.value).endswith(weights.MODELS_FOLDER_ADVICE) and "--weights" not in str(caught.value)


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 1)


def test_missing_extra_and_misshapen_keys_are_named():
    good = {"conv.weight": torch.ones(4, 3, 1, 1), "conv.bias": torch.zeros(4)}
    with pytest.raises(WeightsError, match=r"1 missing key\(s\), e.g. conv.bias"):
        load_into(Tiny(), {"conv.weight": good["conv.weight"]}, "file.pth")
    with pytest.raises(WeightsError, match=r"1 unexpected key\(s\), e.g. conv.extra"):
        load_into(Tiny(), {**good, "conv.extra": torch.ones(1)}, "file.pth")
    with pytest.raises(WeightsError, match="size mismatch"):
        load_into(Tiny(), {**good, "conv.bias": torch.zeros(5)}, "file.pth")
    model = Tiny()
    load_into(model, good, "file.pth")
    assert torch.equal(model.conv.bias, torch.zeros(4))


def test_models_command_downloads_into_the_models_folder(server, isolated_models_dir, monkeypatch, capsys):
    from lib_depth3d.cli import main

    spec = MODELS["midas-dpt-hybrid"]
    served = dataclasses.replace(spec.files[0], url=f"{server}/weights.bin", sha256=PAYLOAD_SHA256,
                                 size_bytes=len(PAYLOAD))
    monkeypatch.setitem(MODELS, spec.name, dataclasses.replace(spec, files=(served,)))
    assert main(["models", "--download", spec.name]) == 0
    assert (isolated_models_dir / served.filename).read_bytes() == PAYLOAD
    assert main(["models"]) == 0
    assert f"present ({served.filename})" in capsys.readouterr().out


def test_a_failed_models_download_advises_only_what_the_command_offers(server, isolated_models_dir, monkeypatch,
                                                                        capsys):
    from lib_depth3d.cli import main

    spec = MODELS["midas-dpt-hybrid"]
    missing = dataclasses.replace(spec.files[0], url=f"{server}/missing.bin", sha256=PAYLOAD_SHA256)
    monkeypatch.setitem(MODELS, spec.name, dataclasses.replace(spec, files=(missing,)))
    assert main(["models", "--download", spec.name]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "404" in err
    assert f"save it as {isolated_models_dir / missing.filename}." in err
    assert "--weights" not in err


def test_a_wrong_range_answer_is_not_appended(server, isolated_models_dir):
    isolated_models_dir.mkdir(parents=True)
    (isolated_models_dir / "weights.bin.part").write_bytes(PAYLOAD[:1000])
    with pytest.raises(WeightsError, match="bytes 0-"):
        download(weight_file(f"{server}/restart.bin"))
    assert (isolated_models_dir / "weights.bin.part").read_bytes() == PAYLOAD[:1000]


def test_concurrent_downloads_of_one_file_fetch_it_once(server, isolated_models_dir):
    results = []
    threads = [threading.Thread(target=lambda: results.append(download(weight_file(f"{server}/weights.bin"))))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3 and all(path.read_bytes() == PAYLOAD for path in results)
    assert Handler.ranges == [None]
