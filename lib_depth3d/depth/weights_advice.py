"""What to tell a user whose depth weights are missing: where Depth3D looks and how to point it
elsewhere, one sentence per entry point.

Its own module so that a depth source can carry its advice (:mod:`lib_depth3d.depth.sources`)
without loading the downloader of :mod:`lib_depth3d.depth.weights`, which re-exports these names.
"""

MODELS_DIR_ENV = "DEPTH3D_MODELS_DIR"
"""The environment variable naming the folder that holds depth weights."""

MODELS_FOLDER_ADVICE = f"Or set {MODELS_DIR_ENV} to the folder that holds it."
"""How a user points Depth3D at weights of their own, outside the WebUI and the commands with ``--weights``."""

WEIGHTS_OPTION_ADVICE = "Or pass its path with --weights."
"""The same, for the commands that take ``--weights``."""

UNVERIFIED_OPTION_ADVICE = "Or accept the download unverified with --allow-unverified."
"""For the commands that take ``--allow-unverified``, where the weights have no published SHA-256:
the WebUI, the tab and the API have no such option, so their messages must not name it."""

WEBUI_ADVICE = (
    'That folder is the "Depth model folder" setting (Settings → Depth 3D); change it to use weights kept elsewhere.'
)
"""The same, inside the WebUI (the accordion, the tab, the mask script and the API)."""
