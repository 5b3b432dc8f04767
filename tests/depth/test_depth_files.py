"""Depth files: float32 EXR and 16-bit PNG with kind, unit and camera in their headers, read back
by us, by the OpenEXR package, by Pillow and by Blender."""

from __future__ import annotations

import re
import sys
from unittest import mock

import numpy as np
import OpenEXR
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from lib_depth3d.cli import main
from lib_depth3d.depth import estimate as estimate_module
from lib_depth3d.depth import weights
from lib_depth3d.depth.depthmap import (
    DEPTH_UNITS,
    DepthMap,
    depth_exr_bytes,
    depth_image_nearness,
    load_depth,
    load_depth_file,
    save_depth,
)
from lib_depth3d.depth.registry import NetworkCamera
from lib_depth3d.errors import InputError
from tests.support.deflaters import DEFLATERS, deflater
from tests.support.depth_weights import write_random_checkpoint
from tests.support.scene_inputs import smooth_picture, wavy_zdepth

CAMERA = NetworkCamera((160, 100), (141.3, 139.7), (83.25, 47.5))


def _exr_contents(path):
    with OpenEXR.File(str(path), separate_channels=True) as file:
        header = dict(file.header())
        channels = {name: np.array(channel.pixels) for name, channel in file.channels().items()}
    return header, channels


def _write_exr(path, channels, **fields):
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage, **fields}
    with OpenEXR.File(header, channels) as file:
        file.write(str(path))


any_float32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
positive_float32 = st.floats(min_value=float(np.finfo(np.float32).tiny), width=32, allow_infinity=False)


@settings(max_examples=30, deadline=None)
@given(
    data=st.data(),
    kind=st.sampled_from(["disparity", "depth", "metric"]),
    shape=st.tuples(st.integers(1, 17), st.integers(1, 23)),
)
def test_exr_keeps_every_float32_value_bit_for_bit_and_names_its_kind_and_unit(tmp_path_factory, data, kind, shape):
    elements = any_float32 if kind == "disparity" else positive_float32
    values = data.draw(arrays(np.float32, shape, elements=elements))
    path = tmp_path_factory.mktemp("exr") / "d.exr"
    save_depth(DepthMap(values, kind), path)

    header, channels = _exr_contents(path)
    assert list(channels) == ["Y"] and channels["Y"].dtype == np.float32
    assert channels["Y"].tobytes() == values.tobytes()
    assert header["depth3d.kind"] == kind and header["depth3d.unit"] == DEPTH_UNITS[kind]
    assert header["compression"] == OpenEXR.ZIP_COMPRESSION

    read = load_depth_file(path)
    assert read.depth.kind == kind and read.camera is None
    assert read.depth.values.tobytes() == values.tobytes()


@pytest.mark.parametrize("suffix", [".exr", ".png"])
def test_the_camera_goes_into_the_header_at_the_depths_size_and_reads_back_exactly(tmp_path, suffix):
    depth = DepthMap(wavy_zdepth(80, 50, 3), "metric")
    path = tmp_path / f"d{suffix}"
    save_depth(depth, path, CAMERA)  # the camera of the picture at twice the depth's size

    camera = load_depth_file(path).camera
    assert camera.image_size_px == (80, 50)
    assert camera.focal_length_px == (141.3 / 2, 139.7 / 2)
    assert camera.principal_point_px == (83.25 / 2, 47.5 / 2)


def test_exr_header_is_plain_strings_that_other_tools_read(tmp_path):
    path = tmp_path / "d.exr"
    save_depth(DepthMap(wavy_zdepth(160, 100, 1), "depth"), path, CAMERA)
    header, _ = _exr_contents(path)
    assert header["depth3d.focalLengthPx"] == "141.3 139.7"
    assert header["depth3d.principalPointPx"] == "83.25 47.5"


def test_png_text_chunks_are_readable_by_pillow(tmp_path):
    depth = DepthMap(wavy_zdepth(160, 100, 2), "metric")
    path = tmp_path / "d.png"
    save_depth(depth, path, CAMERA)
    with Image.open(path) as png:
        text = dict(png.text)
        stored = np.asarray(png, dtype=np.float64) / 65535
    assert text == {
        "depth3d.kind": "metric", "depth3d.unit": "m",
        "depth3d.focalLengthPx": "141.3 139.7", "depth3d.principalPointPx": "83.25 47.5",
    }
    assert np.abs(stored - depth.nearness()).max() <= 0.5 / 65535 + 1e-7
    read = load_depth_file(path)
    assert read.depth.kind == "disparity"  # a PNG holds nearness, whatever the kind it was made from


def test_npy_keeps_values_but_no_header(tmp_path):
    depth = DepthMap(wavy_zdepth(20, 10, 4), "metric")
    save_depth(depth, tmp_path / "d.npy", CAMERA)
    read = load_depth_file(tmp_path / "d.npy", "metric")
    assert read.camera is None and np.array_equal(read.depth.values, depth.values)


def test_a_kind_that_disagrees_with_the_header_is_refused_in_words(tmp_path):
    path = tmp_path / "d.exr"
    save_depth(DepthMap(wavy_zdepth(20, 10, 4), "metric"), path)
    assert load_depth(path, "metric").kind == "metric"
    with pytest.raises(InputError, match=r"d\.exr holds metric depth \(its header says so\), not depth"):
        load_depth(path, "depth")


def test_an_exr_from_another_tool_is_read_as_the_kind_given(tmp_path):
    values = wavy_zdepth(12, 9, 5)
    _write_exr(tmp_path / "z.exr", {"Z": values})
    assert load_depth(tmp_path / "z.exr").kind == "disparity"
    depth = load_depth(tmp_path / "z.exr", "depth")
    assert depth.kind == "depth" and np.array_equal(depth.values, values)


def test_of_several_channels_y_is_the_depth(tmp_path):
    values = wavy_zdepth(12, 9, 6)
    _write_exr(tmp_path / "yz.exr", {"Y": values, "Z": values * 2})
    assert np.array_equal(load_depth(tmp_path / "yz.exr", "depth").values, values)


@pytest.mark.parametrize(
    "channels, fields, words",
    [
        ({"R": "v", "G": "v", "B": "v"}, {},
         "has the channels B, G, R; a depth EXR has one channel, or one named Y or Z"),
        ({"Y": "v"}, {"depth3d.kind": "height"}, "says its depth kind is 'height'"),
        ({"Y": "v"}, {"depth3d.focalLengthPx": "100 x", "depth3d.principalPointPx": "5 5"}, "two finite numbers"),
        ({"Y": "v"}, {"depth3d.focalLengthPx": "100 100"}, "depth3d.principalPointPx = None"),
        ({"Y": "v"}, {"depth3d.focalLengthPx": "-1 100", "depth3d.principalPointPx": "5 5"}, "must be positive"),
    ],
)
def test_bad_exr_files_are_refused_naming_what_is_wrong(tmp_path, channels, fields, words):
    values = wavy_zdepth(12, 9, 7)
    _write_exr(tmp_path / "bad.exr", {name: values for name in channels}, **fields)
    with pytest.raises(InputError, match=re.escape(words)):
        load_depth(tmp_path / "bad.exr")


def test_missing_and_broken_exr_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="Depth file not found"):
        load_depth(tmp_path / "missing.exr")
    (tmp_path / "broken.exr").write_bytes(b"not an exr" * 10)
    with pytest.raises(InputError, match="is not a readable OpenEXR file"):
        load_depth(tmp_path / "broken.exr")


def test_without_the_openexr_package_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "OpenEXR", None)
    with pytest.raises(InputError, match="pip install openexr"):
        depth_exr_bytes(DepthMap(wavy_zdepth(4, 3, 1), "depth"))


# The command line: depth -o D.exr, then scene --depth D.exr and mask D.exr.


@pytest.fixture(scope="module")
def small_weights(tmp_path_factory):
    return write_random_checkpoint(tmp_path_factory.mktemp("w") / "small.pth", "depth-anything-v2-small", seed=13)


@pytest.fixture
def picture_path(tmp_path, monkeypatch):
    monkeypatch.setenv(weights.MODELS_DIR_ENV, str(tmp_path / "models"))
    path = tmp_path / "picture.png"
    smooth_picture(80, 50).save(path)
    return path


def _depth_command(picture_path, small_weights, output):
    return main(["depth", str(picture_path), "--weights", str(small_weights), "--device", "cpu",
                 "--net-size", "70", "-o", str(output)])


def test_depth_command_writes_the_same_values_to_exr_and_npy(picture_path, small_weights, tmp_path):
    assert _depth_command(picture_path, small_weights, tmp_path / "d.exr") == 0
    assert _depth_command(picture_path, small_weights, tmp_path / "d.npy") == 0
    header, channels = _exr_contents(tmp_path / "d.exr")
    assert channels["Y"].shape == (50, 80)
    assert channels["Y"].tobytes() == np.load(tmp_path / "d.npy").tobytes()
    assert (header["depth3d.kind"], header["depth3d.unit"]) == ("disparity", "relative")
    assert "depth3d.focalLengthPx" not in header  # Depth Anything V2 estimates no camera


def test_depth_command_writes_a_networks_camera_into_the_header(picture_path, small_weights, tmp_path, monkeypatch):
    estimate_depth_and_camera = estimate_module.estimate_depth_and_camera

    def with_a_camera(picture, model, **options):
        estimate = estimate_depth_and_camera(picture, model, **options)
        return estimate_module.DepthWithCamera(estimate.depth, CAMERA)

    monkeypatch.setattr(estimate_module, "estimate_depth_and_camera", with_a_camera)
    assert _depth_command(picture_path, small_weights, tmp_path / "d.exr") == 0
    assert _depth_command(picture_path, small_weights, tmp_path / "d.png") == 0
    for name in ("d.exr", "d.png"):
        camera = load_depth_file(tmp_path / name).camera
        assert camera.image_size_px == (80, 50)
        assert np.allclose(camera.focal_length_px, (141.3 / 2, 139.7 / 2), rtol=1e-15)


def test_a_user_depth_file_gives_its_header_camera_to_the_composer(tmp_path):
    from lib_depth3d import pipeline
    from lib_depth3d.depth.sources import parse_depth_source

    save_depth(DepthMap(wavy_zdepth(80, 50, 10), "depth"), tmp_path / "d.exr", CAMERA)
    source = parse_depth_source("depth-image", depth=tmp_path / "d.exr")
    result = pipeline.estimate_with_camera(smooth_picture(80, 50), source)
    assert result.depth.kind == "depth"
    assert result.camera == load_depth_file(tmp_path / "d.exr").camera
    assert result.camera.principal_point_px == (83.25 / 2, 47.5 / 2)


def test_scene_reads_an_exr_as_the_kind_its_header_names(picture_path, tmp_path, capsys):
    depth = DepthMap(wavy_zdepth(80, 50, 8) * 3.0, "metric")
    save_depth(depth, tmp_path / "d.exr")
    scene = ["scene", str(picture_path), "--depth", str(tmp_path / "d.exr"), "--fov", "60", "--resolution", "24"]
    assert main([*scene, "-o", str(tmp_path / "s.glb")]) == 0
    low, high = float(depth.values.min()), float(depth.values.max())
    assert f"depth: {low:.3f} to {high:.3f} m" in capsys.readouterr().out  # metres, as stored
    zdepth = load_depth(tmp_path / "s_depth.png")
    assert zdepth.kind == "disparity"
    with Image.open(tmp_path / "s_depth.png") as png:
        assert png.text["depth3d.kind"] == "metric"

    assert main([*scene, "--depth-kind", "metric", "-o", str(tmp_path / "t.glb")]) == 0
    assert main([*scene, "--depth-kind", "depth", "-o", str(tmp_path / "u.glb")]) == 2
    assert "d.exr holds metric depth (its header says so), not depth" in capsys.readouterr().err
    assert not (tmp_path / "u.glb").exists()


def test_mask_reads_an_exr_with_its_kind(tmp_path):
    save_depth(DepthMap(np.tile(np.linspace(1.0, 4.0, 40, dtype=np.float32), (10, 1)), "metric"), tmp_path / "d.exr")
    assert main(["mask", str(tmp_path / "d.exr"), "-o", str(tmp_path / "m.png")]) == 0
    with Image.open(tmp_path / "m.png") as mask:
        repainted = np.asarray(mask.convert("L")) > 127
    assert repainted[:, 30:].all() and not repainted[:, :5].any()  # the far right half of the metres


@pytest.mark.blender
def test_blender_reads_the_exr_values_exactly(tmp_path):
    from tests.support.blender import load_image_pixels

    values = wavy_zdepth(48, 32, 9) * np.float32(7.3)
    save_depth(DepthMap(values, "metric"), tmp_path / "d.exr", CAMERA)
    pixels = load_image_pixels(tmp_path / "d.exr", tmp_path)
    assert pixels.shape == (32, 48, 4)
    for channel in range(3):
        assert pixels[..., channel].tobytes() == values.tobytes()
    assert (pixels[..., 3] == 1).all()


def test_opencv_reads_the_sky_of_an_exr_as_nan_with_every_usual_flag(tmp_path):
    """In a fresh process: OpenCV reads whether EXR is enabled once, from its environment."""
    import os
    import subprocess

    from tests.scene.test_sky import ground_and_sky

    depth = ground_and_sky(30)
    save_depth(depth, tmp_path / "d.exr")
    read = ("import sys, cv2, numpy as np\n"
            "for flags in (cv2.IMREAD_UNCHANGED, cv2.IMREAD_ANYDEPTH, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR):\n"
            "    image = cv2.imread(sys.argv[1], flags)\n"
            "    np.save(sys.argv[1] + f'.{flags}.npy', image if image.ndim == 2 else image[..., 0])\n")
    subprocess.run([sys.executable, "-c", read, str(tmp_path / "d.exr")], check=True, timeout=60,
                   env={**os.environ, "OPENCV_IO_ENABLE_OPENEXR": "1"})
    grey_files = sorted(tmp_path.glob("d.exr.*.npy"))
    assert len(grey_files) == 3
    for grey in map(np.load, grey_files):
        assert np.isnan(grey[~depth.surface]).all()
        assert grey[depth.surface].tobytes() == depth.values[depth.surface].tobytes()


@pytest.mark.blender
def test_blender_reads_the_sky_of_an_exr_as_nan(tmp_path):
    from tests.scene.test_sky import ground_and_sky
    from tests.support.blender import load_image_pixels

    depth = ground_and_sky(30)
    save_depth(depth, tmp_path / "d.exr")
    grey = load_image_pixels(tmp_path / "d.exr", tmp_path)[..., 0]
    assert np.isnan(grey[~depth.surface]).all()
    assert grey[depth.surface].tobytes() == depth.values[depth.surface].tobytes()


@settings(max_examples=40, deadline=None)
@given(
    values=arrays(np.uint16, st.tuples(st.integers(1, 40), st.integers(1, 40))),
    text=st.dictionaries(st.text("abcdefghijklmnopqrstuvwxyz.", min_size=1, max_size=20),
                         st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=30), max_size=3),
)
@pytest.mark.parametrize("deflate", DEFLATERS)
def test_the_16_bit_png_writer_gives_any_reader_every_value_and_text_field(deflate, values, text):
    from io import BytesIO

    import cv2

    from lib_depth3d import files

    with mock.patch.object(files, "FAST_DEFLATE", deflater(deflate)):
        data = files.grey16_png_bytes(values, text)
    picture = Image.open(BytesIO(data))
    picture.load()
    np.testing.assert_array_equal(np.asarray(picture).astype(np.uint16), values)
    assert picture.info == text
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded.dtype == np.uint16
    np.testing.assert_array_equal(decoded.reshape(values.shape), values)


# Pixels without a surface (the sky Depth Anything 3 Mono/Metric-Large find) survive every format.


def _sky_scene(depth):
    from lib_depth3d.camera import Camera
    from lib_depth3d.scene import SceneOptions, build_scene
    from tests.scene.test_sky import HEIGHT, WIDTH

    return build_scene(smooth_picture(WIDTH, HEIGHT), depth, Camera.from_fov(WIDTH, HEIGHT, 60.0),
                       SceneOptions(resolution=None, decimate=False))


@pytest.mark.parametrize("suffix", [".exr", ".npy", ".png"])
def test_the_sky_read_back_stays_out_of_the_grid_and_the_edges(tmp_path, suffix):
    from tests.scene.test_sky import face_pixels, ground_and_sky, sky_pixels_covered, with_a_post

    depth = with_a_post(ground_and_sky(30))
    save_depth(depth, tmp_path / f"d{suffix}")
    read = load_depth(tmp_path / f"d{suffix}", "metric" if suffix == ".npy" else None)
    np.testing.assert_array_equal(read.surface, depth.surface)
    scene = _sky_scene(read)
    assert sky_pixels_covered(scene, depth.surface) == 0
    assert face_pixels(scene)[:, 1].min() < 20  # the post standing into the sky is kept
    forgotten = _sky_scene(DepthMap(read.values, read.kind))  # the same values without their surface
    assert sky_pixels_covered(forgotten, depth.surface) > 0


@settings(max_examples=30, deadline=None)
@given(
    data=st.data(),
    kind=st.sampled_from(["disparity", "depth", "metric"]),
    shape=st.tuples(st.integers(2, 17), st.integers(2, 23)),
    suffix=st.sampled_from([".exr", ".npy", ".png"]),
)
def test_the_surface_and_its_values_survive_each_format(tmp_path_factory, data, kind, shape, suffix):
    elements = any_float32 if kind == "disparity" else positive_float32
    values = data.draw(arrays(np.float32, shape, elements=elements))
    surface = data.draw(arrays(bool, shape).filter(lambda mask: mask.any() and not mask.all()))
    depth = DepthMap(values, kind, surface)
    path = tmp_path_factory.mktemp("sky") / f"d{suffix}"
    save_depth(depth, path)
    read = load_depth(path, kind if suffix == ".npy" else None)
    np.testing.assert_array_equal(read.surface, surface)
    if suffix == ".png":
        levels = np.asarray(Image.open(path)).astype(np.int64)
        assert (levels[~surface] == 0).all() and (levels[surface] >= 1).all()
        assert np.abs(read.values[surface] - depth.nearness()[surface]).max() <= 0.5 / 65534 + 1e-6
    else:
        assert read.kind == kind and read.values[surface].tobytes() == values[surface].tobytes()
        far = values[surface].min() if kind == "disparity" else values[surface].max()
        assert (read.values[~surface] == far).all()  # the stand-in: the farthest surface value


def test_other_tools_readers_see_the_sky_as_nan_or_the_lowest_level(tmp_path):
    from tests.scene.test_sky import ground_and_sky

    depth = ground_and_sky(30)
    for suffix in (".exr", ".npy", ".png"):
        save_depth(depth, tmp_path / f"d{suffix}")
    _, channels = _exr_contents(tmp_path / "d.exr")
    assert list(channels) == ["Y"]  # one channel, as before: OpenCV and Blender read it as grey
    for stored in (channels["Y"], np.load(tmp_path / "d.npy")):
        assert np.isnan(stored[~depth.surface]).all()
        assert stored[depth.surface].tobytes() == depth.values[depth.surface].tobytes()
    with Image.open(tmp_path / "d.png") as png:
        assert png.text["depth3d.noSurfaceLevel"] == "0"
        levels = np.asarray(png).astype(np.int64)
    assert (levels[~depth.surface] == 0).all() and levels[depth.surface].min() == 1
    assert levels.max() == 65535


def test_files_without_a_sky_read_as_before(tmp_path):
    """No NaN, no marked level: a surface everywhere, and a PNG's level 0 is the farthest surface."""
    depth = DepthMap(wavy_zdepth(30, 20, 3), "metric")
    for suffix in (".exr", ".npy", ".png"):
        save_depth(depth, tmp_path / f"d{suffix}")
        read = load_depth(tmp_path / f"d{suffix}", "metric" if suffix == ".npy" else None)
        assert read.surface is None
    with Image.open(tmp_path / "d.png") as png:
        assert "depth3d.noSurfaceLevel" not in png.text and np.asarray(png).min() == 0
    everywhere = DepthMap(depth.values, "metric", np.ones((20, 30), bool))
    assert depth_exr_bytes(everywhere) == depth_exr_bytes(depth)


def test_infinite_depth_from_another_tool_is_no_surface(tmp_path):
    """MoGe's depth is +inf where it sees no surface; any non-finite value reads as none."""
    values = wavy_zdepth(12, 9, 11)
    values[:3] = np.inf
    values[3, :2] = -np.inf
    _write_exr(tmp_path / "z.exr", {"Z": values})
    depth = load_depth(tmp_path / "z.exr", "depth")
    assert not depth.surface[:3].any() and not depth.surface[3, :2].any() and depth.surface[4:].all()
    seen = values[np.isfinite(values)]
    assert np.isfinite(depth.values).all() and depth.extremes == (seen.min(), seen.max())
    np.save(tmp_path / "nan.npy", np.full((4, 5), np.nan, np.float32))
    with pytest.raises(InputError, match=r"nan\.npy has no surface: every value is NaN or infinite"):
        load_depth(tmp_path / "nan.npy")


def test_a_png_marking_another_level_is_refused_in_words(tmp_path):
    from lib_depth3d.files import grey16_png_bytes

    (tmp_path / "d.png").write_bytes(grey16_png_bytes(np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000,
                                                      {"depth3d.noSurfaceLevel": "65535"}))
    with pytest.raises(InputError, match=r"d\.png has depth3d\.noSurfaceLevel = '65535'; it can only be '0'"):
        load_depth(tmp_path / "d.png")


def test_depth_then_scene_keeps_the_networks_sky(picture_path, small_weights, tmp_path, monkeypatch):
    """`depth PIC -o D.exr`, then `scene PIC --depth D.exr`: the scene leaves out the sky the network found."""
    from tests.support.glb import read_glb

    estimate_depth_and_camera = estimate_module.estimate_depth_and_camera
    surface = np.ones((50, 80), bool)
    surface[:15] = False

    def with_a_sky(picture, model, **options):
        estimate = estimate_depth_and_camera(picture, model, **options)
        return estimate_module.DepthWithCamera(DepthMap(estimate.depth.values, estimate.depth.kind, surface))

    monkeypatch.setattr(estimate_module, "estimate_depth_and_camera", with_a_sky)
    for suffix in (".exr", ".npy", ".png"):
        assert _depth_command(picture_path, small_weights, tmp_path / f"d{suffix}") == 0
        glb = tmp_path / f"s{suffix[1:]}.glb"
        assert main(["scene", str(picture_path), "--depth", str(tmp_path / f"d{suffix}"), "--fov", "60",
                     "--resolution", "full", "--no-decimate", "--occlusion-band", "0", "-o", str(glb)]) == 0
        rows = read_glb(glb).uvs[:, 1] * 50
        assert rows.min() >= 15 - 1e-3, suffix  # no vertex above the sky's lowest row
        # and the scene's own depth file beside it keeps the sky too
        np.testing.assert_array_equal(load_depth(tmp_path / f"s{suffix[1:]}_depth.png").surface, surface)


def test_a_depth_picture_sent_as_an_image_keeps_its_sky(tmp_path):
    """The API's and the tab's depth pictures arrive decoded: their text field still marks the sky."""
    from lib_depth3d.depth.sources import parse_depth_source
    from lib_depth3d.files import open_image
    from tests.scene.test_sky import HEIGHT, WIDTH, ground_and_sky

    depth = ground_and_sky(30)
    save_depth(depth, tmp_path / "d.png")
    source = parse_depth_source("depth-image", depth=open_image((tmp_path / "d.png").read_bytes()))
    np.testing.assert_array_equal(source.estimate(smooth_picture(WIDTH, HEIGHT)).surface, depth.surface)


@pytest.mark.parametrize("smallest", [0.0, 1e-45, float(np.nextafter(np.finfo(np.float32).tiny, 0, dtype=np.float32))])
def test_a_depth_whose_inverse_overflows_is_refused_with_a_sentence(smallest):
    values = np.full((4, 5), 2.0, dtype=np.float32)
    values[1, 2] = smallest
    with pytest.raises(InputError, match="must be positive everywhere"):
        DepthMap(values, "depth")
    assert np.isfinite(DepthMap(values + np.finfo(np.float32).tiny, "depth").nearness()).all()


@pytest.mark.parametrize("mode", ["I;16", "I", "levels <u2", "levels >u2"])
def test_every_16_bit_level_reads_as_its_float64_quotient_rounded_to_float32(mode):
    from lib_depth3d.files import GreyLevels

    levels = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    if mode.startswith("levels"):
        picture = GreyLevels(levels.astype(mode.split()[1]), {})
    else:
        picture = Image.fromarray(levels, "I;16") if mode == "I;16" else Image.fromarray(levels.astype(np.int32), "I")
    nearness = depth_image_nearness(picture)
    assert nearness.dtype == np.float32
    np.testing.assert_array_equal(nearness, (levels.astype(np.float64) / 65535.0).astype(np.float32))


# 16-bit depth PNGs are read as their levels (files.open_depth_picture), not through Pillow's
# 32-bit image: the same levels as Pillow's own decoding, whoever wrote the file.


def _png_filtered(levels: np.ndarray, filters: np.ndarray, text_after: dict[str, str] | None = None,
                  idat_bytes: int | None = None) -> bytes:
    """A 16-bit greyscale PNG of ``levels`` whose row y is filtered with ``filters[y]`` (0 None, 1 Sub,
    2 Up, 3 Average, 4 Paeth, as the PNG specification defines them), with ``text_after`` in tEXt
    chunks after the image data, which is split into IDAT chunks of ``idat_bytes`` (None: one)."""
    import struct
    import zlib

    height, width = levels.shape
    raw = levels.astype(">u2").view(np.uint8).reshape(height, 2 * width).astype(np.int64)
    left = np.zeros_like(raw)
    left[:, 2:] = raw[:, :-2]
    up = np.zeros_like(raw)
    up[1:] = raw[:-1]
    up_left = np.zeros_like(raw)
    up_left[:, 2:] = up[:, :-2]
    estimate = left + up - up_left
    near_left, near_up, near_up_left = (np.abs(estimate - side) for side in (left, up, up_left))
    paeth = np.where((near_left <= near_up) & (near_left <= near_up_left), left,
                     np.where(near_up <= near_up_left, up, up_left))
    predictions = [np.zeros_like(raw), left, up, (left + up) // 2, paeth]
    filtered = np.empty((height, 2 * width + 1), dtype=np.uint8)
    filtered[:, 0] = filters
    for row, kind in enumerate(filters):
        filtered[row, 1:] = (raw[row] - predictions[kind][row]) % 256

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    deflated = zlib.compress(filtered.tobytes())
    step = idat_bytes or len(deflated)
    image_data = [chunk(b"IDAT", deflated[at : at + step]) for at in range(0, len(deflated), step)]
    trailing = [chunk(b"tEXt", f"{key}\0{value}".encode("latin-1")) for key, value in (text_after or {}).items()]
    return b"".join([b"\x89PNG\r\n\x1a\n", chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)),
                     *image_data, *trailing, chunk(b"IEND", b"")])


def _pillows_levels(data: bytes) -> np.ndarray:
    from io import BytesIO

    with Image.open(BytesIO(data)) as picture:
        return np.asarray(picture).astype(np.uint16)


def _writers_png(writer: str, levels: np.ndarray) -> bytes:
    from io import BytesIO

    import cv2

    from lib_depth3d.files import grey16_png_bytes

    if writer == "ours":
        return grey16_png_bytes(levels)
    if writer == "opencv":
        return cv2.imencode(".png", levels)[1].tobytes()
    buffer = BytesIO()
    Image.fromarray(levels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("deflate", DEFLATERS)
@pytest.mark.parametrize("writer", ["ours", "pillow", "opencv"])
def test_every_level_of_a_16_bit_png_reads_back_from_every_writer(tmp_path, writer, deflate):
    from lib_depth3d import files

    levels = np.random.default_rng(15).permutation(65536).astype(np.uint16).reshape(128, 512)
    levels[:, :256] = np.arange(65536 // 2, dtype=np.uint16).reshape(128, 256)  # smooth rows, as depth has
    data = _writers_png(writer, levels)
    with mock.patch.object(files, "FAST_DEFLATE", deflater(deflate)):
        read = files.open_depth_picture(data)
    assert isinstance(read, files.GreyLevels) and read.levels.dtype.kind == "u" and read.levels.dtype.itemsize == 2
    np.testing.assert_array_equal(read.levels, levels)
    (tmp_path / "d.png").write_bytes(data)
    np.testing.assert_array_equal(load_depth(tmp_path / "d.png").values,
                                  (levels.astype(np.float64) / 65535).astype(np.float32))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), shape=st.tuples(st.integers(1, 40), st.integers(1, 30)))
def test_any_mix_of_row_filters_reads_as_pillow_reads_it(data, shape):
    """None and Sub rows are restored here; a file with any other filter, even in its last row
    only, is Pillow's to unfilter. The rows are inflated a part at a time, of any size."""
    from lib_depth3d import files

    levels = data.draw(arrays(np.uint16, shape))
    # The first rows None or Sub (all of them, or up to where the others begin: before, at or after
    # the rows that choose the path), the rest any filter.
    none_or_sub = data.draw(st.integers(0, shape[0]))
    filters = np.concatenate([data.draw(arrays(np.uint8, none_or_sub, elements=st.sampled_from([0, 1]))),
                              data.draw(arrays(np.uint8, shape[0] - none_or_sub, elements=st.integers(0, 4)))])
    png = _png_filtered(levels, filters, idat_bytes=data.draw(st.sampled_from([None, 1, 7, 100])))
    np.testing.assert_array_equal(_pillows_levels(png), levels)  # the test's own writer is right
    with mock.patch.object(files, "INFLATED_PART", data.draw(st.integers(1, 300))):
        np.testing.assert_array_equal(files.open_depth_picture(png).levels, levels)


@pytest.mark.parametrize("deflate", DEFLATERS)
@pytest.mark.parametrize("pillow", ["as 9.5", "frombuffer copies", "frombytes copies first"])
def test_paeth_rows_read_the_same_whether_or_not_pillow_decodes_into_the_array(monkeypatch, deflate, pillow):
    """Pillow decodes into the image laid over the returned array; a Pillow that does not lay it
    over the array, or copies such an image before writing into it (as ``_ensure_mutable`` does),
    leaves the array unwritten, and the levels come from its image instead."""
    from lib_depth3d import files

    levels = np.arange(12 * 9, dtype=np.uint16).reshape(12, 9) * 601
    png = _png_filtered(levels, np.full(12, 4, dtype=np.uint8), idat_bytes=50)
    if pillow == "frombuffer copies":
        monkeypatch.setattr(Image, "frombuffer", lambda mode, size, data, *args: Image.frombytes(
            mode, size, bytes(data), *args))
    if pillow == "frombytes copies first":
        decode = Image.Image.frombytes

        def copying_first(picture, *args):
            picture._copy()
            return decode(picture, *args)

        monkeypatch.setattr(Image.Image, "frombytes", copying_first)
    monkeypatch.setattr(files, "FAST_DEFLATE", deflater(deflate))
    read = files.open_depth_picture(png).levels
    np.testing.assert_array_equal(read, levels)
    assert not read.flags.writeable


def test_text_chunks_after_the_pixels_still_give_the_camera_and_the_sky(tmp_path):
    levels = np.arange(1, 21 * 17 + 1, dtype=np.uint16).reshape(17, 21) * 150
    levels[:4] = 0
    fields = {"depth3d.kind": "disparity", "depth3d.focalLengthPx": "30.5 31.25",
              "depth3d.principalPointPx": "10.5 8.5", "depth3d.noSurfaceLevel": "0"}
    (tmp_path / "d.png").write_bytes(_png_filtered(levels, np.ones(17, np.uint8), fields))
    read = load_depth_file(tmp_path / "d.png")
    assert read.camera.focal_length_px == (30.5, 31.25) and read.camera.principal_point_px == (10.5, 8.5)
    assert not read.depth.surface[:4].any() and read.depth.surface[4:].all()
    np.testing.assert_array_equal(read.depth.values[4:], (levels[4:] - 1) / np.float32(65534))


def test_the_sky_of_our_png_is_read_from_its_levels(tmp_path):
    from lib_depth3d.files import GreyLevels, open_depth_picture
    from tests.scene.test_sky import ground_and_sky

    depth = ground_and_sky(30)
    save_depth(depth, tmp_path / "d.png")
    opened = open_depth_picture(tmp_path / "d.png")
    assert isinstance(opened, GreyLevels) and opened.info["depth3d.noSurfaceLevel"] == "0"
    assert (opened.levels[~depth.surface] == 0).all() and (opened.levels[depth.surface] >= 1).all()
    np.testing.assert_array_equal(load_depth(tmp_path / "d.png").surface, depth.surface)


@pytest.mark.parametrize("writer", ["ours", "pillow"])
@pytest.mark.parametrize("damage", ["cut in the pixels", "bytes overwritten in the pixels"])
def test_a_damaged_16_bit_png_is_refused_in_one_sentence(tmp_path, writer, damage):
    from lib_depth3d.files import open_image

    levels = (np.random.default_rng(4).random((64, 80)) * 65535).astype(np.uint16)
    data = bytearray(_writers_png(writer, levels))
    image_data = data.index(b"IDAT") + 4
    if damage == "cut in the pixels":
        data = data[: image_data + 200]
    else:
        data[image_data + 30 : image_data + 90] = bytes(range(60))
    (tmp_path / "d.png").write_bytes(bytes(data))
    with pytest.raises(InputError) as refused:
        load_depth(tmp_path / "d.png")
    message = str(refused.value)
    assert re.fullmatch(r"\S*d\.png is not a readable picture \([^()]+\)\. Use a PNG, JPEG or WebP file\.", message)
    with pytest.raises(InputError):
        open_image(tmp_path / "d.png")  # what read it before refuses it too


def test_a_16_bit_png_turned_by_its_exif_reads_upright_as_before(tmp_path):
    from io import BytesIO

    from lib_depth3d.files import open_image

    levels = np.arange(6 * 4, dtype=np.uint16).reshape(4, 6) * 2000
    exif = Image.Exif()
    exif[0x0112] = 6  # turned: displayed 90° clockwise
    buffer = BytesIO()
    Image.fromarray(levels).save(buffer, format="PNG", exif=exif)
    (tmp_path / "d.png").write_bytes(buffer.getvalue())
    upright = np.rot90(levels, -1)
    np.testing.assert_array_equal(np.asarray(open_image(tmp_path / "d.png")).astype(np.uint16), upright)
    np.testing.assert_array_equal(load_depth(tmp_path / "d.png").values,
                                  (upright.astype(np.float64) / 65535).astype(np.float32))


@settings(max_examples=60, deadline=None)
@given(values=arrays(st.sampled_from([np.float32, np.float64]), (5, 7), elements=st.floats(-1e4, 1e4, width=32)),
       kind=st.sampled_from(["disparity", "depth"]))
def test_a_files_values_keep_the_extremes_and_checks_of_a_depth_map_made_from_them(values, kind, tmp_path_factory):
    """The reader hands the extremes it found to the map; they are those the map would find itself,
    and the map refuses what it refuses."""
    path = tmp_path_factory.mktemp("npy") / "d.npy"
    np.save(path, values)
    try:
        expected = DepthMap(values.astype(np.float32), kind)
    except InputError:
        with pytest.raises(InputError):
            load_depth(path, kind)
        return
    loaded = load_depth(path, kind)
    assert loaded.extremes == expected.extremes == (float(expected.values.min()), float(expected.values.max()))
    assert loaded.kind == expected.kind and np.array_equal(loaded.values, expected.values)
