"""Adjustments that make transformers a faithful oracle for the original depth networks."""

from __future__ import annotations

import math

import torch


def dinov2_position_embedding(self, embeddings, height, width):
    """DINOv2's own rule (as in the Depth Anything V2 repository): bicubic resampling with the
    scale factor (n + 0.1) / grid. transformers 4.46 resamples to a target size instead, which
    shifts the samples slightly, so for grids other than the stored one the oracle is given the
    original rule (install with monkeypatch on ``Dinov2Embeddings.interpolate_pos_encoding``)."""
    grid = int(math.sqrt(self.position_embeddings.shape[1] - 1))
    rows, columns = height // self.patch_size, width // self.patch_size
    if rows == grid and columns == grid:
        return self.position_embeddings
    dim = embeddings.shape[-1]
    patch = self.position_embeddings[:, 1:].float().reshape(1, grid, grid, dim).permute(0, 3, 1, 2)
    patch = torch.nn.functional.interpolate(
        patch, scale_factor=((rows + 0.1) / grid, (columns + 0.1) / grid), mode="bicubic", align_corners=False
    )
    patch = patch.permute(0, 2, 3, 1).reshape(1, -1, dim).to(self.position_embeddings.dtype)
    return torch.cat((self.position_embeddings[:, :1], patch), dim=1)
