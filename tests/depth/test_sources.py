"""ControlNet's preprocessors (with stand-ins for sd-webui-controlnet's and Forge's registries)
and the user-supplied depth image, as typed depth sources parsed from their names."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

from lib_depth3d.depth.controlnet import controlnet_available, depth_preprocessors
from lib_depth3d.depth.sources import ControlNetDepth, UserDepth, available_sources, parse_depth_source
from lib_depth3d.errors import DepthSourceError, InputError
from tests.support.controlnet import FakeDepthPreprocessor, fake_controlnet, fake_forge_controlnet  # noqa: F401


def picture(width=90, height=60) -> Image.Image:
    return Image.fromarray(np.full((height, width, 4), 128, np.uint8), "RGBA")


def test_without_controlnet_the_message_says_what_to_do(monkeypatch):
    monkeypatch.setitem(sys.modules, "scripts", None)
    monkeypatch.setitem(sys.modules, "modules_forge", None)
    assert not controlnet_available()
    assert depth_preprocessors() == []
    assert "controlnet:depth_midas" not in available_sources()
    with pytest.raises(InputError, match="neither the sd-webui-controlnet extension nor Forge's built-in ControlNet"):
        parse_depth_source("controlnet:depth_midas").estimate(picture())


def test_controlnet_depth_in_process(fake_controlnet):
    assert depth_preprocessors() == ["depth_midas"]
    assert "controlnet:depth_midas" in available_sources()
    source = parse_depth_source("controlnet:depth_midas", input_size=128)
    assert source == ControlNetDepth("depth_midas", 128) and source.name == "controlnet:depth_midas"
    depth = source.estimate(picture())
    shape, dtype, resolution, slider_1, slider_2, slider_3 = fake_controlnet.calls[-1]
    assert shape == (60, 90, 3) and dtype == np.uint8  # RGB without alpha, as ControlNet expects
    assert (resolution, slider_1, slider_2, slider_3) == (128, 0, None, None)  # defaults passed explicitly
    assert depth.kind == "disparity" and depth.values.shape == (60, 90)
    assert depth.values[0].mean() < 0.05 and depth.values[-1].mean() > 0.95


def test_controlnet_settings_out_of_range_are_refused(fake_controlnet):
    with pytest.raises(InputError, match="between 64 and 2048"):
        ControlNetDepth("depth_midas", resolution=4096).check(90, 60)
    with pytest.raises(InputError, match="between 0 and 100"):
        ControlNetDepth("depth_midas", slider_1=150).estimate(picture())
    assert fake_controlnet.calls == []


def test_unknown_controlnet_preprocessor_lists_the_depth_ones(fake_controlnet):
    with pytest.raises(InputError, match="depth_midas"):
        parse_depth_source("controlnet:depth_nothing").estimate(picture())


def test_user_depth_image_at_the_pictures_size(tmp_path):
    gradient = (np.tile(np.linspace(0, 65535, 60)[:, None], (1, 90))).astype(np.uint16)
    depth_png = Image.fromarray(gradient)
    depth = parse_depth_source("depth-image", depth=depth_png).estimate(picture())
    assert depth.kind == "disparity" and depth.values.shape == (60, 90)
    assert depth.values[0].max() < 0.02 and depth.values[-1].min() > 0.98
    path = tmp_path / "depth.npy"
    np.save(path, np.full((60, 90), 2.5, np.float32))
    metric = parse_depth_source("depth-image", depth=str(path), kind="metric").estimate(picture())
    assert metric.kind == "metric" and np.allclose(metric.values, 2.5)


def test_user_depth_image_of_another_size_is_refused():
    for size in ((60, 90), (45, 30)):
        with pytest.raises(InputError, match=f"{size[0]}×{size[1]} but the picture is 90×60; give the depth at"):
            UserDepth(Image.new("L", size)).estimate(picture(90, 60))
    with pytest.raises(InputError, match="needs a depth image"):
        parse_depth_source("depth-image").estimate(picture())


def test_unknown_source_names_list_the_choices_and_each_source_names_itself():
    with pytest.raises(InputError, match="Unknown depth model 'midas-v9'.*depth-anything-v2-small"):
        parse_depth_source("midas-v9")
    network = parse_depth_source("depth-anything-v2-small", input_size=364)
    assert network.name == "depth-anything-v2-small" and network.input_size == 364
    assert network.licence.name == "Apache-2.0"
    network.check(640, 480)
    with pytest.raises(InputError, match="multiple of 14"):
        parse_depth_source("depth-anything-v2-small", input_size=365).check(640, 480)


def test_a_depth_picture_is_cut_as_stored_not_renormalised():
    stored = Image.fromarray(np.full((60, 90), 100, np.uint8), "L")
    assert np.allclose(UserDepth(stored).mask_nearness(picture()), 100 / 255)


def test_a_failing_preprocessor_is_reported_as_controlnets(fake_controlnet, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(FakeDepthPreprocessor, "__call__", out_of_memory)
    with pytest.raises(DepthSourceError, match="ControlNet's depth_midas failed: RuntimeError: CUDA out of memory"):
        parse_depth_source("controlnet:depth_midas").estimate(picture())


def test_forges_built_in_controlnet_preprocessors_are_offered_and_run(fake_forge_controlnet):
    assert depth_preprocessors() == ["depth_marigold", "depth_midas"]
    assert available_sources()[-3:] == ["controlnet:depth_marigold", "controlnet:depth_midas", "depth-image"]
    depth = parse_depth_source("controlnet:depth_midas", input_size=256).estimate(picture())
    shape, dtype, resolution, *sliders = fake_forge_controlnet.calls[-1]
    assert shape == (60, 90, 3) and dtype == np.uint8 and resolution == 256
    assert sliders == [None, None, None]  # Forge declares them hidden: not passed
    assert depth.values.shape == (60, 90) and depth.values[0].mean() < 0.05 and depth.values[-1].mean() > 0.95


def test_forges_resolution_range_is_the_one_its_controlnet_reads(fake_forge_controlnet):
    # The legacy range (64–2048) is no longer Forge's: its ControlNet offers 128–2048.
    with pytest.raises(InputError, match="The resolution of ControlNet's depth_midas must be between 128 and 2048, "
                                         "got 100"):
        ControlNetDepth("depth_midas", resolution=100).check(90, 60)
    ControlNetDepth("depth_marigold").estimate(picture())
    marigold = sys.modules["modules_forge.shared"].supported_preprocessors["depth_marigold"]
    assert [call[2] for call in marigold.calls] == [768]  # Marigold's own default
    assert fake_forge_controlnet.calls == []
    with pytest.raises(InputError, match="depth_marigold, depth_midas"):
        parse_depth_source("controlnet:canny_nothing").estimate(picture())
