"""The DPT decoder: reassemble (projects + resize layers), fusion blocks and the depth head.

Shared by Depth Anything V2 (relative: ReLU output; metric: sigmoid × max depth) and MiDaS v3.0
(whose ViT backbone in ``midas.py`` does its own reassembly and uses the fusion blocks below).
Parameter names follow the official checkpoints (``projects``, ``resize_layers``,
``scratch.layerN_rn``, ``scratch.refinenetN.{resConfUnit1,resConfUnit2,out_conv}``,
``scratch.output_conv1``, ``scratch.output_conv2``).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class ResidualConvUnit(nn.Module):
    def __init__(self, features: int):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(features, features, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class FeatureFusionBlock(nn.Module):
    """Adds the refined skip features, refines, upsamples (bilinear, corners aligned), projects."""

    def __init__(self, features: int):
        super().__init__()
        self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)
        self.out_conv = nn.Conv2d(features, features, kernel_size=1)

    def forward(
        self, path: torch.Tensor, skip: torch.Tensor | None = None, size: Sequence[int] | None = None
    ) -> torch.Tensor:
        if skip is not None:
            path = path + self.resConfUnit1(skip)
        path = self.resConfUnit2(path)
        if size is None:
            path = F.interpolate(path, scale_factor=2, mode="bilinear", align_corners=True)
        else:
            path = F.interpolate(path, size=tuple(size), mode="bilinear", align_corners=True)
        return self.out_conv(path)


class Scratch(nn.Module):
    """The ``scratch`` module of DPT checkpoints: 3×3 projections to a common width and the four
    fusion blocks. The output convolutions are added by each model, under its own names."""

    def __init__(self, in_channels: Sequence[int], features: int):
        super().__init__()
        for index, channels in enumerate(in_channels, start=1):
            setattr(self, f"layer{index}_rn", nn.Conv2d(channels, features, kernel_size=3, padding=1, bias=False))
        for index in range(1, 5):
            setattr(self, f"refinenet{index}", FeatureFusionBlock(features))

    def fuse(self, layers: Sequence[torch.Tensor], follow_sizes: bool) -> torch.Tensor:
        """Fuse four feature maps (finest first) into one map at twice the finest resolution.

        ``follow_sizes``: upsample each fusion to the next level's exact size (Depth Anything V2,
        whose levels need not be exact halves) instead of by a factor of 2 (MiDaS v3.0).
        """
        projected = [getattr(self, f"layer{index}_rn")(layer) for index, layer in enumerate(layers, start=1)]
        sizes = [p.shape[2:] if follow_sizes else None for p in projected]
        path = self.refinenet4(projected[3], size=sizes[2])
        path = self.refinenet3(path, projected[2], size=sizes[1])
        path = self.refinenet2(path, projected[1], size=sizes[0])
        return self.refinenet1(path, projected[0])


class DPTHead(nn.Module):
    """Depth Anything V2's DPT head over the four tapped ViT layers (class token not used).

    ``max_depth`` is None for the relative models (ReLU output, affine-invariant disparity) and
    the training range in metres for the metric ones (sigmoid output scaled to ``[0, max_depth]``).
    """

    def __init__(
        self, in_channels: int, features: int, out_channels: Sequence[int], max_depth: float | None = None
    ):
        super().__init__()
        self.max_depth = max_depth
        self.projects = nn.ModuleList(nn.Conv2d(in_channels, channels, kernel_size=1) for channels in out_channels)
        self.resize_layers = nn.ModuleList(
            [
                nn.ConvTranspose2d(out_channels[0], out_channels[0], kernel_size=4, stride=4),
                nn.ConvTranspose2d(out_channels[1], out_channels[1], kernel_size=2, stride=2),
                nn.Identity(),
                nn.Conv2d(out_channels[3], out_channels[3], kernel_size=3, stride=2, padding=1),
            ]
        )
        self.scratch = Scratch(out_channels, features)
        self.scratch.output_conv1 = nn.Conv2d(features, features // 2, kernel_size=3, padding=1)
        self.scratch.output_conv2 = nn.Sequential(
            nn.Conv2d(features // 2, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 1, kernel_size=1),
            nn.ReLU() if max_depth is None else nn.Sigmoid(),
        )

    def forward(self, tokens: Sequence[torch.Tensor], rows: int, columns: int, patch_size: int) -> torch.Tensor:
        """``tokens``: four (B, rows·columns, C) patch-token maps → (B, 1, rows·patch, columns·patch)."""
        layers = []
        for index, patch_tokens in enumerate(tokens):
            grid = patch_tokens.transpose(1, 2).reshape(patch_tokens.shape[0], -1, rows, columns)
            layers.append(self.resize_layers[index](self.projects[index](grid)))
        path = self.scratch.fuse(layers, follow_sizes=True)
        out = self.scratch.output_conv1(path)
        out = F.interpolate(out, size=(rows * patch_size, columns * patch_size), mode="bilinear", align_corners=True)
        out = self.scratch.output_conv2(out)
        return out if self.max_depth is None else out * self.max_depth
