"""Reading pictures and writing outputs safely.

Every output goes through :func:`atomic_output`: it is written under a temporary name in the
destination folder and renamed over the destination only when complete, so a failure never
leaves a half-written file where a good one stood.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from pathlib import Path
from typing import Iterator

from PIL import Image, ImageOps, UnidentifiedImageError

from lib_depth3d.errors import InputError

MAX_IMAGE_PIXELS = 16384 * 16384
# open_image refuses larger pictures itself with a clear message; Pillow's lower default
# decompression-bomb threshold would otherwise reject 16k pictures with a generic one.
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``.

    Raises :class:`InputError` naming the folder when it cannot be written to.
    """
    destination = Path(path)
    folder = destination.parent if str(destination.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"Cannot write {destination}: the folder {folder} does not exist.")
    try:
        handle, temporary_name = tempfile.mkstemp(
            prefix=f".{destination.name}.", suffix=".part", dir=folder
        )
    except OSError as error:
        raise InputError(
            f"Cannot write {destination}: {error.strerror or error}. Choose a writable folder."
        ) from error
    os.close(handle)
    temporary = Path(temporary_name)
    # mkstemp creates 0600; outputs are shared files, so give them the umask's usual mode.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)
    try:
        yield temporary
        os.replace(temporary, destination)
    finally:
        if temporary.exists():
            temporary.unlink()


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through :func:`atomic_output`."""
    with atomic_output(path) as temporary:
        temporary.write_bytes(data)


def read_input_file(path: str | os.PathLike, what: str) -> bytes:
    """The bytes of a user-given file; :class:`InputError` naming ``what`` when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError as error:
        raise InputError(f"{what} not found: {path}.") from error
    except OSError as error:
        raise InputError(f"Cannot read {what} {path}: {error.strerror or error}.") from error


@contextlib.contextmanager
def pillow_size_warnings_silenced() -> Iterator[None]:
    """Silence Pillow's DecompressionBombWarning, printed with a source line past Pillow's own
    threshold, within this block only; the caller judges the picture's size in its own words."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def open_image(source: str | os.PathLike | bytes) -> Image.Image:
    """Decode a picture from a path or bytes, honouring its EXIF orientation.

    The picture keeps its mode (RGB, RGBA, L, I;16, …); callers convert as they need.
    Raises :class:`InputError` for a missing, unreadable or oversized picture.
    """
    uploaded = isinstance(source, bytes)
    the_picture = "The uploaded picture" if uploaded else f"The picture {source}"
    the_file = "The uploaded file" if uploaded else str(source)
    data = source if uploaded else None
    if data is None:
        try:
            data = Path(source).read_bytes()
        except FileNotFoundError as error:
            raise InputError(f"Picture not found: {source}.") from error
        except OSError as error:
            raise InputError(f"Cannot read the picture {source}: {error.strerror or error}.") from error
    try:
        with pillow_size_warnings_silenced(), Image.open(io.BytesIO(data)) as opened:
            if opened.width * opened.height > MAX_IMAGE_PIXELS:
                raise InputError(
                    f"{the_picture} is {opened.width}×{opened.height} pixels; "
                    f"Depth3D accepts at most {MAX_IMAGE_PIXELS} pixels (16384×16384)."
                )
            opened.load()
            if opened.format == "PNG" and opened.mode == "I":
                # Pillow < 10 opens 16-bit greyscale PNGs as 32-bit "I"; I;16 keeps their full scale known.
                opened = opened.convert("I;16")
            return ImageOps.exif_transpose(opened)
    except UnidentifiedImageError as error:
        # Pillow's text names only the in-memory buffer (`<_io.BytesIO object at 0x…>`).
        raise InputError(f"{the_file} is not a readable picture. Use a PNG, JPEG or WebP file.") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise InputError(
            f"{the_file} is not a readable picture ({error}). Use a PNG, JPEG or WebP file."
        ) from error
    except Image.DecompressionBombError as error:
        # Pillow's own text quotes its threshold, not ours.
        raise InputError(
            f"{the_picture} is too large: Depth3D accepts at most {MAX_IMAGE_PIXELS} pixels (16384×16384)."
        ) from error


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
