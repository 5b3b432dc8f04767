"""ControlNet's preprocessors (with a stand-in for sd-webui-controlnet's registry) and the
user-supplied depth image, through the common depth_for interface."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

from lib_depth3d.depth.controlnet import controlnet_available, depth_preprocessors
from lib_depth3d.depth.sources import available_sources, depth_for
from lib_depth3d.errors import DepthSourceError, InputError
from tests.support.controlnet import FakeDepthPreprocessor, fake_controlnet  # noqa: F401 (fixture)


def picture(width=90, height=60) -> Image.Image:
    return Image.fromarray(np.full((height, width, 4), 128, np.uint8), "RGBA")


def test_without_controlnet_the_message_says_what_to_do(monkeypatch):
    monkeypatch.setitem(sys.modules, "scripts", None)
    assert not controlnet_available()
    assert depth_preprocessors() == []
    assert "controlnet:depth_midas" not in available_sources()
    with pytest.raises(InputError, match="sd-webui-controlnet extension is not installed"):
        depth_for(picture(), "controlnet:depth_midas")


def test_controlnet_depth_in_process(fake_controlnet):
    assert depth_preprocessors() == ["depth_midas"]
    assert "controlnet:depth_midas" in available_sources()
    depth = depth_for(picture(), "controlnet:depth_midas", resolution=128)
    shape, dtype, resolution, slider_1, slider_2, slider_3 = fake_controlnet.calls[-1]
    assert shape == (60, 90, 3) and dtype == np.uint8  # RGB without alpha, as ControlNet expects
    assert (resolution, slider_1, slider_2, slider_3) == (128, 0, None, None)  # defaults passed explicitly
    assert depth.kind == "disparity" and depth.values.shape == (60, 90)
    assert depth.values[0].mean() < 0.05 and depth.values[-1].mean() > 0.95


def test_controlnet_settings_out_of_range_are_refused(fake_controlnet):
    with pytest.raises(InputError, match="between 64 and 2048"):
        depth_for(picture(), "controlnet:depth_midas", resolution=4096)
    with pytest.raises(InputError, match="between 0 and 100"):
        depth_for(picture(), "controlnet:depth_midas", slider_1=150)
    assert fake_controlnet.calls == []


def test_unknown_controlnet_preprocessor_lists_the_depth_ones(fake_controlnet):
    with pytest.raises(InputError, match="depth_midas"):
        depth_for(picture(), "controlnet:depth_nothing")


def test_user_depth_image_is_resized_to_the_picture(tmp_path):
    gradient = (np.tile(np.linspace(0, 65535, 40)[:, None], (1, 60))).astype(np.uint16)
    depth_png = Image.fromarray(gradient)
    depth = depth_for(picture(), "depth-image", depth_image=depth_png)
    assert depth.kind == "disparity" and depth.values.shape == (60, 90)
    assert depth.values[0].max() < 0.02 and depth.values[-1].min() > 0.98
    path = tmp_path / "depth.npy"
    np.save(path, np.full((30, 45), 2.5, np.float32))
    metric = depth_for(picture(), "depth-image", depth_image=path, kind="metric")
    assert metric.kind == "metric" and np.allclose(metric.values, 2.5)


def test_user_depth_image_of_another_shape_is_refused():
    with pytest.raises(InputError, match="aspect ratios differ"):
        depth_for(picture(90, 60), "depth-image", depth_image=Image.new("L", (60, 90)))
    with pytest.raises(InputError, match="needs a depth image"):
        depth_for(picture(), "depth-image")


def test_a_failing_preprocessor_is_reported_as_controlnets(fake_controlnet, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(FakeDepthPreprocessor, "__call__", out_of_memory)
    with pytest.raises(DepthSourceError, match="ControlNet's depth_midas failed: RuntimeError: CUDA out of memory"):
        depth_for(picture(), "controlnet:depth_midas")
