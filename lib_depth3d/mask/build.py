"""Inpainting masks from a depth map: :class:`MaskOptions` → :func:`depth_mask` → :class:`MaskResult`.

How the settings combine, in this order (``docs/masks.md`` has pictures in words and examples):

1. **Nearness** ``n`` in [0, 1], 1 = nearest — exactly what a depth PNG stores. A
   :class:`DepthMap` is normalised with :meth:`DepthMap.nearness`; an array is taken as stored.
   It is resized (bilinear) to the picture's size when the sizes differ.
2. **Band**: the cut-offs ``lo ≤ hi`` are ``near_min``/``near_max`` on ``n`` directly, or, with
   ``percentiles=(a, b)``, the a-th and b-th percentiles of ``n`` over the picture. A cut-off at
   the end of the range (``lo = 0`` or percentile 0, ``hi = 1`` or percentile 100) is open:
   everything beyond it is in the band.
3. **Selection** ``s(n)``: 1 inside the band, 0 outside. With ``hard`` it is a step
   (``lo ≤ n ≤ hi``); otherwise each closed cut-off is a linear ramp ``ramp`` wide centred on it
   (``s = 0.5`` exactly at the cut-off).
4. **Repaint**: the band is the depth that is *kept*: ``repaint = 1 - s``. ``invert`` repaints
   the band instead: ``repaint = s``. Invert never moves the cut-offs — they always refer to the
   nearness of step 1 — so ``invert`` gives exactly the complementary mask (the old depthmap2mask
   inverted the depth *before* its contrast cut, so the same cut selected another region).
5. **Grow**: ``grow_px > 0`` dilates the white (repainted) area by that many pixels (square),
   ``grow_px < 0`` erodes it. It acts on the repainted area whatever ``invert`` says.
6. **Feather**: Gaussian blur of standard deviation ``feather_px`` pixels.
7. Rounded to 8 bits: an "L" image, white (255) = repaint, black (0) = keep — A1111's convention.

Steps 3–7 run on 8-bit levels with OpenCV, feather strip by strip and only where the mask has
edges (see :func:`_mask_levels`); every level is within one of computing them in float and
rounding last, and a hard cut without feather is exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from lib_depth3d.depth.depthmap import DepthMap
from lib_depth3d.errors import InputError
from lib_depth3d.files import to_rgb
from lib_depth3d.mask.filters import dilate, erode, gaussian_blur, gaussian_radius_px

MAX_FILTER_PX = 512
ASPECT_TOLERANCE = 0.01
# Pixels per tile of the grow-and-feather pipeline: small enough that a tile's temporaries stay
# in the CPU's cache instead of filling whole-picture arrays. Tiles are at most TILE_COLUMNS wide,
# so that their rows stay many times the filters' reach: a strip of a 4096-wide picture cut to
# 64 rows made grow and blur read 1.5 times its rows on a map with edges everywhere (1.16 times
# at 1024 wide), and that overlap, not the pixels, made the time grow faster than the picture.
STRIP_PIXELS = 1 << 18
TILE_COLUMNS = 1024


@dataclass(frozen=True)
class MaskOptions:
    """How a depth map becomes a mask (white = repaint). See the module docstring for the order.

    Attributes:
        near_min, near_max: the band's cut-offs on nearness (1 = nearest, as a depth PNG stores it),
            ``0 ≤ near_min ≤ near_max ≤ 1``. The default keeps the nearer half and repaints the rest.
        percentiles: ``(a, b)`` with ``0 ≤ a ≤ b ≤ 100``; when given, the cut-offs are those
            percentiles of the picture's nearness and ``near_min``/``near_max`` are ignored.
        invert: repaint the band instead of keeping it.
        hard: a black/white step at the cut-offs instead of a soft ramp.
        ramp: width, in nearness units, of the soft ramp centred on each closed cut-off.
        feather_px: standard deviation in pixels of the Gaussian blur applied last (0 = none).
        grow_px: pixels by which the repainted area grows (> 0) or shrinks (< 0).
    """

    near_min: float = 0.5
    near_max: float = 1.0
    percentiles: tuple[float, float] | None = None
    invert: bool = False
    hard: bool = False
    ramp: float = 0.05
    feather_px: float = 0.0
    grow_px: int = 0

    def __post_init__(self) -> None:
        for name in ("near_min", "near_max", "ramp", "feather_px"):
            if not np.isfinite(getattr(self, name)):
                raise InputError(f"Mask setting {name} must be a finite number, got {getattr(self, name)!r}.")
        if not 0.0 <= self.near_min <= self.near_max <= 1.0:
            raise InputError(
                f"The depth band must satisfy 0 ≤ min ≤ max ≤ 1 (1 = nearest); got min {self.near_min}, "
                f"max {self.near_max}."
            )
        if self.percentiles is not None:
            if len(self.percentiles) != 2:
                raise InputError(f"Percentiles are two numbers (low, high); got {self.percentiles!r}.")
            low, high = self.percentiles
            if not (np.isfinite(low) and np.isfinite(high) and 0.0 <= low <= high <= 100.0):
                raise InputError(
                    f"Percentiles must satisfy 0 ≤ low ≤ high ≤ 100; got {low} and {high}."
                )
            object.__setattr__(self, "percentiles", (float(low), float(high)))
        if not 0.0 < self.ramp <= 1.0:
            raise InputError(f"The soft ramp width must be in (0, 1] nearness units; got {self.ramp}.")
        if not 0.0 <= self.feather_px <= MAX_FILTER_PX:
            raise InputError(f"Feather must be between 0 and {MAX_FILTER_PX} pixels; got {self.feather_px}.")
        if int(self.grow_px) != self.grow_px or abs(self.grow_px) > MAX_FILTER_PX:
            raise InputError(
                f"Grow/shrink must be a whole number of pixels between -{MAX_FILTER_PX} and {MAX_FILTER_PX}; "
                f"got {self.grow_px}."
            )
        object.__setattr__(self, "grow_px", int(self.grow_px))


@dataclass(frozen=True)
class MaskResult:
    """A mask and what the user should know about it.

    Attributes:
        mask: PIL "L" image of the requested size, 255 = repaint, 0 = keep.
        cutoffs: the band ``(lo, hi)`` actually used, on nearness (percentiles resolved).
        warnings: sentences for the user (constant depth, stretched depth, empty or full mask).
    """

    mask: Image.Image
    cutoffs: tuple[float, float]
    warnings: list[str] = field(default_factory=list)


def _nearness(depth: DepthMap | np.ndarray) -> tuple[np.ndarray, bool]:
    """(nearness in [0, 1], whether the input is constant)."""
    if isinstance(depth, DepthMap):
        return depth.nearness(), bool(np.ptp(depth.values) == 0)
    values = np.asarray(depth)
    if values.ndim == 3 and values.shape[-1] == 1:
        values = values[..., 0]
    if values.ndim != 2 or values.size == 0:
        raise InputError(f"A nearness map must be a 2-D array, got shape {values.shape}.")
    if not np.issubdtype(values.dtype, np.number) or np.issubdtype(values.dtype, np.complexfloating):
        raise InputError(f"A nearness map must hold real numbers, not {values.dtype}.")
    values = values.astype(np.float32, copy=False)
    low, high = float(values.min()), float(values.max())
    if not (np.isfinite(low) and np.isfinite(high)):  # min and max are NaN or infinite if any value is
        raise InputError("The nearness map has NaN or infinite values; every value must be finite.")
    if low < 0.0 or high > 1.0:
        raise InputError(
            f"Nearness values must lie in [0, 1] (1 = nearest), got {low:g} to {high:g}. "
            "Pass raw depth as a DepthMap, which is normalised for you."
        )
    return values, high == low


def _resized(nearness: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    if (width, height) == (nearness.shape[1], nearness.shape[0]):
        return nearness
    resized = Image.fromarray(nearness, mode="F").resize((width, height), Image.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def band_cutoffs(nearness: np.ndarray, options: MaskOptions) -> tuple[float, float, bool, bool]:
    """The band ``(lo, hi)`` on nearness and whether each end is closed (a real cut-off)."""
    if options.percentiles is None:
        low, high = options.near_min, options.near_max
        return low, high, low > 0.0, high < 1.0
    low_percent, high_percent = options.percentiles
    low, high = (float(value) for value in np.percentile(nearness, [low_percent, high_percent]))
    return low, high, low_percent > 0.0, high_percent < 100.0


def band_selection(
    nearness: np.ndarray, low: float, high: float, closed: tuple[bool, bool], hard: bool, ramp: float
) -> np.ndarray:
    """How much each pixel lies in the band ``[low, high]``: 1 inside, 0 outside, ramps between."""
    close_low, close_high = closed
    if hard:
        inside = np.ones(nearness.shape, dtype=bool)
        if close_low:
            inside &= nearness >= low
        if close_high:
            inside &= nearness <= high
        return inside.astype(np.float32)
    selection = np.ones(nearness.shape, dtype=np.float32)
    if close_low:
        selection = np.minimum(selection, np.clip((nearness - low) / ramp + 0.5, 0.0, 1.0))
    if close_high:
        selection = np.minimum(selection, np.clip((high - nearness) / ramp + 0.5, 0.0, 1.0))
    return selection


def _ramp_levels(nearness: np.ndarray, cutoff: float, ramp: float, rising: bool) -> np.ndarray:
    """8-bit levels of a soft ramp ``ramp`` wide centred on ``cutoff``: 127.5 there, rising or falling with nearness."""
    import cv2

    # The offset from the float32 cut-off is exact near it, so a pixel on the cut-off is exactly half.
    offset = cv2.subtract(nearness, float(np.float32(cutoff)))
    slope = (255.0 if rising else -255.0) / ramp
    return cv2.addWeighted(offset, slope, offset, 0.0, 127.5, dtype=cv2.CV_8U)


def _repaint(nearness: np.ndarray, low: float, high: float, closed: tuple[bool, bool], options: MaskOptions) -> np.ndarray:
    """Steps 3–4 as 8-bit levels (uint8, 255 = repaint): a step for a hard cut, ramps for a soft one.

    Rounding to 8 bits before grow and feather moves no final level by more than one: a dilation
    or erosion commutes with rounding, and a blur, whose weights sum to 1, keeps the rounding
    error within half a level.
    """
    # One row: OpenCV's Python binding reads a float beside a 4×1 array as a 4×1 array, not a scalar.
    levels = _repaint_row(nearness.reshape(1, -1), low, high, closed, options)
    return levels.reshape(nearness.shape)


def _repaint_row(nearness: np.ndarray, low: float, high: float, closed: tuple[bool, bool], options: MaskOptions) -> np.ndarray:
    import cv2

    close_low, close_high = closed
    if not options.hard:
        # With invert, repaint = s = the least of the closed cut-offs' ramps; without, 1 - s = the
        # greatest of their mirrored ramps.
        ramps = [_ramp_levels(nearness, cutoff, options.ramp, rising=rising != options.invert)
                 for cutoff, rising, closed_end in ((low, False, close_low), (high, True, close_high)) if closed_end]
        if not ramps:
            return np.full(nearness.shape, 255 if options.invert else 0, dtype=np.uint8)
        combine = cv2.min if options.invert else cv2.max
        return ramps[0] if len(ramps) == 1 else combine(ramps[0], ramps[1], dst=ramps[0])
    # The cut-offs as float32, as numpy compares a float32 map with a Python float.
    lower, upper = float(np.float32(low)), float(np.float32(high))
    if (close_low and close_high) or options.invert:
        inside = cv2.inRange(nearness, lower if close_low else -np.inf, upper if close_high else np.inf)
        return inside if options.invert else cv2.bitwise_not(inside, dst=inside)
    # One open end: outside the band is one comparison, a pass fewer than cutting and inverting.
    if close_low:
        return cv2.compare(nearness, lower, cv2.CMP_LT)
    if close_high:
        return cv2.compare(nearness, upper, cv2.CMP_GT)
    return np.zeros(nearness.shape, dtype=np.uint8)


def _grown(repaint: np.ndarray, grow_px: int) -> np.ndarray:
    """Step 5 on 8-bit levels: dilated by ``grow_px`` (> 0), eroded by ``-grow_px`` (< 0)."""
    if grow_px > 0:
        return dilate(repaint, grow_px)
    if grow_px < 0:
        return erode(repaint, -grow_px)
    return repaint


def _write_grown_feathered_levels(out: np.ndarray, repaint: np.ndarray, options: MaskOptions, first_row: int) -> None:
    """Writes into ``out`` the levels of ``repaint`` rows ``first_row`` … ``first_row + len(out)``, grown and blurred.

    ``repaint`` holds every row that the grow and the blur reach from those rows (fewer only at
    the picture's edges). Only the runs of columns whose reach sees more than one value are grown
    and blurred, a tile of at most :data:`TILE_COLUMNS` at a time: elsewhere both leave a constant
    as it is, and a mask is mostly wide flat areas.
    """
    import cv2

    reach = abs(options.grow_px) + gaussian_radius_px(options.feather_px)
    column_low, column_high = repaint.min(axis=0), repaint.max(axis=0)
    varies = dilate(column_high[None], reach)[0] != erode(column_low[None], reach)[0]
    out[...] = column_low
    changing = np.flatnonzero(varies)
    if not changing.size:
        return
    # Runs of varying columns, joined where the flat gap between them is narrower than two reaches.
    breaks = np.flatnonzero(np.diff(changing) > 2 * reach)
    runs = zip(changing[np.r_[0, breaks + 1]], changing[np.r_[breaks, -1]] + 1)
    tiles = [(left, min(left + TILE_COLUMNS, stop)) for start, stop in runs for left in range(start, stop, TILE_COLUMNS)]
    # The blur needs the grown rows within its radius of ``out``'s rows; the strip has more for the grow.
    radius = gaussian_radius_px(options.feather_px)
    top, bottom = max(0, first_row - radius), min(len(repaint), first_row + len(out) + radius)
    rows = slice(first_row - top, first_row - top + len(out))
    for left, right in tiles:
        window_left = max(0, left - reach)
        window = repaint[:, window_left:min(repaint.shape[1], right + reach)]
        blurred = gaussian_blur(_grown(window, options.grow_px)[top:bottom], options.feather_px)
        out[:, left:right] = cv2.convertScaleAbs(blurred[rows, left - window_left:right - window_left])


def _mask_levels(
    nearness: np.ndarray, low: float, high: float, closed: tuple[bool, bool], options: MaskOptions
) -> np.ndarray:
    """Steps 3–7: the mask's 8-bit levels (uint8 H×W, 255 = repaint) from nearness and the band.

    The selection is made once for the whole picture, as 8-bit levels (a quarter of the nearness
    map's bytes). A feathered mask is then grown and blurred strip by strip: each strip reads the
    rows around it that the grow and the blur reach, so its result is the whole-picture result,
    while its temporaries stay small enough for the CPU's cache.
    """
    height, width = nearness.shape
    repaint = _repaint(nearness, low, high, closed, options)
    if options.feather_px <= 0:
        return _grown(repaint, options.grow_px)
    reach = abs(options.grow_px) + gaussian_radius_px(options.feather_px)
    strip_rows = max(4 * reach, -(-STRIP_PIXELS // min(width, TILE_COLUMNS)))
    levels = np.empty((height, width), dtype=np.uint8)
    for top in range(0, height, strip_rows):
        bottom = min(top + strip_rows, height)
        first = max(0, top - reach)
        strip = repaint[first:min(height, bottom + reach)]
        _write_grown_feathered_levels(levels[top:bottom], strip, options, top - first)
    return levels


def depth_mask(
    depth: DepthMap | np.ndarray, options: MaskOptions | None = None, size: tuple[int, int] | None = None
) -> MaskResult:
    """The inpainting mask of a depth map: white = repaint (A1111's ``p.image_mask``).

    Args:
        depth: a :class:`DepthMap` (normalised to nearness), or a nearness array in [0, 1]
            (1 = nearest) taken as stored, e.g. a depth PNG read with ``load_depth``.
        options: band, invert, hard/soft, grow and feather (defaults: :class:`MaskOptions`).
        size: ``(width, height)`` in pixels of the picture the mask is for; a depth map of
            another size is resized to it (bilinear). ``None`` keeps the depth map's size.

    A constant depth map cannot be split by depth: the mask is all black (nothing repainted) or,
    with ``invert``, all white, and a warning says so. Raises :class:`InputError` for bad input.
    """
    options = options or MaskOptions()
    nearness, constant = _nearness(depth)
    warnings: list[str] = []
    depth_height, depth_width = nearness.shape
    if size is not None:
        width, height = (int(value) for value in size)
        if width < 1 or height < 1:
            raise InputError(f"A mask needs a positive size, got {width}×{height}.")
        if abs((depth_width / depth_height) / (width / height) - 1.0) > ASPECT_TOLERANCE:
            warnings.append(
                f"The depth map is {depth_width}×{depth_height} but the picture is {width}×{height}; "
                "it was stretched to the picture's size. Check that it belongs to this picture."
            )
        nearness = _resized(nearness, (width, height))
    low, high, close_low, close_high = band_cutoffs(nearness, options)
    if constant:
        if isinstance(depth, DepthMap):
            selection = np.ones(nearness.shape, dtype=np.float32)
            reason = "every pixel is treated as inside the band"
        else:
            selection = band_selection(nearness, low, high, (close_low, close_high), True, options.ramp)
            reason = f"its value {float(nearness.flat[0]):.3f} lies {'inside' if selection.flat[0] else 'outside'} the band"
        repaint = selection if options.invert else 1.0 - selection
        warnings.append(
            f"The depth map is constant, so depth cannot separate anything: {reason}, and the mask "
            f"{'repaints everything' if repaint.flat[0] else 'repaints nothing'}."
        )
        grey = np.full(nearness.shape, 255 if repaint.flat[0] else 0, dtype=np.uint8)
        return MaskResult(Image.fromarray(grey, "L"), (low, high), warnings)

    grey = _mask_levels(nearness, low, high, (close_low, close_high), options)
    darkest, brightest = int(grey.min()), int(grey.max())
    if brightest == 0:
        warnings.append(f"The mask repaints nothing: no pixel lies {'inside' if options.invert else 'outside'} "
                        f"the depth band {low:.3f}–{high:.3f}.")
    elif darkest == 255:
        warnings.append(f"The mask repaints everything: no pixel lies {'outside' if options.invert else 'inside'} "
                        f"the depth band {low:.3f}–{high:.3f}.")
    return MaskResult(Image.fromarray(grey, "L"), (low, high), warnings)


def cutout_rgba(picture: Image.Image, mask: Image.Image) -> Image.Image:
    """The kept part of ``picture`` as RGBA: alpha = 255 − mask (repainted areas transparent).

    A picture that already has alpha keeps it where it is lower (transparent stays transparent).
    Any mode is accepted (RGB, RGBA, L, LA, P, 16-bit); colours are converted to 8-bit RGB.
    Raises :class:`InputError` when the mask is not the picture's size.
    """
    if mask.size != picture.size:
        raise InputError(
            f"The mask is {mask.width}×{mask.height} but the picture is {picture.width}×{picture.height}; "
            "build the mask with the picture's size."
        )
    keep = 255 - np.asarray(mask.convert("L"), dtype=np.uint8)
    if "A" in picture.getbands() or (picture.mode == "P" and "transparency" in picture.info):
        existing = np.asarray(picture.convert("RGBA"), dtype=np.uint8)[..., 3]
        keep = np.minimum(keep, existing)
    rgba = to_rgb(picture).convert("RGBA")
    rgba.putalpha(Image.fromarray(keep, "L"))
    return rgba
