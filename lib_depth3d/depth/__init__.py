"""Depth estimation: networks, the model registry and weights, and the DepthMap value.

Nothing here imports torch at import time; the networks are imported when a model is loaded.
"""

from lib_depth3d.depth.depthmap import DEPTH_KINDS, DepthKind, DepthMap, load_depth, save_depth
from lib_depth3d.depth.estimate import estimate_depth
from lib_depth3d.depth.registry import DEFAULT_MODEL, MODELS
from lib_depth3d.depth.weights import models_dir

__all__ = [
    "DEFAULT_MODEL",
    "DEPTH_KINDS",
    "MODELS",
    "DepthKind",
    "DepthMap",
    "estimate_depth",
    "load_depth",
    "models_dir",
    "save_depth",
]
