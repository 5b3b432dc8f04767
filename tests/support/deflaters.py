"""The two deflaters lib_depth3d.files may write PNGs with, as pytest parameters for
``unittest.mock.patch.object(files, "FAST_DEFLATE", deflater)``: python-isal's zlib (skipped where
it is not installed) and None, which falls back to the standard library's zlib."""

import importlib.util

import pytest

_HAS_ISAL = importlib.util.find_spec("isal") is not None

DEFLATERS = [
    pytest.param("isal", id="isal",
                 marks=pytest.mark.skipif(not _HAS_ISAL, reason="python-isal is not installed")),
    pytest.param(None, id="zlib"),
]


def deflater(name: str | None):
    """The module a parameter of :data:`DEFLATERS` names (None stays None)."""
    if name is None:
        return None
    from isal import isal_zlib

    return isal_zlib
