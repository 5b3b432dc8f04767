"""Depth estimation: networks, the model registry and weights, and the DepthMap value.

Nothing here imports torch at import time; the networks are imported when a model is loaded.
"""

from lib_depth3d.depth.depthmap import DEPTH_KINDS, DepthKind, DepthMap, load_depth, save_depth

__all__ = ["DEPTH_KINDS", "DepthKind", "DepthMap", "load_depth", "save_depth"]
