"""What the img2img "Depth mask inpaint" script does to one init image, without the WebUI.

The script (``scripts/depth3d_mask_inpaint.py``) only moves values between A1111's ``p`` /
``processed`` and these functions: :meth:`InpaintMaskSettings.from_script_args` reads the UI
values (also what API callers send as ``script_args``, in :data:`SCRIPT_ARGS` order) and
:func:`picture_mask` computes the depth, the mask and the extra gallery pictures of one picture.
Nothing is cached here between pictures: each call estimates its own picture's depth (the
depth network itself stays loaded, see ``lib_depth3d.depth.estimate``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from PIL import Image

from lib_depth3d.depth.sources import DepthSource, parse_depth_source
from lib_depth3d.errors import InputError
from lib_depth3d.files import base64_file_bytes, open_image
from lib_depth3d.mask.build import MaskOptions, cutout_rgba, depth_mask

SCRIPT_ARGS: tuple[str, ...] = (
    "depth_source",
    "depth_image",
    "band_mode",
    "band_low",
    "band_high",
    "invert",
    "hard",
    "feather_px",
    "grow_px",
    "net_size",
    "override_mask_blur",
    "mask_blur",
    "inpainting_fill",
    "gallery_depth",
    "gallery_cutout",
    "save_images",
)
"""The script's arguments in order: the UI components and the API's ``script_args``."""

BAND_MODES: tuple[str, ...] = ("nearness", "percentiles")
INPAINTING_FILL_CHOICES: tuple[str, ...] = ("img2img setting", "fill", "original", "latent noise", "latent nothing")
"""Choice 0 leaves ``p.inpainting_fill`` alone; choice k > 0 sets it to k - 1 (A1111's numbering)."""


def _picture_argument(value: object) -> Image.Image | None:
    """An uploaded picture from gradio (PIL), or a base64 PNG/JPEG (optionally a data URL) from the API."""
    if value is None or value == "":
        return None
    if isinstance(value, Image.Image):
        return value
    if isinstance(value, str):
        return open_image(base64_file_bytes(value, "The depth image (a picture or a base64-encoded PNG/JPEG)"))
    raise InputError(f"The depth image must be a picture, not {type(value).__name__}.")


def _number(values: dict, name: str, kind: type = float) -> float | int:
    """``values[name]`` as a number; a whole number when ``kind`` is int."""
    value = values[name]
    try:
        number = float(value)
    except (TypeError, ValueError) as error:
        raise InputError(f"{name} must be a number, got {value!r}.") from error
    if kind is int:
        if not number.is_integer():
            raise InputError(f"{name} must be a whole number, got {value!r}.")
        return int(number)
    return number


@dataclass(frozen=True)
class InpaintMaskSettings:
    """The script's settings, checked.

    Attributes:
        depth: the depth source (:mod:`lib_depth3d.depth.sources`); an uploaded depth picture
            (near = bright) is used for every init image and resized to each.
        mask: how the depth becomes the mask.
        net_size: the network's processing size (ControlNet: its resolution), or None for the default.
        mask_blur: value for ``p.mask_blur``, or None to leave img2img's setting.
        inpainting_fill: value for ``p.inpainting_fill`` (0 fill, 1 original, 2 latent noise,
            3 latent nothing), or None to leave img2img's setting.
        gallery_depth, gallery_cutout: also show the depth / the kept part (RGBA) in the gallery.
        save_images: save the extra gallery pictures with A1111's naming.
    """

    depth: DepthSource
    mask: MaskOptions
    net_size: int | None = None
    mask_blur: int | None = None
    inpainting_fill: int | None = None
    gallery_depth: bool = False
    gallery_cutout: bool = False
    save_images: bool = False

    @classmethod
    def from_script_args(cls, args: Sequence[object], **depth_options) -> "InpaintMaskSettings":
        """Read the values in :data:`SCRIPT_ARGS` order; raises :class:`InputError` naming a bad one.
        ``depth_options`` go to :func:`~lib_depth3d.depth.sources.parse_depth_source`
        (``models_folder``, ``keep_loaded``, ``device``, ``weights_advice``)."""
        if len(args) != len(SCRIPT_ARGS):
            raise InputError(
                f"The Depth mask inpaint script takes {len(SCRIPT_ARGS)} arguments ({', '.join(SCRIPT_ARGS)}); "
                f"got {len(args)}."
            )
        values = dict(zip(SCRIPT_ARGS, args))
        band_mode = str(values["band_mode"])
        if band_mode not in BAND_MODES:
            raise InputError(f"band_mode must be one of {', '.join(BAND_MODES)}; got {band_mode!r}.")
        low, high = _number(values, "band_low"), _number(values, "band_high")
        if band_mode == "percentiles":
            band = {"percentiles": (low, high)}
        else:
            if not (0.0 <= low <= 100.0 and 0.0 <= high <= 100.0):
                raise InputError(f"The nearness band is given in percent (0 = farthest, 100 = nearest); got {low} and {high}.")
            band = {"near_min": low / 100.0, "near_max": high / 100.0}
        fill = str(values["inpainting_fill"])
        if fill not in INPAINTING_FILL_CHOICES:
            raise InputError(f"inpainting_fill must be one of {', '.join(INPAINTING_FILL_CHOICES)}; got {fill!r}.")
        net_size = _number(values, "net_size", int) if values["net_size"] else 0
        mask_blur = _number(values, "mask_blur", int) if values["override_mask_blur"] else None
        if mask_blur is not None and mask_blur < 0:
            raise InputError(f"The mask blur must be 0 or more pixels; got {mask_blur}.")
        return cls(
            depth=parse_depth_source(str(values["depth_source"]), depth=_picture_argument(values["depth_image"]),
                                     input_size=net_size if net_size > 0 else None, **depth_options),
            mask=MaskOptions(
                invert=bool(values["invert"]),
                hard=bool(values["hard"]),
                feather_px=_number(values, "feather_px"),
                grow_px=_number(values, "grow_px", int),
                **band,
            ),
            net_size=net_size if net_size > 0 else None,
            mask_blur=mask_blur,
            inpainting_fill=INPAINTING_FILL_CHOICES.index(fill) - 1 if fill != INPAINTING_FILL_CHOICES[0] else None,
            gallery_depth=bool(values["gallery_depth"]),
            gallery_cutout=bool(values["gallery_cutout"]),
            save_images=bool(values["save_images"]),
        )

    def describe(self) -> str:
        """One line for the infotext (no commas, which A1111's infotext would have to quote)."""
        options = self.mask
        if options.percentiles is None:
            band = f"nearness {options.near_min:.2f}-{options.near_max:.2f}"
        else:
            band = f"percentiles {options.percentiles[0]:g}-{options.percentiles[1]:g}"
        edge = "hard" if options.hard else f"ramp {options.ramp:g}"
        return (f"{self.depth.name} {band} {'repainted' if options.invert else 'kept'} {edge} "
                f"feather {options.feather_px:g} grow {options.grow_px}")


@dataclass(frozen=True)
class PictureMask:
    """The mask of one init image and the pictures that go with it.

    Attributes:
        mask: "L", the picture's size, white = repaint (for ``p.image_mask``).
        depth: "L" 8-bit nearness (near = bright) at the picture's size, for the gallery.
        cutout: the kept part as RGBA when asked for, else None.
        warnings: sentences for the user.
    """

    mask: Image.Image
    depth: Image.Image
    cutout: Image.Image | None
    warnings: list[str] = field(default_factory=list)


def picture_mask(picture: Image.Image, settings: InpaintMaskSettings, progress=None) -> PictureMask:
    """Estimate (or take the uploaded) depth of ``picture`` and build its mask.

    An uploaded depth image is taken as stored (its grey levels are the nearness the band refers
    to) and resized to the picture, with a warning when its aspect ratio differs.
    """
    nearness = settings.depth.mask_nearness(picture, progress)
    result = depth_mask(nearness, settings.mask, picture.size)
    depth_picture = Image.fromarray(np.floor(nearness * 255.0 + 0.5).astype(np.uint8), "L")
    if depth_picture.size != picture.size:
        depth_picture = depth_picture.resize(picture.size, Image.BILINEAR)
    cutout = cutout_rgba(picture, result.mask) if settings.gallery_cutout else None
    return PictureMask(result.mask, depth_picture, cutout, list(result.warnings))
