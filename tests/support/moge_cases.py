"""Small MoGe-2 networks in the official checkpoint layout, for the oracle and end-to-end tests.

Each case is a ``model_config`` as the official ``MoGeModel(**model_config)`` takes it (the
encoders are the real DINOv2 ViT-S and ViT-B; neck and heads are narrow and few tokens are
used, so a pass takes well under a second), a seed for its weights and a seed for its picture.
The reference outputs in ``tests/depth/fixtures/moge2_oracle.pt`` were recorded once from the
official code with exactly these weights and pictures (see tests/depth/test_moge_oracle.py).
"""

from __future__ import annotations

from pathlib import Path

import torch

from lib_depth3d.depth.moge import ConvStack, MoGe2, build_from_config
from lib_depth3d.depth.registry import get_model
from tests.support.depth_weights import randomise


def _stack(dims, dim_out, resamplers, in_norm="none", hidden_norm="none", dim_in=None):
    return {
        "dim_in": dims if dim_in is None else dim_in,
        "dim_out": [None] * (len(dims) - 1) + [dim_out] if dim_out is not None else None,
        "dim_res_blocks": dims,
        "num_res_blocks": [0, 1, 1, 1, 0],
        "res_block_in_norm": in_norm,
        "res_block_hidden_norm": hidden_norm,
        "resamplers": resamplers,
    }


def _config(backbone, layers, embed_dim, dims, resamplers, remap, in_norm="none", hidden_norm="none"):
    return {
        "encoder": {"backbone": backbone, "intermediate_layers": layers, "dim_out": dims[0]},
        "neck": _stack(dims, None, resamplers, in_norm, hidden_norm, dim_in=[dims[0] + 2, 2, 2, 2, 2]),
        "points_head": _stack(dims, 3, resamplers, in_norm, hidden_norm),
        "mask_head": _stack(dims, 1, resamplers, in_norm, hidden_norm),
        "normal_head": _stack(dims, 3, resamplers, in_norm, hidden_norm),
        "scale_head": {"dims": [embed_dim, 32, 1]},
        "remap_output": remap,
        "num_tokens_range": [40, 80],
    }


CASES = {
    # The layout of the released ViT-L configuration (configs/train/v2.json), narrower.
    "vits": (
        _config("dinov2_vits14", [2, 5, 8, 11], 384, [64, 32, 16, 16, 8],
                ["conv_transpose", "conv_transpose", "conv_transpose", "bilinear"], "exp"),
        5, 6,
    ),
    # The other options the official modules take: the last n layers, normalised residual blocks.
    "vitb": (
        _config("dinov2_vitb14", 4, 768, [64, 64, 32, 32, 32], ["bilinear"] * 4, "sinh_exp", "layer_norm", "group_norm"),
        7, 8,
    ),
}
# configs/train/v2.json of microsoft/MoGe: the released ViT-L configuration.
VITL_HEAD = {"dim_in": [1024, 256, 128, 64, 32], "dim_res_blocks": [1024, 256, 128, 64, 32],
              "num_res_blocks": [0, 1, 1, 1, 0], "res_block_in_norm": "none", "res_block_hidden_norm": "none",
              "resamplers": ["conv_transpose", "conv_transpose", "conv_transpose", "bilinear"]}
RELEASED_VITL = {
    "encoder": {"backbone": "dinov2_vitl14", "intermediate_layers": [5, 11, 17, 23], "dim_out": 1024},
    "neck": {**VITL_HEAD, "dim_in": [1026, 2, 2, 2, 2], "dim_out": None, "num_res_blocks": [0, 2, 2, 2, 0]},
    "points_head": {**VITL_HEAD, "dim_out": [None, None, None, None, 3]},
    "mask_head": {**VITL_HEAD, "dim_out": [None, None, None, None, 1]},
    "scale_head": {"dims": [1024, 1024, 1024, 1]},
    "remap_output": "exp",
    "num_tokens_range": [1200, 3600],
}
PICTURE_SIZE = (56, 42)
"""(width, height) of the test pictures."""
KNOWN_FOV_X_DEG = 50.0
UV_GAIN = 10.0
PLANTED_FOCAL = 1.2
MASK_LOGIT_OFFSET = 0.1


def network(case: str) -> MoGe2:
    """Our network of ``case`` with its seeded weights.

    Purely random weights give a point map of noise, whose focal length and shift are barely
    determined (a change of 1e-6 in a point moves the depth by 1e-4). Like a trained network's,
    these pass the view-plane coordinates the neck receives at full resolution through to x and
    y (a pinhole camera's map, plus the random network's own output) and count most pixels as
    valid, so the solve is as well determined as on a real picture.
    """
    config, weight_seed, _ = CASES[case]
    moge = randomise(build_from_config(get_model("moge-2-vits"), config), weight_seed)
    with torch.no_grad():
        moge.neck.input_blocks[4].weight[:2, :, 0, 0] += UV_GAIN * torch.eye(2)
        moge.points_head.input_blocks[4].weight[:2, :2, 0, 0] += torch.eye(2)
        moge.points_head.output_blocks[4].weight[:2, :2, 0, 0] += torch.eye(2) / (UV_GAIN * PLANTED_FOCAL)
        moge.mask_head.output_blocks[4].bias += MASK_LOGIT_OFFSET
    return moge


def official_state_dict(case: str) -> dict[str, torch.Tensor]:
    """``case``'s weights under the official names, the normal head included (random, seeded)."""
    config, weight_seed, _ = CASES[case]
    state = network(case).state_dict()
    normal_head = randomise(ConvStack(**config["normal_head"]), weight_seed + 100).state_dict()
    return {**state, **{f"normal_head.{key}": value for key, value in normal_head.items()}}


def picture(case: str) -> torch.Tensor:
    """(1, 3, H, W) RGB in [0, 1]: a smooth gradient with seeded noise."""
    _, _, picture_seed = CASES[case]
    width, height = PICTURE_SIZE
    generator = torch.Generator().manual_seed(picture_seed)
    ramp = torch.linspace(0, 1, width)[None, None, :] * torch.linspace(0.3, 1, height)[None, :, None]
    return (0.6 * ramp.expand(3, -1, -1) + 0.4 * torch.rand(3, height, width, generator=generator))[None]


def write_official_checkpoint(path: str | Path, case: str) -> Path:
    """``case`` as a released ``model.pt``: ``{'model_config': …, 'model': state_dict}``."""
    path = Path(path)
    torch.save({"model_config": CASES[case][0], "model": official_state_dict(case)}, path)
    return path
