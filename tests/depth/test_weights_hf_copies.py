"""Every Hugging Face (transformers layout) copy in the registry fits our full-size network: a
transformers model built with the published repository's configuration loads with strict=True,
and its float32 parameters add up to the size its page shows (so the configuration written here
is the published one, not merely one that fits)."""

from __future__ import annotations

import pytest
import torch
from transformers import (
    BitConfig,
    DepthAnythingConfig,
    DepthAnythingForDepthEstimation,
    Dinov2Config,
    DPTConfig,
    DPTForDepthEstimation,
)

from lib_depth3d.depth.estimate import build_network
from lib_depth3d.depth.registry import MODELS, adapter_for
from lib_depth3d.depth.weights import load_into


def depth_anything_v2_hf(hidden: int, layers: int, heads: int, out_indices: list[int], fusion: int, neck: list[int]):
    """config.json of the depth-anything/Depth-Anything-V2-{Small,Base,Large}-hf repositories."""
    backbone = Dinov2Config(
        hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=4 * hidden,
        image_size=518, patch_size=14, out_indices=out_indices, apply_layernorm=True, reshape_hidden_states=False,
    )
    return DepthAnythingForDepthEstimation(DepthAnythingConfig(
        backbone_config=backbone, reassemble_hidden_size=hidden, patch_size=14, fusion_hidden_size=fusion,
        neck_hidden_sizes=neck,
    ))


def intel_dpt_hybrid_midas():
    """config.json of Intel/dpt-hybrid-midas: ViT-B/16 on a BiT ResNet-50 stem of three stages."""
    backbone = BitConfig(
        global_padding="same", layer_type="bottleneck", depths=[3, 4, 9], hidden_sizes=[256, 512, 1024, 2048],
        embedding_size=64, num_groups=32, out_features=["stage1", "stage2", "stage3"], embedding_dynamic_padding=True,
    )
    return DPTForDepthEstimation(DPTConfig(
        is_hybrid=True, backbone_config=backbone, backbone_featmap_shape=[1, 1024, 24, 24],
        hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, image_size=384,
        patch_size=16, backbone_out_indices=[2, 5, 8, 11], neck_hidden_sizes=[256, 512, 768, 768],
        neck_ignore_stages=[0, 1], reassemble_factors=[1, 1, 1, 0.5], readout_type="project",
        use_batch_norm_in_fusion_residual=False,
    ))


LABEL_ROUNDING = 0.005  # pages show three significant digits; the safetensors header adds some kB

PUBLISHED = {
    "depth-anything-v2-small-hf.safetensors": lambda: depth_anything_v2_hf(384, 12, 6, [3, 6, 9, 12], 64,
                                                                           [48, 96, 192, 384]),
    "depth-anything-v2-base-hf.safetensors": lambda: depth_anything_v2_hf(768, 12, 12, [3, 6, 9, 12], 128,
                                                                          [96, 192, 384, 768]),
    "depth-anything-v2-large-hf.safetensors": lambda: depth_anything_v2_hf(1024, 24, 16, [5, 12, 18, 24], 256,
                                                                           [256, 512, 1024, 1024]),
    "dpt-hybrid-midas-hf.safetensors": intel_dpt_hybrid_midas,
}

HF_COPIES = [(spec, weight_file) for spec in MODELS.values() for weight_file in spec.files if weight_file.layout == "hf"]


def test_every_hf_copy_has_its_published_configuration_here():
    assert sorted(weight_file.filename for _, weight_file in HF_COPIES) == sorted(PUBLISHED)


@pytest.mark.parametrize(("spec", "weight_file"), HF_COPIES, ids=[file.filename for _, file in HF_COPIES])
def test_hf_copy_loads_into_our_network_and_has_the_published_size(spec, weight_file):
    with torch.device("meta"):
        published = PUBLISHED[weight_file.filename]()
        ours = build_network(spec)
    state = dict(published.state_dict())
    load_into(ours, adapter_for(spec).to_own_layout(state), weight_file.filename)
    megabytes = 4 * sum(tensor.numel() for tensor in state.values()) / 1e6
    number, unit = weight_file.size_label.split()
    published = float(number) * {"MB": 1, "GB": 1000}[unit]
    assert abs(megabytes - published) / published < LABEL_ROUNDING
