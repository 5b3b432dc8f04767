"""A stand-in for sd-webui-controlnet's preprocessor registry (``scripts.supported_preprocessor``)
with the same lookup rules, for tests of the in-process ControlNet depth source."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field

import numpy as np
import pytest


@dataclass
class Parameter:
    """sd-webui-controlnet's PreprocessorParameter fields."""

    minimum: float = 0.0
    maximum: float = 1.0
    value: float = 0.5
    visible: bool = True


@dataclass
class FakeDepthPreprocessor:
    """Behaves like ControlNet's legacy depth preprocessors: HWC3 uint8 nearness at ``resolution``
    on the short side; records the arguments it got."""

    name: str
    label: str
    tags: list = field(default_factory=lambda: ["Depth"])
    resolution: Parameter = field(default_factory=lambda: Parameter(64, 2048, 512))
    slider_1: Parameter = field(default_factory=lambda: Parameter(0, 100, 0))
    slider_2: Parameter = field(default_factory=lambda: Parameter(visible=False))
    slider_3: Parameter = field(default_factory=lambda: Parameter(visible=False))
    calls: list = field(default_factory=list)

    def __call__(self, input_image, resolution, slider_1=None, slider_2=None, slider_3=None, **kwargs):
        self.calls.append((input_image.shape, input_image.dtype, resolution, slider_1, slider_2, slider_3))
        height, width = input_image.shape[:2]
        scale = resolution / min(height, width)
        rows, columns = round(height * scale), round(width * scale)
        nearness = np.tile(np.linspace(0, 255, rows)[:, None], (1, columns)).astype(np.uint8)
        return np.repeat(nearness[..., None], 3, axis=2)


@pytest.fixture
def fake_controlnet(monkeypatch):
    """Installs the registry with ControlNet's MiDaS preprocessor (returned) and canny."""
    # As in sd-webui-controlnet: the legacy MiDaS preprocessor is named "depth" and labelled
    # "depth_midas"; all_processors is keyed by label, get_preprocessor takes either.
    midas = FakeDepthPreprocessor("depth", "depth_midas")
    canny = FakeDepthPreprocessor("canny", "canny", tags=["Canny"])

    class Preprocessor:
        all_processors = {processor.label: processor for processor in (midas, canny)}
        all_processors_by_name = {processor.name: processor for processor in (midas, canny)}

        @classmethod
        def get_preprocessor(cls, name):
            return cls.all_processors.get(name, cls.all_processors_by_name.get(name))

    package = types.ModuleType("scripts")
    module = types.ModuleType("scripts.supported_preprocessor")
    module.Preprocessor = Preprocessor
    package.supported_preprocessor = module
    monkeypatch.setitem(sys.modules, "scripts", package)
    monkeypatch.setitem(sys.modules, "scripts.supported_preprocessor", module)
    return midas
