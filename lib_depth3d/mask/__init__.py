"""Depth masks for img2img inpainting: a band of depth to keep, white = repaint."""

from lib_depth3d.mask.build import MaskOptions, MaskResult, band_cutoffs, cutout_rgba, depth_mask

__all__ = ["MaskOptions", "MaskResult", "band_cutoffs", "cutout_rgba", "depth_mask"]
