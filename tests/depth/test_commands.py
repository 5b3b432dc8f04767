"""`depth` and `models` on the command line: outputs and exit codes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from lib_depth3d.cli import main
from lib_depth3d.depth import weights
from lib_depth3d.depth.registry import MODELS
from tests.support.depth_weights import write_random_checkpoint
from tests.support.paths import REPO_ROOT


@pytest.fixture(scope="module")
def small_weights(tmp_path_factory):
    return write_random_checkpoint(tmp_path_factory.mktemp("w") / "small.pth", "depth-anything-v2-small", seed=41)


@pytest.fixture
def picture_path(tmp_path):
    rng = np.random.default_rng(42)
    path = tmp_path / "room.png"
    Image.fromarray((rng.random((50, 80, 4)) * 255).astype(np.uint8), "RGBA").save(path)
    return path


@pytest.fixture(autouse=True)
def empty_models_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(weights.MODELS_DIR_ENV, str(tmp_path / "models"))
    return tmp_path / "models"


def test_depth_writes_16_bit_png_and_npy(picture_path, small_weights, tmp_path):
    common = [str(picture_path), "--weights", str(small_weights), "--device", "cpu", "--net-size", "70"]
    assert main(["depth", *common, "-o", str(tmp_path / "d.png")]) == 0
    assert main(["depth", *common, "-o", str(tmp_path / "d.npy")]) == 0
    png = Image.open(tmp_path / "d.png")
    assert png.size == (80, 50) and png.mode in ("I;16", "I")
    values = np.load(tmp_path / "d.npy")
    assert values.shape == (50, 80) and values.dtype == np.float32
    nearness = (values - values.min()) / np.ptp(values)
    assert np.abs(np.asarray(png, dtype=np.float64) / 65535 - nearness).max() < 1e-4


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["missing.png", "-o", "out.png"], "Picture not found"),
        (["{picture}", "-o", "out.png", "--no-download"], "save it as"),
        (["{picture}", "-o", "out.png", "--no-download"], ". Or pass its path with --weights."),
        (["{picture}", "-o", "out.jpg", "--weights", "{weights}"], "must end in .png, .npy or .exr"),
        (["{picture}", "-o", "out.png", "--weights", "{weights}", "--net-size", "100"], "multiple of 14"),
        (["{picture}", "-o", "out.png", "--weights", "{weights}", "--model", "midas-dpt-large"], "does not fit"),
    ],
)
def test_depth_user_errors_exit_2_with_one_line(arguments, message, picture_path, small_weights, tmp_path, capsys,
                                                monkeypatch):
    monkeypatch.chdir(tmp_path)
    filled = [a.format(picture=picture_path, weights=small_weights) for a in arguments]
    assert main(["depth", *filled]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and message in error and error.count("\n") == 1
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("command", ["depth", "scene"])
def test_a_non_commercial_model_is_named_as_such_before_it_runs(command, picture_path, tmp_path, capsys):
    output = ["-o", str(tmp_path / ("out.png" if command == "depth" else "out.glb"))]
    model = ["--model", "depth-anything-v2-base", "--no-download", "--allow-unverified"]
    assert main([command, str(picture_path), *model, *output]) == 2
    note, error = capsys.readouterr().err.splitlines()
    assert "CC BY-NC 4.0" in note and "non-commercial use only" in note
    assert error.startswith("error: ") and "depth_anything_v2_vitb.pth" in error


def test_models_lists_licence_and_download_state(empty_models_dir, capsys):
    empty_models_dir.mkdir(parents=True)
    (empty_models_dir / "dpt_hybrid-midas-501f0c75.pt").write_bytes(b"placed by the user")
    with open(empty_models_dir / "depth_anything_v2_vitb.pth", "wb") as right_size:  # sparse: no disk used
        right_size.truncate(MODELS["depth-anything-v2-base"].files[0].size_bytes)
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert str(empty_models_dir) in out
    assert "depth-anything-v2-base" in out and "CC BY-NC 4.0" in out
    assert "damaged (dpt_hybrid-midas-501f0c75.pt is 18 bytes, not" in out
    assert "present (depth_anything_v2_vitb.pth)" in out
    assert "depth-anything-v2-small [default]" in out and "not downloaded (99.2 MB)" in out


def test_module_entry_point_exit_code(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "lib_depth3d", "depth", str(tmp_path / "none.png"), "-o", str(tmp_path / "o.png")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 2
    assert "Picture not found" in completed.stderr


def test_depth_gives_moge_the_users_field_of_view(picture_path, tmp_path):
    """``--fov`` reaches MoGe-2 (only its shift is solved): the .npy is the depth with that field of
    view and the .exr's header records it; a field of view out of range is refused before anything runs."""
    from lib_depth3d.depth.depthmap import load_depth_file
    from tests.support.moge_cases import write_official_checkpoint

    moge = write_official_checkpoint(tmp_path / "moge.pt", "vitb")
    common = [str(picture_path), "--model", "moge-2-vitb", "--weights", str(moge), "--device", "cpu", "--net-size", "42"]
    assert main(["depth", *common, "--fov", "60", "-o", str(tmp_path / "d.exr")]) == 0
    assert main(["depth", *common, "-o", str(tmp_path / "own.exr")]) == 0
    known, own = load_depth_file(tmp_path / "d.exr"), load_depth_file(tmp_path / "own.exr")
    assert known.camera.horizontal_fov_deg == pytest.approx(60.0, abs=1e-3)
    assert abs(own.camera.horizontal_fov_deg - 60.0) > 1.0
    assert not np.allclose(known.depth.values, own.depth.values, rtol=1e-3)
    assert main(["depth", *common, "--fov", "200", "-o", str(tmp_path / "bad.exr")]) == 2
    assert not (tmp_path / "bad.exr").exists()


def test_the_command_line_names_allow_unverified_for_weights_without_a_published_hash(picture_path, empty_models_dir,
                                                                                      tmp_path, capsys):
    assert main(["depth", str(picture_path), "--model", "depth-anything-3-mono-large", "-o", str(tmp_path / "out.png")]) == 2
    error = capsys.readouterr().err
    assert "not downloaded unverified" in error and error.rstrip().endswith("--allow-unverified.")
