"""A picture's displayed size comes from its header alone, and agrees with the decoded, upright picture."""

import io
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile, ImageOps, PngImagePlugin

from lib_depth3d.camera import parse_lines_json, read_fspy
from lib_depth3d.camera.fspy import fspy_project_bytes, image_size_px
from tests.support.png import png_chunks

XMP = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description tiff:Orientation="{}"/></x:xmpmeta>'


def move_after_image_data(data: bytes, kind: bytes) -> bytes:
    """The PNG with its ``kind`` chunks moved between the last IDAT and IEND (where the spec allows them)."""
    chunks = png_chunks(data)
    moved = [chunk for k, chunk in chunks if k == kind]
    kept = [chunk for k, chunk in chunks if k != kind]
    return data[:8] + b"".join(kept[:-1] + moved + kept[-1:])


def encoded_picture(width, height, orientation, where) -> bytes:
    picture = Image.effect_noise((width, height), 40).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    if where == "jpeg":
        picture.save(buffer, "JPEG", exif=exif.tobytes())
        return buffer.getvalue()
    if where.startswith("png xmp"):
        text = PngImagePlugin.PngInfo()
        text.add_itxt("XML:com.adobe.xmp", XMP.format(orientation))
        picture.save(buffer, "PNG", pnginfo=text)
        return move_after_image_data(buffer.getvalue(), b"iTXt") if where.endswith("after") else buffer.getvalue()
    picture.save(buffer, "PNG", exif=exif.tobytes())
    return move_after_image_data(buffer.getvalue(), b"eXIf") if where.endswith("after") else buffer.getvalue()


def never_decoded():
    return mock.patch.object(ImageFile.ImageFile, "load", side_effect=AssertionError("the picture was decoded"))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    width=st.integers(1, 48),
    height=st.integers(1, 48),
    orientation=st.integers(1, 8),
    where=st.sampled_from(["jpeg", "png exif before", "png exif after", "png xmp before", "png xmp after"]),
)
def test_size_from_the_header_is_the_upright_decoded_size(width, height, orientation, where):
    data = encoded_picture(width, height, orientation, where)
    upright = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).size
    with never_decoded():
        assert image_size_px(data) == upright


def test_an_exif_chunk_after_the_pixels_is_found():
    data = encoded_picture(30, 20, 6, "png exif after")
    kinds = [kind for kind, _ in png_chunks(data)]
    assert kinds.index(b"eXIf") > kinds.index(b"IDAT")
    with never_decoded():
        assert image_size_px(data) == (20, 30)


def test_a_project_is_read_without_decoding_its_picture():
    lines = {
        "image": {"width": 20, "height": 30},
        "vanishing_points": [
            {"axis": "+x", "segments": [[[2, 3], [9, 5]], [[2, 20], [9, 17]]]},
            {"axis": "+y", "segments": [[[12, 5], [18, 3]], [[12, 17], [18, 20]]]},
        ],
    }
    data = fspy_project_bytes(parse_lines_json(lines), encoded_picture(30, 20, 8, "png exif after"))
    with never_decoded():
        project = read_fspy(data)
        assert project.calibration_input().image_width_px == 20
    assert (project.image_width_px, project.image_height_px) == (20, 30)


def test_damaged_metadata_after_the_pixels_leaves_the_header_size():
    data = encoded_picture(30, 20, 1, "png exif before")
    chunks = png_chunks(data)
    broken = b"\x00\x00\x10\x00zTXtTruncated"
    damaged = data[:8] + b"".join(chunk for _, chunk in chunks[:-1]) + broken
    with never_decoded():
        assert image_size_px(damaged) == (30, 20)
