"""Reading a PNG's chunks in tests, independently of lib_depth3d.files' own reader."""

import struct


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(kind, whole chunk bytes) of a PNG, in file order."""
    chunks, offset = [], 8
    while offset < len(data):
        length, kind = struct.unpack_from(">I4s", data, offset)
        chunks.append((kind, data[offset : offset + 12 + length]))
        offset += 12 + length
    return chunks
