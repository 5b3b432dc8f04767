"""Bad input to `python -m lib_depth3d scene`: one clear line, exit code 2, nothing written."""

import struct
import subprocess
import zlib

import numpy as np
import pytest
from PIL import Image

from tests.support.paths import EXAMPLES_DIR, REPO_ROOT, VENV_PYTHON
from tests.support.scene_inputs import smooth_picture, wavy_zdepth


def _scene(*arguments):
    return subprocess.run(
        [str(VENV_PYTHON), "-m", "lib_depth3d", "scene", *map(str, arguments)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )


def _header_only_png(path, width, height):
    """A PNG that declares its size but carries no pixels: enough for any reader of the header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))


@pytest.fixture
def inputs(tmp_path):
    picture = tmp_path / "picture.png"
    smooth_picture(48, 36).save(picture)
    depth = tmp_path / "depth.npy"
    np.save(depth, wavy_zdepth(48, 36, 2))
    output = tmp_path / "out"
    output.mkdir()
    return tmp_path, picture, depth, output


def _assert_refused(result, output_folder, *words):
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    for word in words:
        assert word in result.stderr
    assert "Traceback" not in result.stderr
    assert list(output_folder.iterdir()) == []


def test_depth_of_another_size(inputs):
    folder, picture, _, output = inputs
    np.save(folder / "small.npy", wavy_zdepth(40, 30, 2))
    result = _scene(picture, "--depth", folder / "small.npy", "--depth-kind", "depth", "-o", output / "s.glb")
    _assert_refused(result, output, "40×30", "48×36", "at the picture's size")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_depth_without_any_surface(inputs, bad):
    """NaN or ±inf marks a pixel without a surface (the sky); a depth of nothing but those is refused."""
    folder, picture, _, output = inputs
    np.save(folder / "bad.npy", np.full((36, 48), bad, dtype=np.float32))
    result = _scene(picture, "--depth", folder / "bad.npy", "-o", output / "s.glb")
    _assert_refused(result, output, "bad.npy has no surface", "NaN or infinite")


@pytest.mark.parametrize("kind", ["disparity", "depth"])
def test_constant_depth(inputs, kind):
    folder, picture, _, output = inputs
    np.save(folder / "flat.npy", np.full((36, 48), 3.0, dtype=np.float32))
    result = _scene(picture, "--depth", folder / "flat.npy", "--depth-kind", kind, "-o", output / "s.glb")
    _assert_refused(result, output, "constant")


def test_one_pixel_picture(inputs):
    folder, _, _, output = inputs
    Image.new("RGB", (1, 1), (10, 20, 30)).save(folder / "dot.png")
    np.save(folder / "dot.npy", np.ones((1, 1), dtype=np.float32))
    result = _scene(folder / "dot.png", "--depth", folder / "dot.npy", "--depth-kind", "depth", "-o", output / "s.glb")
    _assert_refused(result, output, "1×1", "at least 2×2")


def test_huge_picture_is_refused_from_its_header(inputs):
    folder, _, depth, output = inputs
    _header_only_png(folder / "huge.png", 16384, 16384)
    result = _scene(folder / "huge.png", "--depth", depth, "-o", output / "s.glb")
    _assert_refused(result, output, "16384×16384", "8192")


def test_unwritable_output_path(inputs):
    folder, picture, depth, output = inputs
    (folder / "a-file").write_text("not a folder")
    result = _scene(picture, "--depth", depth, "--depth-kind", "depth", "-o", folder / "a-file" / "s.glb")
    _assert_refused(result, output, "does not exist")


def test_output_must_be_a_glb(inputs):
    _, picture, depth, output = inputs
    result = _scene(picture, "--depth", depth, "--depth-kind", "depth", "-o", output / "s.obj")
    _assert_refused(result, output, ".glb")


def test_lines_drawn_on_a_picture_of_another_aspect_ratio(inputs, tmp_path):
    """A calibration carries over to a resized picture (the same rule as the API, tab and WebUI);
    another aspect ratio is refused, naming both sizes."""
    _, picture, depth, output = inputs
    lines = EXAMPLES_DIR / "room" / "room_lines.json"
    result = _scene(picture, "--depth", depth, "--depth-kind", "depth", "--lines", lines, "-o", output / "s.glb")
    assert result.returncode == 0 and "calibrated from" in result.stdout, result.stderr
    square = tmp_path / "square.png"
    Image.new("RGB", (36, 36)).save(square)
    square_depth = tmp_path / "square.npy"
    np.save(square_depth, np.ones((36, 36), np.float32))
    elsewhere = tmp_path / "refused"
    elsewhere.mkdir()
    result = _scene(square, "--depth", square_depth, "--depth-kind", "depth", "--lines", lines,
                    "-o", elsewhere / "t.glb")
    _assert_refused(result, elsewhere, "640×480", "36×36", "another aspect ratio")


def test_near_without_far(inputs):
    _, picture, depth, output = inputs
    result = _scene(picture, "--depth", depth, "--near", "2", "-o", output / "s.glb")
    _assert_refused(result, output, "nearest and the farthest")


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16"])
def test_greyscale_rgba_and_16_bit_pictures_are_accepted(inputs, mode):
    folder, _, depth, output = inputs
    picture = smooth_picture(48, 36).convert("RGBA" if mode == "RGBA" else "L")
    if mode == "I;16":
        picture = Image.fromarray((np.asarray(picture, dtype=np.uint16) * 257).astype(np.uint16), mode="I;16")
    path = folder / f"picture_{mode.replace(';', '')}.png"
    picture.save(path)
    assert Image.open(path).mode == mode or (mode == "I;16" and Image.open(path).mode == "I")  # Pillow 9 reads 16-bit as I
    result = _scene(path, "--depth", depth, "--depth-kind", "depth", "--fov", "50", "-o", output / "s.glb")
    assert result.returncode == 0, result.stderr
    assert (output / "s.glb").stat().st_size > 1000



def test_an_exif_rotated_photo_is_used_upright(inputs):
    folder, _, _, output = inputs
    stored = smooth_picture(36, 48)  # stored portrait, shown landscape after a quarter turn
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(folder / "rotated.jpg", exif=exif.tobytes(), quality=95)
    np.save(folder / "upright.npy", wavy_zdepth(48, 36, 3))
    result = _scene(folder / "rotated.jpg", "--depth", folder / "upright.npy", "--depth-kind", "depth", "-o", output / "s.glb")
    assert result.returncode == 0, result.stderr
