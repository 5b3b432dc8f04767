"""Our networks against transformers' implementations of the same architectures (the oracle).

Small random-initialised configurations keep this fast. Each architecture is checked in both
checkpoint layouts: the original layout is produced from our network's state dict with
transformers' own conversion functions (original → HF), which our loader must therefore read
as is; the HF layout is a random transformers model's state dict, which our loader renames.
"""

from __future__ import annotations

import pytest
import torch
from transformers import BitConfig, Dinov2Config, DPTConfig, DPTForDepthEstimation
from transformers import DepthAnythingConfig as HFDepthAnythingConfig
from transformers import DepthAnythingForDepthEstimation
from transformers.models.depth_anything import convert_depth_anything_to_hf as convert_da
from transformers.models.dinov2.modeling_dinov2 import Dinov2Embeddings
from transformers.models.dpt import convert_dpt_hybrid_to_pytorch as convert_hybrid
from transformers.models.dpt import convert_dpt_to_pytorch as convert_large

from lib_depth3d.depth import depth_anything_v2, midas
from lib_depth3d.depth.depth_anything_v2 import DepthAnythingConfig, DepthAnythingV2
from lib_depth3d.depth.dinov2 import ViTConfig
from lib_depth3d.depth.midas import MidasConfig, MidasDPT
from lib_depth3d.depth.vit_hybrid import ResNetConfig
from lib_depth3d.depth.weights import load_into
from tests.support.depth_oracle import dinov2_position_embedding
from tests.support.depth_weights import randomise

TOLERANCE = 1e-4


@pytest.fixture
def original_dinov2_interpolation(monkeypatch):
    monkeypatch.setattr(Dinov2Embeddings, "interpolate_pos_encoding", dinov2_position_embedding)


def tiny_depth_anything(max_depth: float | None):
    ours = DepthAnythingConfig(
        ViTConfig(embed_dim=32, depth=4, num_heads=2, tap_layers=(0, 1, 2, 3), pos_grid=5), 16, (8, 16, 32, 32),
        max_depth=max_depth,
    )
    backbone = Dinov2Config(
        hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=128, image_size=70,
        patch_size=14, out_indices=[1, 2, 3, 4], apply_layernorm=True, reshape_hidden_states=False,
    )
    hf = HFDepthAnythingConfig(
        backbone_config=backbone, reassemble_hidden_size=32, patch_size=14, fusion_hidden_size=16,
        neck_hidden_sizes=[8, 16, 32, 32], depth_estimation_type="relative" if max_depth is None else "metric",
        max_depth=max_depth or 1,
    )
    return ours, hf


def tiny_dpt(hybrid: bool):
    if hybrid:
        ours = MidasConfig(32, 4, 2, (0, 1, 2, 3), (32, 64, 32, 32), features=16, pos_grid=4,
                           hybrid=ResNetConfig(8, (32, 64, 128), (1, 2, 1), 4))
        backbone = BitConfig(
            global_padding="same", layer_type="bottleneck", depths=[1, 2, 1], hidden_sizes=[32, 64, 128],
            embedding_size=8, num_groups=4, out_features=["stage1", "stage2", "stage3"],
            embedding_dynamic_padding=True,
        )
        extra = dict(embedding_type="hybrid", is_hybrid=True, backbone_config=backbone,
                     backbone_featmap_shape=[1, 128, 4, 4], reassemble_factors=[1, 1, 1, 0.5])
    else:
        ours = MidasConfig(32, 4, 2, (0, 1, 2, 3), (8, 16, 32, 32), features=16, pos_grid=4)
        extra = {}
    # layer_norm_eps: timm's ViT (the original) uses 1e-6; DPTConfig defaults to 1e-12.
    hf = DPTConfig(
        hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=128, image_size=64,
        patch_size=16, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=list(ours.out_channels),
        fusion_hidden_size=16, readout_type="project", layer_norm_eps=1e-6, **extra,
    )
    return ours, hf


def assert_same_output(ours, hf, image):
    with torch.inference_mode():
        expected = hf(pixel_values=image).predicted_depth
        actual = ours(image)
    assert actual.shape == expected.shape
    assert expected.abs().max() > 0.05, "outputs too small for the comparison to mean anything"
    assert (actual - expected).abs().max().item() <= TOLERANCE


def depth_anything_to_hf(state, hf_config):
    state = {key: value.clone() for key, value in state.items()}
    for source, destination in convert_da.create_rename_keys(hf_config):
        state[destination] = state.pop(source)
    convert_da.read_in_q_k_v(state, hf_config)
    return state


@pytest.mark.parametrize("max_depth", [None, 20.0], ids=["relative", "metric"])
@pytest.mark.parametrize("size", [(70, 70), (84, 112)], ids=["square", "wide"])
def test_depth_anything_original_layout(max_depth, size, original_dinov2_interpolation):
    config, hf_config = tiny_depth_anything(max_depth)
    ours = randomise(DepthAnythingV2(config), seed=1, std=0.2).eval()
    hf = DepthAnythingForDepthEstimation(hf_config).eval()
    hf.load_state_dict(depth_anything_to_hf(ours.state_dict(), hf_config), strict=True)
    reloaded = DepthAnythingV2(config).eval()
    load_into(reloaded, depth_anything_v2.to_own_layout(dict(ours.state_dict())), "original layout")
    assert_same_output(reloaded, hf, torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(2)))


@pytest.mark.parametrize("max_depth", [None, 80.0], ids=["relative", "metric"])
def test_depth_anything_hf_layout(max_depth, original_dinov2_interpolation):
    config, hf_config = tiny_depth_anything(max_depth)
    torch.manual_seed(3)
    hf = DepthAnythingForDepthEstimation(hf_config).eval()
    randomise(hf, seed=3, std=0.2)
    ours = DepthAnythingV2(config).eval()
    load_into(ours, depth_anything_v2.to_own_layout(dict(hf.state_dict())), "HF layout")
    assert_same_output(ours, hf, torch.randn(1, 3, 98, 70, generator=torch.Generator().manual_seed(4)))


def test_dinov2_square_grid_needs_no_patched_oracle():
    """At the stored grid size no interpolation happens: plain transformers agrees exactly."""
    config, hf_config = tiny_depth_anything(None)
    ours = randomise(DepthAnythingV2(config), seed=5, std=0.2).eval()
    hf = DepthAnythingForDepthEstimation(hf_config).eval()
    hf.load_state_dict(depth_anything_to_hf(ours.state_dict(), hf_config), strict=True)
    assert_same_output(ours, hf, torch.randn(1, 3, 70, 70, generator=torch.Generator().manual_seed(6)))


def midas_to_hf(state, hf_config, converter):
    state = {key: value.clone() for key, value in state.items()}
    dim = hf_config.hidden_size
    # The released checkpoints also hold timm's final norm and ImageNet classifier.
    state["pretrained.model.norm.weight"] = torch.ones(dim)
    state["pretrained.model.norm.bias"] = torch.zeros(dim)
    state["pretrained.model.head.weight"] = torch.zeros(1000, dim)
    state["pretrained.model.head.bias"] = torch.zeros(1000)
    original = dict(state)
    converter.remove_ignore_keys_(state)
    renamed = {converter.rename_key(key): value for key, value in state.items()}
    converter.read_in_q_k_v(renamed, hf_config)
    return original, renamed


@pytest.mark.parametrize("hybrid", [False, True], ids=["dpt-large", "dpt-hybrid"])
def test_midas_original_layout(hybrid):
    config, hf_config = tiny_dpt(hybrid)
    ours = randomise(MidasDPT(config), seed=7, std=0.15).eval()
    original, renamed = midas_to_hf(ours.state_dict(), hf_config, convert_hybrid if hybrid else convert_large)
    hf = DPTForDepthEstimation(hf_config).eval()
    hf.load_state_dict(renamed, strict=True)
    reloaded = MidasDPT(config).eval()
    load_into(reloaded, midas.to_own_layout(original), "original layout")
    assert_same_output(reloaded, hf, torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(8)))
    # transformers' DPT runs square inputs only; its position resampling is compared on its own.
    with torch.inference_mode():
        expected = hf.dpt.embeddings._resize_pos_embed(hf.dpt.embeddings.position_embeddings, 4, 6)
        actual = reloaded.pretrained.model.position_embedding(4, 6)
    assert (actual - expected).abs().max().item() <= TOLERANCE


@pytest.mark.parametrize("hybrid", [False, True], ids=["dpt-large", "dpt-hybrid"])
def test_midas_hf_layout(hybrid):
    config, hf_config = tiny_dpt(hybrid)
    hf = randomise(DPTForDepthEstimation(hf_config), seed=10, std=0.15).eval()
    ours = MidasDPT(config).eval()
    load_into(ours, midas.to_own_layout(dict(hf.state_dict())), "HF layout")
    assert_same_output(ours, hf, torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(11)))


@pytest.mark.parametrize("name", ["depth-anything-v2-large", "midas-dpt-large", "midas-dpt-hybrid"])
def test_full_size_hf_names_map_back_to_every_original_name(name):
    """transformers' conversion of a full-size original state dict, brought back by the
    architecture's adapter, gives exactly the network's names and shapes (24 layers, BiT stages,
    every fusion level; timm's final norm, renamed, is then dropped as unused)."""
    from lib_depth3d.depth.estimate import build_network
    from lib_depth3d.depth.registry import MODELS, adapter_for

    spec = MODELS[name]
    with torch.device("meta"):
        network = build_network(spec)
    original = dict(network.state_dict())
    if isinstance(network, DepthAnythingV2):
        encoder = network.config.encoder
        config = HFDepthAnythingConfig(backbone_config=Dinov2Config(
            hidden_size=encoder.embed_dim, num_hidden_layers=encoder.depth, num_attention_heads=encoder.num_heads))
        converted = depth_anything_to_hf(original, config)
    else:
        converter = convert_large if network.config.hybrid is None else convert_hybrid
        config = DPTConfig(hidden_size=network.config.embed_dim, num_hidden_layers=network.config.depth)
        _, converted = midas_to_hf(original, config, converter)
        assert "dpt.layernorm.weight" in converted
    renamed = adapter_for(spec).to_own_layout(converted)
    assert set(renamed) == set(original)
    assert all(renamed[key].shape == original[key].shape for key in original)
