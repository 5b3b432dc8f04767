"""The ResNet-50 (BiT, ResNetV2 without pre-activation) stem of MiDaS DPT-Hybrid's ViT-B/16.

TensorFlow "SAME" padding and weight-standardised convolutions (eps 1e-8), group norm, as in
timm's ``vit_base_resnet50_384`` hybrid that MiDaS v3.0 was trained with. Parameter names follow
that checkpoint: ``stem.conv``, ``stem.norm``, ``stages.S.blocks.B.{downsample.conv,
downsample.norm,conv1,norm1,conv2,norm2,conv3,norm3}``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ResNetConfig:
    stem_channels: int = 64
    stage_channels: tuple[int, ...] = (256, 512, 1024)
    stage_depths: tuple[int, ...] = (3, 4, 9)
    num_groups: int = 32


def pad_same(x: torch.Tensor, kernel: int, stride: int, value: float = 0.0) -> torch.Tensor:
    """TensorFlow "SAME" padding: output size ceil(input / stride), extra pixel at the bottom/right."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value) if any(pads) else x


class StdConv2dSame(nn.Conv2d):
    """Convolution with weight standardisation (zero mean, unit variance per output channel)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = F.batch_norm(
            self.weight.reshape(1, self.out_channels, -1), None, None, training=True, momentum=0.0, eps=1e-8
        ).reshape_as(self.weight)
        x = pad_same(x, self.kernel_size[0], self.stride[0])
        return F.conv2d(x, weight, None, self.stride)


class GroupNormAct(nn.GroupNorm):
    def __init__(self, num_groups: int, channels: int, activation: bool = True):
        super().__init__(num_groups, channels, eps=1e-5)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = super().forward(x)
        return F.relu(x) if self.activation else x


class Downsample(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int, num_groups: int):
        super().__init__()
        self.conv = StdConv2dSame(in_channels, out_channels, 1, stride)
        self.norm = GroupNormAct(num_groups, out_channels, activation=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))


class Bottleneck(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int, num_groups: int, first: bool):
        super().__init__()
        middle = out_channels // 4
        self.downsample = Downsample(in_channels, out_channels, stride, num_groups) if first else None
        self.conv1 = StdConv2dSame(in_channels, middle, 1)
        self.norm1 = GroupNormAct(num_groups, middle)
        self.conv2 = StdConv2dSame(middle, middle, 3, stride)
        self.norm2 = GroupNormAct(num_groups, middle)
        self.conv3 = StdConv2dSame(middle, out_channels, 1)
        self.norm3 = GroupNormAct(num_groups, out_channels, activation=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        x = self.norm1(self.conv1(x))
        x = self.norm2(self.conv2(x))
        x = self.norm3(self.conv3(x))
        return F.relu(x + shortcut)


class Stage(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, depth: int, stride: int, num_groups: int):
        super().__init__()
        self.blocks = nn.Sequential(
            *(
                Bottleneck(in_channels if index == 0 else out_channels, out_channels,
                           stride if index == 0 else 1, num_groups, first=index == 0)
                for index in range(depth)
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


class Stem(nn.Module):
    def __init__(self, channels: int, num_groups: int):
        super().__init__()
        self.conv = StdConv2dSame(3, channels, 7, stride=2)
        self.norm = GroupNormAct(num_groups, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.conv(x))
        return F.max_pool2d(pad_same(x, 3, 2, value=float("-inf")), 3, 2)


class ResNetV2(nn.Module):
    """Stem (stride 4) and stages (strides 1, 2, 2): outputs at 1/4, 1/8 and 1/16 of the input."""

    def __init__(self, config: ResNetConfig):
        super().__init__()
        self.stem = Stem(config.stem_channels, config.num_groups)
        channels = (config.stem_channels, *config.stage_channels)
        self.stages = nn.ModuleList(
            Stage(channels[index], channels[index + 1], depth, 1 if index == 0 else 2, config.num_groups)
            for index, depth in enumerate(config.stage_depths)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        outputs = []
        for stage in self.stages:
            x = stage(x)
            outputs.append(x)
        return outputs
