"""estimate_depth end to end — preprocessing, network, resize to the picture — against
transformers' image processor and model with the same full-size Depth Anything V2 Small weights
(random), in both checkpoint layouts; and the preprocessing rules against DPTImageProcessor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file
from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config, DPTImageProcessor
from transformers.models.depth_anything import convert_depth_anything_to_hf as convert_da
from transformers.models.dinov2.modeling_dinov2 import Dinov2Embeddings

from lib_depth3d.depth.estimate import estimate_depth, network_input
from lib_depth3d.depth.registry import MODELS, adapter_for
from tests.support.depth_oracle import dinov2_position_embedding
from tests.support.depth_weights import write_random_checkpoint

SMALL = MODELS["depth-anything-v2-small"]
NET_SIZE = 70
IMAGE_PROCESSOR_NORMALISATION = {  # the published preprocessor_config.json files
    "depth-anything-v2-small": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "midas-dpt-hybrid": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}


def small_hf_config() -> DepthAnythingConfig:
    """The configuration of depth-anything/Depth-Anything-V2-Small-hf."""
    backbone = Dinov2Config(
        hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536, image_size=518,
        patch_size=14, out_indices=[3, 6, 9, 12], apply_layernorm=True, reshape_hidden_states=False,
    )
    return DepthAnythingConfig(
        backbone_config=backbone, reassemble_hidden_size=384, patch_size=14, fusion_hidden_size=64,
        neck_hidden_sizes=[48, 96, 192, 384],
    )


@pytest.fixture(scope="module")
def small_checkpoints(tmp_path_factory):
    """The same random weights as an original ``.pth`` and as an HF ``model.safetensors``, and the HF model."""
    folder = tmp_path_factory.mktemp("small")
    original = write_random_checkpoint(folder / "depth_anything_v2_vits.pth", SMALL.name, seed=21)
    config = small_hf_config()
    state = torch.load(original, weights_only=True)
    for source, destination in convert_da.create_rename_keys(config):
        state[destination] = state.pop(source)
    convert_da.read_in_q_k_v(state, config)
    model = DepthAnythingForDepthEstimation(config).eval()
    model.load_state_dict(state, strict=True)
    hf_file = folder / "model.safetensors"
    save_file({key: value.contiguous() for key, value in model.state_dict().items()}, str(hf_file))
    return original, hf_file, model


def picture(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((height, width, 3)) * 255).astype(np.uint8), "RGB")


def hf_processor(size: int, multiple: int, mean, std) -> DPTImageProcessor:
    return DPTImageProcessor(
        size={"height": size, "width": size}, keep_aspect_ratio=True, ensure_multiple_of=multiple,
        resample=Image.BICUBIC, image_mean=list(mean), image_std=list(std), do_pad=False,
    )


@pytest.mark.parametrize("layout", ["original", "hf"])
def test_estimate_depth_matches_transformers(layout, small_checkpoints, monkeypatch):
    monkeypatch.setattr(Dinov2Embeddings, "interpolate_pos_encoding", dinov2_position_embedding)
    original, hf_file, model = small_checkpoints
    image = picture(100, 81, seed=22)
    depth = estimate_depth(image, SMALL.name, weights_path=original if layout == "original" else hf_file,
                           device="cpu", input_size=NET_SIZE)
    inputs = hf_processor(NET_SIZE, 14, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))(image, return_tensors="pt")
    with torch.inference_mode():
        predicted = model(**inputs).predicted_depth
    expected = F.interpolate(predicted[:, None], (81, 100), mode="bilinear", align_corners=True)[0, 0].numpy()
    assert depth.kind == "disparity" and depth.values.dtype == np.float32
    assert depth.values.shape == (81, 100)
    assert np.abs(expected).max() > 0.01
    assert np.abs(depth.values - expected).max() <= 1e-4


@pytest.mark.parametrize(
    "model, size",
    [("depth-anything-v2-small", size) for size in [(640, 480), (518, 518), (1037, 999), (2000, 700)]]
    + [("midas-dpt-hybrid", size) for size in [(640, 480), (300, 1000), (384, 384), (200, 150)]],
)
def test_network_input_matches_dpt_image_processor(model, size):
    """Same resize and normalisation as transformers for pictures above the net size on both sides
    (for Depth Anything V2 the authors' "lower bound" rule and transformers' "closest scale" rule
    then agree; below it we follow the authors, see test_depth_anything_keeps_shorter_side)."""
    spec = MODELS[model]
    image = picture(*size, seed=23)
    mean, std = IMAGE_PROCESSOR_NORMALISATION[model]
    expected = hf_processor(spec.input_size, adapter_for(spec).size_rule.multiple_of, mean, std)(
        image, return_tensors="pt").pixel_values
    actual = network_input(image, spec)
    assert actual.shape == expected.shape
    assert (actual - expected).abs().max().item() <= 1e-5


@pytest.mark.parametrize("size", [(200, 150), (300, 1000), (60, 40)])
def test_depth_anything_keeps_shorter_side_at_least_net_size(size):
    tensor = network_input(picture(*size, seed=24), SMALL)
    height, width = tensor.shape[-2:]
    assert min(height, width) >= SMALL.input_size
    assert height % 14 == 0 and width % 14 == 0
    assert abs(width / height - size[0] / size[1]) < 0.1
