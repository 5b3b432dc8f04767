"""The :class:`DepthMap` value and its files (16-bit PNG, 8-bit PNG, float ``.npy``).

Kinds of depth:

* ``disparity`` — relative inverse depth, affine-invariant (MiDaS, Depth Anything V2 relative):
  larger = nearer, unknown scale and shift.
* ``depth`` — z-depth (distance along the viewing axis) in arbitrary units.
* ``metric`` — z-depth in metres.

A depth *image* (PNG) always stores "near = bright": disparity is min-max normalised as is,
z-depth is stored inverted so the convention holds for every kind.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import numpy as np
from PIL import Image

from lib_depth3d.errors import InputError
from lib_depth3d.files import open_image, write_bytes_atomic

DepthKind = Literal["disparity", "depth", "metric"]
DEPTH_KINDS: tuple[str, ...] = ("disparity", "depth", "metric")


@dataclass(frozen=True)
class DepthMap:
    """A depth map at a picture's resolution.

    Attributes:
        values: float32 array of shape (height, width), all finite.
        kind: ``disparity`` (near = large), ``depth`` (z-depth, any unit) or ``metric`` (z-depth, m).
    """

    values: np.ndarray
    kind: DepthKind

    def __post_init__(self) -> None:
        if self.kind not in DEPTH_KINDS:
            raise InputError(f"Unknown depth kind {self.kind!r}; use one of {', '.join(DEPTH_KINDS)}.")
        values = np.asarray(self.values)
        if values.ndim == 3 and values.shape[-1] == 1:
            values = values[..., 0]
        if values.ndim != 2 or values.size == 0:
            raise InputError(f"A depth map must be a 2-D array, got shape {values.shape}.")
        values = values.astype(np.float32, copy=False)
        if not np.all(np.isfinite(values)):
            bad = int(np.count_nonzero(~np.isfinite(values)))
            raise InputError(f"The depth map has {bad} NaN or infinite values; every value must be finite.")
        if self.kind != "disparity" and np.any(values <= 0):
            raise InputError(f"A {self.kind} map must be positive everywhere (z-depth > 0).")
        object.__setattr__(self, "values", values)

    @property
    def height(self) -> int:
        return int(self.values.shape[0])

    @property
    def width(self) -> int:
        return int(self.values.shape[1])

    def nearness(self) -> np.ndarray:
        """Values scaled to [0, 1] with 1 = nearest (what a depth PNG stores). Constant maps give 0."""
        near_large = self.values if self.kind == "disparity" else 1.0 / self.values
        low, high = float(near_large.min()), float(near_large.max())
        if high - low <= 0:
            return np.zeros_like(near_large, dtype=np.float32)
        return ((near_large - low) / (high - low)).astype(np.float32)

    def resized(self, width: int, height: int) -> "DepthMap":
        """Bilinear resize (in float) to ``width``×``height``."""
        if (width, height) == (self.width, self.height):
            return self
        resized = Image.fromarray(self.values, mode="F").resize((width, height), Image.BILINEAR)
        return DepthMap(np.asarray(resized, dtype=np.float32), self.kind)


def depth_png_bytes(depth: DepthMap) -> bytes:
    """A 16-bit greyscale PNG of :meth:`DepthMap.nearness` (near = 65535)."""
    quantised = np.round(depth.nearness() * 65535.0).astype(np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(quantised, mode="I;16").save(buffer, format="PNG")
    return buffer.getvalue()


def depth_npy_bytes(depth: DepthMap) -> bytes:
    """The depth's values as stored (float32, in its kind's unit) in a NumPy ``.npy`` file."""
    buffer = io.BytesIO()
    np.save(buffer, depth.values)
    return buffer.getvalue()


DEPTH_WRITERS: dict[str, Callable[[DepthMap], bytes]] = {
    ".png": depth_png_bytes,
    ".npy": depth_npy_bytes,
}
"""Depth file encoders by file suffix: a new depth format is its encoder and one line here."""


def depth_writer(path: str | os.PathLike) -> Callable[[DepthMap], bytes]:
    """The encoder for ``path``'s suffix; :class:`InputError` listing the suffixes for another."""
    suffix = Path(path).suffix.lower()
    if suffix not in DEPTH_WRITERS:
        endings = " or ".join(DEPTH_WRITERS)
        raise InputError(f"Depth output must end in {endings}, not {Path(path).name}.")
    return DEPTH_WRITERS[suffix]


def save_depth(depth: DepthMap, path: str | os.PathLike) -> None:
    """Write a depth map in the format of ``path``'s suffix (:data:`DEPTH_WRITERS`), atomically."""
    write_bytes_atomic(path, depth_writer(path)(depth))


def load_depth(path: str | os.PathLike, kind: DepthKind = "disparity") -> DepthMap:
    """Read a depth map from a ``.npy`` (values as stored) or an 8/16-bit PNG (near = bright).

    A PNG holds normalised nearness; read as ``disparity`` it is returned in [0, 1].
    As ``depth`` or ``metric`` a PNG is refused: it has lost the scale, use ``.npy``.
    """
    path = Path(path)
    if path.suffix.lower() == ".npy":
        try:
            values = np.load(path, allow_pickle=False)
        except FileNotFoundError as error:
            raise InputError(f"Depth file not found: {path}.") from error
        except (OSError, ValueError) as error:
            raise InputError(f"{path} is not a readable .npy array ({error}).") from error
        if not np.issubdtype(values.dtype, np.number):
            raise InputError(f"{path} holds {values.dtype} values; a depth map must be numeric.")
        return DepthMap(values, kind)
    picture = open_image(path)
    if kind != "disparity":
        raise InputError(
            f"{path.name} is a depth image (normalised, near = bright); read it as 'disparity', "
            "or give z-depth as a float .npy."
        )
    return DepthMap(depth_image_nearness(picture), "disparity")


def depth_image_nearness(picture: Image.Image) -> np.ndarray:
    """A depth picture (8/16-bit grey or RGB, near = bright) → float32 in [0, 1]."""
    if picture.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(picture, dtype=np.float64)
        top = 65535.0 if picture.mode.startswith("I;16") or values.max() > 255 else 255.0
        return (values / top).astype(np.float32)
    if picture.mode == "F":
        return np.asarray(picture, dtype=np.float32)
    return (np.asarray(picture.convert("L"), dtype=np.float32) / 255.0).astype(np.float32)
