"""The texture keeps the source's encoding: a JPEG's own bytes when the scene shows it unchanged."""

import base64
import io
import subprocess
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from lib_depth3d.camera import Camera
from lib_depth3d.depth.depthmap import DepthMap
from lib_depth3d import files
from lib_depth3d.errors import SceneError
from lib_depth3d.files import PNG_ROWS_PER_BLOCK, open_image, rgb_png_bytes
from lib_depth3d.scene import SceneOptions, build_scene, write_scene
from lib_depth3d.scene.texture import picture_file
from tests.support.deflaters import DEFLATERS, deflater
from tests.support.glb import read_glb
from tests.support.gltf_validator import problems, validate_files
from tests.support.paths import REPO_ROOT, VENV_PYTHON
from tests.support.scene_inputs import smooth_picture, wavy_zdepth

WIDTH, HEIGHT = 64, 48


def encoded(picture: Image.Image, file_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=file_format, **options)
    return buffer.getvalue()


def rotated_jpeg(picture: Image.Image, orientation: int) -> bytes:
    """A JPEG stored turned so that EXIF ``orientation`` shows ``picture`` upright."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored = picture.transpose(Image.Transpose.ROTATE_90) if orientation == 6 else picture
    return encoded(stored, "JPEG", quality=92, exif=exif.tobytes())


def source_files() -> dict[str, bytes]:
    picture = smooth_picture(WIDTH, HEIGHT)
    return {
        "jpeg": encoded(picture, "JPEG", quality=92),
        "png": encoded(picture, "PNG"),
        "jpeg turned upright": rotated_jpeg(picture, 6),
        "jpeg orientation 1": rotated_jpeg(picture, 1),
        "cmyk jpeg": encoded(picture.convert("CMYK"), "JPEG", quality=92),
        "grey jpeg": encoded(picture.convert("L"), "JPEG", quality=92),
        "rgba png": encoded(picture.convert("RGBA"), "PNG"),
        "webp": encoded(picture, "WEBP", lossless=True),
    }


def scene_of(data: bytes | None, picture: Image.Image | None = None, **options):
    picture = picture if picture is not None else open_image(data)
    depth = DepthMap(wavy_zdepth(picture.width, picture.height, 3), "depth")
    return build_scene(picture, depth, Camera.from_fov(picture.width, picture.height, 60), SceneOptions(**options),
                       picture_bytes=data)


def image_of(path) -> tuple[bytes, str]:
    contents = read_glb(path)
    return contents.image_bytes, contents.document.images[0].mimeType


# name: (embedded as it is, MIME type of the texture)
EXPECTED = {
    "jpeg": (True, "image/jpeg"),
    "png": (True, "image/png"),
    "jpeg turned upright": (False, "image/jpeg"),
    "jpeg orientation 1": (True, "image/jpeg"),
    "cmyk jpeg": (False, "image/jpeg"),
    "grey jpeg": (False, "image/jpeg"),
    "rgba png": (False, "image/png"),
    "webp": (False, "image/png"),
}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("textures")
    results = {}
    for name, data in source_files().items():
        scene = scene_of(data)
        results[name] = (data, scene, write_scene(scene, folder / f"{name.replace(' ', '_')}.glb").glb)
    return results


def test_the_texture_is_the_source_file_when_the_scene_shows_it_unchanged(written):
    for name, (data, scene, glb) in written.items():
        embedded_as_is, mime_type = EXPECTED[name]
        image_bytes, written_mime_type = image_of(glb)
        assert written_mime_type == mime_type, name
        assert (image_bytes == data) == embedded_as_is, name
        # Whatever was embedded decodes to the picture the scene shows, upright.
        texture = np.asarray(Image.open(io.BytesIO(image_bytes)).convert("RGB"), dtype=np.int16)
        shown = np.asarray(scene.picture, dtype=np.int16)
        assert texture.shape == shown.shape, name
        assert np.abs(texture - shown).mean() < 3.0, name


@pytest.mark.validator
def test_every_texture_passes_the_khronos_validator(written):
    reports = validate_files([glb for _, _, glb in written.values()])
    for name, report in zip(written, reports):
        assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0, (name, problems(report))


def test_what_the_file_allows_is_read_from_its_header():
    picture = smooth_picture(WIDTH, HEIGHT)
    files = source_files()
    assert picture_file(files["jpeg"], open_image(files["jpeg"])).embeddable == files["jpeg"]
    turned = picture_file(files["jpeg turned upright"], open_image(files["jpeg turned upright"]))
    assert turned.encoding == "jpeg" and turned.embeddable is None
    assert picture_file(files["webp"], picture).encoding is None
    # Bytes of another size than the picture the scene shows (a resized picture) are not embedded.
    assert picture_file(files["jpeg"], picture.resize((32, 24))).embeddable is None


@pytest.mark.parametrize("texture_format, mime_type", [("png", "image/png"), ("jpeg", "image/jpeg")])
def test_an_explicit_format_is_encoded_as_asked(tmp_path, texture_format, mime_type):
    data = source_files()["jpeg" if texture_format == "png" else "png"]
    glb = write_scene(scene_of(data, texture_format=texture_format, jpeg_quality=80), tmp_path / "s.glb").glb
    image_bytes, written_mime_type = image_of(glb)
    assert written_mime_type == mime_type and image_bytes != data


def test_a_picture_without_its_file_is_embedded_as_png(tmp_path):
    picture = smooth_picture(WIDTH, HEIGHT)
    glb = write_scene(scene_of(None, picture), tmp_path / "s.glb").glb
    image_bytes, mime_type = image_of(glb)
    assert mime_type == "image/png"
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(image_bytes))), np.asarray(picture))


@settings(max_examples=30, deadline=None)
@given(pixels=arrays(np.uint8, st.tuples(st.integers(1, 2 * PNG_ROWS_PER_BLOCK + 3), st.integers(1, 24),
                                         st.just(3))),
       find_repeats=st.booleans())
@pytest.mark.parametrize("deflate", DEFLATERS)
def test_the_texture_png_writer_gives_a_reader_every_pixel(deflate, pixels, find_repeats):
    import cv2

    # Heights past two blocks: each block's first row is filtered against the previous block's last.
    with mock.patch.object(files, "FAST_DEFLATE", deflater(deflate)):
        data = rgb_png_bytes(Image.fromarray(pixels, "RGB"), find_repeats)
    decoded = Image.open(io.BytesIO(data))
    assert decoded.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(decoded), pixels)
    np.testing.assert_array_equal(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[..., ::-1], pixels)


def test_a_jpeg_source_gives_the_background_layer_a_jpeg_texture_too(tmp_path):
    picture = smooth_picture(WIDTH, HEIGHT)
    zdepth = np.full((HEIGHT, WIDTH), 4.0, dtype=np.float32)
    zdepth[12:36, 20:44] = 2.0  # a box in front: cut edges, and a layer behind them
    data = encoded(picture, "JPEG", quality=92)
    scene = build_scene(picture, DepthMap(zdepth, "depth"), Camera.from_fov(WIDTH, HEIGHT, 60),
                        picture_bytes=data)
    assert scene.background is not None
    document = read_glb(write_scene(scene, tmp_path / "s.glb").glb).document
    assert [image.mimeType for image in document.images] == ["image/jpeg", "image/jpeg"]


def test_an_unknown_texture_format_is_refused_by_name():
    with pytest.raises(SceneError, match="'source', 'png' or 'jpeg'"):
        scene_of(None, smooth_picture(WIDTH, HEIGHT), texture_format="webp")


def test_the_command_line_embeds_a_jpeg_photo_as_it_is(tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(source_files()["jpeg"])
    depth = tmp_path / "depth.png"
    Image.fromarray(np.round(255 * (wavy_zdepth(WIDTH, HEIGHT, 5) - 2) / 2).astype(np.uint8)).save(depth)
    sizes = {}
    for texture in ("source", "png"):
        glb = tmp_path / f"{texture}.glb"
        result = subprocess.run(
            [str(VENV_PYTHON), "-m", "lib_depth3d", "scene", str(photo), "--depth", str(depth), "--fov", "60",
             "--texture", texture, "-o", str(glb)],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stderr
        sizes[texture] = glb.stat().st_size
    assert image_of(tmp_path / "source.glb")[0] == photo.read_bytes()
    assert sizes["source"] < sizes["png"]


def test_the_api_embeds_a_jpeg_picture_as_it_is(tmp_path):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from lib_depth3d.api import router

    app = FastAPI()
    app.include_router(router)
    data = source_files()["jpeg"]
    depth = encoded(Image.fromarray(np.round(255 * (wavy_zdepth(WIDTH, HEIGHT, 5) - 2) / 2).astype(np.uint8)), "PNG")
    answer = TestClient(app).post("/depth3d/v1/scene", json={
        "image": base64.b64encode(data).decode("ascii"), "depth_image": base64.b64encode(depth).decode("ascii")})
    assert answer.status_code == 200, answer.text
    glb = tmp_path / "s.glb"
    glb.write_bytes(base64.b64decode(answer.json()["glb"]))
    assert image_of(glb) == (data, "image/jpeg")


def test_fspys_box_photo_is_embedded_as_it_is(fspy_fixtures, tmp_path):
    data = (fspy_fixtures / "box.jpg").read_bytes()
    glb = write_scene(scene_of(data), tmp_path / "box.glb").glb
    assert image_of(glb) == (data, "image/jpeg")
