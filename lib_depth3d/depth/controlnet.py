"""ControlNet's depth preprocessors (sd-webui-controlnet), run in-process when that extension is
loaded in the same WebUI.

ControlNet returns 8-bit, min-max normalised nearness (near = bright) at its own resolution and
silently resets out-of-range settings; here every setting is passed explicitly, checked against
the preprocessor's declared range first, and the result is resized to the picture.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from lib_depth3d.depth.depthmap import DepthMap
from lib_depth3d.errors import DepthSourceError, InputError
from lib_depth3d.files import to_rgb
from lib_depth3d.progress import Progress

NOT_AVAILABLE = (
    "ControlNet's preprocessors are not available: the sd-webui-controlnet extension is not installed "
    "or not loaded in this WebUI. Install it, or choose one of Depth3D's own depth models."
)


def _preprocessor_registry():
    try:
        from scripts.supported_preprocessor import Preprocessor  # sd-webui-controlnet, inside A1111
    except Exception as error:  # absent, or present but failing to import: the same answer for the user
        raise InputError(NOT_AVAILABLE) from error
    return Preprocessor


def controlnet_available() -> bool:
    try:
        _preprocessor_registry()
    except InputError:
        return False
    return True


def depth_preprocessors() -> list[str]:
    """ControlNet's depth preprocessors (tagged "Depth") under the labels its UI shows
    (``depth_midas``, whose internal name is ``depth``), or [] without ControlNet."""
    if not controlnet_available():
        return []
    registry = _preprocessor_registry()
    return sorted(
        label for label, processor in registry.all_processors.items() if "Depth" in getattr(processor, "tags", [])
    )


def _checked(parameter, value: float | None, what: str, name: str) -> float | None:
    if parameter is None or not getattr(parameter, "visible", False):
        return None
    if value is None:
        return parameter.value
    if not parameter.minimum <= value <= parameter.maximum:
        raise InputError(
            f"{what} of ControlNet's {name} must be between {parameter.minimum} and {parameter.maximum}, got {value}."
        )
    return value


def checked_settings(
    preprocessor: str,
    resolution: float | None = None,
    slider_1: float | None = None,
    slider_2: float | None = None,
    slider_3: float | None = None,
):
    """ControlNet's ``preprocessor`` and its settings [resolution, slider 1, 2, 3], each checked
    against the preprocessor's declared range (None: its default; None also for a setting it does
    not show). Raises :class:`InputError` naming the setting, so callers can check before a run."""
    registry = _preprocessor_registry()
    processor = registry.get_preprocessor(preprocessor)
    if processor is None:
        choices = ", ".join(depth_preprocessors()) or "none"
        raise InputError(f"ControlNet has no preprocessor {preprocessor!r}; its depth preprocessors are: {choices}.")
    resolution_parameter = getattr(processor, "resolution", None) or getattr(processor, "slider_resolution", None)
    return processor, [
        _checked(resolution_parameter, resolution, "The resolution", preprocessor),
        _checked(processor.slider_1, slider_1, "Slider 1", preprocessor),
        _checked(processor.slider_2, slider_2, "Slider 2", preprocessor),
        _checked(processor.slider_3, slider_3, "Slider 3", preprocessor),
    ]


def controlnet_depth(
    picture: Image.Image,
    preprocessor: str,
    *,
    resolution: int | None = None,
    slider_1: float | None = None,
    slider_2: float | None = None,
    slider_3: float | None = None,
    progress: Progress | None = None,
) -> DepthMap:
    """Run ControlNet's ``preprocessor`` (e.g. ``depth_midas``) on ``picture``.

    Returns ``disparity`` in [0, 1] (ControlNet's nearness, 8-bit precision) at the picture's size.
    Settings left as None take the preprocessor's own defaults. ``progress`` hears when it starts.
    """
    processor, settings = checked_settings(preprocessor, resolution, slider_1, slider_2, slider_3)
    rgb = np.asarray(to_rgb(picture), dtype=np.uint8)
    if progress is not None:
        progress(f"Estimating depth with ControlNet's {preprocessor}", None)
    try:
        result = np.asarray(processor(rgb, int(settings[0] or max(picture.size)), *settings[1:]))
    except Exception as error:  # anything ControlNet raises: its models, its downloads, the GPU
        raise DepthSourceError(
            f"ControlNet's {preprocessor} failed: {type(error).__name__}: {error}. See the WebUI console for "
            "ControlNet's own message, or choose one of Depth3D's depth models."
        ) from error
    if result.ndim == 3:
        result = result[..., :3].mean(axis=2)
    if result.ndim != 2 or result.size == 0:
        raise InputError(f"ControlNet's {preprocessor} did not return a depth image (got shape {result.shape}).")
    nearness = DepthMap(result.astype(np.float32) / 255.0, "disparity")
    return nearness.resized(picture.width, picture.height)
