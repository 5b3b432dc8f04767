"""The "Depth mask inpaint" script's settings in A1111's infotext, and back to its controls.

:func:`infotext_params` gives the ``key: value`` pairs the script adds to
``p.extra_generation_params``: the summary line of :meth:`InpaintMaskSettings.describe` under
``Depth3D mask`` (source, band, kept or repainted, edges, feather, grow), and one key for each
setting the summary leaves out, written only when it differs from "leave it as it is".

:func:`paste_fields` pairs the script's controls with readers of a parsed infotext (the dict of
A1111's ``parse_generation_parameters``): A1111's ``infotext_fields``, so that *PNG Info → Send
to img2img* and the paste button set every control back. Each reader returns None (A1111 then
leaves the control as it is) for an infotext without ``Depth3D mask``. The uploaded depth image
is a picture, not text: pasting leaves it as it is.
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

from lib_depth3d.mask.inpaint import INPAINTING_FILL_CHOICES, SCRIPT_ARGS, InpaintMaskSettings

SUMMARY = "Depth3D mask"
NET_SIZE = "Depth3D mask net size"
MASK_BLUR = "Depth3D mask blur"
MASKED_CONTENT = "Depth3D mask masked content"
GALLERY = "Depth3D mask gallery"
SAVE = "Depth3D mask save"
INFOTEXT_KEYS: tuple[str, ...] = (SUMMARY, NET_SIZE, MASK_BLUR, MASKED_CONTENT, GALLERY, SAVE)
"""Every key the script writes (A1111's ``paste_field_names``)."""

GALLERY_DEPTH, GALLERY_CUTOUT = "depth", "cutout"

_NUMBER = r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?"
_SUMMARY_PATTERN = re.compile(
    rf"(?P<source>\S+) (?P<band_mode>nearness|percentiles) (?P<low>{_NUMBER})-(?P<high>{_NUMBER}) "
    rf"(?P<side>kept|repainted) (?P<edge>hard|ramp {_NUMBER}) feather (?P<feather>{_NUMBER}) grow (?P<grow>-?\d+)"
)
"""The line of :meth:`InpaintMaskSettings.describe`."""

Reader = Callable[[dict], object]


def infotext_params(settings: InpaintMaskSettings) -> dict[str, object]:
    """The script's ``extra_generation_params``; values A1111 writes with ``str`` (no commas in them)."""
    gallery = [tag for tag, shown in ((GALLERY_DEPTH, settings.gallery_depth),
                                      (GALLERY_CUTOUT, settings.gallery_cutout)) if shown]
    params = {
        SUMMARY: settings.describe(),
        NET_SIZE: settings.net_size,
        MASK_BLUR: settings.mask_blur,
        MASKED_CONTENT: (None if settings.inpainting_fill is None
                         else INPAINTING_FILL_CHOICES[settings.inpainting_fill + 1]),
        GALLERY: "+".join(gallery) or None,
        SAVE: True if settings.save_images else None,
    }
    return {key: value for key, value in params.items() if value is not None}


def _summary(params: dict) -> re.Match | None:
    """The parsed ``Depth3D mask`` line; None when absent or not of this version's form."""
    return _SUMMARY_PATTERN.fullmatch(params.get(SUMMARY, ""))


def _band_percent(params: dict, end: str) -> float | None:
    """A band end as the slider shows it: percent of nearness, or a percentile."""
    summary = _summary(params)
    if summary is None:
        return None
    value = float(summary[end])
    # The summary gives nearness as a fraction; rounding drops the float noise of × 100.
    return round(value * 100.0, 6) if summary["band_mode"] == "nearness" else value


def _depth_source(params: dict) -> str | None:
    summary = _summary(params)
    return None if summary is None else summary["source"]


def _band_mode(params: dict) -> str | None:
    summary = _summary(params)
    return None if summary is None else summary["band_mode"]


def _band_low(params: dict) -> float | None:
    return _band_percent(params, "low")


def _band_high(params: dict) -> float | None:
    return _band_percent(params, "high")


def _invert(params: dict) -> bool | None:
    summary = _summary(params)
    return None if summary is None else summary["side"] == "repainted"


def _hard(params: dict) -> bool | None:
    summary = _summary(params)
    return None if summary is None else summary["edge"] == "hard"


def _feather_px(params: dict) -> float | None:
    summary = _summary(params)
    return None if summary is None else float(summary["feather"])


def _grow_px(params: dict) -> int | None:
    summary = _summary(params)
    return None if summary is None else int(summary["grow"])


def _net_size(params: dict) -> object:
    return None if _summary(params) is None else params.get(NET_SIZE, 0)


def _override_mask_blur(params: dict) -> bool | None:
    return None if _summary(params) is None else MASK_BLUR in params


def _mask_blur(params: dict) -> str | None:
    """The overriding blur; None (the slider stays) when the generation kept img2img's."""
    return None if _summary(params) is None else params.get(MASK_BLUR)


def _inpainting_fill(params: dict) -> str | None:
    return None if _summary(params) is None else params.get(MASKED_CONTENT, INPAINTING_FILL_CHOICES[0])


def _gallery_shows(params: dict, tag: str) -> bool | None:
    return None if _summary(params) is None else tag in params.get(GALLERY, "").split("+")


def _gallery_depth(params: dict) -> bool | None:
    return _gallery_shows(params, GALLERY_DEPTH)


def _gallery_cutout(params: dict) -> bool | None:
    return _gallery_shows(params, GALLERY_CUTOUT)


def _save_images(params: dict) -> bool | None:
    return None if _summary(params) is None else params.get(SAVE) == "True"


READERS: dict[str, Reader] = {
    "depth_source": _depth_source,
    "band_mode": _band_mode,
    "band_low": _band_low,
    "band_high": _band_high,
    "invert": _invert,
    "hard": _hard,
    "feather_px": _feather_px,
    "grow_px": _grow_px,
    "net_size": _net_size,
    "override_mask_blur": _override_mask_blur,
    "mask_blur": _mask_blur,
    "inpainting_fill": _inpainting_fill,
    "gallery_depth": _gallery_depth,
    "gallery_cutout": _gallery_cutout,
    "save_images": _save_images,
}
"""Reader of each control's value, by :data:`SCRIPT_ARGS` name (all but the depth image)."""


def paste_fields(controls: Sequence[object]) -> list[tuple[object, Reader]]:
    """A1111's ``infotext_fields`` for the script's controls, given in :data:`SCRIPT_ARGS` order."""
    by_name = dict(zip(SCRIPT_ARGS, controls))
    return [(by_name[name], reader) for name, reader in READERS.items()]
