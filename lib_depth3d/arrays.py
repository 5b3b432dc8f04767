"""Elementwise work on large maps, a cache-sized block at a time.

A chain of numpy operations over a 4096² map makes a full-size temporary for each step and
streams each through memory; the same chain over blocks of 2¹⁶ values stays in the processor's
cache and allocates nothing large but the result (about twice as fast for a z-depth map's
float64 conversion, and 128 MB less at its peak). The arithmetic is the same, so are the values.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

BLOCK_VALUES = 1 << 16


def map_in_blocks(function: Callable[[np.ndarray], np.ndarray], values: np.ndarray, dtype) -> np.ndarray:
    """``function(values)`` cast to ``dtype`` (as ``astype`` casts), with ``function``, which
    must be elementwise, applied to consecutive blocks of the flattened ``values``."""
    result = np.empty(values.shape, dtype=dtype)
    source, target = values.reshape(-1), result.reshape(-1)
    for start in range(0, source.size, BLOCK_VALUES):
        target[start : start + BLOCK_VALUES] = function(source[start : start + BLOCK_VALUES])
    return result


WORD = np.uint64
WORD_BYTES = 8


def set_cells(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` of a 2-D bool ``mask``: (rows, columns), row-major, from flat passes.

    ``np.nonzero`` of a 2-D mask took 44–60 ms on a sparse 4096² one. One flat pass and a
    ``divmod`` is 7× faster there and 2× on a dense mask; where under a quarter of its 8-byte
    words hold a True, finding those words first and looking only inside them is faster still
    (11 ms at 4096² with about 110 000 True pixels in small patches).
    """
    flat = mask.reshape(-1)
    if flat.size % WORD_BYTES == 0 and flat.flags.c_contiguous and flat.dtype == np.bool_:
        words = np.flatnonzero(flat.view(WORD))
        if 4 * len(words) < flat.size // WORD_BYTES:
            candidates = (words[:, None] * WORD_BYTES + np.arange(WORD_BYTES)).reshape(-1)
            return np.divmod(candidates[flat[candidates]], mask.shape[1])
    return np.divmod(np.flatnonzero(flat), mask.shape[1])
