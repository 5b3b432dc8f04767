"""A counting spy on line detection: use ``from tests.support.detection import detections  # noqa: F401``.

Every camera source reaches :func:`lib_depth3d.camera.detect.detect_calibration` through the
module at call time, so replacing it there sees each detection of the A1111 hook, the tab, the
API and the command line run in-process.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def detections(monkeypatch):
    """The (width, height) of each picture whose lines were detected, in order."""
    from lib_depth3d.camera import detect

    seen: list[tuple[int, int]] = []
    detect_calibration = detect.detect_calibration

    def counted(picture, **options):
        seen.append(picture.size)
        return detect_calibration(picture, **options)

    monkeypatch.setattr(detect, "detect_calibration", counted)
    return seen
