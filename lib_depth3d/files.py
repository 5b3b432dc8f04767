"""Reading pictures and writing outputs safely.

Every output goes through :mod:`lib_depth3d.output_sets`: it is written under a hidden partial
name in the destination folder and renamed over the destination only when complete (with the
other files of its set), so a failure never leaves a half-written file where a good one stood.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import os
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, NamedTuple

from PIL import Image, UnidentifiedImageError

from lib_depth3d.errors import InputError
from lib_depth3d.output_sets import check_targets, settle_folder, stage, write_error, write_file_set

if TYPE_CHECKING:
    import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_CHUNK_HEADER = struct.Struct(">I4s")
MAX_IMAGE_PIXELS = 16384 * 16384
"""The most pixels a picture may have; :func:`open_image` refuses larger ones before decoding."""
EXIF_ORIENTATION = 0x0112
TURNED_ORIENTATIONS = range(2, 9)
"""EXIF orientations other than upright (1): mirrored, turned, or both."""


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


try:
    from isal import isal_zlib as FAST_DEFLATE
except ImportError:  # an environment install.py did not set up: zlib writes the same pixels, slower
    FAST_DEFLATE = None
"""python-isal's zlib (Intel ISA-L), which :func:`grey16_png_bytes` and :func:`rgb_png_bytes`
deflate with when it is installed: at level 1 it took 0.05 s for a 4096² depth map's rows where
zlib's level 1 took 0.17–0.25 s, and 0.13–0.21 s for a 4096² picture's where zlib's run-length
level 1 took 0.56–0.74 s, for files of the same size (8 % smaller for the depth). :func:`open_image`
inflates PNG pictures with it too."""
FAST_DEFLATE_LEVEL = 1
ZLIB_LEVEL = 1
PNG_ROWS_PER_BLOCK = 64
"""Rows filtered and deflated at a time (a 4096-wide RGB block is 768 kB): they stay in the
processor's cache between the filter and the deflate."""


def _png_chunk(kind: bytes, data) -> bytes:
    return b"".join([struct.pack(">I", len(data)), kind, data, struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))])


def _deflater(find_repeats: bool):
    """A compressor of one PNG's image data: :data:`FAST_DEFLATE` at level 1 when installed (it
    always searches for repeated strings), else zlib at level 1, with its run-length strategy
    (only repeats of the byte before) unless ``find_repeats``."""
    if FAST_DEFLATE is not None:
        return FAST_DEFLATE.compressobj(FAST_DEFLATE_LEVEL)
    return zlib.compressobj(ZLIB_LEVEL, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY if find_repeats else zlib.Z_RLE)


def _filtered_png(header: bytes, rows_of, height: int, text: dict[str, str] | None, find_repeats: bool) -> bytes:
    """A PNG of ``header`` (IHDR's data), ``text`` in tEXt chunks (Latin-1 keys and values) and
    one IDAT chunk of the filtered rows ``rows_of(top, bottom)`` gives, a block at a time."""
    compressor = _deflater(find_repeats)
    parts = [compressor.compress(rows_of(top, min(top + PNG_ROWS_PER_BLOCK, height)))
             for top in range(0, height, PNG_ROWS_PER_BLOCK)]
    parts.append(compressor.flush())
    chunks = [_png_chunk(b"IHDR", header)]
    chunks += [_png_chunk(b"tEXt", f"{key}\0{value}".encode("latin-1")) for key, value in (text or {}).items()]
    chunks += [_png_chunk(b"IDAT", b"".join(parts)), _png_chunk(b"IEND", b"")]
    return PNG_SIGNATURE + b"".join(chunks)


def grey16_png_bytes(values, text: dict[str, str] | None = None) -> bytes:
    """A 16-bit greyscale PNG of the (H, W) uint16 array ``values``, ``text`` (Latin-1 keys and
    values) in tEXt chunks before the pixels.

    Every row is Sub-filtered (each byte minus the one a sample, two bytes, before it), which
    turns a smooth depth map into small differences (with zlib, level 1 and the Sub filter were
    faster than level 6 or Pillow's adaptive filters, and smaller than Pillow's level 1); any
    PNG reader reads it.
    """
    height, width = values.shape
    return grey16_png_bytes_of_rows(lambda top, bottom: values[top:bottom], width, height, text)


def grey16_png_bytes_of_rows(levels_of_rows: "Callable[[int, int], np.ndarray]", width: int, height: int,
                             text: dict[str, str] | None = None) -> bytes:
    """:func:`grey16_png_bytes` of the levels (uint16 of either byte order) that
    ``levels_of_rows(top, bottom)`` gives for the rows from ``top`` to ``bottom``, asked for
    :data:`PNG_ROWS_PER_BLOCK` rows at a time: levels computed from a map (a depth PNG's) are
    filtered and deflated while they are in the processor's cache and never held whole."""
    import numpy as np

    def sub_filtered(top: int, bottom: int):
        big_endian = np.ascontiguousarray(levels_of_rows(top, bottom), dtype=">u2").view(np.uint8)
        rows = np.empty((bottom - top, 2 * width + 1), dtype=np.uint8)
        rows[:, 0] = 1  # the Sub filter
        rows[:, 1:3] = big_endian[:, :2]
        np.subtract(big_endian[:, 2:], big_endian[:, :-2], out=rows[:, 3:])  # modulo 256, as PNG defines it
        return rows

    return _filtered_png(struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0), sub_filtered, height, text,
                         find_repeats=True)


def rgb_png_bytes(picture, find_repeats: bool = False) -> bytes:
    """An 8-bit RGB PNG of the RGB ``picture`` (PIL), for textures, where speed counts more than size.

    Every row is Up-filtered (each byte minus the one above it) and deflated at level 1
    (:func:`_deflater`). Without python-isal, zlib's search for repeated strings is mostly wasted
    on a photo: at 4096² a noisy picture took 0.56 s with runs only against 1.3 s with the search
    and 2.5 s with Pillow's ``compress_level=1``, and was 8 % smaller than both; on the fSpy
    projects' photos runs only were 2–5× faster than Pillow, from 30 % smaller to 14 % larger. The
    background layer's texture, whose colours are grown into repeated blocks, is half the size
    with the search (``find_repeats``), in the same time.
    """
    import numpy as np

    width, height = picture.size
    pixels = np.asarray(picture).reshape(height, 3 * width)

    def up_filtered(top: int, bottom: int):
        block = pixels[top:bottom]
        rows = np.empty((len(block), 3 * width + 1), dtype=np.uint8)
        rows[:, 0] = 2  # the Up filter
        above = pixels[top - 1 : top] if top > 0 else np.zeros((1, 3 * width), dtype=np.uint8)
        np.subtract(block[:1], above, out=rows[:1, 1:])  # modulo 256, as PNG defines it
        np.subtract(block[1:], block[:-1], out=rows[1:, 1:])
        return rows

    return _filtered_png(struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0), up_filtered, height, None,
                         find_repeats)


def base64_file_bytes(data: str, what: str) -> bytes:
    """The bytes of a file sent as base64 (a ``data:`` URL prefix is dropped); :class:`InputError`
    naming ``what`` when it is not base64 or empty."""
    text = data.partition(",")[2] if data.startswith("data:") else data
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InputError(f"{what} is not valid base64 ({error}).") from error
    if not raw:
        raise InputError(f"{what} is empty.")
    return raw


def read_input_file(path: str | os.PathLike, what: str) -> bytes:
    """The bytes of a user-given file; :class:`InputError` naming ``what`` when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError as error:
        raise InputError(f"{what} not found: {path}.") from error
    except OSError as error:
        raise InputError(f"Cannot read the {what[:1].lower() + what[1:]} {path}: {error.strerror or error}.") from error


def _open_unchecked(data: bytes) -> Image.Image:
    """Open ``data`` lazily as :func:`PIL.Image.open` does, without Pillow's decompression-bomb
    check: that check reads ``Image.MAX_IMAGE_PIXELS``, a process-wide value the WebUI owns, and
    we judge the size against :data:`MAX_IMAGE_PIXELS` ourselves before anything is decoded."""
    prefix = data[:16]
    # As Pillow's own open: the common formats first, the other plugins (20–30 ms to import) only
    # when none of them reads the file.
    for load_plugins in (Image.preinit, Image.init):
        load_plugins()
        for format_id in Image.ID:
            factory, accept = Image.OPEN[format_id]
            if accept is not None and not accept(prefix):
                continue
            try:
                return factory(io.BytesIO(data), None)
            except (SyntaxError, IndexError, TypeError, struct.error):
                continue
    raise UnidentifiedImageError("cannot identify image file")


def _png_metadata_after_image_data(data: bytes, after_image_data: int | None) -> dict:
    """The info (eXIf, text) of the chunks that follow a PNG's first run of IDAT chunks, undecoded.

    ``after_image_data``: where that run ends (:attr:`PngImageData.end`). Reads what Pillow's
    ``load_end`` reads there, with Pillow's own chunk readers; stops at IEND, the next APNG frame,
    or damage.
    """
    from PIL import PngImagePlugin

    if after_image_data is None:
        return {}
    stream = PngImagePlugin.PngStream(io.BytesIO(memoryview(data)[after_image_data:]))
    while True:
        try:
            kind, position, length = stream.read()
        except (struct.error, SyntaxError):
            break
        if kind in (b"IEND", b"fcTL"):
            break
        try:
            stream.call(kind, position, length)
        except (EOFError, AttributeError):
            stream.fp.seek(position + length)
        except (OSError, SyntaxError, ValueError, zlib.error):
            break
        stream.fp.read(4)  # the chunk's CRC
    return stream.im_info


PNG_FAST_MODES = frozenset({"1", "L", "LA", "RGB", "RGBA"})
"""Pillow modes of the PNGs :func:`_png_inflated_fast` decodes: those without a palette, of 8 bits
a sample or fewer (16-bit ones gain nothing: unpacking them costs Pillow more than the inflate)."""
PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}
"""Samples per pixel of each PNG colour type without a palette (grey, RGB, grey + alpha, RGBA)."""
DEFLATE_STORED_BLOCK = 0xFFFF
"""The most bytes a stored (uncompressed) deflate block holds."""
STORED_BLOCK_HEADER = struct.Struct("<BHH")
"""A stored block's header: final flag and type (0: stored), length, its one's complement."""
ZLIB_HEADER = b"\x78\x01"
"""A zlib stream's header: deflate, 32 KiB window, no dictionary."""


def _decoded_from_stored_blocks(picture: Image.Image, rawmode: str, image_data: list, size: int) -> bool:
    """Decode the PNG rows of the zlib streams ``image_data`` (its pieces, in order) into ``picture``
    by Pillow's PNG decoder, each part :data:`FAST_DEFLATE` inflates handed to it as a stored
    deflate block, which it only copies; False (``picture`` is then partly written) unless they
    inflate to exactly ``size`` bytes and Pillow decodes every row.

    A part is decoded while it is still in the processor's cache, and no copy of the whole
    inflated size is made (at 4096², 25–35 ms less than filling one with stored blocks first).
    Pillow stops at the last row and never reads a checksum; the inflater checks the file's own.
    """
    decoder = Image._getdecoder(picture.mode, "zip", (rawmode,))
    decoder.setimage(picture.im)
    inflater, done = FAST_DEFLATE.decompressobj(), 0
    try:
        decoder.decode(ZLIB_HEADER)
        for piece in image_data:
            while True:
                inflated = inflater.decompress(piece, DEFLATE_STORED_BLOCK)
                piece = inflater.unconsumed_tail
                if not inflated:  # nothing more from this piece (or the stream has ended)
                    break
                done += len(inflated)
                if done > size:  # a stream that inflates to more is not this picture's
                    return False
                header = STORED_BLOCK_HEADER.pack(done == size, len(inflated), len(inflated) ^ 0xFFFF)
                if decoder.decode(header)[1] < 0 or decoder.decode(inflated)[1] < 0:
                    return False
    except FAST_DEFLATE.error:
        return False
    finally:
        decoder.cleanup()
    return done == size


class PngImageData(NamedTuple):
    """A PNG's first run of IDAT chunks, found by walking its chunk headers."""

    payloads: list
    """The run's chunk payloads, in order."""
    end: int | None
    """The offset of the chunk after the run (None when nothing follows it)."""
    bit_depth: int | None
    colour_type: int | None


def _png_image_data(data: bytes) -> PngImageData:
    """A PNG's first run of IDAT chunks, where it ends, its bit depth and colour type."""
    image_data, offset, in_image_data = [], len(PNG_SIGNATURE), False
    bit_depth = colour_type = None
    while offset + PNG_CHUNK_HEADER.size <= len(data):
        length, kind = PNG_CHUNK_HEADER.unpack_from(data, offset)
        payload = memoryview(data)[offset + PNG_CHUNK_HEADER.size : offset + PNG_CHUNK_HEADER.size + length]
        if kind == b"IHDR" and length >= 13:
            bit_depth, colour_type = payload[8], payload[9]
        if kind == b"IDAT":
            image_data.append(payload)
            in_image_data = True
        elif in_image_data:
            return PngImageData(image_data, offset, bit_depth, colour_type)
        offset += PNG_CHUNK_HEADER.size + length + 4
    return PngImageData(image_data, None, bit_depth, colour_type)


def _png_inflated_fast(opened: Image.Image, data: bytes) -> Image.Image | None:
    """The PNG ``opened`` (from ``data``, not yet loaded) decoded with its image data inflated by
    :data:`FAST_DEFLATE`, its info as Pillow's load leaves it; None where that does not apply
    (no python-isal, a palette, 16 bits a sample, interlacing, an animation, data that do not
    inflate to the picture's rows), for Pillow to decode.

    Pillow spends most of a PNG's decoding in zlib's inflate (at 4096² a noisy RGB picture took
    0.38–0.42 s, about 0.3 of it inflating): ISA-L inflates it in 0.11–0.14 s, and Pillow's own
    PNG decoder reads each inflated part as a stored block, unfiltering and unpacking as it always
    does (:func:`_decoded_from_stored_blocks`); 0.21 s in all, the same pixels. A 16-bit depth
    map gains nothing (0.24–0.29 s either way at 4096²): Pillow's unfiltering and unpacking to
    32 bits cost it more than the inflate.
    """
    if FAST_DEFLATE is None or opened.mode not in PNG_FAST_MODES or opened.info.get("interlace"):
        return None
    if getattr(opened, "n_frames", 1) != 1 or len(opened.tile) != 1:
        return None
    decoder, extents, _, rawmode = opened.tile[0]
    if decoder != "zip" or tuple(extents) != (0, 0, *opened.size):
        return None
    image_data, after_image_data, bit_depth, colour_type = _png_image_data(data)
    if colour_type not in PNG_CHANNELS or bit_depth > 8:
        return None
    width, height = opened.size
    row_bytes = 1 + (width * PNG_CHANNELS[colour_type] * bit_depth + 7) // 8  # the filter byte, then the samples
    picture = Image.new(opened.mode, opened.size, None)  # not Image.frombytes's: it fills the picture first
    if not _decoded_from_stored_blocks(picture, rawmode, image_data, height * row_bytes):
        return None
    picture.info = {**opened.info, **_png_metadata_after_image_data(data, after_image_data)}
    return picture


PNG_FILTER_SUB = 1
"""The PNG row filter of :func:`grey16_png_bytes`: each byte minus the one a sample before it."""
PNG_FILTERS_UNDONE_BY_NUMPY = (0, PNG_FILTER_SUB)
"""Row filters (None, Sub) whose rows :func:`_grey16_png_levels` restores in whole-array numpy
passes; the others (Up, Average, Paeth) are left to Pillow's decoder."""
PNG_ROWS_LOOKED_AT = 16
"""The first rows whose filters decide whether a 16-bit PNG's rows are inflated here: Pillow's and
libpng's writers choose Paeth for most rows from the second on; ours writes every row with Sub."""
INFLATED_PART = 1 << 20
"""The most bytes :func:`_inflated` takes from the inflater at a time: the part is still in the
processor's cache when it is copied, and no second buffer of the whole size is made."""


def _inflated(image_data: list, size: int, whole: bool = True) -> bytearray | None:
    """The zlib streams ``image_data`` (its pieces, in order) inflated by :data:`FAST_DEFLATE` (zlib
    without it); None unless they inflate to exactly ``size`` bytes (``whole``), or to at least
    ``size`` bytes, of which the first ``size`` are given (not ``whole``)."""
    inflater_module = FAST_DEFLATE or zlib
    inflated, done = bytearray(size), 0
    into = memoryview(inflated)
    inflater = inflater_module.decompressobj()
    try:
        for piece in image_data:
            while True:
                # At most one byte past the size: a stream that inflates to more is not this picture's.
                wanted = min(INFLATED_PART, size - done + whole)
                part = inflater.decompress(piece, wanted)
                piece = inflater.unconsumed_tail
                if done + len(part) > size:
                    return None
                into[done : done + len(part)] = part
                done += len(part)
                if not whole and done == size:
                    return inflated
                if len(part) < wanted and not piece:  # this piece is spent, nothing is held back
                    break
    except inflater_module.error:
        return None
    return inflated if done == size else None


@dataclass(frozen=True)
class GreyLevels:
    """The samples of a 16-bit greyscale PNG, as :func:`open_depth_picture` reads them.

    Attributes:
        levels: uint16 array of shape (height, width), of either byte order, read-only.
        info: the PNG's info as Pillow's load leaves it (its text chunks, before or after the pixels).
    """

    levels: "np.ndarray"
    info: dict

    @property
    def width(self) -> int:
        return int(self.levels.shape[1])

    @property
    def height(self) -> int:
        return int(self.levels.shape[0])


def _grey16_png_levels(opened: Image.Image, data: bytes) -> GreyLevels | None:
    """The levels of the 16-bit greyscale PNG ``opened`` (from ``data``, not yet loaded); None
    where that does not apply (another kind of PNG, interlacing, an animation, an EXIF block,
    damaged image data), for :func:`open_image`'s path to decode or refuse as it always has.

    Pillow 9.5 unpacks 16-bit samples to a 32-bit image, which then has to be converted back.
    Rows filtered as :func:`grey16_png_bytes` filters them (Sub) are inflated by
    :data:`FAST_DEFLATE` and restored in one numpy pass straight into uint16
    (:func:`_sub_unfiltered_levels`); rows with other filters (Pillow's and libpng's writers choose
    Paeth for most) are decoded by Pillow into a 16-bit image (:func:`_pillow_grey16_levels`).
    The first :data:`PNG_ROWS_LOOKED_AT` rows are inflated alone to choose, so that a file for
    Pillow is not inflated twice.
    """
    import numpy as np

    if opened.info.get("interlace") or getattr(opened, "n_frames", 1) != 1 or len(opened.tile) != 1:
        return None
    image_data, after_image_data, bit_depth, colour_type = _png_image_data(data)
    if (bit_depth, colour_type) != (16, 0):
        return None
    info = {**opened.info, **_png_metadata_after_image_data(data, after_image_data)}
    if "exif" in info:  # it may turn the picture: open_image's path honours that
        return None
    width, height = opened.size
    row_bytes = 1 + 2 * width
    first_rows = _inflated(image_data, min(height, PNG_ROWS_LOOKED_AT) * row_bytes, whole=False)
    if first_rows is None:
        return None
    if np.isin(np.frombuffer(first_rows, dtype=np.uint8)[::row_bytes], PNG_FILTERS_UNDONE_BY_NUMPY).all():
        inflated = _inflated(image_data, height * row_bytes)
        if inflated is None:
            return None
        rows = np.frombuffer(inflated, dtype=np.uint8).reshape(height, row_bytes)
        if np.isin(rows[:, 0], PNG_FILTERS_UNDONE_BY_NUMPY).all():
            return GreyLevels(_sub_unfiltered_levels(rows), info)
    return GreyLevels(_pillow_grey16_levels(opened.size, image_data), info)


def _sub_unfiltered_levels(rows: "np.ndarray") -> "np.ndarray":
    """The uint16 samples (native byte order) of a 16-bit greyscale PNG's inflated ``rows`` (uint8,
    (height, 1 + 2 × width): the filter byte, then big-endian samples), every row filtered with
    None or Sub."""
    import numpy as np

    height, width = rows.shape[0], (rows.shape[1] - 1) // 2
    samples = rows[:, 1:].reshape(height, width, 2)  # the high byte first
    if sys.byteorder == "little":
        samples = samples[..., ::-1]
    levels = np.empty((height, width), dtype=np.uint16)
    lanes = levels.view(np.uint8).reshape(height, width, 2)
    # Sub adds each byte to the one a sample before it, modulo 256, with no carry between a
    # sample's two bytes: a running sum along the row of each byte lane, in uint8.
    sub = rows[:, 0] == PNG_FILTER_SUB
    if sub.all():
        np.cumsum(samples, axis=1, dtype=np.uint8, out=lanes)
    else:
        lanes[...] = samples
        lanes[sub] = np.cumsum(samples[sub], axis=1, dtype=np.uint8)
    return levels


def _pillow_grey16_levels(size: tuple[int, int], image_data: list) -> "np.ndarray":
    """The samples (big-endian uint16, read-only) of a 16-bit greyscale PNG of ``size`` from its
    IDAT payloads, by Pillow's PNG decoder.

    Into a 16-bit image: Pillow 9.5 has no unpacker from I;16B to I;16, and its 32-bit "I" took a
    second pass to convert. The image is laid over the array that is returned, so the decoder
    writes the samples where they are read (its ``tobytes`` copy took 25–50 ms at 4096²), and
    :data:`FAST_DEFLATE` inflates the rows for it where it is installed
    (:func:`_decoded_from_stored_blocks`; image data it cannot decode go to Pillow's own inflate,
    and its messages): at 4096² 0.14–0.18 s where Pillow's load and copy took 0.19–0.23.
    """
    import numpy as np

    width, height = size
    levels = np.empty((height, width), dtype=">u2")
    picture = Image.frombuffer("I;16B", size, levels, "raw", "I;16B", 0, 1)
    if FAST_DEFLATE is None or not _decoded_from_stored_blocks(picture, "I;16B", image_data, height * (1 + 2 * width)):
        picture.frombytes(b"".join(image_data), "zip", "I;16B")
    if not picture.readonly:  # a Pillow that copies a laid-over image before decoding into it
        levels = np.frombuffer(picture.tobytes(), dtype=">u2").reshape(height, width)
    # Left big-endian: a conversion to the native order would be one more pass over 32 MB at 4096²,
    # and whoever reads the levels converts them anyway.
    levels.flags.writeable = False
    return levels


@dataclass(frozen=True)
class PictureHeader:
    """What a picture file's header says, read without decoding the picture.

    Attributes:
        format: Pillow's name of the encoding ('JPEG', 'PNG', 'WEBP', …).
        mode: the mode Pillow decodes it to ('RGB', 'RGBA', 'L', 'CMYK', …).
        stored_size_px: (width, height) as stored, before the EXIF orientation.
        orientation: the EXIF orientation (1 = as stored; 5–8 swap the sides).
    """

    format: str
    mode: str
    stored_size_px: tuple[int, int]
    orientation: int

    @property
    def size_px(self) -> tuple[int, int]:
        """The displayed (width, height)."""
        width, height = self.stored_size_px
        return (height, width) if self.orientation in (5, 6, 7, 8) else (width, height)


def read_picture_header(data: bytes, name: str) -> PictureHeader:
    """The header of the picture file ``data`` (``name`` in messages).

    Reads the header only, and for a PNG the metadata chunks after its image data too (an eXIf
    chunk may follow the pixels, where Pillow finds it only by decoding them): the picture itself
    is never decoded, yet the orientation is the one Pillow's decoding ``getexif`` finds.
    """
    try:
        with _open_unchecked(data) as opened:
            if opened.format == "PNG":
                opened.info.update(_png_metadata_after_image_data(data, _png_image_data(data).end))
                # PngImageFile.getexif decodes the pixels to reach trailing chunks; they are read above.
                exif = Image.Image.getexif(opened)
            else:
                exif = opened.getexif()
            return PictureHeader(str(opened.format), opened.mode, opened.size, int(exif.get(EXIF_ORIENTATION, 1)))
    except UnidentifiedImageError as error:
        # Pillow's text names only the in-memory buffer (`<_io.BytesIO object at 0x…>`).
        raise InputError(f"{name} is not a readable picture. Use a PNG, JPEG or WebP file.") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise InputError(f"{name} is not a readable picture ({error}). Use a PNG, JPEG or WebP file.") from error


def picture_header_size(data: bytes, name: str) -> tuple[int, int]:
    """The displayed (width, height) of the picture file ``data`` (``name`` in messages), from its
    header alone (:func:`read_picture_header`): EXIF orientations 5–8 swap the sides."""
    return read_picture_header(data, name).size_px


def open_image(source: str | os.PathLike | bytes) -> Image.Image:
    """Decode a picture from a path or bytes, honouring its EXIF orientation.

    The picture keeps its mode (RGB, RGBA, L, I;16, …); callers convert as they need.
    Raises :class:`InputError` for a missing, unreadable or oversized picture.
    """
    return _open_picture(source, grey16_as_levels=False)


def open_depth_picture(source: str | os.PathLike | bytes) -> Image.Image | GreyLevels:
    """:func:`open_image` for a depth picture: a 16-bit greyscale PNG comes back as its
    :class:`GreyLevels` (the same levels; at 4096² in 0.52–0.56 of the CPU time Pillow's image and
    its conversion took for our writer's files, 0.51 for Pillow's: docs/scene.md), any other
    picture as :func:`open_image` gives it, with the same errors."""
    return _open_picture(source, grey16_as_levels=True)


def _open_picture(source: str | os.PathLike | bytes, grey16_as_levels: bool) -> Image.Image | GreyLevels:
    uploaded = isinstance(source, bytes)
    the_picture = "The uploaded picture" if uploaded else f"The picture {source}"
    the_file = "The uploaded file" if uploaded else str(source)
    data = source if uploaded else read_input_file(source, "Picture")
    try:
        with _open_unchecked(data) as opened:
            if opened.width * opened.height > MAX_IMAGE_PIXELS:
                raise InputError(
                    f"{the_picture} is {opened.width}×{opened.height} pixels; "
                    f"Depth3D accepts at most {MAX_IMAGE_PIXELS} pixels (16384×16384)."
                )
            is_png = opened.format == "PNG"
            levels = _grey16_png_levels(opened, data) if is_png and grey16_as_levels else None
            if levels is not None:
                return levels
            picture = (_png_inflated_fast(opened, data) if is_png else None) or opened
            if picture is opened:
                opened.load()
            if is_png and picture.mode == "I":
                # Pillow < 10 opens 16-bit greyscale PNGs as 32-bit "I"; I;16 keeps their full scale known.
                picture = picture.convert("I;16")
            if picture.getexif().get(EXIF_ORIENTATION, 1) in TURNED_ORIENTATIONS:
                from PIL import ImageOps  # with its palette modules, 1.5 ms to import for the few turned pictures

                return ImageOps.exif_transpose(picture)
            # exif_transpose would copy an upright picture (48 MB at 4096²); leaving the block
            # closes only the file, the decoded picture stays.
            return picture
    except UnidentifiedImageError as error:
        # Pillow's text names only the in-memory buffer (`<_io.BytesIO object at 0x…>`).
        raise InputError(f"{the_file} is not a readable picture. Use a PNG, JPEG or WebP file.") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise InputError(
            f"{the_file} is not a readable picture ({error}). Use a PNG, JPEG or WebP file."
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
