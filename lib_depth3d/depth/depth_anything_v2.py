"""Depth Anything V2 (relative and metric): a DINOv2 encoder and a DPT head.

State dict layout as released (``pretrained.…``, ``depth_head.…``); the transformers layout of
the ``-hf`` copies is renamed to it. :data:`ADAPTER` runs it for the registry.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from lib_depth3d.depth.dinov2 import VITB, VITL, VITS, DinoVisionTransformer, ViTConfig
from lib_depth3d.depth.dpt import DPTHead
from lib_depth3d.depth.layouts import DEPTH_ANYTHING_RULES, original_layout
from lib_depth3d.depth.registry import Adapter, ModelSpec, Normalisation, Resampling, SizeRule


@dataclass(frozen=True)
class DepthAnythingConfig:
    encoder: ViTConfig
    features: int
    out_channels: tuple[int, int, int, int]
    max_depth: float | None = None


SMALL = DepthAnythingConfig(VITS, 64, (48, 96, 192, 384))
BASE = DepthAnythingConfig(VITB, 128, (96, 192, 384, 768))
LARGE = DepthAnythingConfig(VITL, 256, (256, 512, 1024, 1024))
VARIANTS = {"small": SMALL, "base": BASE, "large": LARGE}


class DepthAnythingV2(nn.Module):
    def __init__(self, config: DepthAnythingConfig):
        super().__init__()
        self.config = config
        self.pretrained = DinoVisionTransformer(config.encoder)
        self.depth_head = DPTHead(config.encoder.embed_dim, config.features, config.out_channels, config.max_depth)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised RGB, H and W multiples of 14 → (B, H, W).

        Relative models give disparity (≥ 0, larger = nearer); metric ones z-depth in metres.
        """
        patch = self.config.encoder.patch_size
        rows, columns = image.shape[-2] // patch, image.shape[-1] // patch
        taps = self.pretrained.intermediate_layers(image)
        return self.depth_head([tokens for tokens, _ in taps], rows, columns, patch).squeeze(1)


def build(spec: ModelSpec) -> DepthAnythingV2:
    """The network of ``spec`` (its variant's encoder; a metric head when it has a ``max_depth``)."""
    return DepthAnythingV2(replace(VARIANTS[spec.variant], max_depth=spec.max_depth)).eval()


def to_own_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return original_layout(state, DEPTH_ANYTHING_RULES)


ADAPTER = Adapter(
    # As the authors run it: shorter side at least the network size, sides multiples of the patch.
    size_rule=SizeRule(multiple_of=14, keep_shorter_side_at_least=True),
    normalisation=Normalisation(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),  # ImageNet
    resampling=Resampling("bilinear", align_corners=True),
    build=build,
    to_own_layout=to_own_layout,
)
