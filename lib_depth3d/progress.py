"""The progress callback every long step accepts (downloads, loading, estimating, building)."""

from __future__ import annotations

from typing import Callable

Progress = Callable[[str, "float | None"], None]
"""Called with a short message for the user and a fraction done in [0, 1] (None when unknown)."""
