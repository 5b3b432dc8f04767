"""Depth Anything 3 against its official implementation, through reference data recorded from it.

The official package cannot be a dependency (see tests/support/record_da3_reference.py, which
recorded tests/depth/data/da3_reference.*): a small network of the official classes with seeded
random weights in the released layout, its input and its output (depth, camera intrinsics); the
official Small and Base key names and shapes; the official input processor's network sizes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from lib_depth3d.depth import depth_anything_3 as da3
from lib_depth3d.depth.dinov2 import ViTConfig
from lib_depth3d.depth.estimate import build_network, estimate_depth_and_camera, network_input, network_size
from lib_depth3d.depth.registry import MODELS
from lib_depth3d.depth.weights import load_into
from lib_depth3d.errors import WeightsError
from tests.support.depth_weights import randomise

TOLERANCE = 1e-4
DATA = Path(__file__).parent / "data"
FACTS = json.loads((DATA / "da3_reference.json").read_text())
# The released files store the aux head's shared output LayerNorm once, under level 0.
TIED_IN_RELEASE = tuple(f"model.head.scratch.output_conv2_aux.{level}.2." for level in (1, 2, 3))


def tiny_network() -> da3.DepthAnything3:
    tiny = FACTS["tiny"]
    encoder = ViTConfig(tiny["embed_dim"], tiny["depth"], tiny["num_heads"], tuple(tiny["tap_layers"]), tiny["grid"])
    config = da3.DepthAnything3Config(encoder, tiny["features"], tuple(tiny["out_channels"]), tiny["alternate_from"])
    return da3.DepthAnything3(config).eval()


@pytest.fixture(scope="module")
def reference() -> dict[str, torch.Tensor]:
    return load_file(str(DATA / "da3_reference.safetensors"))


def test_tiny_network_matches_the_official_one(reference):
    network = tiny_network()
    checkpoint = {key: value for key, value in reference.items() if key.startswith("model.")}
    load_into(network, da3.to_own_layout(checkpoint), "official layout")
    image = reference["input"]
    with torch.inference_mode():
        output = da3.read_output(network(image), (image.shape[-1], image.shape[-2]))
    expected = reference["depth"]
    assert expected.max() / expected.min() > 5, "reference depth too flat for the comparison to mean anything"
    assert output.depth.shape == expected.shape
    assert (output.depth - expected).abs().max().item() <= TOLERANCE
    intrinsics = reference["intrinsics"][0].double()
    focal, principal = (intrinsics[0, 0].item(), intrinsics[1, 1].item()), (intrinsics[0, 2].item(), intrinsics[1, 2].item())
    assert abs(focal[0] / focal[1] - 1) > 0.2, "the reference camera should have fx ≠ fy"
    assert np.allclose(output.camera.focal_length_px, focal, rtol=TOLERANCE, atol=0)
    assert np.allclose(output.camera.principal_point_px, principal, rtol=0, atol=TOLERANCE)
    assert output.camera.image_size_px == (image.shape[-1], image.shape[-2])


def test_a_broken_rotary_embedding_is_caught(reference, monkeypatch):
    """The comparison above sees the rotary positions: rotating with the column only breaks it."""
    network = tiny_network()
    load_into(network, da3.to_own_layout({k: v for k, v in reference.items() if k.startswith("model.")}), "official")
    original = da3.rotary_tables
    monkeypatch.setattr(da3, "rotary_tables", lambda positions, head_dim: original(positions[:, [1, 1]], head_dim))
    with torch.inference_mode():
        depth, _ = network(reference["input"])
    assert (depth - reference["depth"]).abs().max().item() > 100 * TOLERANCE


@pytest.mark.parametrize("variant", ["small", "base"])
def test_released_keys_load_strictly(variant):
    """The released Small/Base key names and shapes (without the tied copies the file omits)
    become exactly our network's; what one picture never runs is dropped, nothing else."""
    released = {key: shape for key, shape in FACTS["full_size_keys"][variant].items()
                if not key.startswith(TIED_IN_RELEASE)}
    with torch.device("meta"):
        network = build_network(MODELS[f"depth-anything-3-{variant}"])
        state = {key: torch.empty(shape) for key, shape in released.items()}
    own = da3.to_own_layout(state)
    expected = {key: list(value.shape) for key, value in network.state_dict().items()}
    assert {key: list(value.shape) for key, value in own.items()} == expected
    dropped = {key.removeprefix("model.") for key in released} - set(own)
    assert all(key.startswith(da3._UNUSED_PREFIXES) for key in dropped)
    assert any(key.startswith("cam_dec.fc_fov.") for key in own)


def test_a_checkpoint_missing_a_used_tensor_is_refused():
    released = dict(FACTS["full_size_keys"]["small"])
    del released["model.backbone.pretrained.camera_token"]
    with torch.device("meta"):
        network = build_network(MODELS["depth-anything-3-small"])
        state = da3.to_own_layout({key: torch.empty(shape) for key, shape in released.items()})
    with pytest.raises(WeightsError, match="missing"):
        load_into(network, state, "a damaged file")


@pytest.mark.parametrize("picture_size, official_size",
                         [((w, h), (nw, nh)) for w, h, nw, nh in FACTS["network_sizes_504"]])
def test_network_size_is_the_official_upper_bound_resize(picture_size, official_size):
    assert network_size(*picture_size, MODELS["depth-anything-3-small"]) == tuple(official_size)


def test_network_size_fits_the_longer_side():
    for width, height in [(640, 480), (300, 1200), (517, 911)]:
        size = network_size(width, height, MODELS["depth-anything-3-base"], input_size=252)
        assert max(size) == 252 and all(side % 14 == 0 for side in size)
        assert abs(size[0] / size[1] - width / height) < 14 / min(size)


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory):
    """A full-size Small network with seeded random weights, saved as the release is: ``model.``
    keys, the camera encoder and aux ray head (random too) included, the tied copies omitted."""
    network = randomise(build_network(MODELS["depth-anything-3-small"]), seed=41, std=0.02)
    with torch.no_grad():
        network.cam_dec.fc_fov[0].bias.copy_(torch.tensor([0.9, 1.2]))  # fields of view (vertical, horizontal)
    state = {f"model.{key}": value.contiguous() for key, value in network.state_dict().items()}
    generator = torch.Generator().manual_seed(42)
    for key, shape in FACTS["full_size_keys"]["small"].items():
        if key not in state and not key.startswith(TIED_IN_RELEASE):
            state[key] = 0.02 * torch.randn(shape, generator=generator)
    path = tmp_path_factory.mktemp("da3") / "da3-small.safetensors"
    save_file(state, str(path))
    return path


def test_estimate_gives_relative_depth_and_the_network_camera_for_the_picture(small_checkpoint):
    rng = np.random.default_rng(43)
    picture = Image.fromarray((rng.random((90, 160, 3)) * 255).astype(np.uint8), "RGB")
    estimate = estimate_depth_and_camera(picture, "depth-anything-3-small", weights_path=small_checkpoint,
                                         device="cpu", input_size=112)
    assert estimate.depth.kind == "depth"
    assert estimate.depth.values.shape == (90, 160)
    assert np.all(estimate.depth.values > 0)
    camera = estimate.camera
    assert camera.image_size_px == (160, 90)
    assert camera.principal_point_px == pytest.approx((80.0, 45.0))
    # The same network on the same input, read directly: the camera is the input's, rescaled.
    network = build_network(MODELS["depth-anything-3-small"])
    load_into(network, da3.to_own_layout(load_file(str(small_checkpoint))), "checkpoint")
    tensor = network_input(picture, MODELS["depth-anything-3-small"], 112)
    with torch.inference_mode():
        fields_of_view = network(tensor)[1][0]
    width, height = tensor.shape[-1], tensor.shape[-2]
    assert 0.5 < fields_of_view.min() and fields_of_view.max() < 2.0
    expected_fx = width / 2 / math.tan(fields_of_view[1].item() / 2) * 160 / width
    expected_fy = height / 2 / math.tan(fields_of_view[0].item() / 2) * 90 / height
    assert camera.focal_length_px == pytest.approx((expected_fx, expected_fy), rel=1e-5)
    assert camera.focal_length_px[0] != pytest.approx(camera.focal_length_px[1], rel=0.05)
