"""Depth Anything 3 Mono-Large and Metric-Large: a plain DINOv2 ViT-L (no camera token, no
alternating blocks) and a DPT head with a sky output; no camera.

State dict layout as released (``model.safetensors``: ``model.backbone.pretrained.…``,
``model.head.…`` with ``head.scratch.sky_output_conv2``). The head gives relative z-depth
(Mono-Large) or Metric-Large's raw output, metres for a camera of focal length 300 px (the
registry's ``canonical_focal_px``; :mod:`~lib_depth3d.depth.estimate` scales it by the picture's
focal length). :func:`read_output` does what the official network does with the sky map on one
picture: where at least 11 pixels are sky and 11 are not, the sky's depth becomes the 99th
percentile of the rest (exactly, where the official code estimates that percentile from a random
sample of 100 000 pixels on larger inputs), and the output says which pixels have no surface.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from torch import nn

from lib_depth3d.depth.depth_anything_3 import ADAPTER as DA3_ADAPTER
from lib_depth3d.depth.depth_anything_3 import DepthAnything3Config, Encoder, Head
from lib_depth3d.depth.dinov2 import VITL
from lib_depth3d.depth.registry import Adapter, ModelSpec, NetworkCamera, NetworkOutput

SKY_THRESHOLD = 0.3
"""A pixel is sky where the sky output reaches this (the official ``compute_sky_mask``)."""
MIN_PIXELS_EACH_SIDE = 11
"""The official network changes nothing unless more than 10 pixels are sky and more than 10 are not."""
SKY_DEPTH_QUANTILE = 0.99

LARGE = DepthAnything3Config(replace(VITL, tap_layers=(4, 11, 17, 23)), 256, (256, 512, 1024, 1024),
                             alternate_from=None)
VARIANTS = {"mono-large": LARGE, "metric-large": LARGE}


class DepthAnything3Mono(nn.Module):
    def __init__(self, config: DepthAnything3Config):
        super().__init__()
        self.config = config
        self.backbone = nn.Module()
        self.backbone.pretrained = Encoder(config.encoder, None)
        self.head = Head(config.encoder.embed_dim, config.features, config.out_channels, sky=True)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) normalised RGB, H and W multiples of 14 → (raw depth (B, H, W), sky (B, H, W))."""
        patch = self.config.encoder.patch_size
        taps = self.backbone.pretrained(image)
        return self.head([features for features, _ in taps], image.shape[-2] // patch, image.shape[-1] // patch, patch)


def build(spec: ModelSpec) -> DepthAnything3Mono:
    return DepthAnything3Mono(VARIANTS[spec.variant]).eval()


def to_own_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The released ``model.``-prefixed keys (or the bare network's)."""
    return {key.removeprefix("model."): value for key, value in state.items()}


def read_output(output: tuple[torch.Tensor, torch.Tensor], input_size_px: tuple[int, int],
                known_camera: NetworkCamera | None = None) -> NetworkOutput:
    """The depth with the sky at the far end of the rest, and which pixels have a surface (None
    when the official network would leave the depth alone: too little sky, or too little else)."""
    depth, sky = output
    not_sky = sky < SKY_THRESHOLD
    sky_count = int(not_sky.numel() - not_sky.sum())
    if sky_count < MIN_PIXELS_EACH_SIDE or not_sky.numel() - sky_count < MIN_PIXELS_EACH_SIDE:
        return NetworkOutput(depth)
    far_end = float(np.quantile(depth[not_sky].float().cpu().numpy(), SKY_DEPTH_QUANTILE))
    return NetworkOutput(torch.where(not_sky, depth, torch.tensor(far_end, dtype=depth.dtype, device=depth.device)),
                         surface=not_sky)


ADAPTER = Adapter(
    size_rule=DA3_ADAPTER.size_rule,
    normalisation=DA3_ADAPTER.normalisation,
    resampling=DA3_ADAPTER.resampling,
    build=build,
    to_own_layout=to_own_layout,
    read_output=read_output,
)
