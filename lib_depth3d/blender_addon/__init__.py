"""The Blender add-on that imports a Depth3D scene, as the installable zip Blender takes.

The add-on's source is the package :mod:`io_scene_depth3d` beside this file; it runs inside
Blender (it imports ``bpy``), so nothing here imports it: :func:`addon_zip_bytes` packs its files
as they are. Blender installs the zip with Edit > Preferences > Add-ons > Install… and lists the
operator ``import_scene.depth3d`` under File > Import > Depth3D scene (.glb).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

ADDON_MODULE = "io_scene_depth3d"
ADDON_SOURCE = Path(__file__).resolve().parent / ADDON_MODULE
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
"""Every entry gets this date, so the same source always gives the same bytes."""


def addon_source_files() -> list[Path]:
    """The add-on's Python files, sorted (no caches)."""
    return sorted(ADDON_SOURCE.glob("*.py"))


def addon_zip_bytes() -> bytes:
    """The installable add-on: ``io_scene_depth3d/*.py`` in a deflated zip, byte-for-byte reproducible."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in addon_source_files():
            entry = zipfile.ZipInfo(f"{ADDON_MODULE}/{path.name}", date_time=ZIP_TIMESTAMP)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, path.read_bytes())
    return buffer.getvalue()
