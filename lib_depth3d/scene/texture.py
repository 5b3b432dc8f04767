"""The scene's texture: the picture's own file when the scene shows it unchanged, else encoded.

A photo is a JPEG; re-encoding it as PNG made a 4032×3024 photo's ``.glb`` 14.8 MB. With the
default ``texture_format`` ``'source'`` the texture keeps the source's encoding:

* the file's own bytes when they decode to exactly the picture the scene shows — a JPEG or PNG
  whose pixels are 8-bit RGB, with no EXIF rotation (orientation 1) and the picture's size
  (:func:`picture_file`); nothing is decoded or encoded again;
* otherwise the picture encoded as its source was: JPEG (``jpeg_quality``) for a JPEG that had
  to be turned upright or converted (CMYK, greyscale), PNG for anything else, and PNG when the
  file is unknown (the tab and the WebUI hand over decoded pictures).

``'png'`` and ``'jpeg'`` always encode the picture that way. The background layer's texture is
encoded in the same format as the picture's.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Literal

from PIL import Image

from lib_depth3d.errors import SceneError
from lib_depth3d.files import read_picture_header, rgb_png_bytes

TextureEncoding = Literal["png", "jpeg"]
MIME_TYPES: dict[str, str] = {"png": "image/png", "jpeg": "image/jpeg"}
_ENCODINGS = {"PNG": "png", "JPEG": "jpeg"}


@dataclass(frozen=True)
class PictureFile:
    """The file a picture was decoded from, as far as its texture goes.

    Attributes:
        encoding: 'png' or 'jpeg', or None for an encoding glTF does not take (WebP, …).
        embeddable: the file's bytes when the scene may embed them as they are (they decode to
            the picture the scene shows), else None.
    """

    encoding: TextureEncoding | None
    embeddable: bytes | None


def picture_file(data: bytes, picture: Image.Image) -> PictureFile:
    """What the texture may take from ``data``, the file ``picture`` was decoded from (EXIF
    orientation applied; any mode)."""
    header = read_picture_header(data, "The picture")
    encoding = _ENCODINGS.get(header.format)
    unchanged = (
        encoding is not None
        and header.mode == picture.mode == "RGB"
        and header.orientation == 1
        and header.stored_size_px == picture.size
    )
    return PictureFile(encoding, data if unchanged else None)


def texture_encoding(texture_format: str, source: PictureFile | None) -> TextureEncoding:
    """The encoding ``texture_format`` ('source', 'png' or 'jpeg') gives a picture from ``source``."""
    if texture_format == "source":
        return "jpeg" if source is not None and source.encoding == "jpeg" else "png"
    if texture_format in MIME_TYPES:
        return texture_format
    raise SceneError(f"Unknown texture format {texture_format!r}; use 'source', 'png' or 'jpeg'.")


def encode_texture(
    picture: Image.Image, encoding: TextureEncoding, jpeg_quality: int, grown: bool = False
) -> tuple[bytes, str]:
    """(bytes, MIME type) of the RGB ``picture`` encoded as ``png`` or ``jpeg``; ``grown``: its
    colours were grown into repeated blocks (the background layer's), which PNG finds and packs."""
    if encoding == "png":
        return rgb_png_bytes(picture, find_repeats=grown), MIME_TYPES[encoding]
    if encoding != "jpeg":
        raise SceneError(f"Unknown texture encoding {encoding!r}; use 'png' or 'jpeg'.")
    if not 1 <= jpeg_quality <= 100:
        raise SceneError(f"The JPEG quality must be between 1 and 100, got {jpeg_quality}.")
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=int(jpeg_quality), subsampling=0)
    return buffer.getvalue(), MIME_TYPES[encoding]


def picture_texture(
    picture: Image.Image, source: PictureFile | None, texture_format: str, jpeg_quality: int
) -> tuple[bytes, str]:
    """(bytes, MIME type) of the scene's texture of the RGB ``picture`` (see the module docstring)."""
    encoding = texture_encoding(texture_format, source)
    if texture_format == "source" and source is not None and source.embeddable is not None:
        return source.embeddable, MIME_TYPES[encoding]
    return encode_texture(picture, encoding, jpeg_quality)
