"""Pictures that cannot be used: one sentence in our words, never Pillow's limit or its warnings."""

import struct
import subprocess
import sys
import warnings
import zlib

import pytest
from PIL import Image

from lib_depth3d.camera.fspy import image_size_px
from lib_depth3d.errors import InputError
from lib_depth3d.files import MAX_IMAGE_PIXELS, open_image
from tests.support.paths import EXAMPLES_DIR, REPO_ROOT

# Pillow warns past its threshold and refuses past twice it; fixed here so that the tests do not
# depend on the process-wide value.
PILLOW_THRESHOLD = 300_000_000


def png_header_only(width, height):
    """A PNG that announces ``width``×``height`` grey pixels and holds almost none of them."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(16))) + chunk(b"IEND", b"")


@pytest.fixture
def pillow_threshold(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", PILLOW_THRESHOLD)


def message_and_warnings(read, source):
    filters_before = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(InputError) as raised:
            read(source)
    assert warnings.filters == filters_before
    return str(raised.value), [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]


def test_picture_past_our_limit_is_named_with_its_size_and_no_pillow_warning(pillow_threshold, tmp_path):
    data = png_header_only(20000, 20000)  # past our limit and Pillow's warning threshold
    assert MAX_IMAGE_PIXELS < 20000 * 20000 < 2 * PILLOW_THRESHOLD
    message, pillow_warnings = message_and_warnings(open_image, data)
    assert message == (
        "The uploaded picture is 20000×20000 pixels; Depth3D accepts at most 268435456 pixels (16384×16384)."
    )
    assert pillow_warnings == []
    (tmp_path / "huge.png").write_bytes(data)
    message, pillow_warnings = message_and_warnings(open_image, tmp_path / "huge.png")
    assert message.startswith(f"The picture {tmp_path / 'huge.png'} is 20000×20000 pixels; ")
    assert pillow_warnings == []


def test_picture_past_pillows_refusal_quotes_our_limit(pillow_threshold):
    message, pillow_warnings = message_and_warnings(open_image, png_header_only(30000, 30000))
    assert message == "The uploaded picture is 30000×30000 pixels; Depth3D accepts at most 268435456 pixels (16384×16384)."
    assert str(2 * PILLOW_THRESHOLD) not in message and "decompression bomb" not in message
    assert pillow_warnings == []


def test_a_header_size_is_read_past_pillows_limits_without_its_warnings(pillow_threshold):
    """The size is what the caller judges; Pillow's process-wide limit is not consulted."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert image_size_px(png_header_only(30000, 20000)) == (30000, 20000)
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]


@pytest.mark.parametrize(
    "read, expected",
    [
        (open_image, "The uploaded file is not a readable picture. Use a PNG, JPEG or WebP file."),
        (image_size_px, "The picture is not a readable picture. Use a PNG, JPEG or WebP file."),
    ],
    ids=["open_image", "image_size_px"],
)
def test_bytes_that_are_no_picture_get_a_sentence_without_pillows_buffer_name(read, expected):
    with pytest.raises(InputError) as raised:
        read(b"just some bytes")
    assert str(raised.value) == expected


@pytest.mark.parametrize(
    "args",
    [
        ["depth", "{huge}", "-o", "{out}"],
        ["calibrate", "--lines", str(EXAMPLES_DIR / "room" / "room_lines.json"), "--image", "{huge}"],
    ],
    ids=["depth", "calibrate"],
)
def test_command_given_a_huge_picture_prints_one_line(tmp_path, args):
    huge = tmp_path / "huge.png"
    huge.write_bytes(png_header_only(20000, 20000))
    result = subprocess.run(
        [sys.executable, "-m", "lib_depth3d", *(a.format(huge=huge, out=tmp_path / "out.png") for a in args)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "Warning" not in result.stderr
