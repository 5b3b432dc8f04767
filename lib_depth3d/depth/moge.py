"""MoGe-2 (Microsoft, MIT): a DINOv2 encoder, a convolutional neck and heads giving an affine
point map, a validity mask and a metric scale; the camera's focal length and the point map's
z shift recovered from the point map as the official ``MoGeModel.infer`` does.

A released ``model.pt`` is ``{'model_config': {...}, 'model': state_dict}``; only the ViT-L
configuration is published in the authors' repository, so the network is always built from the
checkpoint's own ``model_config`` (:func:`build_from_config`). Parameter names are the official
ones (``encoder.backbone.…``, ``encoder.output_projections.N``, ``neck.…``, ``points_head.…``,
``mask_head.…``, ``scale_head.N``); the normal head of the ``-normal`` releases is never run
and is dropped by :func:`to_own_layout`.

The network's input is RGB in [0, 1] at any size: like the official forward pass it resizes the
picture itself to its token grid (bilinear, antialiased) and normalises it. Its output, at the
input's size, packs the point map (x, y, z), the mask probability and the metric scale as the
five channels of one tensor, so that a CUDA graph can replay the pass;
:func:`depth_and_camera` then does what ``infer`` does on the CPU: the focal length and shift of
the point map (``scipy.optimize.least_squares``, Levenberg–Marquardt, ``ftol=1e-3`` exactly as
the official code stops, so the result is the one MoGe users get), z-depth in metres, and the
camera. A horizontal field of view the user knows replaces the focal length estimate.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lib_depth3d.depth.dinov2 import VITB, VITL, VITS, DinoVisionTransformer
from lib_depth3d.depth.registry import Adapter, ModelSpec, NetworkCamera, NetworkOutput, Normalisation, Resampling, SizeRule
from lib_depth3d.errors import WeightsError

BACKBONES = {"dinov2_vits14": VITS, "dinov2_vitb14": VITB, "dinov2_vitl14": VITL}
"""The DINOv2 encoders MoGe-2 configurations name (``encoder.backbone``)."""

OUTPUT_CHANNELS = ("x", "y", "z", "mask", "metric_scale")
"""The channels of the network's output, last axis: the affine point map, the probability that
a pixel has finite depth (sky and background have none) and the per-picture metric scale."""

SOLVE_SIZE = (64, 64)
"""(rows, columns) the point map is sampled to (nearest) before the focal/shift solve, as MoGe does."""

SOLVE_FTOL = 1e-3
"""The official solve's stopping tolerance on the relative change of the cost (not converged)."""

_ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": partial(nn.LeakyReLU, negative_slope=0.2), "silu": nn.SiLU, "elu": nn.ELU}


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "group_norm":
        return nn.GroupNorm(channels // 32, channels)
    if kind == "layer_norm":
        return nn.GroupNorm(1, channels)
    if kind == "instance_norm":
        return nn.InstanceNorm2d(channels)
    return nn.Identity()


def _conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, padding_mode="replicate")


class ResidualConvBlock(nn.Module):
    def __init__(self, channels: int, hidden: int, activation: str, in_norm: str, hidden_norm: str):
        super().__init__()
        self.layers = nn.Sequential(
            _norm(in_norm, channels), _ACTIVATIONS[activation](), _conv3x3(channels, hidden),
            _norm(hidden_norm, hidden), _ACTIVATIONS[activation](), _conv3x3(hidden, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


def _upsampler(kind: str, in_channels: int, out_channels: int) -> nn.Sequential:
    """Doubles the resolution: a 2×2 transposed convolution or a bilinear resize, then a 3×3 convolution."""
    if kind == "conv_transpose":
        first = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        return nn.Sequential(first, _conv3x3(out_channels, out_channels))
    if kind in ("bilinear", "nearest"):
        resize = nn.Upsample(scale_factor=2, mode=kind, align_corners=False if kind == "bilinear" else None)
        return nn.Sequential(resize, _conv3x3(in_channels, out_channels))
    raise WeightsError(f"The MoGe checkpoint asks for a {kind!r} resampler, which this version does not run; "
                       "use a released MoGe-2 checkpoint.")


class ConvStack(nn.Module):
    """MoGe's neck and heads: one level per resolution (each twice the previous), each adding
    its input (projected by a 1×1 convolution) to the upsampled path, refining it with residual
    blocks and giving an output (a 1×1 convolution where the level has an output width)."""

    def __init__(
        self,
        dim_in: Sequence[int | None] | int | None,
        dim_res_blocks: Sequence[int],
        dim_out: Sequence[int | None] | int | None,
        resamplers: Sequence[str] | str,
        dim_times_res_block_hidden: int = 1,
        num_res_blocks: Sequence[int] | int = 1,
        res_block_in_norm: str = "layer_norm",
        res_block_hidden_norm: str = "group_norm",
        activation: str = "relu",
    ):
        super().__init__()
        levels = len(dim_res_blocks)

        def per_level(value):
            return list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value] * levels

        def conv1x1_or_identity(in_channels: int | None, out_channels: int | None) -> nn.Module:
            if in_channels is None or out_channels is None:
                return nn.Identity()
            return nn.Conv2d(in_channels, out_channels, kernel_size=1)

        self.input_blocks = nn.ModuleList(
            conv1x1_or_identity(channels_in, channels) for channels_in, channels in zip(per_level(dim_in), dim_res_blocks)
        )
        self.resamplers = nn.ModuleList(
            _upsampler(kind, before, after)
            for before, after, kind in zip(dim_res_blocks[:-1], dim_res_blocks[1:], per_level(resamplers))
        )
        self.res_blocks = nn.ModuleList(
            nn.Sequential(*(
                ResidualConvBlock(channels, dim_times_res_block_hidden * channels, activation, res_block_in_norm,
                                  res_block_hidden_norm)
                for _ in range(count)
            ))
            for channels, count in zip(dim_res_blocks, per_level(num_res_blocks))
        )
        self.output_blocks = nn.ModuleList(
            conv1x1_or_identity(channels, channels_out) for channels, channels_out in zip(dim_res_blocks, per_level(dim_out))
        )

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        outputs = []
        path = None
        for level, feature in enumerate(features):
            projected = self.input_blocks[level](feature)
            path = projected if path is None else path + projected
            path = self.res_blocks[level](path)
            outputs.append(self.output_blocks[level](path))
            if level < len(self.resamplers):
                path = self.resamplers[level](path)
        return outputs


class MLP(nn.Sequential):
    def __init__(self, dims: Sequence[int]):
        layers = itertools.chain.from_iterable(
            (nn.Linear(before, after), nn.ReLU()) for before, after in zip(dims[:-2], dims[1:-1])
        )
        super().__init__(*layers, nn.Linear(dims[-2], dims[-1]))


class Encoder(nn.Module):
    """DINOv2 on the picture resized to the token grid; the tapped layers, each projected by a
    1×1 convolution, summed."""

    def __init__(self, backbone: str, intermediate_layers: Sequence[int] | int, dim_out: int):
        super().__init__()
        if backbone not in BACKBONES:
            raise WeightsError(f"The MoGe checkpoint names the encoder {backbone!r}; this version runs "
                               f"{', '.join(BACKBONES)}. Use a released MoGe-2 checkpoint.")
        vit = BACKBONES[backbone]
        taps = tuple(range(vit.depth - intermediate_layers, vit.depth)) if isinstance(intermediate_layers, int) \
            else tuple(intermediate_layers)
        self.backbone = DinoVisionTransformer(replace(vit, tap_layers=taps))
        self.output_projections = nn.ModuleList(nn.Conv2d(vit.embed_dim, dim_out, kernel_size=1) for _ in taps)
        self.register_buffer("image_mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("image_std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, image: torch.Tensor, rows: int, columns: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) RGB in [0, 1] → ((B, dim_out, rows, columns) features, (B, C) last class token)."""
        patch = self.backbone.config.patch_size
        # In float32: the CPU's antialiased resize has no half-precision kernel.
        resized = F.interpolate(image.float(), (rows * patch, columns * patch), mode="bilinear", align_corners=False,
                                antialias=True).to(image.dtype)
        taps = self.backbone.intermediate_layers((resized - self.image_mean) / self.image_std)
        projected = [
            projection(tokens.transpose(1, 2).unflatten(2, (rows, columns)).contiguous())
            for projection, (tokens, _) in zip(self.output_projections, taps)
        ]
        return torch.stack(projected, dim=1).sum(dim=1), taps[-1][1]


def view_plane_uv(width: int, height: int, aspect_ratio: float, dtype=None, device=None) -> torch.Tensor:
    """(height, width, 2) image-plane coordinates of pixel centres, in units of half the image
    diagonal: the picture spans [−w/d, w/d] × [−h/d, h/d] (d the diagonal), x right, y down."""
    span_x = aspect_ratio / (1 + aspect_ratio**2) ** 0.5
    span_y = 1 / (1 + aspect_ratio**2) ** 0.5
    u = torch.linspace(-span_x * (width - 1) / width, span_x * (width - 1) / width, width, dtype=dtype, device=device)
    v = torch.linspace(-span_y * (height - 1) / height, span_y * (height - 1) / height, height, dtype=dtype,
                       device=device)
    u, v = torch.meshgrid(u, v, indexing="xy")
    return torch.stack([u, v], dim=-1)


class MoGe2(nn.Module):
    def __init__(
        self,
        encoder: Mapping[str, Any],
        neck: Mapping[str, Any],
        points_head: Mapping[str, Any],
        mask_head: Mapping[str, Any] | None = None,
        scale_head: Mapping[str, Any] | None = None,
        remap_output: str = "linear",
        num_tokens_range: Sequence[int] = (1200, 3600),
    ):
        super().__init__()
        if remap_output not in ("linear", "sinh", "exp", "sinh_exp"):
            raise WeightsError(f"The MoGe checkpoint's remap_output {remap_output!r} is unknown; use a released "
                               "MoGe-2 checkpoint.")
        self.remap_output = remap_output
        # The official default, resolution level 9 of 0–9: the most tokens of the range.
        self.num_tokens = int(num_tokens_range[1])
        self.encoder = Encoder(encoder["backbone"], encoder["intermediate_layers"], encoder["dim_out"])
        self.neck = ConvStack(**neck)
        self.points_head = ConvStack(**points_head)
        self.mask_head = None if mask_head is None else ConvStack(**mask_head)
        self.scale_head = None if scale_head is None else MLP(**scale_head)

    def token_grid(self, height: int, width: int) -> tuple[int, int]:
        """(rows, columns) of ViT tokens for a picture: about ``num_tokens``, the picture's aspect ratio."""
        aspect_ratio = width / height
        return round((self.num_tokens / aspect_ratio) ** 0.5), round((self.num_tokens * aspect_ratio) ** 0.5)

    def _remap(self, points: torch.Tensor) -> torch.Tensor:
        if self.remap_output == "sinh":
            return torch.sinh(points)
        if self.remap_output == "exp":
            xy, z = points.split([2, 1], dim=-1)
            z = torch.exp(z)
            return torch.cat([xy * z, z], dim=-1)
        if self.remap_output == "sinh_exp":
            xy, z = points.split([2, 1], dim=-1)
            return torch.cat([torch.sinh(xy), torch.exp(z)], dim=-1)
        return points

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB in [0, 1] → (B, H, W, 5): :data:`OUTPUT_CHANNELS`."""
        batch, _, height, width = image.shape
        aspect_ratio = width / height
        rows, columns = self.token_grid(height, width)
        features, class_token = self.encoder(image, rows, columns)
        levels = []
        for level in range(5):
            uv = view_plane_uv(columns * 2**level, rows * 2**level, aspect_ratio, image.dtype, image.device)
            uv = uv.permute(2, 0, 1).unsqueeze(0).expand(batch, -1, -1, -1)
            levels.append(torch.cat([features, uv], dim=1) if level == 0 else uv)
        levels = self.neck(levels)

        def at_input_size(map_: torch.Tensor) -> torch.Tensor:
            # float32 from here: exp of a far point's z or of the scale can exceed half precision's range.
            return F.interpolate(map_.float(), (height, width), mode="bilinear", align_corners=False)

        points = self._remap(at_input_size(self.points_head(levels)[-1]).permute(0, 2, 3, 1))
        if self.mask_head is None:
            mask = torch.ones_like(points[..., :1])
        else:
            mask = at_input_size(self.mask_head(levels)[-1]).permute(0, 2, 3, 1).sigmoid()
        if self.scale_head is None:
            scale = torch.ones_like(mask)
        else:
            scale = self.scale_head(class_token).float().exp()[:, None, None, :].expand_as(mask)
        return torch.cat([points, mask, scale], dim=-1)


@dataclass(frozen=True)
class FocalShift:
    """A point map's camera: ``focal`` relative to half the image diagonal, and the ``shift``
    added to its z values to put it in camera space (both in the point map's units)."""

    focal: float
    shift: float


def _projection_error(uv: np.ndarray, xy: np.ndarray, z: np.ndarray, focal: float | None, shift: np.ndarray):
    projected = xy / (z + shift)[:, None]
    if focal is None:
        focal = (projected * uv).sum() / np.square(projected).sum()
    return (focal * projected - uv).ravel()


def solve_focal_shift(uv: np.ndarray, points: np.ndarray, focal: float | None = None) -> FocalShift:
    """The shift (and, when ``focal`` is None, the focal length) minimising the reprojection error
    ``|focal · xy / (z + shift) − uv|`` over (N, 2) image-plane ``uv`` and (N, 3) ``points``.

    As ``solve_optimal_focal_shift`` / ``solve_optimal_shift`` of MoGe: float32 arrays, focal
    eliminated in closed form, Levenberg–Marquardt from shift 0, stopped at ``ftol=1e-3``.
    """
    from scipy.optimize import least_squares

    xy, z = points[:, :2], points[:, 2]
    solution = least_squares(partial(_projection_error, uv, xy, z, focal), x0=0, ftol=SOLVE_FTOL, method="lm")
    shift = solution["x"].squeeze().astype(np.float32)
    if focal is None:
        projected = xy / (z + shift)[:, None]
        focal = (projected * uv).sum() / np.square(projected).sum()
    return FocalShift(float(focal), float(shift))


def focal_from_fov_x(fov_x_deg: float, aspect_ratio: float) -> torch.Tensor:
    """The focal length relative to half the image diagonal (float32) of a horizontal field of view."""
    fov = torch.as_tensor(fov_x_deg, dtype=torch.float32)
    return aspect_ratio / (1 + aspect_ratio**2) ** 0.5 / torch.tan(torch.deg2rad(fov) / 2)


def recover_focal_shift(points: torch.Tensor, valid: torch.Tensor, focal: torch.Tensor | None = None) -> FocalShift:
    """The camera of one (H, W, 3) point map, from its pixels where ``valid`` (H, W), sampled
    (nearest) to :data:`SOLVE_SIZE`; focal 1 and shift 0 when fewer than two pixels are valid."""
    height, width = points.shape[:2]
    uv = view_plane_uv(width, height, width / height, points.dtype)
    sampled_points = F.interpolate(points.permute(2, 0, 1)[None], SOLVE_SIZE, mode="nearest")[0].permute(1, 2, 0)
    sampled_uv = F.interpolate(uv.permute(2, 0, 1)[None], SOLVE_SIZE, mode="nearest")[0].permute(1, 2, 0)
    sampled_valid = F.interpolate(valid.float()[None, None], SOLVE_SIZE, mode="nearest")[0, 0] > 0
    chosen_points = sampled_points[sampled_valid].numpy()
    chosen_uv = sampled_uv[sampled_valid].numpy()
    if len(chosen_uv) < 2:
        return FocalShift(1.0, 0.0)
    solved = solve_focal_shift(chosen_uv, chosen_points, None if focal is None else focal.numpy())
    return solved if focal is None else FocalShift(float(focal), solved.shift)


def depth_and_camera(output: torch.Tensor, input_size_px: tuple[int, int], fov_x_deg: float | None = None) -> NetworkOutput:
    """Metric z-depth and the camera from the network's output for one picture (what ``infer``
    gives with its defaults, in float32, the mask not applied to the depth).

    ``fov_x_deg``: the horizontal field of view when the user knows it (only the shift is solved).
    """
    (packed,) = output.float().cpu()
    points, mask, scale = packed[..., :3], packed[..., 3], packed[0, 0, 4]
    width, height = input_size_px
    aspect_ratio = width / height
    known_focal = None if fov_x_deg is None else focal_from_fov_x(fov_x_deg, aspect_ratio)
    solved = recover_focal_shift(points, mask > 0.5, known_focal)
    focal = torch.tensor(solved.focal, dtype=torch.float32)
    shift = torch.tensor(solved.shift, dtype=torch.float32)
    depth = (points[..., 2] + shift) * scale
    # Normalised by the image's width (x) and height (y), as MoGe's intrinsics.
    fx = focal / 2 * (1 + aspect_ratio**2) ** 0.5 / aspect_ratio
    fy = focal / 2 * (1 + aspect_ratio**2) ** 0.5
    camera = NetworkCamera((width, height), (float(fx) * width, float(fy) * height), (width / 2, height / 2))
    return NetworkOutput(depth[None].to(output.device), camera)


def read_output(output: torch.Tensor, input_size_px: tuple[int, int],
                known_camera: NetworkCamera | None = None) -> NetworkOutput:
    """:func:`depth_and_camera` with the known camera's horizontal field of view (MoGe's ``fov_x``)."""
    return depth_and_camera(output, input_size_px, None if known_camera is None else known_camera.horizontal_fov_deg)


def build_from_config(spec: ModelSpec, config: Mapping[str, Any]) -> MoGe2:
    """The network a checkpoint's ``model_config`` describes (the normal head left out)."""
    used = {key: config[key] for key in ("encoder", "neck", "points_head", "mask_head", "scale_head",
                                         "remap_output", "num_tokens_range") if key in config}
    try:
        return MoGe2(**used).eval()
    except (KeyError, TypeError) as error:
        raise WeightsError(f"The checkpoint's model_config does not describe a MoGe-2 network ({error}); "
                           f"use the published {spec.name} model.pt.") from error


def build(spec: ModelSpec) -> MoGe2:
    raise WeightsError(f"{spec.name} is built from the configuration its checkpoint carries: use the published "
                       "model.pt (a dictionary of 'model_config' and 'model'), not a bare state dict.")


def to_own_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: value for key, value in state.items() if not key.startswith("normal_head.")}


ADAPTER = Adapter(
    # The network resizes the picture to its own token grid itself, so any size will do: no
    # rounding to a multiple keeps the aspect ratio its camera assumes.
    size_rule=SizeRule(multiple_of=1, keep_shorter_side_at_least=True),
    normalisation=Normalisation(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)),  # RGB in [0, 1]; it normalises itself
    resampling=Resampling("bilinear", align_corners=False),
    build=build,
    to_own_layout=to_own_layout,
    read_output=read_output,
    build_from_config=build_from_config,
)
