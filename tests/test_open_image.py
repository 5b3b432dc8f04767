"""open_image inflates a PNG's image data with python-isal where it can: the same picture, mode,
orientation and info as Pillow's own decoding, and Pillow's decoding (and its messages) for the rest."""

import io
import struct
import zlib
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile, PngImagePlugin

from lib_depth3d import files
from lib_depth3d.errors import InputError
from lib_depth3d.files import open_image
from tests.support.deflaters import DEFLATERS, deflater
from tests.support.png import png_chunks

pytest.importorskip("isal")
from isal import isal_zlib  # noqa: E402


def png_of(pixels: np.ndarray, mode: str, orientation: int, exif_after: bool, text_after: bool) -> bytes:
    picture = Image.fromarray(pixels, mode if mode in ("I;16", "1") else None)
    if mode == "1":
        picture = picture.convert("1")
    elif mode == "P":
        picture = picture.convert("P")
    info = PngImagePlugin.PngInfo()
    info.add_text("depth3d.kind", "depth")
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    picture.save(buffer, "PNG", pnginfo=info, exif=exif.tobytes())
    data = buffer.getvalue()
    moved = ([b"eXIf"] if exif_after else []) + ([b"tEXt"] if text_after else [])
    chunks = png_chunks(data)
    kept = [chunk for kind, chunk in chunks if kind not in moved]
    after = [chunk for kind, chunk in chunks if kind in moved]
    return data[:8] + b"".join(kept[:-1] + after + kept[-1:])


MODES = {"1": (np.uint8, 1), "L": (np.uint8, 1), "LA": (np.uint8, 2), "RGB": (np.uint8, 3), "RGBA": (np.uint8, 4),
         "I;16": (np.uint16, 1), "P": (np.uint8, 3)}


@settings(max_examples=60, deadline=None)
@given(mode=st.sampled_from(sorted(MODES)), width=st.integers(1, 40), height=st.integers(1, 40),
       orientation=st.integers(1, 8), exif_after=st.booleans(), text_after=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_every_png_decodes_as_pillow_decodes_it(mode, width, height, orientation, exif_after, text_after, seed):
    dtype, channels = MODES[mode]
    top = 65535 if dtype == np.uint16 else 255
    shape = (height, width) if channels == 1 else (height, width, channels)
    pixels = np.random.default_rng(seed).integers(0, top + 1, shape).astype(dtype)
    data = png_of(pixels, mode, orientation, exif_after, text_after)
    with mock.patch.object(files, "FAST_DEFLATE", None):
        expected = open_image(data)
    with mock.patch.object(files, "FAST_DEFLATE", isal_zlib):
        decoded = open_image(data)
    assert (decoded.mode, decoded.size) == (expected.mode, expected.size)
    np.testing.assert_array_equal(np.asarray(decoded), np.asarray(expected))
    assert decoded.info == expected.info and decoded.info["depth3d.kind"] == "depth"
    assert decoded.getexif().get(0x0112) == expected.getexif().get(0x0112)


def pillow_never_loads():
    return mock.patch.object(ImageFile.ImageFile, "load", side_effect=AssertionError("Pillow inflated the picture"))


def test_a_large_picture_in_many_image_data_chunks_is_inflated_by_isal():
    pixels = np.random.default_rng(5).integers(0, 256, (300, 400, 3)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    data = buffer.getvalue()
    assert [kind for kind, _ in png_chunks(data)].count(b"IDAT") > 1
    with mock.patch.object(files, "FAST_DEFLATE", isal_zlib), pillow_never_loads():
        np.testing.assert_array_equal(np.asarray(open_image(data)), pixels)


@pytest.mark.parametrize("deflate", DEFLATERS)
def test_damaged_image_data_gets_pillows_message(deflate):
    buffer = io.BytesIO()
    Image.fromarray(np.full((20, 30, 3), 7, np.uint8)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    start = buffer.getvalue().index(b"IDAT") + 4
    data[start + 2 : start + 12] = b"\xff" * 10
    with mock.patch.object(files, "FAST_DEFLATE", deflater(deflate)), pytest.raises(InputError) as raised:
        open_image(bytes(data))
    assert str(raised.value).startswith("The uploaded file is not a readable picture (")


def png_with_image_data(width: int, height: int, raw: bytes) -> bytes:
    """An 8-bit RGB PNG header for ``width`` × ``height`` and ``raw`` (filtered rows) as its image data."""
    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("change", ["exact", "more", "fewer"])
def test_image_data_of_another_length_is_left_to_pillow(change):
    width, height = 30, 20
    rows = np.random.default_rng(3).integers(0, 256, (height, 3 * width + 1)).astype(np.uint8)
    rows[:, 0] = 0  # no filter
    raw = rows.tobytes()
    raw = {"exact": raw, "more": raw + bytes(500), "fewer": raw[:-50]}[change]
    data = png_with_image_data(width, height, raw)
    outcomes = []
    for deflate in (None, isal_zlib):
        with mock.patch.object(files, "FAST_DEFLATE", deflate):
            try:
                outcomes.append(np.asarray(open_image(data)))
            except InputError as error:
                outcomes.append(str(error))
    if isinstance(outcomes[0], str):
        assert outcomes[0] == outcomes[1] and change == "fewer"
    else:
        np.testing.assert_array_equal(outcomes[0], outcomes[1])
        np.testing.assert_array_equal(outcomes[1], rows[:, 1:].reshape(height, width, 3))
