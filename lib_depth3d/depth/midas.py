"""MiDaS v3.0 DPT-Large (ViT-L/16) and DPT-Hybrid (ResNet-50 + ViT-B/16), 384-pixel models.

State dict layout as released (``pretrained.model.…`` for the timm ViT, ``pretrained.act_postprocessN``
for the reassembly, ``scratch.…`` for the decoder); transformers' layout (``dpt.…``) is renamed to
it. The ViT's ImageNet classifier (``head``) and final norm are in the checkpoints but never used
for depth: they are skipped when loading. :data:`ADAPTER` runs it for the registry.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lib_depth3d.depth.dinov2 import Block
from lib_depth3d.depth.dpt import Scratch
from lib_depth3d.depth.layouts import DPT_RULES, original_layout
from lib_depth3d.depth.registry import Adapter, ModelSpec, Normalisation, Resampling, SizeRule
from lib_depth3d.depth.vit_hybrid import ResNetConfig, ResNetV2


@dataclass(frozen=True)
class MidasConfig:
    """``hooks``: the ViT blocks read by the decoder (for the hybrid, the first two levels come
    from the ResNet stages instead). ``pos_grid``: side of the stored position grid (384 / 16)."""

    embed_dim: int
    depth: int
    num_heads: int
    hooks: tuple[int, int, int, int]
    out_channels: tuple[int, int, int, int]
    features: int = 256
    pos_grid: int = 24
    patch_size: int = 16
    hybrid: ResNetConfig | None = None


DPT_LARGE = MidasConfig(1024, 24, 16, (5, 11, 17, 23), (256, 512, 1024, 1024))
DPT_HYBRID = MidasConfig(768, 12, 12, (0, 1, 8, 11), (256, 512, 768, 768), hybrid=ResNetConfig())
VARIANTS = {"large": DPT_LARGE, "hybrid": DPT_HYBRID}
UNUSED_PREFIXES = ("pretrained.model.head.", "pretrained.model.norm.")


class PatchEmbed(nn.Module):
    """Patch embedding: a strided convolution (ViT-L/16) or a 1×1 convolution over ResNet features."""

    def __init__(self, config: MidasConfig):
        super().__init__()
        if config.hybrid is None:
            self.proj = nn.Conv2d(3, config.embed_dim, config.patch_size, stride=config.patch_size)
        else:
            self.backbone = ResNetV2(config.hybrid)
            self.proj = nn.Conv2d(config.hybrid.stage_channels[-1], config.embed_dim, kernel_size=1)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(tokens (B, N, C), ResNet stage outputs — empty for the plain ViT)."""
        if not hasattr(self, "backbone"):
            return self.proj(image).flatten(2).transpose(1, 2), []
        stages = self.backbone(image)
        return self.proj(stages[-1]).flatten(2).transpose(1, 2), stages


class VisionTransformer(nn.Module):
    def __init__(self, config: MidasConfig):
        super().__init__()
        self.config = config
        self.patch_embed = PatchEmbed(config)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + config.pos_grid**2, config.embed_dim))
        self.blocks = nn.ModuleList(
            Block(config.embed_dim, config.num_heads, 4.0, layer_scale=False) for _ in range(config.depth)
        )

    def position_embedding(self, rows: int, columns: int) -> torch.Tensor:
        """The stored grid resampled bilinearly (corners not aligned) to ``rows``×``columns``, as MiDaS does."""
        grid, dim = self.config.pos_grid, self.pos_embed.shape[-1]
        patch_embed = self.pos_embed[:, 1:].reshape(1, grid, grid, dim).permute(0, 3, 1, 2)
        patch_embed = F.interpolate(patch_embed, size=(rows, columns), mode="bilinear", align_corners=False)
        patch_embed = patch_embed.permute(0, 2, 3, 1).reshape(1, rows * columns, dim)
        return torch.cat((self.pos_embed[:, :1], patch_embed), dim=1)

    def forward(self, image: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(token maps after each hooked block, ResNet stage outputs)."""
        rows, columns = image.shape[-2] // self.config.patch_size, image.shape[-1] // self.config.patch_size
        tokens, stages = self.patch_embed(image)
        tokens = torch.cat((self.cls_token.expand(tokens.shape[0], -1, -1), tokens), dim=1)
        tokens = tokens + self.position_embedding(rows, columns)
        hooked = []
        for index, block in enumerate(self.blocks):
            tokens = block(tokens)
            if index in self.config.hooks:
                hooked.append(tokens)
        return hooked, stages


class ProjectReadout(nn.Module):
    """Concatenates the class token to every patch token and projects back (readout "project")."""

    def __init__(self, dim: int):
        super().__init__()
        self.project = nn.Sequential(nn.Linear(2 * dim, dim), nn.GELU())

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        patches = tokens[:, 1:]
        return self.project(torch.cat((patches, tokens[:, :1].expand_as(patches)), dim=-1))


class Reassemble(nn.Module):
    """One level of ``act_postprocessN``: readout, token grid → image, 1×1 projection, resize.

    Children are named "0", "3" and "4" like the checkpoint's ``nn.Sequential`` (whose 1 and 2
    were parameter-free transpose/unflatten steps).
    """

    def __init__(self, dim: int, channels: int, resize: nn.Module | None):
        super().__init__()
        self.add_module("0", ProjectReadout(dim))
        self.add_module("3", nn.Conv2d(dim, channels, kernel_size=1))
        if resize is not None:
            self.add_module("4", resize)

    def forward(self, tokens: torch.Tensor, rows: int, columns: int) -> torch.Tensor:
        patches = getattr(self, "0")(tokens)
        grid = patches.transpose(1, 2).reshape(patches.shape[0], -1, rows, columns)
        grid = getattr(self, "3")(grid)
        return getattr(self, "4")(grid) if hasattr(self, "4") else grid


class Backbone(nn.Module):
    """``pretrained``: the ViT (``model``) and the reassembly of its hooked tokens."""

    def __init__(self, config: MidasConfig):
        super().__init__()
        self.model = VisionTransformer(config)
        dim, out = config.embed_dim, config.out_channels
        if config.hybrid is None:
            self.act_postprocess1 = Reassemble(dim, out[0], nn.ConvTranspose2d(out[0], out[0], 4, stride=4))
            self.act_postprocess2 = Reassemble(dim, out[1], nn.ConvTranspose2d(out[1], out[1], 2, stride=2))
        self.act_postprocess3 = Reassemble(dim, out[2], None)
        self.act_postprocess4 = Reassemble(dim, out[3], nn.Conv2d(out[3], out[3], 3, stride=2, padding=1))

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """Four feature maps at 1/4, 1/8, 1/16 and 1/32 of the input."""
        patch = self.model.config.patch_size
        rows, columns = image.shape[-2] // patch, image.shape[-1] // patch
        hooked, stages = self.model(image)
        if stages:
            first, second = stages[0], stages[1]
        else:
            first = self.act_postprocess1(hooked[0], rows, columns)
            second = self.act_postprocess2(hooked[1], rows, columns)
        return [
            first,
            second,
            self.act_postprocess3(hooked[2], rows, columns),
            self.act_postprocess4(hooked[3], rows, columns),
        ]


class MidasDPT(nn.Module):
    def __init__(self, config: MidasConfig):
        super().__init__()
        self.config = config
        self.pretrained = Backbone(config)
        features = config.features
        self.scratch = Scratch(config.out_channels, features)
        self.scratch.output_conv = nn.Sequential(
            nn.Conv2d(features, features // 2, kernel_size=3, padding=1),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
            nn.Conv2d(features // 2, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 1, kernel_size=1),
            nn.ReLU(),
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised RGB, H and W multiples of 32 → (B, H, W) relative disparity (≥ 0)."""
        path = self.scratch.fuse(self.pretrained(image), follow_sizes=False)
        return self.scratch.output_conv(path).squeeze(1)


def build(spec: ModelSpec) -> MidasDPT:
    return MidasDPT(VARIANTS[spec.variant]).eval()


def to_own_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return original_layout(state, DPT_RULES, UNUSED_PREFIXES)


ADAPTER = Adapter(
    # transformers' DPT image processor: the "minimal" resize, sides multiples of 32.
    size_rule=SizeRule(multiple_of=32, keep_shorter_side_at_least=False),
    normalisation=Normalisation(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
    resampling=Resampling("bicubic", align_corners=False),
    build=build,
    to_own_layout=to_own_layout,
)
