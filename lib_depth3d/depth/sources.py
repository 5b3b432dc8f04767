"""Every way to get a depthmap for a picture, behind one call.

A *source* is a registry model name (our networks), ``controlnet:<preprocessor>`` (ControlNet's
preprocessor in the same WebUI), or ``depth-image`` (a depth picture or ``.npy`` the user
supplies, resized to the picture).
"""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from lib_depth3d.depth.depthmap import DepthKind, DepthMap, depth_image_nearness, load_depth
from lib_depth3d.depth.registry import MODELS
from lib_depth3d.errors import InputError

CONTROLNET_PREFIX = "controlnet:"
USER_DEPTH_IMAGE = "depth-image"


def estimator_sources() -> list[str]:
    """The sources that estimate depth from the picture alone: our models, then ControlNet's depth
    preprocessors when that extension is loaded."""
    from lib_depth3d.depth.controlnet import depth_preprocessors

    return [*MODELS, *(CONTROLNET_PREFIX + name for name in depth_preprocessors())]


def available_sources() -> list[str]:
    """:func:`estimator_sources`, then the user-supplied depth image."""
    return [*estimator_sources(), USER_DEPTH_IMAGE]


def user_depth(
    picture: Image.Image, depth: Image.Image | str | os.PathLike, kind: DepthKind = "disparity"
) -> DepthMap:
    """A user-supplied depth picture (near = bright) or ``.npy`` (values of ``kind``), at the picture's size."""
    if isinstance(depth, Image.Image):
        result = DepthMap(depth_image_nearness(depth), "disparity")
    else:
        result = load_depth(Path(depth), kind)
    depth_aspect, picture_aspect = result.width / result.height, picture.width / picture.height
    if abs(depth_aspect / picture_aspect - 1) > 0.01:
        raise InputError(
            f"The depth image is {result.width}×{result.height} but the picture is "
            f"{picture.width}×{picture.height}: their aspect ratios differ, so it cannot be the picture's depth."
        )
    return result.resized(picture.width, picture.height)


def depth_for(
    picture: Image.Image,
    source: str,
    *,
    depth_image: Image.Image | str | os.PathLike | None = None,
    **options,
) -> DepthMap:
    """The depthmap of ``picture`` from ``source``.

    ``options`` go to :func:`~lib_depth3d.depth.estimate.estimate_depth` for our models
    (``weights_path``, ``device``, ``progress``, ``input_size``, …) and to
    :func:`~lib_depth3d.depth.controlnet.controlnet_depth` for ControlNet (``resolution``, sliders).
    """
    if source == USER_DEPTH_IMAGE:
        if depth_image is None:
            raise InputError("The depth-image source needs a depth image (near = bright) or a .npy file.")
        return user_depth(picture, depth_image, options.get("kind", "disparity"))
    if source.startswith(CONTROLNET_PREFIX):
        from lib_depth3d.depth.controlnet import controlnet_depth

        return controlnet_depth(picture, source[len(CONTROLNET_PREFIX):], **options)
    from lib_depth3d.depth.estimate import estimate_depth

    return estimate_depth(picture, source, **options)
