"""Depth estimation: networks, the model registry and weights, and the DepthMap value.

Nothing here imports torch at import time; the networks are imported when a model is loaded.
Each name is imported from its submodule when first used (:mod:`lib_depth3d.lazy_exports`), so
reading a depth file loads neither the estimator nor the weights' HTTP client.
"""

from lib_depth3d.lazy_exports import lazy_exports

_EXPORTS = {
    "DEPTH_KINDS": "depthmap",
    "DepthKind": "depthmap",
    "DepthMap": "depthmap",
    "load_depth": "depthmap",
    "save_depth": "depthmap",
    "estimate_depth": "estimate",
    "DEFAULT_MODEL": "registry",
    "MODELS": "registry",
    "models_dir": "weights",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
