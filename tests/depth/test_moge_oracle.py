"""MoGe-2 against the official implementation (microsoft/MoGe, ``moge/model/v2.py``).

The official code is not on PyPI, so its outputs were recorded once into
``fixtures/moge2_oracle.pt``: from a snapshot of github.com/microsoft/MoGe (commit 0744441),
unpacked outside this repository, with ``utils3d.pt.intrinsics_from_focal_center`` (the one
``utils3d`` function its depth and intrinsics path calls) written out as the 3×3 matrix
[[fx, 0, cx], [0, fy, cy], [0, 0, 1]], scipy 1.15.3, torch 2.13 on the CPU in float32. For each
case of ``tests/support/moge_cases.py``: ``MoGeModel(**model_config)``, then
``load_state_dict(official_state_dict(case), strict=True)`` (so our parameter names are the
official ones, normal head included), then for ``picture(case)``:

* ``<case>.output``: ``forward(picture, num_tokens=num_tokens_range[1])``'s points, mask and
  metric scale, packed as our network packs them;
* ``<case>.estimated.{depth,intrinsics}``: ``infer(picture, use_fp16=False,
  force_projection=False, apply_mask=False)``;
* ``<case>.known_fov.{depth,intrinsics}``: the same with ``fov_x=KNOWN_FOV_X_DEG``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from lib_depth3d.depth import estimate as estimate_module
from lib_depth3d.depth.moge import depth_and_camera, read_output
from lib_depth3d.depth.registry import NetworkCamera, get_model
from tests.support.moge_cases import CASES, KNOWN_FOV_X_DEG, PICTURE_SIZE, network, picture, write_official_checkpoint

TOLERANCE = 1e-4
REFERENCES = Path(__file__).parent / "fixtures" / "moge2_oracle.pt"


@pytest.fixture(scope="module")
def references() -> dict[str, torch.Tensor]:
    return torch.load(REFERENCES, weights_only=True)


@pytest.fixture(scope="module")
def outputs() -> dict[str, torch.Tensor]:
    with torch.inference_mode():
        return {case: network(case)(picture(case)) for case in CASES}


@pytest.mark.parametrize("case", list(CASES))
def test_point_map_mask_and_scale_match_the_official_network(case, references, outputs):
    assert outputs[case].shape == references[f"{case}.output"].shape == (1, PICTURE_SIZE[1], PICTURE_SIZE[0], 5)
    assert torch.allclose(outputs[case], references[f"{case}.output"], rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("camera", ["estimated", "known_fov"])
def test_metric_depth_and_camera_match_the_official_inference(case, camera, references, outputs):
    fov = KNOWN_FOV_X_DEG if camera == "known_fov" else None
    result = depth_and_camera(outputs[case], PICTURE_SIZE, fov_x_deg=fov)
    width, height = PICTURE_SIZE
    intrinsics = references[f"{case}.{camera}.intrinsics"][0]
    assert torch.allclose(result.depth, references[f"{case}.{camera}.depth"], rtol=0, atol=TOLERANCE)
    focal_x, focal_y = result.camera.focal_length_px
    assert abs(focal_x / width - intrinsics[0, 0]) <= TOLERANCE
    assert abs(focal_y / height - intrinsics[1, 1]) <= TOLERANCE
    assert result.camera.principal_point_px == (width * intrinsics[0, 2], height * intrinsics[1, 2])
    assert result.camera.image_size_px == PICTURE_SIZE


@pytest.mark.parametrize("case", list(CASES))
def test_a_known_camera_reaches_the_official_fov_x(case, references, outputs):
    """What estimate.py passes (the picture's camera at the network's input) gives the official
    ``infer(fov_x=…)`` result."""
    known = NetworkCamera.from_horizontal_fov(*PICTURE_SIZE, KNOWN_FOV_X_DEG)
    result = read_output(outputs[case], PICTURE_SIZE, known)
    assert torch.allclose(result.depth, references[f"{case}.known_fov.depth"], rtol=0, atol=TOLERANCE)
    assert not torch.allclose(read_output(outputs[case], PICTURE_SIZE).depth, result.depth, rtol=0, atol=100 * TOLERANCE)


@pytest.mark.parametrize("case", list(CASES))
def test_a_known_field_of_view_is_the_cameras(case, outputs):
    camera = depth_and_camera(outputs[case], PICTURE_SIZE, fov_x_deg=KNOWN_FOV_X_DEG).camera
    fov_x = 2 * math.degrees(math.atan(PICTURE_SIZE[0] / 2 / camera.focal_length_px[0]))
    assert fov_x == pytest.approx(KNOWN_FOV_X_DEG, abs=1e-4)
    assert camera.focal_length_px[0] == pytest.approx(camera.focal_length_px[1], rel=1e-6)  # square pixels


def test_the_released_file_layout_loads_strictly_without_its_normal_head(tmp_path, outputs):
    path = write_official_checkpoint(tmp_path / "model.pt", "vits")
    loaded = estimate_module.load_network(get_model("moge-2-vits"), path).network
    assert not any(name.startswith("normal_head.") for name in loaded.state_dict())
    with torch.inference_mode():
        assert torch.equal(loaded(picture("vits")), outputs["vits"])


def test_a_picture_gives_metres_and_the_networks_camera_end_to_end(tmp_path):
    from PIL import Image

    path = write_official_checkpoint(tmp_path / "model.pt", "vitb")
    rgb = (picture("vitb")[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    estimate = estimate_module.estimate_depth_and_camera(Image.fromarray(rgb).resize((112, 84)), "moge-2-vitb",
                                                         weights_path=path, input_size=56, device="cpu")
    assert estimate.depth.kind == "metric"
    assert estimate.depth.values.shape == (84, 112)
    assert np.all(estimate.depth.values > 0)
    camera = estimate.camera
    assert camera.image_size_px == (112, 84) and camera.principal_point_px == (56.0, 42.0)
    # Square pixels, but for the network input's whole-pixel size: 112×84 at 56 is 75×56.
    assert 0 < camera.focal_length_px[0] == pytest.approx(camera.focal_length_px[1], rel=1 / 56)
