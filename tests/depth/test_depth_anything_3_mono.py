"""Depth Anything 3 Mono-Large and Metric-Large against the official implementation, through
reference data recorded from it (tests/support/record_da3_mono_reference.py): a small network of
the official classes with the released layout (plain DINOv2, DPT head with the sky output), its
input and its output after the official sky handling; the official Mono-Large key names and shapes.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from lib_depth3d.depth import depth_anything_3_mono as mono
from lib_depth3d.depth.depth_anything_3 import DepthAnything3Config
from lib_depth3d.depth.dinov2 import ViTConfig
from lib_depth3d.depth.estimate import build_network, estimate_depth_and_camera, network_input
from lib_depth3d.depth.registry import MODELS, NetworkCamera
from lib_depth3d.depth.weights import load_into
from lib_depth3d.errors import WeightsError
from lib_depth3d.options import DEFAULT_FOV_DEG
from tests.support.depth_weights import randomise

TOLERANCE = 1e-4
DATA = Path(__file__).parent / "data"
FACTS = json.loads((DATA / "da3_mono_reference.json").read_text())


def tiny_network() -> mono.DepthAnything3Mono:
    tiny = FACTS["tiny"]
    encoder = ViTConfig(tiny["embed_dim"], tiny["depth"], tiny["num_heads"], tuple(tiny["tap_layers"]), tiny["grid"])
    config = DepthAnything3Config(encoder, tiny["features"], tuple(tiny["out_channels"]), alternate_from=None)
    return mono.DepthAnything3Mono(config).eval()


@pytest.fixture(scope="module")
def reference() -> dict[str, torch.Tensor]:
    return load_file(str(DATA / "da3_mono_reference.safetensors"))


@pytest.fixture(scope="module")
def loaded_tiny(reference) -> mono.DepthAnything3Mono:
    network = tiny_network()
    load_into(network, mono.to_own_layout({k: v for k, v in reference.items() if k.startswith("model.")}), "official")
    return network


def test_tiny_network_matches_the_official_one_sky_included(reference, loaded_tiny):
    image = reference["input"]
    with torch.inference_mode():
        output = mono.read_output(loaded_tiny(image), (image.shape[-1], image.shape[-2]))
    expected, sky = reference["depth"], reference["sky"]
    official_sky = sky >= mono.SKY_THRESHOLD
    assert 0.2 < official_sky.float().mean() < 0.4, "the reference should hold sky and ground"
    assert output.depth.shape == expected.shape
    assert (output.depth - expected).abs().max().item() <= TOLERANCE
    assert torch.equal(output.surface, ~official_sky)
    assert output.camera is None
    # The official network put the sky at the far end of the rest: one value, the farthest ground's.
    sky_depth = expected[official_sky]
    assert torch.allclose(sky_depth, sky_depth[0]) and sky_depth[0] < expected[~official_sky].max()


def test_without_the_sky_handling_the_comparison_fails(reference, loaded_tiny):
    image = reference["input"]
    with torch.inference_mode():
        raw, _ = loaded_tiny(image)
    assert (raw - reference["depth"]).abs().max().item() > 100 * TOLERANCE


def test_too_little_sky_leaves_the_depth_alone():
    depth = torch.rand(1, 20, 30) + 1
    sky = torch.zeros(1, 20, 30)
    sky[0, 0, :10] = 1.0  # 10 pixels: the official network needs more than 10
    output = mono.read_output((depth, sky), (30, 20))
    assert output.surface is None and torch.equal(output.depth, depth)
    sky[0, 0, 10] = 1.0
    assert mono.read_output((depth, sky), (30, 20)).surface.sum() == 20 * 30 - 11


@pytest.mark.parametrize("variant", ["mono-large", "metric-large"])
def test_released_keys_load_strictly(variant):
    released = FACTS["full_size_keys"]
    with torch.device("meta"):
        network = build_network(MODELS[f"depth-anything-3-{variant}"])
        state = mono.to_own_layout({key: torch.empty(shape) for key, shape in released.items()})
    assert {key: list(value.shape) for key, value in state.items()} == \
        {key: list(value.shape) for key, value in network.state_dict().items()}
    assert "head.scratch.sky_output_conv2.2.weight" in state and not any("camera_token" in key for key in state)


def test_a_checkpoint_of_small_is_refused_for_mono_large():
    released = json.loads((DATA / "da3_reference.json").read_text())["full_size_keys"]["small"]
    with torch.device("meta"):
        network = build_network(MODELS["depth-anything-3-mono-large"])
        state = mono.to_own_layout({key: torch.empty(shape) for key, shape in released.items()})
    with pytest.raises(WeightsError):
        load_into(network, state, "a Small file")


def test_the_registry_names_the_released_files():
    for variant in ("mono-large", "metric-large"):
        spec = MODELS[f"depth-anything-3-{variant}"]
        assert spec.files[0].url.endswith(f"/DA3{variant.upper()}/resolve/main/model.safetensors")
        assert spec.files[0].sha256 is None  # none published: --allow-unverified
    assert MODELS["depth-anything-3-mono-large"].output_kind == "depth"
    metric = MODELS["depth-anything-3-metric-large"]
    assert metric.output_kind == "metric" and metric.canonical_focal_px == 300.0


@pytest.fixture(scope="module")
def metric_checkpoint(tmp_path_factory):
    """A full-size Metric-Large network with seeded random weights in the released layout and a
    sky output of 0 (no sky)."""
    network = randomise(build_network(MODELS["depth-anything-3-metric-large"]), seed=61, std=0.02)
    with torch.no_grad():
        last = network.head.scratch.sky_output_conv2[2]
        last.weight.zero_()
        last.bias.fill_(0.0)
    state = {f"model.{key}": value.contiguous() for key, value in network.state_dict().items()}
    path = tmp_path_factory.mktemp("da3") / "da3metric-large.safetensors"
    save_file(state, str(path))
    return path


def sky_picture() -> Image.Image:
    rng = np.random.default_rng(62)
    return Image.fromarray((rng.random((60, 84, 3)) * 255).astype(np.uint8), "RGB")


def test_metric_large_gives_metres_from_the_focal_length(metric_checkpoint):
    """metres = raw × focal / 300, the focal length of the picture's camera at the network's input:
    the default field of view without a known camera, the known one with it. As the official code
    rescales intrinsics to its input (fx with the width, fy with the height, which rounding to
    multiples of 14 stretches differently) and averages fx and fy."""
    picture = sky_picture()
    spec = MODELS["depth-anything-3-metric-large"]
    network = build_network(spec)
    load_into(network, mono.to_own_layout(load_file(str(metric_checkpoint))), "checkpoint")
    tensor = network_input(picture, spec, 112)
    with torch.inference_mode():
        raw = mono.read_output(network(tensor), (tensor.shape[-1], tensor.shape[-2])).depth
    raw_at_picture = torch.nn.functional.interpolate(raw[:, None], (60, 84), mode="bilinear", align_corners=True)[0, 0]
    width, height = tensor.shape[-1], tensor.shape[-2]
    assert width / 84 != height / 60
    for known, fov in ((None, DEFAULT_FOV_DEG), (NetworkCamera.from_horizontal_fov(84, 60, 40.0), 40.0)):
        estimate = estimate_depth_and_camera(picture, spec.name, weights_path=metric_checkpoint, device="cpu",
                                             input_size=112, known_camera=known)
        focal = 84 / 2 / math.tan(math.radians(fov) / 2)
        focal_at_input = (focal * width / 84 + focal * height / 60) / 2
        assert estimate.depth.kind == "metric" and estimate.camera is None
        expected = np.maximum(raw_at_picture.numpy() * focal_at_input / 300.0, 1e-3)
        np.testing.assert_allclose(estimate.depth.values, expected, rtol=1e-5)


def test_no_sky_gives_no_surface_mask(metric_checkpoint):
    estimate = estimate_depth_and_camera(sky_picture(), "depth-anything-3-metric-large",
                                         weights_path=metric_checkpoint, device="cpu", input_size=112)
    assert estimate.depth.surface is None


def test_the_sky_reaches_the_depth_map_at_the_picture_size(metric_checkpoint, monkeypatch):
    """Where the sky output marks the upper third of the network's input, the picture's depth map
    has no surface in its upper third, and there the depth is that of the farthest ground."""
    def sky_on_top(output, input_size_px, known_camera=None):
        depth, sky = output
        sky = torch.zeros_like(sky)
        sky[:, : sky.shape[1] // 3] = 1.0
        return mono.read_output((depth, sky), input_size_px, known_camera)

    monkeypatch.setattr(mono, "ADAPTER", replace(mono.ADAPTER, read_output=sky_on_top))
    estimate = estimate_depth_and_camera(sky_picture(), "depth-anything-3-metric-large",
                                         weights_path=metric_checkpoint, device="cpu", input_size=112)
    surface = estimate.depth.surface
    rows_without_surface = np.flatnonzero(~surface.any(axis=1))
    assert surface[:, 0].tolist() == surface[:, -1].tolist()  # whole rows
    assert rows_without_surface.tolist() == list(range(len(rows_without_surface)))
    assert abs(len(rows_without_surface) - 60 / 3) <= 1
    values = estimate.depth.values
    assert np.ptp(values[~surface]) <= 1e-5 * values.max() and values[~surface][0] >= np.percentile(values[surface], 95)
