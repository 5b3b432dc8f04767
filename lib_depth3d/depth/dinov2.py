"""DINOv2 vision transformer (patch 14), the encoder of Depth Anything V2.

Parameter names follow the DINOv2 / Depth Anything V2 checkpoints (``cls_token``, ``pos_embed``,
``mask_token``, ``patch_embed.proj``, ``blocks.N.{norm1,attn.qkv,attn.proj,ls1.gamma,norm2,
mlp.fc1,mlp.fc2,ls2.gamma}``, ``norm``), so an official state dict loads with ``strict=True``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ViTConfig:
    """Shape of a DINOv2 encoder. ``pos_grid`` is the side of the stored position-embedding grid
    (37 for the released 518-pixel models); ``tap_layers`` are the blocks the DPT head reads."""

    embed_dim: int
    depth: int
    num_heads: int
    tap_layers: tuple[int, int, int, int]
    pos_grid: int = 37
    patch_size: int = 14
    mlp_ratio: float = 4.0


VITS = ViTConfig(embed_dim=384, depth=12, num_heads=6, tap_layers=(2, 5, 8, 11))
VITB = ViTConfig(embed_dim=768, depth=12, num_heads=12, tap_layers=(2, 5, 8, 11))
VITL = ViTConfig(embed_dim=1024, depth=24, num_heads=16, tap_layers=(4, 11, 17, 23))


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, embed_dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.proj(image).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        batch, count, dim = tokens.shape
        qkv = self.qkv(tokens).reshape(batch, count, 3, self.num_heads, dim // self.num_heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(query, key, value)
        return self.proj(attended.transpose(1, 2).reshape(batch, count, dim))


class LayerScale(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens * self.gamma


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(tokens)))


class Block(nn.Module):
    """Pre-norm transformer block with layer scale (DINOv2) or without (timm ViT, ``layer_scale=False``)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, layer_scale: bool = True):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.ls1 = LayerScale(dim) if layer_scale else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.ls2 = LayerScale(dim) if layer_scale else nn.Identity()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        tokens = tokens + self.ls1(self.attn(self.norm1(tokens)))
        return tokens + self.ls2(self.mlp(self.norm2(tokens)))


class DinoVisionTransformer(nn.Module):
    def __init__(self, config: ViTConfig):
        super().__init__()
        self.config = config
        dim = config.embed_dim
        self.patch_embed = PatchEmbed(config.patch_size, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + config.pos_grid**2, dim))
        # Unused at inference; kept because every released checkpoint carries it.
        self.mask_token = nn.Parameter(torch.zeros(1, dim))
        self.blocks = nn.ModuleList(
            Block(dim, config.num_heads, config.mlp_ratio) for _ in range(config.depth)
        )
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def position_embedding(self, rows: int, columns: int) -> torch.Tensor:
        """Position embeddings for a ``rows``×``columns`` patch grid.

        As in DINOv2: bicubic resampling of the stored grid with the scale factor
        ``(n + 0.1) / grid`` (not a target size), computed in float32.
        """
        grid = self.config.pos_grid
        if rows == grid and columns == grid:
            return self.pos_embed
        dim = self.pos_embed.shape[-1]
        class_embed = self.pos_embed[:, :1]
        patch_embed = self.pos_embed[:, 1:].float().reshape(1, grid, grid, dim).permute(0, 3, 1, 2)
        patch_embed = F.interpolate(
            patch_embed,
            scale_factor=((rows + 0.1) / grid, (columns + 0.1) / grid),
            mode="bicubic",
            antialias=False,
        )
        patch_embed = patch_embed.permute(0, 2, 3, 1).reshape(1, rows * columns, dim)
        return torch.cat((class_embed, patch_embed.to(self.pos_embed.dtype)), dim=1)

    def intermediate_layers(self, image: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Normalised (patch tokens, class token) after each block in ``config.tap_layers``.

        ``image``: (B, 3, H, W) with H and W multiples of the patch size.
        """
        rows, columns = image.shape[-2] // self.config.patch_size, image.shape[-1] // self.config.patch_size
        tokens = self.patch_embed(image)
        tokens = torch.cat((self.cls_token.expand(tokens.shape[0], -1, -1), tokens), dim=1)
        tokens = tokens + self.position_embedding(rows, columns)
        taps = []
        for index, block in enumerate(self.blocks):
            tokens = block(tokens)
            if index in self.config.tap_layers:
                normalised = self.norm(tokens)
                taps.append((normalised[:, 1:], normalised[:, 0]))
        return taps
