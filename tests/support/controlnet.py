"""Stand-ins for the two ControlNet preprocessor registries, with their lookup rules and their
way of declaring settings, for tests of the in-process ControlNet depth source:
sd-webui-controlnet's (``scripts.supported_preprocessor``, AUTOMATIC1111) and Forge's built-in
one (``modules_forge.shared.supported_preprocessors``)."""

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

    @property
    def gradio_update_kwargs(self) -> dict:
        return dict(minimum=self.minimum, maximum=self.maximum, step=0.01, label="", value=self.value,
                    visible=self.visible)


class ForgeParameter:
    """Forge's PreprocessorParameter: the settings live in a dict only (hidden by default)."""

    def __init__(self, minimum=0.0, maximum=1.0, step=0.01, label="Parameter 1", value=0.5, visible=False):
        self.gradio_update_kwargs = dict(minimum=minimum, maximum=maximum, step=step, label=label, value=value,
                                         visible=visible)


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


class FakeForgePreprocessor(FakeDepthPreprocessor):
    """Forge's preprocessors: ``slider_resolution`` (128–2048 unless the preprocessor says
    otherwise) is the resolution its ControlNet reads; a legacy one also carries the range of its
    sd-webui-controlnet days as ``resolution``, which Forge no longer reads."""

    def __init__(self, name, tags=("Depth",), slider_resolution=None, legacy_resolution=None):
        super().__init__(name, name, list(tags))
        self.slider_resolution = slider_resolution or ForgeParameter(128, 2048, 8, "Resolution", 512, True)
        self.slider_1, self.slider_2, self.slider_3 = ForgeParameter(), ForgeParameter(), ForgeParameter()
        if legacy_resolution is not None:
            self.resolution = legacy_resolution
        else:
            del self.resolution


@pytest.fixture
def fake_forge_controlnet(monkeypatch):
    """Installs Forge's registry (sd-webui-controlnet absent) with its legacy MiDaS (returned),
    Marigold and canny preprocessors, keyed by name as Forge keys them."""
    midas = FakeForgePreprocessor("depth_midas", legacy_resolution=ForgeParameter(64, 2048, 8, "Resolution", 512, True))
    marigold = FakeForgePreprocessor("depth_marigold", slider_resolution=ForgeParameter(128, 2048, 8, "Resolution",
                                                                                          768, True))
    canny = FakeForgePreprocessor("canny", tags=("Canny",))
    package = types.ModuleType("modules_forge")
    shared = types.ModuleType("modules_forge.shared")
    shared.supported_preprocessors = {processor.name: processor for processor in (midas, marigold, canny)}
    package.shared = shared
    monkeypatch.setitem(sys.modules, "modules_forge", package)
    monkeypatch.setitem(sys.modules, "modules_forge.shared", shared)
    monkeypatch.setitem(sys.modules, "scripts.supported_preprocessor", None)  # no sd-webui-controlnet in Forge
    return midas
