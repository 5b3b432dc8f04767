"""The adapter registry: each architecture's module provides its adapter, a model of an unknown
architecture is refused, no code outside the registry names an architecture, and a network added
through a module and a registry entry alone runs end to end, its camera carried to the picture."""

from __future__ import annotations

import dataclasses
import math
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from lib_depth3d.depth import midas, registry
from lib_depth3d.depth.estimate import estimate_depth_and_camera, network_input
from lib_depth3d.depth.registry import (
    ARCHITECTURES,
    MODELS,
    Adapter,
    ModelSpec,
    NetworkCamera,
    NetworkOutput,
    Normalisation,
    Resampling,
    SizeRule,
    adapter_for,
)
from tests.support.depth_weights import randomise

ROOT = Path(__file__).resolve().parents[2]


def test_every_registered_model_has_its_architectures_adapter():
    assert {spec.architecture for spec in MODELS.values()} == set(ARCHITECTURES)
    for spec in MODELS.values():
        adapter = adapter_for(spec)
        assert isinstance(adapter, Adapter)
        assert spec.input_size % adapter.size_rule.multiple_of == 0


def test_the_model_table_is_read_without_torch():
    """The architectures' modules import torch; listing models (CLI, API, dropdowns) must not."""
    code = "import sys, lib_depth3d.depth; print(len(lib_depth3d.depth.MODELS), 'torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.split() == [str(len(MODELS)), "False"]


def test_a_model_of_an_unknown_architecture_is_refused():
    with pytest.raises(ValueError, match=r"unknown architecture 'midas_dpt_large'.*depth_anything_v2, depth_anything_3, depth_anything_3_mono, midas_dpt"):
        dataclasses.replace(MODELS["midas-dpt-large"], architecture="midas_dpt_large")


def test_no_code_outside_the_registry_names_an_architecture():
    quoted_name = re.compile(r"""["'](%s)["']""" % "|".join(map(re.escape, ARCHITECTURES)))
    naming = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("lib_depth3d", "bench", "scripts")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path != Path(registry.__file__).resolve()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if quoted_name.search(line)
    ]
    assert naming == []


def test_midas_checkpoints_lose_the_parts_depth_never_runs():
    tensor = torch.zeros(1)
    state = {"scratch.layer1_rn.weight": tensor, "pretrained.model.head.weight": tensor,
             "pretrained.model.norm.bias": tensor, "dpt.layernorm.weight": tensor}
    assert set(midas.to_own_layout(state)) == {"scratch.layer1_rn.weight"}


class ConstantCameraNetwork(torch.nn.Module):
    """Disparity: a 1×1 convolution of the input. Camera: see :func:`read_constant_camera`."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 1, kernel_size=1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.conv(image)[:, 0]


FOV_X_DEG = 60.0
ASPECT_FY_OVER_FX = 1.25


def read_constant_camera(output: torch.Tensor, input_size_px: tuple[int, int], known_camera=None) -> NetworkOutput:
    """60° across the network's input, fy = 1.25 fx, principal point at (½, 0.4) of the input."""
    width, height = input_size_px
    focal_x = width / 2 / math.tan(math.radians(FOV_X_DEG) / 2)
    return NetworkOutput(output, NetworkCamera(input_size_px, (focal_x, focal_x * ASPECT_FY_OVER_FX),
                                               (width / 2, height * 0.4)))


@pytest.fixture
def constant_camera_model(monkeypatch, tmp_path):
    """A model of a new architecture, added as issue 13's networks are: a module defining ADAPTER
    and a registry entry. Its checkpoint is saved DataParallel-style ("module." prefixes), a
    layout only its adapter's to_own_layout accepts."""
    module = types.ModuleType("depth3d_test_constant_camera")
    module.ADAPTER = Adapter(
        size_rule=SizeRule(multiple_of=8, keep_shorter_side_at_least=True),
        normalisation=Normalisation((0.5, 0.4, 0.3), (0.25, 0.2, 0.3)),
        resampling=Resampling("bilinear", align_corners=False),
        build=lambda spec: ConstantCameraNetwork().eval(),
        to_own_layout=lambda state: {key.removeprefix("module."): value for key, value in state.items()},
        read_output=read_constant_camera,
    )
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(ARCHITECTURES, "constant_camera", module.__name__)
    spec = ModelSpec(name="constant-camera", title="Constant camera (test)", architecture="constant_camera",
                     variant="tiny", input_size=64, output_kind="disparity", licence="MIT",
                     licence_url="https://opensource.org/license/mit", files=())
    monkeypatch.setitem(MODELS, spec.name, spec)
    network = randomise(ConstantCameraNetwork(), seed=41).eval()
    path = tmp_path / "constant-camera.pth"
    torch.save({f"module.{key}": value for key, value in network.state_dict().items()}, path)
    return spec, path, network


def test_a_network_added_through_the_registry_runs_and_its_camera_fits_the_picture(constant_camera_model):
    spec, path, network = constant_camera_model
    rng = np.random.default_rng(42)
    picture = Image.fromarray((rng.random((97, 150, 3)) * 255).astype(np.uint8), "RGB")
    estimate = estimate_depth_and_camera(picture, spec.name, weights_path=path, device="cpu")

    tensor = network_input(picture, spec)
    network_height, network_width = tensor.shape[-2:]
    assert (network_width, network_height) == (96, 64)  # 150×97 scaled by 64/97, rounded to multiples of 8
    mean, std = torch.tensor([0.5, 0.4, 0.3]), torch.tensor([0.25, 0.2, 0.3])
    rgb = torch.from_numpy(np.asarray(picture.resize((96, 64), Image.BICUBIC), np.float32) / 255)
    assert torch.allclose(tensor[0], ((rgb - mean) / std).permute(2, 0, 1), atol=1e-6)
    with torch.inference_mode():
        expected = F.interpolate(network(tensor)[:, None], (97, 150), mode="bilinear", align_corners=False)
    assert estimate.depth.kind == "disparity"
    assert np.abs(estimate.depth.values - expected[0, 0].numpy()).max() <= 1e-5

    camera = estimate.camera
    assert camera.image_size_px == (150, 97)
    assert math.degrees(2 * math.atan(150 / 2 / camera.focal_length_px[0])) == pytest.approx(FOV_X_DEG)
    assert camera.principal_point_px == pytest.approx((75.0, 0.4 * 97))
    # The stretch from 96×64 to 150×97 is not uniform: fy/fx changes by the ratio of the scales.
    stretch = (97 / 64) / (150 / 96)
    assert camera.focal_length_px[1] / camera.focal_length_px[0] == pytest.approx(ASPECT_FY_OVER_FX * stretch)


sides = st.integers(1, 10_000)


@given(width=sides, height=sides, new_width=sides, new_height=sides,
       fov_deg=st.floats(5, 170), centre=st.tuples(st.floats(0, 1), st.floats(0, 1)))
def test_a_resized_camera_keeps_its_fields_of_view_and_principal_point(width, height, new_width, new_height,
                                                                       fov_deg, centre):
    focal = width / 2 / math.tan(math.radians(fov_deg) / 2)
    camera = NetworkCamera((width, height), (focal, 0.9 * focal), (centre[0] * width, centre[1] * height))
    resized = camera.resized(new_width, new_height)

    def fields_of_view(c: NetworkCamera) -> tuple[float, float]:
        return tuple(2 * math.atan(side / 2 / focal) for side, focal in zip(c.image_size_px, c.focal_length_px))

    assert fields_of_view(resized) == pytest.approx(fields_of_view(camera), rel=1e-9)
    assert resized.principal_point_px[0] / new_width == pytest.approx(centre[0], abs=1e-12)
    assert resized.principal_point_px[1] / new_height == pytest.approx(centre[1], abs=1e-12)
    back = resized.resized(width, height)
    assert back.focal_length_px == pytest.approx(camera.focal_length_px, rel=1e-9)
