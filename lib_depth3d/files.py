"""Reading pictures and writing outputs safely.

Every output goes through :mod:`lib_depth3d.output_sets`: it is written under a hidden partial
name in the destination folder and renamed over the destination only when complete (with the
other files of its set), so a failure never leaves a half-written file where a good one stood.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import Iterator

from PIL import Image, ImageOps, UnidentifiedImageError

from lib_depth3d.errors import InputError
from lib_depth3d.output_sets import check_targets, settle_folder, stage, write_error, write_file_set

MAX_IMAGE_PIXELS = 16384 * 16384
# open_image refuses larger pictures itself with a clear message; Pillow's lower default
# decompression-bomb threshold would otherwise reject 16k pictures with a generic one.
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a hidden partial path beside ``path`` to write into; rename it to ``path`` on success.

    For one file written by a library that wants a path (PIL, numpy): one rename needs no journal
    (:mod:`lib_depth3d.output_sets`). The partial file is removed on any exit; :class:`OutputError`
    names a target that cannot be written.
    """
    (target,) = check_targets([path])
    settle_folder(target.parent)
    part = stage(target, b"")
    try:
        yield part
        try:
            os.replace(part, target)
        except OSError as error:
            raise write_error(target, error) from error
    finally:
        part.unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` as a set of one file (:func:`lib_depth3d.output_sets.write_file_set`)."""
    write_file_set([(path, data)])


def png_bytes(picture: Image.Image) -> bytes:
    """The picture encoded as PNG."""
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def read_input_file(path: str | os.PathLike, what: str) -> bytes:
    """The bytes of a user-given file; :class:`InputError` naming ``what`` when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError as error:
        raise InputError(f"{what} not found: {path}.") from error
    except OSError as error:
        raise InputError(f"Cannot read {what} {path}: {error.strerror or error}.") from error


def open_image(source: str | os.PathLike | bytes) -> Image.Image:
    """Decode a picture from a path or bytes, honouring its EXIF orientation.

    The picture keeps its mode (RGB, RGBA, L, I;16, …); callers convert as they need.
    Raises :class:`InputError` for a missing, unreadable or oversized picture.
    """
    name = "the uploaded picture" if isinstance(source, bytes) else str(source)
    data = source if isinstance(source, bytes) else None
    if data is None:
        try:
            data = Path(source).read_bytes()
        except FileNotFoundError as error:
            raise InputError(f"Picture not found: {name}.") from error
        except OSError as error:
            raise InputError(f"Cannot read the picture {name}: {error.strerror or error}.") from error
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if opened.width * opened.height > MAX_IMAGE_PIXELS:
                raise InputError(
                    f"The picture {name} is {opened.width}×{opened.height}; "
                    f"Depth3D accepts at most {MAX_IMAGE_PIXELS} pixels (16384×16384)."
                )
            opened.load()
            if opened.format == "PNG" and opened.mode == "I":
                # Pillow < 10 opens 16-bit greyscale PNGs as 32-bit "I"; I;16 keeps their full scale known.
                opened = opened.convert("I;16")
            return ImageOps.exif_transpose(opened)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise InputError(
            f"{name} is not a readable picture ({error}). Use a PNG, JPEG or WebP file."
        ) from error
    except Image.DecompressionBombError as error:
        raise InputError(f"The picture {name} is too large to open safely ({error}).") from error


def to_rgb(picture: Image.Image) -> Image.Image:
    """Convert any PIL mode (RGBA, LA, P, L, I;16, I, F) to 8-bit RGB.

    Alpha is dropped (not composited: the colours under transparent pixels are kept);
    16-bit and float greyscale are scaled to 8 bits over their full range.
    """
    if picture.mode == "RGB":
        return picture
    if picture.mode == "La":  # premultiplied alpha, which Pillow converts to nothing but LA
        picture = picture.convert("LA")
    if picture.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        import numpy as np

        values = np.asarray(picture, dtype=np.float64)
        top = 65535.0 if picture.mode.startswith("I;16") else max(float(values.max()), 1.0)
        grey = np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    return picture.convert("RGBA").convert("RGB") if "A" in picture.getbands() else picture.convert("RGB")
