"""Depth Anything 3 (Small, Base) on one picture: a DINOv2 encoder with 2D rotary positions, QK-norm
and a camera token, a DPT head giving relative z-depth, and a camera decoder giving the fields of
view.

State dict layout as released (``model.safetensors``: ``model.backbone.pretrained.…``,
``model.head.…``, ``model.cam_dec.…``, ``model.cam_enc.…``). On one picture the official network
runs its "local" and "global" blocks over the same tokens, and its defaults (no known camera, the
camera decoder rather than the ray head) never run the camera encoder, the auxiliary ray head nor
the decoder's pose outputs: :func:`to_own_layout` drops those. :data:`ADAPTER` runs it for the registry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from lib_depth3d.depth.dinov2 import VITB, VITS, Block, PatchEmbed, ViTConfig
from lib_depth3d.depth.dpt import Scratch
from lib_depth3d.depth.registry import (
    Adapter, ModelSpec, NetworkCamera, NetworkOutput, Normalisation, Resampling, SizeRule,
)

ROPE_BASE_FREQUENCY = 100.0
HEAD_POSITION_FREQUENCY = 100.0
HEAD_POSITION_SCALE = 0.1


@dataclass(frozen=True)
class DepthAnything3Config:
    """``encoder.tap_layers``: the (global) blocks the head reads; blocks from ``alternate_from`` on
    use QK-norm and rotary positions, and the camera token replaces the class token before it.
    ``alternate_from`` None: a plain DINOv2 (Mono-Large, Metric-Large), no camera token, each tap
    its own normalised tokens alone."""

    encoder: ViTConfig
    features: int
    out_channels: tuple[int, int, int, int]
    alternate_from: int | None = 4


# The head reads the last four global blocks.
SMALL = DepthAnything3Config(replace(VITS, tap_layers=(5, 7, 9, 11)), 64, (48, 96, 192, 384))
BASE = DepthAnything3Config(replace(VITB, tap_layers=(5, 7, 9, 11)), 128, (96, 192, 384, 768))
VARIANTS = {"small": SMALL, "base": BASE}


def rotary_tables(positions: torch.Tensor, head_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, sin) of 2D rotary embedding angles, each (N, head_dim), for (N, 2) integer (row, column)
    positions: the first half of a head's features rotates with the row, the second with the column."""
    half = head_dim // 2
    inverse_frequency = 1.0 / ROPE_BASE_FREQUENCY ** (torch.arange(0, half, 2, device=positions.device).float() / half)
    angles = positions.float()[..., None] * inverse_frequency  # (N, 2, half / 2)
    angles = torch.cat((angles, angles), dim=-1).flatten(-2)  # (N, head_dim): rows' then columns' angles
    return angles.cos(), angles.sin()


def rotate(features: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding of (B, heads, N, head_dim) features, each half of the head rotated on its own."""
    quarter = features.shape[-1] // 4
    row_a, row_b, column_a, column_b = features.split(quarter, dim=-1)
    turned = torch.cat((-row_b, row_a, -column_b, column_a), dim=-1)
    return features * cos.to(features.dtype) + turned * sin.to(features.dtype)


class RotaryAttention(nn.Module):
    """Multi-head attention with optional per-head LayerNorm of queries and keys, and rotary positions."""

    def __init__(self, dim: int, num_heads: int, qk_norm: bool):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.q_norm = nn.LayerNorm(dim // num_heads) if qk_norm else nn.Identity()
        self.k_norm = nn.LayerNorm(dim // num_heads) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)

    def forward(self, tokens: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        batch, count, dim = tokens.shape
        qkv = self.qkv(tokens).reshape(batch, count, 3, self.num_heads, dim // self.num_heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4)
        query, key = self.q_norm(query), self.k_norm(key)
        if rotary is not None:
            query, key = rotate(query, *rotary), rotate(key, *rotary)
        attended = F.scaled_dot_product_attention(query, key, value)
        return self.proj(attended.transpose(1, 2).reshape(batch, count, dim))


class RotaryBlock(Block):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, qk_norm: bool):
        super().__init__(dim, num_heads, mlp_ratio)
        self.attn = RotaryAttention(dim, num_heads, qk_norm)

    def forward(self, tokens: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        tokens = tokens + self.ls1(self.attn(self.norm1(tokens), rotary))
        return tokens + self.ls2(self.mlp(self.norm2(tokens)))


class Encoder(nn.Module):
    """DA3's DINOv2: parameter names as in ``model.backbone.pretrained``."""

    def __init__(self, config: ViTConfig, alternate_from: int | None):
        super().__init__()
        self.config = config
        self.alternate_from = config.depth if alternate_from is None else alternate_from
        self.concatenates_local = alternate_from is not None
        dim = config.embed_dim
        self.patch_embed = PatchEmbed(config.patch_size, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        if alternate_from is not None:
            # Reference-view and other-view tokens; one picture is always the reference view.
            self.camera_token = nn.Parameter(torch.zeros(1, 2, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + config.pos_grid**2, dim))
        self.blocks = nn.ModuleList(
            RotaryBlock(dim, config.num_heads, config.mlp_ratio, qk_norm=index >= self.alternate_from)
            for index in range(config.depth)
        )
        self.norm = nn.LayerNorm(dim)

    def position_embedding(self, rows: int, columns: int) -> torch.Tensor:
        """DINOv2's rule: bicubic resampling by the scale factor (n + 0.1) / grid, in float32."""
        grid = self.config.pos_grid
        if rows == grid and columns == grid:
            return self.pos_embed
        dim = self.pos_embed.shape[-1]
        patch_embed = self.pos_embed[:, 1:].float().reshape(1, grid, grid, dim).permute(0, 3, 1, 2)
        patch_embed = F.interpolate(patch_embed, scale_factor=((rows + 0.1) / grid, (columns + 0.1) / grid),
                                    mode="bicubic", antialias=False)
        patch_embed = patch_embed.permute(0, 2, 3, 1).reshape(1, rows * columns, dim)
        return torch.cat((self.pos_embed[:, :1], patch_embed.to(self.pos_embed.dtype)), dim=1)

    def forward(self, image: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(patch features (B, rows·columns, 2C), camera features (B, 2C)) at each tap layer.

        Each tap's features are those of the block before it (un-normalised) beside its own
        (patch tokens normalised), as the official encoder concatenates its local and global views;
        without alternating blocks, its own alone ((B, rows·columns, C), class token (B, C)).
        """
        patch = self.config.patch_size
        rows, columns = image.shape[-2] // patch, image.shape[-1] // patch
        tokens = self.patch_embed(image)
        tokens = torch.cat((self.cls_token.expand(tokens.shape[0], -1, -1), tokens), dim=1)
        tokens = tokens + self.position_embedding(rows, columns)
        grid = torch.cartesian_prod(torch.arange(rows, device=image.device), torch.arange(columns, device=image.device))
        special = torch.zeros(1, 2, dtype=grid.dtype, device=image.device)
        head_dim = self.config.embed_dim // self.config.num_heads
        # Local blocks see each patch at its (row + 1, column + 1); global ones (odd blocks) see
        # every patch of a view at (1, 1). The camera token is at (0, 0) in both.
        local_rotary = rotary_tables(torch.cat((special, grid + 1)), head_dim)
        global_rotary = rotary_tables(torch.cat((special, torch.ones_like(grid))), head_dim)
        taps, previous = [], tokens
        for index, block in enumerate(self.blocks):
            if index == self.alternate_from:
                tokens = torch.cat((self.camera_token[:, :1].expand(tokens.shape[0], -1, -1), tokens[:, 1:]), dim=1)
            global_block = index >= self.alternate_from and index % 2 == 1
            rotary = None if index < self.alternate_from else global_rotary if global_block else local_rotary
            tokens = block(tokens, rotary)
            if not global_block:
                previous = tokens
            if index in self.config.tap_layers:
                if self.concatenates_local:
                    patches = torch.cat((previous[:, 1:], self.norm(tokens[:, 1:])), dim=-1)
                    taps.append((patches, torch.cat((previous[:, 0], tokens[:, 0]), dim=-1)))
                else:
                    taps.append((self.norm(tokens[:, 1:]), tokens[:, 0]))
        return taps


def position_features(channels: int, rows: int, columns: int, aspect: float, like: torch.Tensor) -> torch.Tensor:
    """The head's sinusoidal embedding (1, channels, rows, columns) of each cell's image-plane (u, v),
    u and v spanning the image's diagonal-normalised extent (width / diagonal, height / diagonal)."""
    diagonal = math.hypot(aspect, 1.0)
    span_u, span_v = aspect / diagonal, 1.0 / diagonal
    edge_u, edge_v = span_u * (columns - 1) / columns, span_v * (rows - 1) / rows
    u = torch.linspace(-edge_u, edge_u, columns, dtype=like.dtype, device=like.device)
    v = torch.linspace(-edge_v, edge_v, rows, dtype=like.dtype, device=like.device)
    quarter = channels // 4
    exponents = torch.arange(quarter, dtype=torch.float32, device=like.device) / quarter
    frequency = 1.0 / HEAD_POSITION_FREQUENCY**exponents
    angle_u = (u[:, None] * frequency)[None].expand(rows, -1, -1)
    angle_v = (v[:, None] * frequency)[:, None].expand(-1, columns, -1)
    features = torch.cat((angle_u.sin(), angle_u.cos(), angle_v.sin(), angle_v.cos()), dim=-1)
    return (HEAD_POSITION_SCALE * features).permute(2, 0, 1)[None].to(like.dtype)


class Head(nn.Module):
    """The main branch of DA3's dual DPT head (``model.head``): log-depth and confidence.

    ``sky``: the plain DPT head of Mono-Large and Metric-Large instead: no LayerNorm of the tokens
    nor position features, log-depth alone, and a second output branch
    (``scratch.sky_output_conv2``) giving how much each pixel is sky (ReLU, ≥ 0.3 is sky).
    """

    def __init__(self, in_channels: int, features: int, out_channels: tuple[int, int, int, int], sky: bool = False):
        super().__init__()
        self.sky = sky
        self.norm = nn.Identity() if sky else nn.LayerNorm(in_channels)
        self.projects = nn.ModuleList(nn.Conv2d(in_channels, channels, kernel_size=1) for channels in out_channels)
        self.resize_layers = nn.ModuleList([
            nn.ConvTranspose2d(out_channels[0], out_channels[0], kernel_size=4, stride=4),
            nn.ConvTranspose2d(out_channels[1], out_channels[1], kernel_size=2, stride=2),
            nn.Identity(),
            nn.Conv2d(out_channels[3], out_channels[3], kernel_size=3, stride=2, padding=1),
        ])
        self.scratch = Scratch(out_channels, features)
        del self.scratch.refinenet4.resConfUnit1  # the coarsest level has no skip input
        self.scratch.output_conv1 = nn.Conv2d(features, features // 2, kernel_size=3, padding=1)
        self.scratch.output_conv2 = self._output_branch(features, 1 if sky else 2)
        if sky:
            self.scratch.sky_output_conv2 = self._output_branch(features, 1)

    @staticmethod
    def _output_branch(features: int, channels: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(features // 2, 32, kernel_size=3, padding=1), nn.ReLU(), nn.Conv2d(32, channels, kernel_size=1),
        )

    def forward(self, taps: list[torch.Tensor], rows: int, columns: int, patch_size: int):
        """Four (B, rows·columns, C) feature maps → (B, rows·patch, columns·patch) relative z-depth
        (with ``sky``: and the sky map of the same shape)."""
        aspect = columns / rows
        layers = []
        for index, patch_tokens in enumerate(taps):
            grid = self.norm(patch_tokens).transpose(1, 2).reshape(patch_tokens.shape[0], -1, rows, columns)
            grid = self.projects[index](grid)
            if not self.sky:
                grid = grid + position_features(grid.shape[1], rows, columns, aspect, grid)
            layers.append(self.resize_layers[index](grid))
        path = self.scratch.output_conv1(self.scratch.fuse(layers, follow_sizes=True))
        path = F.interpolate(path, size=(rows * patch_size, columns * patch_size), mode="bilinear", align_corners=True)
        if not self.sky:
            path = path + position_features(path.shape[1], path.shape[2], path.shape[3], aspect, path)
        # In float32: half precision's exponential overflows beyond a log-depth of 11.
        depth = torch.exp(self.scratch.output_conv2(path)[:, 0].float())
        if not self.sky:
            return depth
        return depth, F.relu(self.scratch.sky_output_conv2(path)[:, 0].float())


class CameraDecoder(nn.Module):
    """``model.cam_dec``: the fields of view (vertical, horizontal; radians) from the camera token."""

    def __init__(self, dim: int):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim), nn.ReLU())
        self.fc_fov = nn.Sequential(nn.Linear(dim, 2), nn.ReLU())

    def forward(self, camera_features: torch.Tensor) -> torch.Tensor:
        return self.fc_fov(self.backbone(camera_features))


class DepthAnything3(nn.Module):
    def __init__(self, config: DepthAnything3Config):
        super().__init__()
        self.config = config
        features = 2 * config.encoder.embed_dim
        self.backbone = nn.Module()
        self.backbone.pretrained = Encoder(config.encoder, config.alternate_from)
        self.head = Head(features, config.features, config.out_channels)
        self.cam_dec = CameraDecoder(features)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) normalised RGB, H and W multiples of 14 → (relative z-depth (B, H, W),
        fields of view (B, 2): vertical then horizontal, radians, of the full input)."""
        patch = self.config.encoder.patch_size
        taps = self.backbone.pretrained(image)
        depth = self.head([features for features, _ in taps], image.shape[-2] // patch, image.shape[-1] // patch, patch)
        return depth, self.cam_dec(taps[-1][1])


def build(spec: ModelSpec) -> DepthAnything3:
    return DepthAnything3(VARIANTS[spec.variant]).eval()


_UNUSED_PREFIXES = ("cam_enc.", "head.scratch.refinenet1_aux.", "head.scratch.refinenet2_aux.",
                    "head.scratch.refinenet3_aux.", "head.scratch.refinenet4_aux.", "head.scratch.output_conv1_aux.",
                    "head.scratch.output_conv2_aux.", "cam_dec.fc_t.", "cam_dec.fc_qvec.")


def to_own_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The released ``model.``-prefixed keys (or the bare network's, as ``DepthAnything3Net`` saves
    them) without the parts one picture never runs."""
    unprefixed = {key.removeprefix("model."): value for key, value in state.items()}
    return {key: value for key, value in unprefixed.items() if not key.startswith(_UNUSED_PREFIXES)}


def read_output(output: tuple[torch.Tensor, torch.Tensor], input_size_px: tuple[int, int],
                known_camera: NetworkCamera | None = None) -> NetworkOutput:
    """Depth and the pinhole camera of the network's input: focal lengths from the fields of view
    (clamped as the official decoder does), the principal point at the image centre. A known
    camera changes nothing: the official network takes one only through its camera encoder,
    which one picture without a pose never runs."""
    depth, fields_of_view = output
    width, height = input_size_px
    tangents = torch.tan(fields_of_view[0].float() / 2).clamp(min=1e-6).tolist()
    focal = (width / 2 / tangents[1], height / 2 / tangents[0])
    return NetworkOutput(depth, NetworkCamera((width, height), focal, (width / 2, height / 2)))


ADAPTER = Adapter(
    # As the official API runs it: the longer side at the network size, sides rounded to multiples of 14.
    size_rule=SizeRule(multiple_of=14, keep_shorter_side_at_least=False, fit_longer_side=True),
    normalisation=Normalisation(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),  # ImageNet
    resampling=Resampling("bilinear", align_corners=True),
    build=build,
    to_own_layout=to_own_layout,
    read_output=read_output,
)
