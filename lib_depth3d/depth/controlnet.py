"""ControlNet's depth preprocessors, run in-process when ControlNet is loaded in the same WebUI:
the sd-webui-controlnet extension (AUTOMATIC1111) or Forge's built-in ControlNet
(``sd_forge_controlnet``, whose preprocessors Forge registers in ``modules_forge.shared``).

ControlNet returns 8-bit, min-max normalised nearness (near = bright) at its own resolution and
silently resets out-of-range settings; here every setting is passed explicitly, checked against
the preprocessor's declared range first, and the result is resized to the picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
from PIL import Image

from lib_depth3d.depth.depthmap import DepthMap
from lib_depth3d.errors import DepthSourceError, InputError
from lib_depth3d.files import to_rgb
from lib_depth3d.progress import Progress

NOT_AVAILABLE = (
    "ControlNet's preprocessors are not available: neither the sd-webui-controlnet extension nor Forge's "
    "built-in ControlNet is loaded in this WebUI. Install or enable one, or choose one of Depth3D's own depth models."
)


@dataclass(frozen=True)
class PreprocessorRegistry:
    """One WebUI's ControlNet preprocessors, seen the same way whichever ControlNet holds them.

    Attributes:
        preprocessors: every preprocessor under the name that ControlNet's UI shows.
        find: the preprocessor a name (or, in sd-webui-controlnet, an internal name) stands for, or None.
        resolution_fields: the attributes declaring the resolution setting, the first present one
            counting (sd-webui-controlnet's legacy preprocessors declare ``resolution``; Forge's
            ControlNet reads ``slider_resolution`` only).
    """

    preprocessors: Mapping[str, object]
    find: Callable[[str], object]
    resolution_fields: tuple[str, ...]


def _sd_webui_controlnet() -> PreprocessorRegistry:
    from scripts.supported_preprocessor import Preprocessor  # sd-webui-controlnet, inside A1111

    return PreprocessorRegistry(Preprocessor.all_processors, Preprocessor.get_preprocessor,
                                ("resolution", "slider_resolution"))


def _forge_controlnet() -> PreprocessorRegistry:
    from modules_forge.shared import supported_preprocessors  # Forge, filled by its built-in extensions

    return PreprocessorRegistry(supported_preprocessors, supported_preprocessors.get, ("slider_resolution",))


def _preprocessor_registry() -> PreprocessorRegistry:
    failure = None
    for registry in (_sd_webui_controlnet, _forge_controlnet):
        try:
            return registry()
        except Exception as error:  # absent, or present but failing to import: the same answer for the user
            failure = error
    raise InputError(NOT_AVAILABLE) from failure


def controlnet_available() -> bool:
    try:
        _preprocessor_registry()
    except InputError:
        return False
    return True


def depth_preprocessors() -> list[str]:
    """ControlNet's depth preprocessors (tagged "Depth") under the names its UI shows
    (sd-webui-controlnet: ``depth_midas``, whose internal name is ``depth``), or [] without ControlNet."""
    if not controlnet_available():
        return []
    registry = _preprocessor_registry()
    return sorted(
        label for label, processor in registry.preprocessors.items() if "Depth" in getattr(processor, "tags", [])
    )


def _declared(parameter) -> dict | None:
    """A setting's range and default as both ControlNets declare it (``gradio_update_kwargs``: a
    property in sd-webui-controlnet, a dict in Forge); None when the preprocessor does not show it."""
    declared = getattr(parameter, "gradio_update_kwargs", None) if parameter is not None else None
    return declared if declared and declared.get("visible", False) else None


def _checked(parameter, value: float | None, what: str, name: str) -> float | None:
    declared = _declared(parameter)
    if declared is None:
        return None
    if value is None:
        return declared["value"]
    if not declared["minimum"] <= value <= declared["maximum"]:
        raise InputError(
            f"{what} of ControlNet's {name} must be between {declared['minimum']} and {declared['maximum']}, "
            f"got {value}."
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
    processor = registry.find(preprocessor)
    if processor is None:
        choices = ", ".join(depth_preprocessors()) or "none"
        raise InputError(f"ControlNet has no preprocessor {preprocessor!r}; its depth preprocessors are: {choices}.")
    resolution_parameter = next((getattr(processor, field) for field in registry.resolution_fields
                                 if getattr(processor, field, None) is not None), None)
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
